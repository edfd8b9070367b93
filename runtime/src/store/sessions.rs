//! The port's session operations: every change with its audit rows.

use super::events::{Event, Trail};
use std::sync::Arc;

use super::{
    Backend, RevokedSession, SessionRecord, Store, StoreError, UserRecord, blocking, write,
};
use crate::clock::Millis;
use crate::policy::SessionPolicy;
use crate::token::TokenHash;

impl Store {
    /// Stores a new session (audited); returns the sessions it replaced
    /// (same user and installation). With `verified_password`, the session
    /// is only created if the user's password hash is still the one the
    /// login verified ([`StoreError::Stale`]): a login racing a password
    /// change must not outlive it.
    pub async fn create_session(
        &self,
        session: &SessionRecord,
        hash: &TokenHash,
        verified_password: Option<&str>,
        trail: Trail,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (session, hash) = (session.clone(), *hash);
                let verified = verified_password.map(String::from);
                write(db, move |db| {
                    db.create_session(&session, &hash, verified.as_deref(), trail)
                })
                .await
            }
            Backend::Postgres(pg) => {
                Box::pin(pg.create_session(session, hash, verified_password, trail)).await
            }
        }
    }

    /// The session a token opens.
    pub async fn session_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.session_by_token(hash),
            Backend::Postgres(pg) => Box::pin(pg.session_by_token(hash)).await,
        }
    }

    /// A token's session, dead or alive, with its user: one round trip on
    /// PostgreSQL, two cached point reads on SQLite.
    pub async fn session_and_user_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(SessionRecord, Arc<UserRecord>)>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let Some(session) = db.session_by_token(hash)? else {
                    return Ok(None);
                };
                // Sessions go with their user (ON DELETE CASCADE): none is
                // found without it unless the user went in between.
                Ok(db.user(&session.user_id)?.map(|user| (session, user)))
            }
            Backend::Postgres(pg) => Box::pin(pg.session_and_user_by_token(hash)).await,
        }
    }

    /// Notes a use of a token's session in whatever the backend caches,
    /// ahead of [`Store::touch_session`], so that uses meanwhile do not
    /// write again.
    pub fn note_session_use(&self, hash: &TokenHash, now: Millis) {
        match &self.backend {
            Backend::Sqlite(db) => db.note_session_use(hash, now),
            // Nothing cached: every lookup reads the database.
            Backend::Postgres(_) => {}
        }
    }

    /// A session by objectId, dead or alive.
    pub async fn session(&self, object_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.session(object_id),
            Backend::Postgres(pg) => Box::pin(pg.session(object_id)).await,
        }
    }

    /// All sessions, or those of one user, dead ones included.
    pub async fn sessions(&self, user_id: Option<&str>) -> Result<Vec<SessionRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let user_id = user_id.map(String::from);
                blocking(db, move |db| db.sessions(user_id.as_deref())).await
            }
            Backend::Postgres(pg) => Box::pin(pg.sessions(user_id)).await,
        }
    }

    /// The sessions alive at `now` under `policy`, of every user or of one.
    pub async fn live_sessions(
        &self,
        user_id: Option<&str>,
        policy: &SessionPolicy,
        now: Millis,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (user_id, policy) = (user_id.map(String::from), *policy);
                blocking(db, move |db| {
                    db.live_sessions(user_id.as_deref(), &policy, now)
                })
                .await
            }
            Backend::Postgres(pg) => Box::pin(pg.live_sessions(user_id, policy, now)).await,
        }
    }

    /// How many sessions are alive at `now` under `policy`.
    pub async fn count_live_sessions(
        &self,
        policy: &SessionPolicy,
        now: Millis,
    ) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let policy = *policy;
                blocking(db, move |db| db.count_live_sessions(&policy, now)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.count_live_sessions(policy, now)).await,
        }
    }

    /// Records a use of the session. Never moves the time backwards and
    /// never touches a row that was deleted meanwhile.
    pub async fn touch_session(&self, object_id: &str, now: Millis) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let object_id = object_id.to_string();
                blocking(db, move |db| db.touch_session(&object_id, now)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.touch_session(object_id, now)).await,
        }
    }

    /// Revokes one session, recording `event`; returns it if it existed.
    pub async fn delete_session(
        &self,
        object_id: &str,
        event: Event,
        trail: Trail,
    ) -> Result<Option<RevokedSession>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let object_id = object_id.to_string();
                write(db, move |db| db.delete_session(&object_id, event, trail)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.delete_session(object_id, event, trail)).await,
        }
    }

    /// Revokes every session of a user, except `keep` if given, recording
    /// `event` for each; returns them.
    pub async fn delete_sessions_of_user(
        &self,
        user_id: &str,
        keep: Option<&str>,
        event: Event,
        trail: Trail,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (user_id, keep) = (user_id.to_string(), keep.map(String::from));
                write(db, move |db| {
                    db.delete_sessions_of_user(&user_id, keep.as_deref(), event, trail)
                })
                .await
            }
            Backend::Postgres(pg) => {
                Box::pin(pg.delete_sessions_of_user(user_id, keep, event, trail)).await
            }
        }
    }

    /// Moves a session's absolute expiry, never later than it already is;
    /// false if the session is gone.
    pub async fn shorten_session(
        &self,
        object_id: &str,
        expires_at: Millis,
        trail: Trail,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let object_id = object_id.to_string();
                write(db, move |db| {
                    db.shorten_session(&object_id, expires_at, trail)
                })
                .await
            }
            Backend::Postgres(pg) => {
                Box::pin(pg.shorten_session(object_id, expires_at, trail)).await
            }
        }
    }

    /// Gives a session a new token; the old one stops working at once and
    /// its hash is remembered, so that a later use of it can be told apart
    /// from a garbage token (reuse detection). False if the session is gone.
    pub async fn rotate_session_token(
        &self,
        object_id: &str,
        hash: &TokenHash,
        trail: Trail,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (object_id, hash) = (object_id.to_string(), *hash);
                write(db, move |db| {
                    db.rotate_session_token(&object_id, &hash, trail)
                })
                .await
            }
            Backend::Postgres(pg) => {
                Box::pin(pg.rotate_session_token(object_id, hash, trail)).await
            }
        }
    }

    /// Ends a session sealed by a password change that no hook rotated, and
    /// forgets its rotated-out tokens: the client was never handed a
    /// successor, so a later use of the old token is a stale client, not a
    /// theft.
    pub async fn revoke_sealed_session(
        &self,
        object_id: &str,
        trail: Trail,
    ) -> Result<Option<RevokedSession>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let object_id = object_id.to_string();
                write(db, move |db| db.revoke_sealed_session(&object_id, trail)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.revoke_sealed_session(object_id, trail)).await,
        }
    }

    /// Restarts the reuse grace window of the tokens a password change
    /// sealed out of `session_id` at `sealed_at`: it counts from `now`, when
    /// the successor token is handed to the client, however long the
    /// afterSave hooks took in between.
    pub async fn restart_reuse_grace(
        &self,
        session_id: &str,
        sealed_at: Millis,
        now: Millis,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let session_id = session_id.to_string();
                write(db, move |db| {
                    db.restart_reuse_grace(&session_id, sealed_at, now)
                })
                .await
            }
            Backend::Postgres(pg) => {
                Box::pin(pg.restart_reuse_grace(session_id, sealed_at, now)).await
            }
        }
    }

    /// A rotated-out token: its session id, user id and when it was rotated.
    pub async fn rotated_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(String, String, Millis)>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.rotated_token(hash),
            Backend::Postgres(pg) => Box::pin(pg.rotated_token(hash)).await,
        }
    }

    /// Purges the sessions `policy` says are dead at `now` (returning them,
    /// audited as expired), and the rotated-token records it says to forget.
    pub async fn sweep_expired_sessions(
        &self,
        policy: &SessionPolicy,
        now: Millis,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let policy = *policy;
                blocking(db, move |db| db.sweep_expired_sessions(&policy, now)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.sweep_expired_sessions(policy, now)).await,
        }
    }
}
