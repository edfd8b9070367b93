//! Rows cached in memory (sessions by token hash, users by id), so that
//! validating a hot token and answering `/users/me` cost no SQLite read, and
//! an exact rule for when a cached row may be used: only while nothing at all
//! has been committed to the database since it was read.
//!
//! "Nothing was committed" is read from SQLite's wal-index header, the
//! shared-memory block (`<db>-shm`) that every commit, by any connection of
//! any process, rewrites with a new change counter and checksum
//! (<https://www.sqlite.org/walformat.html>). Comparing 48 mapped bytes costs
//! nanoseconds and no lock or system call. So a revocation through the API, a
//! session deleted with `sqlite3` by an operator, and a sweep all take effect
//! on the next request: there is no invalidation to forget. Expiry needs no
//! rule at all: the session policy checks the cached times on every use.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::hash::Hash;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Mutex;

use r2d2_sqlite::rusqlite::{Connection, OpenFlags, ffi};

use super::StoreError;

/// The first copy of the wal-index header: version, change counter, page
/// size, last frame, page count, frame checksum, salts and checksum.
const HEADER_LEN: usize = 48;
/// Entries kept at most; a full cache starts over.
const CAPACITY: usize = 16_384;

/// The state of the database as of a moment: equal marks, no commit between.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Mark([u8; HEADER_LEN]);

/// Reads the wal-index header of one database.
///
/// The header is read through SQLite's own mapping of `<db>-shm`, never a
/// descriptor of our own: POSIX drops every lock a process holds on a file
/// when it closes any descriptor of that file, and without its lock on the
/// wal-index this process looks gone to the others, the next of which to
/// open the database rebuilds the shared memory under our connections (the
/// server then dies of SIGBUS; `tests/api/storage.rs` watches the lock).
pub struct CommitWatch {
    /// The start of the wal-index, mapped by `keeper`'s connection.
    header: NonNull<u8>,
    /// Keeps the mapping (and the lock) for as long as the watch lives:
    /// SQLite unmaps the wal-index when a process's last connection to the
    /// database closes. Never used again, hence never locked.
    _keeper: Mutex<Connection>,
}

// SAFETY: `header` points into a shared mapping that lives as long as
// `keeper` (owned here), and it is only ever read, with volatile reads.
unsafe impl Send for CommitWatch {}
// SAFETY: as above; reads from any thread are fine.
unsafe impl Sync for CommitWatch {}

/// The size of one wal-index region: SQLite maps `-shm` in regions of
/// 32 KiB (WALINDEX_PGSZ), and every caller must ask for that size.
const WAL_INDEX_REGION: c_int = 32 * 1024;

impl CommitWatch {
    /// Watches a database in WAL mode (the store sets it) that this process
    /// has already opened.
    pub fn open(database: &Path) -> Result<Self, StoreError> {
        let keeper = Connection::open_with_flags(
            database,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // The read opens the connection's WAL, and with it the wal-index.
        let mode: String = keeper.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NoWal(mode));
        }
        let header = map_wal_index(&keeper)?;
        Ok(Self {
            header,
            _keeper: Mutex::new(keeper),
        })
    }

    /// The database's state now. A write in progress may be read torn; a torn
    /// mark differs from every real one, so it only costs a cache miss.
    pub fn mark(&self) -> Mark {
        let mut mark = [0; HEADER_LEN];
        for (i, byte) in mark.iter_mut().enumerate() {
            // SAFETY: `i < HEADER_LEN`, the length of the live mapping.
            *byte = unsafe { std::ptr::read_volatile(self.header.as_ptr().add(i)) };
        }
        // The row read that follows must not be ordered before the mark.
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        Mark(mark)
    }
}

