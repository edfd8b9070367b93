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
pub mod config;
pub mod error;
pub mod fields;
pub mod http;
pub mod limit;
pub mod query;
pub mod sandbox;
pub mod server;
pub mod service;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

use std::sync::Arc;

use crate::auth::throttle::LoginThrottle;
use crate::auth::{Caller, Credentials};
use crate::clock::{Clock, Millis};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::sandbox::Sandbox;
use crate::store::{Store, StoreError};

/// Everything an operation needs: storage, configuration, time, hooks and
/// the login throttle.
#[derive(Clone)]
pub struct Core {
    pub store: Store,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub sandbox: Arc<Sandbox>,
    pub throttle: Arc<LoginThrottle>,
}

impl Core {
    pub fn new(store: Store, config: Config, clock: Arc<dyn Clock>, sandbox: Sandbox) -> Self {
        Core {
            store,
            throttle: Arc::new(LoginThrottle::new(config.login_throttle)),
            config: Arc::new(config),
            clock,
            sandbox: Arc::new(sandbox),
        }
    }

    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Resolves request credentials against the session table.
    pub fn caller(&self, credentials: &Credentials) -> Result<Caller> {
        auth::resolve(
            &self.store,
            &self.config.session_policy,
            self.now(),
            credentials,
        )
    }

    /// Runs blocking work (SQLite, password hashing) off the async executor.
    pub async fn call<T, F>(&self, work: F) -> Result<T>
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

/// Compares two secrets in time independent of where they differ.
pub fn secret_eq(expected: &str, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}
