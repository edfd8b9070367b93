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
mod postgres;
mod records;
pub mod snapshot;
mod sqlite;

pub use events::{Event, EventRecord, Subject, Trail};
pub use records::*;

use std::path::Path;
use std::sync::Arc;

use self::snapshot::Copied;
use crate::backoff::Failures;
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
    /// A copy's target already holds users, sessions or objects.
    #[error("the target database is not empty: it holds users, sessions or objects already")]
    NotEmpty,
    #[error("{0}")]
    Unsupported(&'static str),
}

/// The storage engines a [`Store`] can run on. (PostgreSQL's futures are
/// boxed where they are awaited: a network backend's state machines are
/// large, and every future awaiting an inline SQLite read would otherwise
/// carry, and copy, their size.)
#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::Db),
    Postgres(postgres::Pg),
}

/// Runs SQLite work that may wait for the write lock (or scan a table) on
/// the blocking pool.
async fn blocking<T, E>(
    db: &sqlite::Db,
    work: impl FnOnce(&sqlite::Db) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    let db = db.clone();
    match tokio::task::spawn_blocking(move || work(&db)).await {
        Ok(done) => done,
        Err(task) => Err(StoreError::Task(task.to_string()).into()),
    }
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

    /// Connects to a PostgreSQL database (`postgres://...`) and brings its
    /// schema up to date; nodes that start together migrate once.
    pub async fn connect(uri: &str) -> Result<Self, StoreError> {
        Ok(Store {
            backend: Backend::Postgres(postgres::Pg::connect(uri).await?),
        })
    }

    fn sqlite(db: sqlite::Db) -> Self {
        Store {
            backend: Backend::Sqlite(db),
        }
    }

    /// Copies every row (users with their password hashes, sessions with
    /// their token hashes, rotated-token hashes, the audit trail, objects,
    /// login throttle counts) into `target`, which must be empty, in one
    /// transaction: tokens and passwords keep working after the move.
    pub async fn copy_into(&self, target: &Store) -> Result<Copied, StoreError> {
        match (&self.backend, &target.backend) {
            (Backend::Sqlite(db), Backend::Postgres(pg)) => {
                let snapshot = blocking(db, |db| db.snapshot()).await?;
                pg.restore(&snapshot).await
            }
            _ => Err(StoreError::Unsupported(
                "copies go from a SQLite database to a PostgreSQL one",
            )),
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

    /// Every user.
    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => blocking(db, |db| db.users()).await,
            Backend::Postgres(pg) => Box::pin(pg.users()).await,
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
        match &self.backend {
            Backend::Sqlite(db) => {
                let (session, hash) = (session.clone(), *hash);
                let verified = verified_password.map(String::from);
                blocking(db, move |db| {
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
                blocking(db, move |db| db.delete_session(&object_id, event, trail)).await
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
                blocking(db, move |db| {
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
                blocking(db, move |db| {
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
                blocking(db, move |db| {
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
                blocking(db, move |db| db.revoke_sealed_session(&object_id, trail)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.revoke_sealed_session(object_id, trail)).await,
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

    // The audit trail.

    /// Records an event that comes with no change of its own (a refused
    /// token).
    pub async fn record_event(
        &self,
        event: Event,
        subject: Subject<'_>,
        trail: Trail,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let [user_id, session_id, installation_id] =
                    [subject.user_id, subject.session_id, subject.installation_id]
                        .map(|id| id.map(String::from));
                blocking(db, move |db| {
                    let subject = Subject {
                        user_id: user_id.as_deref(),
                        session_id: session_id.as_deref(),
                        installation_id: installation_id.as_deref(),
                    };
                    db.record_event(event, subject, trail)
                })
                .await
            }
            Backend::Postgres(pg) => Box::pin(pg.record_event(event, subject, trail)).await,
        }
    }

    /// The audit trail, oldest first.
    pub async fn events(&self) -> Result<Vec<EventRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => blocking(db, |db| db.events()).await,
            Backend::Postgres(pg) => Box::pin(pg.events()).await,
        }
    }

    /// Drops audit rows older than `before`; returns how many.
    pub async fn purge_events(&self, before: Millis) -> Result<usize, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => blocking(db, move |db| db.purge_events(before)).await,
            Backend::Postgres(pg) => Box::pin(pg.purge_events(before)).await,
        }
    }

    // The login throttle's counts, by key (a digest naming an account or an
    // address).

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

    // Objects of application classes.

    pub async fn create_object(
        &self,
        class: &str,
        object: &ObjectRecord,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (class, object) = (class.to_string(), object.clone());
                blocking(db, move |db| db.create_object(&class, &object)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.create_object(class, object)).await,
        }
    }

    pub async fn object(
        &self,
        class: &str,
        object_id: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.object(class, object_id),
            Backend::Postgres(pg) => Box::pin(pg.object(class, object_id)).await,
        }
    }

    /// Every object of a class.
    pub async fn objects(&self, class: &str) -> Result<Vec<ObjectRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let class = class.to_string();
                blocking(db, move |db| db.objects(&class)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.objects(class)).await,
        }
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
        match &self.backend {
            Backend::Sqlite(db) => {
                let (class, object_id) = (class.to_string(), object_id.to_string());
                blocking(db, move |db| db.update_object(&class, &object_id, change)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.update_object(class, object_id, change)).await,
        }
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
        match &self.backend {
            Backend::Sqlite(db) => {
                let (class, object_id) = (class.to_string(), object_id.to_string());
                blocking(db, move |db| db.delete_object(&class, &object_id, allowed)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.delete_object(class, object_id, allowed)).await,
        }
    }
}