/// The first region of `conn`'s wal-index, as SQLite mapped it (the same
/// pages every connection of this process reads and writes).
fn map_wal_index(conn: &Connection) -> Result<NonNull<u8>, StoreError> {
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: `conn` is open; FILE_POINTER writes the main database's
    // `sqlite3_file` (owned by the connection) into `file`.
    let status = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&raw mut file).cast(),
        )
    };
    if status != ffi::SQLITE_OK || file.is_null() {
        return Err(StoreError::Watch("no database file"));
    }
    // SAFETY: `file` is the connection's open database file; its methods
    // table is SQLite's and lives as long as the file.
    let methods = unsafe { (*file).pMethods.as_ref() }.ok_or(StoreError::Watch("no methods"))?;
    let shm_map = match methods.xShmMap {
        Some(map) if methods.iVersion >= 2 => map,
        _ => return Err(StoreError::Watch("no shared memory")),
    };
    let mut region: *mut c_void = std::ptr::null_mut();
    // SAFETY: region 0 at SQLite's region size, without extending the file
    // (the connection's read above already sized it); SQLite keeps the
    // mapping until the connection's WAL closes.
    let status = unsafe { shm_map(file, 0, WAL_INDEX_REGION, 0, &mut region) };
    if status != ffi::SQLITE_OK {
        return Err(StoreError::Watch("the wal-index could not be mapped"));
    }
    NonNull::new(region.cast()).ok_or(StoreError::Watch("the wal-index is empty"))
}

/// Rows by key, each valid only under the [`Mark`] it was read at.
pub struct RowCache<K, V> {
    state: Mutex<State<K, V>>,
}

struct State<K, V> {
    /// The mark every entry was read under; `None` before the first lookup.
    mark: Option<Mark>,
    entries: HashMap<K, V>,
}

impl<K, V> Default for RowCache<K, V> {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                mark: None,
                entries: HashMap::new(),
            }),
        }
    }
}

impl<K: Eq + Hash, V: Clone> RowCache<K, V> {
    fn state(&self) -> std::sync::MutexGuard<'_, State<K, V>> {
        // The state is a plain map: a panic elsewhere cannot leave it half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached row, if nothing was committed since it was read; `now` is
    /// the database's current mark.
    pub fn get<Q>(&self, key: &Q, now: Mark) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let mut state = self.state();
        if state.mark != Some(now) {
            state.mark = Some(now);
            let stale = std::mem::take(&mut state.entries);
            // Freeing thousands of rows takes a while: not under the lock.
            drop(state);
            drop(stale);
            return None;
        }
        state.entries.get(key).cloned()
    }

    /// Caches a row read after the database showed `read_at`, unless it has
    /// changed since.
    pub fn insert(&self, read_at: Mark, key: K, row: V) {
        let mut state = self.state();
        if state.mark != Some(read_at) {
            return;
        }
        let full = if state.entries.len() >= CAPACITY {
            std::mem::take(&mut state.entries)
        } else {
            HashMap::new()
        };
        state.entries.insert(key, row);
        drop(state);
        drop(full);
    }

    /// Changes a cached row in place (a change this process will write soon).
    pub fn update<Q>(&self, key: &Q, change: impl FnOnce(&mut V))
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let Some(row) = self.state().entries.get_mut(key) {
            change(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_only_while_the_mark_stands() {
        let cache = RowCache::<String, u32>::default();
        let (before, after) = (Mark([0; HEADER_LEN]), Mark([1; HEADER_LEN]));
        assert_eq!(cache.get("k", before), None);
        cache.insert(before, "k".into(), 1);
        cache.update("k", |row| *row = 2);
        assert_eq!(cache.get("k", before), Some(2));
        assert_eq!(cache.get("k", after), None);
        assert_eq!(cache.get("k", before), None, "a changed mark empties it");
    }

    #[test]
    fn a_row_read_before_a_commit_is_not_cached_after_it() {
        let cache = RowCache::<String, u32>::default();
        let (before, after) = (Mark([0; HEADER_LEN]), Mark([1; HEADER_LEN]));
        assert_eq!(cache.get("k", before), None);
        // Another request sees the commit while this one still reads.
        assert_eq!(cache.get("k", after), None);
        cache.insert(before, "k".into(), 1);
        assert_eq!(cache.get("k", after), None);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = RowCache::<String, usize>::default();
        let mark = Mark([0; HEADER_LEN]);
        assert_eq!(cache.get("0", mark), None);
        for i in 0..=CAPACITY {
            cache.insert(mark, i.to_string(), i);
        }
        assert_eq!(cache.get("0", mark), None, "the first entries went");
        assert_eq!(cache.get(&CAPACITY.to_string(), mark), Some(CAPACITY));
        assert_eq!(cache.state().entries.len(), 1);
    }
}
