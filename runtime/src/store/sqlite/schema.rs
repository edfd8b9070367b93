//! Numbered migrations, applied in order and recorded in `PRAGMA user_version`.

use r2d2_sqlite::rusqlite::Connection;

use super::StoreError;

const MIGRATIONS: &[&str] = &[
    // 1: users, sessions and class objects.
    "CREATE TABLE users (
        object_id     TEXT PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
        email         TEXT UNIQUE COLLATE NOCASE,
        password_hash TEXT,
        fields        TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
    );
    CREATE TABLE sessions (
        object_id           TEXT PRIMARY KEY,
        token_hash          BLOB NOT NULL UNIQUE,
        user_id             TEXT NOT NULL REFERENCES users(object_id) ON DELETE CASCADE,
        installation_id     TEXT,
        created_with        TEXT NOT NULL,
        created_at          INTEGER NOT NULL,
        updated_at          INTEGER NOT NULL,
        last_used_at        INTEGER NOT NULL,
        absolute_expires_at INTEGER NOT NULL
    );
    CREATE INDEX sessions_by_user ON sessions(user_id, installation_id);
    CREATE TABLE objects (
        class_name TEXT NOT NULL,
        object_id  TEXT NOT NULL,
        fields     TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (class_name, object_id)
    ) WITHOUT ROWID;",
    // 2: hashes of rotated-out tokens (reuse detection) and the session audit trail.
    "CREATE TABLE rotated_tokens (
        token_hash BLOB PRIMARY KEY,
        session_id TEXT NOT NULL,
        user_id    TEXT NOT NULL REFERENCES users(object_id) ON DELETE CASCADE,
        rotated_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX rotated_tokens_by_user ON rotated_tokens(user_id);
    CREATE TABLE session_events (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        at              INTEGER NOT NULL,
        kind            TEXT NOT NULL,
        user_id         TEXT,
        session_id      TEXT,
        installation_id TEXT,
        ip              TEXT
    );
    CREATE INDEX session_events_by_time ON session_events(at);",
    // 3: the login throttle's counts (keys are SHA-256 digests).
    "CREATE TABLE login_failures (
        key          BLOB PRIMARY KEY,
        window_start INTEGER NOT NULL,
        in_window    INTEGER NOT NULL,
        consecutive  INTEGER NOT NULL,
        last         INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX login_failures_by_last ON login_failures(last);",
    // 4: what finds need: the pointers in objects (a find by pointer reads
    // the index, not its class) and the objects by time.
    "CREATE TABLE object_pointers (
        class_name TEXT NOT NULL,
        field      TEXT NOT NULL,
        target     TEXT NOT NULL,
        object_id  TEXT NOT NULL,
        PRIMARY KEY (class_name, field, target, object_id),
        FOREIGN KEY (class_name, object_id) REFERENCES objects(class_name, object_id)
            ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE INDEX object_pointers_by_object ON object_pointers(class_name, object_id);
    CREATE INDEX objects_by_creation ON objects(class_name, created_at, object_id);
    CREATE INDEX objects_by_update ON objects(class_name, updated_at, created_at, object_id);",
    // 5: classes declared through /schemas (their fields as Parse types).
    "CREATE TABLE classes (
        class_name TEXT PRIMARY KEY,
        fields     TEXT NOT NULL
    ) WITHOUT ROWID;",
];

/// The migration that created `object_pointers`: the objects stored before
/// it get their rows when it is applied.
const POINTERS_MIGRATION: i64 = 4;

pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx =
        conn.transaction_with_behavior(r2d2_sqlite::rusqlite::TransactionBehavior::Immediate)?;
    let applied: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (version, sql) in (1..).zip(MIGRATIONS).skip(applied.max(0) as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        if version == POINTERS_MIGRATION {
            super::objects::index_all_pointers(&tx)?;
        }
    }
    tx.commit()?;
    Ok(())
}
