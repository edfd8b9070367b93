//! cloudcode runtime: a Parse-compatible REST server with host-enforced
//! session security.
//!
//! Layers, outside in: [`http`] (routing, the Parse request envelope, errors
//! as Parse JSON) → [`service`] (one function per operation, synchronous,
//! testable without HTTP) → [`auth`] (tokens, passwords, session policy) and
//! [`store`] (SQLite).

pub mod acl;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod code;
pub mod config;
pub mod connections;
pub mod error;
pub mod fields;
pub mod http;
pub mod limit;
pub mod naming;
pub mod password;
pub mod policy;
pub mod query;
pub mod sandbox;
pub mod secret;
pub mod server;
pub mod service;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod token;

use std::sync::Arc;

use crate::audit::RefusalLog;
use crate::auth::throttle::LoginThrottle;
use crate::auth::{Caller, Credentials, Lookup};
use crate::clock::{Clock, Millis};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::sandbox::{Sandbox, SessionPort};
use crate::store::{Store, StoreError};

/// Everything an operation needs: storage, configuration, time, hooks and
/// the login throttle. Cloned for every request and task, so it is one
/// reference-counted pointer.
#[derive(Clone)]
pub struct Core(Arc<Shared>);

/// What a [`Core`] shares.
pub struct Shared {
    pub store: Store,
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    pub sandbox: Sandbox,
    pub throttle: LoginThrottle,
    pub refusals: RefusalLog,
}

impl std::ops::Deref for Core {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Core {
    pub fn new(store: Store, config: Config, clock: Arc<dyn Clock>, sandbox: Sandbox) -> Self {
        Core(Arc::new(Shared {
            store,
            throttle: LoginThrottle::new(config.login_throttle),
            refusals: RefusalLog::default(),
            config,
            clock,
            sandbox,
        }))
    }

    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// The session operations hooks may call, as the sandbox takes them.
    pub fn port(&self) -> Arc<dyn SessionPort> {
        self.0.clone()
    }

    /// Resolves request credentials (the one authentication path, for the
    /// server, the testkit and the benchmarks alike), on the async executor. A live token
    /// costs a cache hit, or one point read that never waits for a writer. The writes that
    /// validation implies go to the blocking pool: a use is recorded in the
    /// background (a late record can only make the session die earlier), a
    /// dead token is refused once its audit event and reuse check are done.
    pub async fn authenticate(&self, credentials: Credentials) -> Result<Caller> {
        let mut caller = Caller::unauthenticated(&credentials);
        let Some(raw) = credentials.token_to_check() else {
            return Ok(caller);
        };
        let policy = self.config.session_policy;
        let now = self.now();
        let session = match auth::look_up(&self.store, &policy, now, raw)? {
            Lookup::Alive(session) => session,
            Lookup::AliveTouch(session) => {
                let store = self.store.clone();
                let session_id = session.object_id.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(error) = store.touch_session(&session_id, now) {
                        tracing::warn!(%error, "recording a session use failed");
                    }
                });
                session
            }
            Lookup::Dead(dead) => {
                let ip = credentials.ip;
                let refused = self
                    .blocking(move |core| {
                        Ok(auth::refuse(
                            &core.store,
                            &core.refusals,
                            &policy,
                            now,
                            dead,
                            ip,
                        ))
                    })
                    .await;
                return Err(match refused {
                    Ok(error) | Err(error) => error,
                });
            }
        };
        caller.session = Some((session, raw.to_string()));
        Ok(caller)
    }

    /// Runs work that may block (SQLite writes, scans, password hashing) on
    /// the blocking pool. Point reads need not: see [`store`].
    pub async fn blocking<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Core) -> Result<T> + Send + 'static,
    {
        let core = self.clone();
        tokio::task::spawn_blocking(move || work(&core))
            .await
            .map_err(|e| Error::from(StoreError::Task(e.to_string())))?
    }
}
