//! The SQLite backend (WAL mode), the embedded default.
//!
//! Every method is synchronous; [`super::Store`] decides where each runs.
//! Writes take a connection from a pool and may wait for SQLite's write
//! lock, so they run on the blocking pool, unless run [`without_waiting`]:
//! then on a connection of their own, refused rather than kept waiting.
//! Reads use a read-only connection owned by the calling thread: in WAL
//! mode a reader never waits for a writer, so a point read takes
//! microseconds and runs in place.
//! Writes that read before they write open `IMMEDIATE` transactions, so
//! concurrent writers queue on SQLite's lock instead of failing with a stale
//! snapshot.

mod cache;
mod classes;
mod events;
mod objects;
mod query;
mod schema;
mod sessions;
mod snapshot;
mod throttle;
mod users;

use std::cell::{Cell, RefCell};
use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;

use self::cache::{CommitWatch, Mark, RowCache};
use r2d2_sqlite::rusqlite::{self, OpenFlags, TransactionBehavior};

use super::events::{Event, Journal, Subject, Trail};
use super::{RevokedSession, SessionRecord, StoreError, UniqueField, UserRecord};
use crate::token::TokenHash;

#[derive(Default)]
struct Cached {
    sessions: RowCache<TokenHash, SessionRecord>,
    /// Shared, not cloned, on a hit: a user carries all its custom fields.
    users: RowCache<String, Arc<UserRecord>>,
}

#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<SqliteConnectionManager>,
    /// The database file that per-thread readers open; `None` for an
    /// in-memory database, whose only connection is the pool's.
    readers: Option<Arc<PathBuf>>,
    /// Rows valid while `commits` shows no commit since they were read;
    /// unused without a watch (an in-memory database).
    cached: Arc<Cached>,
    commits: Option<Arc<CommitWatch>>,
    /// The connection writes run on when they run in place, on the async
    /// executor ([`without_waiting`]). SQLite's automatic checkpoint is off
    /// on it, so that a commit there never runs one. `None` for an
    /// in-memory database (no WAL; its pool's one connection serves).
    in_place: Option<Arc<Mutex<rusqlite::Connection>>>,
    /// Set when an in-place commit left the WAL past the checkpoint size:
    /// writes then go to the pool, whose connections checkpoint after
    /// committing, as SQLite does by default.
    checkpoint_due: Arc<AtomicBool>,
    pub(in crate::store) journal: Journal,
}

thread_local! {
    /// False while a write runs in place ([`without_waiting`]): `Db::write`
    /// then refuses, before writing anything, what would wait.
    static MAY_WAIT: Cell<bool> = const { Cell::new(true) };
    /// Set when `Db::write` refused for that reason.
    static REFUSED: Cell<bool> = const { Cell::new(false) };
    /// Pages in the WAL after the last commit on this thread's in-place
    /// connection (SQLite's WAL hook).
    static WAL_PAGES: Cell<c_int> = const { Cell::new(0) };
}

/// How long a connection that may wait waits for SQLite's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Pages of WAL past which a checkpoint is due: SQLite's default for its
/// automatic checkpoint.
const CHECKPOINT_PAGES: c_int = 1000;

/// Runs `work`, whose writes (at most one transaction) must not wait: for
/// a connection, for SQLite's write lock. `None` if its write would have
/// waited: nothing was written, and it is the caller's to run `work` where
/// waiting is harmless (the blocking pool).
pub fn without_waiting<R>(work: impl FnOnce() -> R) -> Option<R> {
    /// Lets this thread wait again however `work` ends.
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            MAY_WAIT.set(true);
        }
    }
    MAY_WAIT.set(false);
    REFUSED.set(false);
    let _restore = Restore;
    let result = work();
    (!REFUSED.replace(false)).then_some(result)
}

thread_local! {
    /// This thread's read-only connections, one per open database file. A
    /// reader whose store is gone is closed the next time one is added.
    static READERS: RefCell<Vec<(Weak<PathBuf>, rusqlite::Connection)>> =
        const { RefCell::new(Vec::new()) };
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("sqlite::Db").finish_non_exhaustive()
    }
}

/// Prepared statements each connection keeps: every statement the store
/// runs per request, so none is compiled again (one uncached INSERT cost
/// more instructions than the rest of its session's creation).
const STATEMENT_CACHE: usize = 64;

fn configure(conn: &mut rusqlite::Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA synchronous = NORMAL;",
    )
}

