//! The port's user operations.

use std::sync::Arc;

use super::events::Trail;
use super::query::{Found, Query, Reader};
use super::{
    Backend, Revoke, RevokedSession, SessionRecord, Store, StoreError, UserRecord, WriterSession,
    blocking,
};
use crate::token::TokenHash;

impl Store {
    /// Stores a new user and, if given, their first session (with its
    /// audit row), in one transaction.
    pub async fn create_user(
        &self,
        user: &UserRecord,
        session: Option<(&SessionRecord, &TokenHash)>,
        trail: Trail,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let user = user.clone();
                let session = session.map(|(s, hash)| (s.clone(), *hash));
                blocking(db, move |db| {
                    db.create_user(&user, session.as_ref().map(|(s, h)| (s, h)), trail)
                })
                .await
            }
            Backend::Postgres(pg) => Box::pin(pg.create_user(user, session, trail)).await,
        }
    }

    /// A user by objectId (shared: a user carries all its custom fields).
    pub async fn user(&self, object_id: &str) -> Result<Option<Arc<UserRecord>>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.user(object_id),
            Backend::Postgres(pg) => Box::pin(pg.user(object_id)).await,
        }
    }

    /// The user a login names, by username or email.
    pub async fn user_by_login(
        &self,
        username: Option<&str>,
        email: Option<&str>,
    ) -> Result<Option<UserRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.user_by_login(username, email),
            Backend::Postgres(pg) => Box::pin(pg.user_by_login(username, email)).await,
        }
    }

    /// The users `query` selects among those `reader` may read.
    pub async fn find_users(
        &self,
        query: &Query,
        reader: &Reader,
    ) -> Result<Found<UserRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (query, reader) = (query.clone(), reader.clone());
                blocking(db, move |db| db.find_users(&query, &reader)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.find_users(query, reader)).await,
        }
    }

    /// Reads, changes and writes a user in one transaction, revoking
    /// sessions as the change demands (with their audit rows). `change` sees
    /// the current row and may refuse; what else it returns comes back with
    /// the written row. With a `writer`, nothing is written unless that
    /// session is still alive under its token ([`StoreError::SessionGone`]).
    /// `None` when the user does not exist.
    pub async fn update_user<T, E>(
        &self,
        object_id: &str,
        writer: Option<WriterSession>,
        trail: Trail,
        change: impl FnOnce(&mut UserRecord) -> Result<(Revoke, T), E> + Send + 'static,
    ) -> Result<Option<(UserRecord, T)>, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite(db) => {
                let object_id = object_id.to_string();
                blocking(db, move |db| {
                    db.update_user(&object_id, writer.as_ref(), trail, change)
                })
                .await
            }
            Backend::Postgres(pg) => {
                Box::pin(pg.update_user(object_id, writer.as_ref(), trail, change)).await
            }
        }
    }

    /// Replaces a password hash (re-hash on login) unless the hash changed
    /// meanwhile; true if it was replaced.
    pub async fn replace_password_hash(
        &self,
        object_id: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (object_id, old, new) =
                    (object_id.to_string(), old.to_string(), new.to_string());
                blocking(db, move |db| {
                    db.replace_password_hash(&object_id, &old, &new)
                })
                .await
            }
            Backend::Postgres(pg) => Box::pin(pg.replace_password_hash(object_id, old, new)).await,
        }
    }

    /// Deletes a user and their sessions (returned, and audited), or `None`
    /// if absent.
    pub async fn delete_user(
        &self,
        object_id: &str,
        trail: Trail,
    ) -> Result<Option<Vec<RevokedSession>>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let object_id = object_id.to_string();
                blocking(db, move |db| db.delete_user(&object_id, trail)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.delete_user(object_id, trail)).await,
        }
    }
}
