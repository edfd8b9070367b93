//! Live sessions by token hash, in memory, so that validating a hot token
//! costs no SQLite read, and an exact rule for when a cached row may be used:
//! only while nothing at all has been committed to the database since it was
//! read.
//!
//! "Nothing was committed" is read from SQLite's wal-index header, the
//! shared-memory block (`<db>-shm`) that every commit, by any connection of
//! any process, rewrites with a new change counter and checksum
//! (<https://www.sqlite.org/walformat.html>). Comparing 48 mapped bytes costs
//! nanoseconds and no lock or system call. So a revocation through the API, a
//! session deleted with `sqlite3` by an operator, and a sweep all take effect
//! on the next request: there is no invalidation to forget. Expiry needs no
//! rule at all: the session policy checks the cached times on every use.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Mutex;

use r2d2_sqlite::rusqlite::{Connection, OpenFlags};

use super::{SessionRecord, StoreError};
use crate::auth::token::TokenHash;
use crate::clock::Millis;

/// The first copy of the wal-index header: version, change counter, page
/// size, last frame, page count, frame checksum, salts and checksum.
const HEADER_LEN: usize = 48;
/// Entries kept at most; a full cache starts over.
const CAPACITY: usize = 16_384;

/// The state of the database as of a moment: equal marks, no commit between.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Mark([u8; HEADER_LEN]);

/// Reads the wal-index header of one database.
pub struct CommitWatch {
    header: memmap2::Mmap,
    /// Keeps the shared memory in place: SQLite removes or resets it only
    /// when the last connection to the database closes, or when one opens
    /// while none is open. Never used, hence never locked.
    _keeper: Mutex<Connection>,
}

impl CommitWatch {
    /// Watches a database in WAL mode (the store sets it) that this process
    /// has already opened.
    pub fn open(database: &Path) -> Result<Self, StoreError> {
        let keeper = Connection::open_with_flags(
            database,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let mode: String = keeper.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NoWal(mode));
        }
        let mut shm = database.as_os_str().to_owned();
        shm.push("-shm");
        let file = File::open(&shm).map_err(StoreError::Watch)?;
        if file.metadata().map_err(StoreError::Watch)?.len() < HEADER_LEN as u64 {
            return Err(StoreError::Watch(std::io::ErrorKind::UnexpectedEof.into()));
        }
        // SAFETY: a read-only shared mapping of a file that is never
        // truncated while `keeper` holds the database open (see above); its
        // bytes change under us, so they are only read with volatile reads.
        let header = unsafe { memmap2::MmapOptions::new().len(HEADER_LEN).map(&file) }
            .map_err(StoreError::Watch)?;
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
        Mark(mark)
    }
}

#[derive(Default)]
pub struct SessionCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The mark every entry was read under; `None` before the first lookup.
    mark: Option<Mark>,
    entries: HashMap<TokenHash, SessionRecord>,
}

impl SessionCache {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain map: a panic elsewhere cannot leave it half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached row, if nothing was committed since it was read; `now` is
    /// the database's current mark.
    pub fn get(&self, hash: &TokenHash, now: Mark) -> Option<SessionRecord> {
        let mut state = self.state();
        if state.mark != Some(now) {
            state.entries.clear();
            state.mark = Some(now);
            return None;
        }
        state.entries.get(hash).cloned()
    }

    /// Caches a row read after the database showed `read_at`, unless it has
    /// changed since.
    pub fn insert(&self, read_at: Mark, hash: TokenHash, session: SessionRecord) {
        let mut state = self.state();
        if state.mark != Some(read_at) {
            return;
        }
        if state.entries.len() >= CAPACITY {
            state.entries.clear();
        }
        state.entries.insert(hash, session);
    }

    /// Records a use in the cached row ahead of the database write, so that
    /// the uses until that write commits do not write again.
    pub fn note_use(&self, hash: &TokenHash, now: Millis) {
        if let Some(session) = self.state().entries.get_mut(hash) {
            session.last_used_at = session.last_used_at.max(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn session() -> SessionRecord {
        SessionRecord {
            object_id: "s".into(),
            user_id: "u".into(),
            installation_id: None,
            created_with: Value::Null,
            created_at: 0,
            updated_at: 0,
            last_used_at: 0,
            absolute_expires_at: 1000,
        }
    }

    #[test]
    fn entries_live_only_while_the_mark_stands() {
        let cache = SessionCache::default();
        let (before, after) = (Mark([0; HEADER_LEN]), Mark([1; HEADER_LEN]));
        let hash = TokenHash([7; 32]);
        assert_eq!(cache.get(&hash, before), None);
        cache.insert(before, hash, session());
        cache.note_use(&hash, 500);
        assert_eq!(cache.get(&hash, before).unwrap().last_used_at, 500);
        assert_eq!(cache.get(&hash, after), None);
        assert_eq!(
            cache.get(&hash, before),
            None,
            "a changed mark empties the cache"
        );
    }

    #[test]
    fn a_row_read_before_a_commit_is_not_cached_after_it() {
        let cache = SessionCache::default();
        let (before, after) = (Mark([0; HEADER_LEN]), Mark([1; HEADER_LEN]));
        let hash = TokenHash([7; 32]);
        assert_eq!(cache.get(&hash, before), None);
        // Another request sees the commit while this one still reads.
        assert_eq!(cache.get(&hash, after), None);
        cache.insert(before, hash, session());
        assert_eq!(cache.get(&hash, after), None);
    }
}
