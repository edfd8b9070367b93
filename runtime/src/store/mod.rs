//! Persistent state behind one port: users, sessions, class objects and the
//! session audit trail.
//!
//! [`Store`] is what every layer above uses. Its operations are `async` and
//! each is a unit of work: a change to sessions and its audit rows commit
//! in one transaction ("revoke all and audit"), and a read-modify-write
//! runs its caller's check inside the transaction that writes. Nothing in
//! its signatures belongs to a backend, so a second backend is a new arm of
//! [`Backend`], not a change to the services.
//!
//! Backends: [`sqlite`] (embedded, the default). Its writes go to the
//! blocking pool; its point reads run in place, since in WAL mode they never
//! wait for a writer and take microseconds.

mod events;
mod records;
mod sqlite;

pub use events::{Event, EventRecord, Subject, Trail};
pub use records::*;

use std::path::Path;
use std::sync::Arc;

use crate::clock::Millis;
use crate::policy::SessionPolicy;
use crate::token::TokenHash;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a {0} with that value already exists")]
    Duplicate(UniqueField),
    #[error("database error: {0}")]
    Database(Box<dyn std::error::Error + Send + Sync>),
    #[error("stored JSON is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("the blocking task running a store call failed: {0}")]
    Task(String),
    /// The row changed since it was read (a password changed during a login).
    #[error("the record changed meanwhile")]
    Stale,
    /// The session a write was made with ended before the write committed.
    #[error("the writer's session ended meanwhile")]
    SessionGone,
    #[error("the database is not in WAL mode (journal_mode = {0})")]
    NoWal(String),
    #[error("cannot map the database's wal-index: {0}")]
    Watch(std::io::Error),
}

/// The storage engines a [`Store`] can run on.
#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::Db),
}