impl Db {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let manager = SqliteConnectionManager::file(path).with_init(configure);
        let pool = pool(manager, 16)?;
        let mut conn = pool.get()?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        schema::migrate(&mut conn)?;
        refresh_statistics(&conn)?;
        drop(conn);
        let commits = CommitWatch::open(path)
            .inspect_err(|error| tracing::warn!(%error, "sessions will not be cached"))
            .ok()
            .map(Arc::new);
        Ok(Self {
            pool,
            readers: Some(Arc::new(path.to_path_buf())),
            cached: Arc::default(),
            commits,
            in_place: Some(Arc::new(Mutex::new(open_in_place(path)?))),
            checkpoint_due: Arc::default(),
            journal: Journal::default(),
        })
    }

    /// A private in-memory database (tests and the hook testkit).
    pub fn in_memory() -> Result<Self, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "file:cloudcode-mem-{}-{}?mode=memory&cache=shared",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let manager = SqliteConnectionManager::file(name)
            .with_flags(
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_URI,
            )
            .with_init(configure);
        // One connection: an in-memory database lives as long as its last
        // connection, and shared-cache locking does not honour busy timeouts.
        let pool = pool(manager, 1)?;
        let mut conn = pool.get()?;
        schema::migrate(&mut conn)?;
        drop(conn);
        Ok(Self {
            pool,
            readers: None,
            cached: Arc::default(),
            commits: None,
            in_place: None,
            checkpoint_due: Arc::default(),
            journal: Journal::default(),
        })
    }

    /// Reads a row through a cache: from memory if nothing was committed since
    /// it was read, else from the database (caching what it finds).
    /// The key is owned only to cache a row read from the database.
    fn read_cached<Q, K, V>(
        &self,
        cache: &RowCache<K, V>,
        key: &Q,
        read: impl FnOnce(&rusqlite::Connection) -> Result<Option<V>, StoreError>,
    ) -> Result<Option<V>, StoreError>
    where
        Q: ToOwned<Owned = K> + Eq + std::hash::Hash + ?Sized,
        K: std::borrow::Borrow<Q> + Eq + std::hash::Hash,
        V: Clone,
    {
        let read_at: Option<Mark> = self.commits.as_ref().map(|commits| commits.mark());
        if let Some(mark) = read_at
            && let Some(row) = cache.get(key, mark)
        {
            return Ok(Some(row));
        }
        let found = self.read(read)?;
        if let (Some(mark), Some(row)) = (read_at, &found) {
            cache.insert(mark, key.to_owned(), row.clone());
        }
        Ok(found)
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, StoreError> {
        Ok(self.pool.get()?)
    }

    /// Runs `work` in one IMMEDIATE transaction (the write lock is taken up
    /// front, so a read-modify-write cannot fail upgrading a read lock),
    /// committed only if `work` succeeds.
    ///
    /// In place ([`without_waiting`]) it neither waits for a connection nor
    /// for the lock: it refuses instead ([`StoreError::WouldWait`]), before
    /// writing anything. Once one write of in-place work has committed, any
    /// after it waits as usual: the work must not run again.
    fn write<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        if MAY_WAIT.get() {
            let value = run_transaction(&mut *self.conn()?, work)?;
            // Its commit ran SQLite's automatic checkpoint if one was due.
            self.checkpoint_due.store(false, Ordering::Relaxed);
            return Ok(value);
        }
        let value = self.write_in_place(work)?;
        MAY_WAIT.set(true);
        Ok(value)
    }

    /// [`Db::write`] without waiting: refused unless a connection and
    /// SQLite's write lock are free now, and while a checkpoint is due.
    fn write_in_place<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let refuse = || {
            REFUSED.set(true);
            Err(StoreError::WouldWait.into())
        };
        if self.checkpoint_due.load(Ordering::Relaxed) {
            return refuse();
        }
        let Some(in_place) = &self.in_place else {
            // In memory: the pool's one connection, if no one holds it, is
            // the only one, so its lock is free too.
            let Some(mut conn) = self.pool.try_get() else {
                return refuse();
            };
            return run_transaction(&mut conn, work);
        };
        let Ok(mut conn) = in_place.try_lock() else {
            return refuse();
        };
        // The in-place connection has no busy timeout: BEGIN fails at once
        // while another connection holds the write lock.
        let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) if is_busy(&e) => return refuse(),
            Err(e) => return Err(StoreError::from(e).into()),
        };
        let value = commit_if_ok(tx, work)?;
        if WAL_PAGES.replace(0) >= CHECKPOINT_PAGES {
            self.checkpoint_due.store(true, Ordering::Relaxed);
        }
        Ok(value)
    }

    /// A write that ends (or changes) sessions: `work` returns them, each
    /// gets its `event` row in the same transaction, and the events are
    /// logged once committed.
    fn change_sessions<E: From<StoreError>>(
        &self,
        event: Event,
        trail: Trail,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<Vec<RevokedSession>, E>,
    ) -> Result<Vec<RevokedSession>, E> {
        let changed = self.write(|tx| {
            let changed = work(tx)?;
            events::insert(tx, event, trail, changed.iter().map(Subject::from))?;
            Ok::<_, E>(changed)
        })?;
        self.journal
            .log(event, trail, changed.iter().map(Subject::from));
        Ok(changed)
    }

    /// Runs a read on this thread's read-only connection (opened on first
    /// use), without touching the pool. Each statement outside a transaction
    /// reads the latest committed state.
    fn read<T>(
        &self,
        query: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Some(path) = &self.readers else {
            return query(&*self.conn()?);
        };
        READERS.with(|readers| {
            // A read never runs inside another, but if one did, the pool serves it.
            let Ok(mut readers) = readers.try_borrow_mut() else {
                return query(&*self.conn()?);
            };
            let index = match readers
                .iter()
                .position(|(owner, _)| std::ptr::eq(owner.as_ptr(), Arc::as_ptr(path)))
            {
                Some(index) => index,
                None => {
                    readers.retain(|(owner, _)| owner.strong_count() > 0);
                    readers.push((Arc::downgrade(path), open_reader(path)?));
                    readers.len() - 1
                }
            };
            query(&readers[index].1)
        })
    }
}

