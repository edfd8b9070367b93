//! cloudcode runtime: a Parse-compatible REST server with host-enforced
//! session security.
//!
//! Layers, outside in: [`http`] (routing, the Parse request envelope, errors
//! as Parse JSON) → [`service`] (one async function per operation, testable
//! without HTTP) → [`auth`] (who is calling), [`sandbox`] (hooks) → [`store`]
//! (the storage port; SQLite) → leaves ([`token`], [`policy`], ...). See
//! `docs/ARCHITECTURE.md`.

pub mod acl;
pub mod audit;
pub mod auth;
pub mod backoff;
pub mod clock;
pub mod code;
pub mod config;
pub mod connections;
pub mod error;
pub mod fields;
pub mod http;
pub mod limit;
pub mod metrics;
pub mod naming;
pub mod password;
pub mod policy;
pub mod query;
pub mod reload;
pub mod sandbox;
pub mod scaffold;
pub mod secret;
pub mod server;
pub mod service;
pub mod store;
pub mod testkit;
pub mod token;

use std::sync::Arc;

use crate::audit::RefusalLog;
use crate::auth::throttle::LoginThrottle;
use crate::auth::{Caller, Credentials, Lookup};
use crate::clock::{Clock, Millis};
use crate::config::Config;
use crate::error::Result;
use crate::sandbox::{Sandbox, SessionPort};
use crate::store::Store;

/// Everything an operation needs: storage, configuration, time, hooks and
/// the login throttle. Cloned for every request and task, so it is one
/// reference-counted pointer.
#[derive(Clone)]
pub struct Core(Arc<Shared>);

/// The Parse Server version whose wire behaviour this server implements,
/// tagged with ours: a valid semantic version, so clients that compare
/// versions (Parse Dashboard gates features that way) can.
pub fn server_version() -> String {
    format!("9.10.0-cloudcode.{}", env!("CARGO_PKG_VERSION"))
}

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
            throttle: LoginThrottle::new(config.login_throttle, store.clone()),
            store,
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

    /// Resolves request credentials: the one authentication path, for the
    /// server, the testkit and the benchmarks alike. A live token costs a
    /// cache hit or one point read. A use is recorded in the background (a
    /// late record can only make the session die earlier); a dead token is
    /// refused once its audit event and reuse check are done.
    pub async fn authenticate(&self, credentials: Credentials) -> Result<Caller> {
        self.resolve(credentials, false).await
    }

    /// [`Core::authenticate`], with the session's user read in the same
    /// round trip (`Caller::user`), for routes that answer with the user.
    pub async fn authenticate_user(&self, credentials: Credentials) -> Result<Caller> {
        self.resolve(credentials, true).await
    }

    async fn resolve(&self, credentials: Credentials, with_user: bool) -> Result<Caller> {
        let mut caller = Caller::unauthenticated(&credentials);
        let Some(raw) = credentials.token_to_check() else {
            return Ok(caller);
        };
        let policy = self.config.session_policy;
        let now = self.now();
        let (lookup, user) = auth::look_up(&self.store, &policy, now, raw, with_user).await?;
        let session = match lookup {
            Lookup::Alive(session) => session,
            Lookup::AliveTouch(session) => {
                let store = self.store.clone();
                let session_id = session.object_id.clone();
                tokio::spawn(async move {
                    if let Err(error) = store.touch_session(&session_id, now).await {
                        tracing::warn!(%error, "recording a session use failed");
                    }
                });
                session
            }
            Lookup::Dead(dead) => {
                let ip = credentials.ip;
                return Err(
                    auth::refuse(&self.store, &self.refusals, &policy, now, dead, ip).await,
                );
            }
        };
        caller.session = Some((session, raw.to_string()));
        caller.user = user;
        Ok(caller)
    }
}