/// The storage port (cheap to clone: every clone shares the backend).
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) a SQLite database file and brings its
    /// schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self::sqlite(sqlite::Db::open(path)?))
    }

    /// A private in-memory database (tests and the hook testkit).
    pub fn in_memory() -> Result<Self, StoreError> {
        Ok(Self::sqlite(sqlite::Db::in_memory()?))
    }

    fn sqlite(db: sqlite::Db) -> Self {
        Store {
            backend: Backend::Sqlite(db),
        }
    }

    /// The SQLite backend, for reads that run in place.
    fn db(&self) -> &sqlite::Db {
        match &self.backend {
            Backend::Sqlite(db) => db,
        }
    }

    /// Runs SQLite work that may wait for the write lock (or scan a table)
    /// on the blocking pool.
    async fn blocking<T, E>(
        &self,
        work: impl FnOnce(&sqlite::Db) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let db = self.db().clone();
        match tokio::task::spawn_blocking(move || work(&db)).await {
            Ok(done) => done,
            Err(task) => Err(StoreError::Task(task.to_string()).into()),
        }
    }

    // Users.

    /// Stores a new user and, if given, their first session (with its
    /// audit row), in one transaction.
    pub async fn create_user(
        &self,
        user: &UserRecord,
        session: Option<(&SessionRecord, &TokenHash)>,
        trail: Trail,
    ) -> Result<(), StoreError> {
        let user = user.clone();
        let session = session.map(|(s, hash)| (s.clone(), *hash));
        self.blocking(move |db| db.create_user(&user, session.as_ref().map(|(s, h)| (s, h)), trail))
            .await
    }

    /// A user by objectId (shared: a user carries all its custom fields).
    pub async fn user(&self, object_id: &str) -> Result<Option<Arc<UserRecord>>, StoreError> {
        self.db().user(object_id)
    }

    /// The user a login names, by username or email.
    pub async fn user_by_login(
        &self,
        username: Option<&str>,
        email: Option<&str>,
    ) -> Result<Option<UserRecord>, StoreError> {
        self.db().user_by_login(username, email)
    }

    /// Every user.
    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.blocking(|db| db.users()).await
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
        let object_id = object_id.to_string();
        self.blocking(move |db| db.update_user(&object_id, writer.as_ref(), trail, change))
            .await
    }

    /// Replaces a password hash (re-hash on login) unless the hash changed
    /// meanwhile; true if it was replaced.
    pub async fn replace_password_hash(
        &self,
        object_id: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let (object_id, old, new) = (object_id.to_string(), old.to_string(), new.to_string());
        self.blocking(move |db| db.replace_password_hash(&object_id, &old, &new))
            .await
    }

    /// Deletes a user and their sessions (returned, and audited), or `None`
    /// if absent.
    pub async fn delete_user(
        &self,
        object_id: &str,
        trail: Trail,
    ) -> Result<Option<Vec<RevokedSession>>, StoreError> {
        let object_id = object_id.to_string();
        self.blocking(move |db| db.delete_user(&object_id, trail))
            .await
    }

    // Sessions.

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
        let (session, hash) = (session.clone(), *hash);
        let verified = verified_password.map(String::from);
        self.blocking(move |db| db.create_session(&session, &hash, verified.as_deref(), trail))
            .await
    }

    /// The session a token opens.
    pub async fn session_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.db().session_by_token(hash)
    }

    /// Notes a use of a token's session in whatever the backend caches,
    /// ahead of [`Store::touch_session`], so that uses meanwhile do not
    /// write again.
    pub fn note_session_use(&self, hash: &TokenHash, now: Millis) {
        self.db().note_session_use(hash, now)
    }

    /// A session by objectId, dead or alive.
    pub async fn session(&self, object_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.db().session(object_id)
    }

    /// All sessions, or those of one user, dead ones included.
    pub async fn sessions(&self, user_id: Option<&str>) -> Result<Vec<SessionRecord>, StoreError> {
        let user_id = user_id.map(String::from);
        self.blocking(move |db| db.sessions(user_id.as_deref()))
            .await
    }

    /// The sessions alive at `now` under `policy`, of every user or of one.
    pub async fn live_sessions(
        &self,
        user_id: Option<&str>,
        policy: &SessionPolicy,
        now: Millis,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let (user_id, policy) = (user_id.map(String::from), *policy);
        self.blocking(move |db| db.live_sessions(user_id.as_deref(), &policy, now))
            .await
    }

    /// Records a use of the session. Never moves the time backwards and
    /// never touches a row that was deleted meanwhile.
    pub async fn touch_session(&self, object_id: &str, now: Millis) -> Result<(), StoreError> {
        let object_id = object_id.to_string();
        self.blocking(move |db| db.touch_session(&object_id, now))
            .await
    }

    /// Revokes one session, recording `event`; returns it if it existed.
    pub async fn delete_session(
        &self,
        object_id: &str,
        event: Event,
        trail: Trail,
    ) -> Result<Option<RevokedSession>, StoreError> {
        let object_id = object_id.to_string();
        self.blocking(move |db| db.delete_session(&object_id, event, trail))
            .await
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
        let (user_id, keep) = (user_id.to_string(), keep.map(String::from));
        self.blocking(move |db| db.delete_sessions_of_user(&user_id, keep.as_deref(), event, trail))
            .await
    }

    /// Moves a session's absolute expiry, never later than it already is;
    /// false if the session is gone.
    pub async fn shorten_session(
        &self,
        object_id: &str,
        expires_at: Millis,
        trail: Trail,
    ) -> Result<bool, StoreError> {
        let object_id = object_id.to_string();
        self.blocking(move |db| db.shorten_session(&object_id, expires_at, trail))
            .await
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
        let (object_id, hash) = (object_id.to_string(), *hash);
        self.blocking(move |db| db.rotate_session_token(&object_id, &hash, trail))
            .await
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
        let object_id = object_id.to_string();
        self.blocking(move |db| db.revoke_sealed_session(&object_id, trail))
            .await
    }

    /// A rotated-out token: its session id, user id and when it was rotated.
    pub async fn rotated_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(String, String, Millis)>, StoreError> {
        self.db().rotated_token(hash)
    }

    /// Purges the sessions `policy` says are dead at `now` (returning them,
    /// audited as expired), and the rotated-token records it says to forget.
    pub async fn sweep_expired_sessions(
        &self,
        policy: &SessionPolicy,
        now: Millis,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        let policy = *policy;
        self.blocking(move |db| db.sweep_expired_sessions(&policy, now))
            .await
    }

    // The audit trail.

    /// Records an event that comes with no change of its own (a refused
    /// token).
    pub async fn record_event(
        &self,
        event: Event,
        subject: Subject<'_>,
        trail: Trail,
    ) -> Result<(), StoreError> {
        let [user_id, session_id, installation_id] =
            [subject.user_id, subject.session_id, subject.installation_id]
                .map(|id| id.map(String::from));
        self.blocking(move |db| {
            let subject = Subject {
                user_id: user_id.as_deref(),
                session_id: session_id.as_deref(),
                installation_id: installation_id.as_deref(),
            };
            db.record_event(event, subject, trail)
        })
        .await
    }

    /// The audit trail, oldest first.
    pub async fn events(&self) -> Result<Vec<EventRecord>, StoreError> {
        self.blocking(|db| db.events()).await
    }

    /// Drops audit rows older than `before`; returns how many.
    pub async fn purge_events(&self, before: Millis) -> Result<usize, StoreError> {
        self.blocking(move |db| db.purge_events(before)).await
    }

    // Objects of application classes.

    pub async fn create_object(
        &self,
        class: &str,
        object: &ObjectRecord,
    ) -> Result<(), StoreError> {
        let (class, object) = (class.to_string(), object.clone());
        self.blocking(move |db| db.create_object(&class, &object))
            .await
    }

    pub async fn object(
        &self,
        class: &str,
        object_id: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        self.db().object(class, object_id)
    }

    /// Every object of a class.
    pub async fn objects(&self, class: &str) -> Result<Vec<ObjectRecord>, StoreError> {
        let class = class.to_string();
        self.blocking(move |db| db.objects(&class)).await
    }

    /// Reads, changes and writes an object in one transaction; `change` may
    /// refuse, and what else it returns comes back with the written object.
    /// `None` when absent.
    pub async fn update_object<T, E>(
        &self,
        class: &str,
        object_id: &str,
        change: impl FnOnce(&mut ObjectRecord) -> Result<T, E> + Send + 'static,
    ) -> Result<Option<(ObjectRecord, T)>, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (class, object_id) = (class.to_string(), object_id.to_string());
        self.blocking(move |db| db.update_object(&class, &object_id, change))
            .await
    }

    /// Deletes an object if `allowed` approves of its current state,
    /// atomically. `Ok(None)`: no such object.
    pub async fn delete_object<E>(
        &self,
        class: &str,
        object_id: &str,
        allowed: impl FnOnce(&ObjectRecord) -> Result<(), E> + Send + 'static,
    ) -> Result<Option<()>, E>
    where
        E: From<StoreError> + Send + 'static,
    {
        let (class, object_id) = (class.to_string(), object_id.to_string());
        self.blocking(move |db| db.delete_object(&class, &object_id, allowed))
            .await
    }
}