/// Runs `work` in one IMMEDIATE transaction on `conn`.
fn run_transaction<T, E: From<StoreError>>(
    conn: &mut rusqlite::Connection,
    work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
) -> Result<T, E> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(StoreError::from)?;
    commit_if_ok(tx, work)
}

/// Runs `work` in `tx` and commits it only if `work` succeeds.
fn commit_if_ok<T, E: From<StoreError>>(
    tx: rusqlite::Transaction<'_>,
    work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
) -> Result<T, E> {
    let value = work(&tx)?;
    tx.commit().map_err(StoreError::from)?;
    Ok(value)
}

/// A pool of `size` connections. They are not tested when checked out: a
/// connection to a local file does not go stale, and the test ran a
/// statement on every write.
fn pool(
    manager: SqliteConnectionManager,
    size: u32,
) -> Result<r2d2::Pool<SqliteConnectionManager>, r2d2::Error> {
    r2d2::Pool::builder()
        .max_size(size)
        .test_on_check_out(false)
        .build(manager)
}

/// Runs one statement through the connection's statement cache.
fn execute_cached(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// The connection for in-place writes: SQLite's automatic checkpoint is
/// replaced by a note of the WAL's size, read after each commit.
/// It waits for nothing: no busy timeout (a statement inside its
/// transaction, which holds the write lock, meets SQLite's lock only while
/// a crashed process's WAL is recovered, and then fails).
fn open_in_place(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let mut conn = rusqlite::Connection::open(path)?;
    configure(&mut conn)?;
    conn.busy_timeout(Duration::ZERO)?;
    conn.wal_hook(Some(note_wal_pages));
    Ok(conn)
}

fn note_wal_pages(_: &rusqlite::hooks::Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(pages);
    Ok(())
}

/// Lets SQLite refresh the table statistics its planner chooses indexes by
/// (e.g. `object_pointers` for a find by pointer rather than a walk of the
/// class), where they are missing or stale; bounded work, as SQLite advises
/// for long-lived connections.
///
/// Only the row counts are kept, not the sampled values (`sqlite_stat4`):
/// with samples, a statement that compares an indexed column that is not
/// unique with a parameter (a user's sessions, a class's objects) is
/// compiled again on every run, to plan by the value bound. In the same
/// transaction, so no connection ever loads them.
fn refresh_statistics(conn: &rusqlite::Connection) -> Result<(), StoreError> {
    // Immediate: the write lock is taken (or waited for) before the
    // analysis reads, so a write that commits meanwhile cannot make the
    // transaction's own write fail.
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    tx.execute_batch("PRAGMA optimize = 0x10002")?;
    let sampled: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat4')",
        [],
        |row| row.get(0),
    )?;
    if sampled {
        tx.execute_batch("DELETE FROM sqlite_stat4")?;
    }
    tx.commit()?;
    conn.execute_batch("ANALYZE sqlite_schema")?;
    Ok(())
}

fn open_reader(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// JSON text for a column: serialised in place, where `Value`'s `Display`
/// would need the fields cloned into a `Value` and write through `fmt`.
pub(super) fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("a JSON value serialises")
}

fn from_json(text: &str) -> Result<super::Fields, StoreError> {
    Ok(serde_json::from_str(text)?)
}

fn unique_violation(err: rusqlite::Error) -> StoreError {
    let field = match &err {
        rusqlite::Error::SqliteFailure(code, Some(msg))
            if code.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            [
                (".username", UniqueField::Username),
                (".email", UniqueField::Email),
                (".object_id", UniqueField::ObjectId),
            ]
            .into_iter()
            .find(|(column, _)| msg.contains(column))
            .map(|(_, field)| field)
        }
        _ => None,
    };
    match field {
        Some(field) => StoreError::Duplicate(field),
        None => err.into(),
    }
}

fn hash_bytes(hash: &TokenHash) -> &[u8] {
    &hash.0
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Database(Box::new(error))
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(error: r2d2::Error) -> Self {
        StoreError::Database(Box::new(error))
    }
}
