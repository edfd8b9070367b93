//! The port's login throttle counts, by key (a digest naming an account
//! or an address).

use super::{Backend, Store, StoreError, blocking};
use crate::backoff::Failures;
use crate::clock::Millis;

impl Store {
    pub async fn login_failures(&self, key: &[u8; 32]) -> Result<Option<Failures>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.login_failures(key),
            Backend::Postgres(pg) => Box::pin(pg.login_failures(key)).await,
        }
    }

    /// Counts a failure at `now` (in windows of `window`), atomically.
    pub async fn record_login_failure(
        &self,
        key: &[u8; 32],
        now: Millis,
        window: Millis,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let key = *key;
                blocking(db, move |db| db.record_login_failure(&key, now, window)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.record_login_failure(key, now, window)).await,
        }
    }

    pub async fn clear_login_failures(&self, key: &[u8; 32]) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let key = *key;
                blocking(db, move |db| db.clear_login_failures(&key)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.clear_login_failures(key)).await,
        }
    }

    /// Drops counts whose last failure is older than `before`; returns how many.
    pub async fn forget_login_failures(&self, before: Millis) -> Result<usize, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => blocking(db, move |db| db.forget_login_failures(before)).await,
            Backend::Postgres(pg) => Box::pin(pg.forget_login_failures(before)).await,
        }
    }
}
