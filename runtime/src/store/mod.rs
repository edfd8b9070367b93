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
//! Backends: [`sqlite`] (embedded, the default). Its point reads run in
//! place, since in WAL mode they never wait for a writer and take
//! microseconds; so do session changes whenever SQLite's write lock is free
//! ([`write`]); other writes go to the blocking pool.

mod audit;
pub mod classes;
mod events;
mod objects;
mod postgres;
pub mod query;
mod records;
mod sessions;
pub mod snapshot;
mod sqlite;
mod throttle;
mod users;

pub use events::{Ended, Event, EventRecord, Subject, Trail};
pub use records::*;

use std::path::Path;

use self::snapshot::Copied;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a {0} with that value already exists")]
    Duplicate(UniqueField),
    /// The engine's error; its causes (a TLS handshake's reason, an I/O
    /// error) follow in the error's source chain.
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
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
    Watch(&'static str),
    /// A copy's target already holds users, sessions or objects.
    #[error("the target database is not empty: it holds users, sessions or objects already")]
    NotEmpty,
    #[error("{0}")]
    Unsupported(&'static str),
    /// A write asked not to wait would have (SQLite's write lock is held);
    /// nothing was written. Internal: [`write`] then runs it where it may wait.
    #[error("the write would have waited for the database's lock")]
    WouldWait,
    /// TLS to the database cannot be set up (its CA file, its settings).
    #[error("TLS to the database: {0}")]
    Tls(String),
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

/// Runs SQLite work that writes one transaction in place, on the async
/// executor, when it can without waiting: a connection and SQLite's write
/// lock are free (a commit costs a few microseconds; the blocking pool's
/// two thread wake-ups cost about 40, BENCHMARKS.md). Otherwise, before
/// anything is written, on the blocking pool like [`blocking`]. `work` may
/// therefore run twice, but commits once; a second transaction in it
/// would wait in place.
async fn write<T, E>(
    db: &sqlite::Db,
    work: impl Fn(&sqlite::Db) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    if let Some(done) = sqlite::without_waiting(|| work(db)) {
        return done;
    }
    blocking(db, work).await
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
    /// The sessions that end from now on, each reported once its ending
    /// commits (the after-session-end hooks run on them). Only the first
    /// call gets them; later ones get `None`.
    pub fn watch_session_ends(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Ended>> {
        match &self.backend {
            Backend::Sqlite(db) => db.journal.watch_ends(),
            Backend::Postgres(pg) => pg.journal.watch_ends(),
        }
    }

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
    /// schema up to date; nodes that start together migrate once. With
    /// `sslmode=require` in the URI the connections are TLS, the server
    /// verified against `ca` (PEM), else the public web roots.
    pub async fn connect(uri: &str, ca: Option<&Path>) -> Result<Self, StoreError> {
        Ok(Store {
            backend: Backend::Postgres(postgres::Pg::connect(uri, ca).await?),
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
}
