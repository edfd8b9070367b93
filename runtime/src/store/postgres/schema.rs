//! Numbered migrations, recorded in `cloudcode_migrations` and applied under
//! an advisory lock: nodes that start at once apply each migration once,
//! the others wait for it.

use deadpool_postgres::Client;

use crate::store::StoreError;

/// Key of the advisory lock that serialises migrations ("cloudcode" in hex,
/// an arbitrary constant every node agrees on).
const MIGRATION_LOCK: i64 = 0x636c_6f75_6463_6f64;

const MIGRATIONS: &[&str] = &[
    // 1: the same tables as the SQLite backend. Usernames and emails are
    // unique ignoring ASCII case, like SQLite's NOCASE: their folded forms
    // carry the constraint and the lookups.
    "CREATE TABLE users (
        object_id       TEXT PRIMARY KEY,
        username        TEXT NOT NULL,
        username_folded TEXT NOT NULL CONSTRAINT users_username_unique UNIQUE,
        email           TEXT,
        email_folded    TEXT CONSTRAINT users_email_unique UNIQUE,
        password_hash   TEXT,
        fields          JSONB NOT NULL,
        created_at      BIGINT NOT NULL,
        updated_at      BIGINT NOT NULL
    );
    CREATE TABLE sessions (
        object_id           TEXT PRIMARY KEY,
        token_hash          BYTEA NOT NULL UNIQUE,
        user_id             TEXT NOT NULL REFERENCES users(object_id) ON DELETE CASCADE,
        installation_id     TEXT,
        created_with        JSONB NOT NULL,
        created_at          BIGINT NOT NULL,
        updated_at          BIGINT NOT NULL,
        last_used_at        BIGINT NOT NULL,
        absolute_expires_at BIGINT NOT NULL
    );
    CREATE INDEX sessions_by_user ON sessions(user_id, installation_id);
    CREATE INDEX sessions_by_absolute_expiry ON sessions(absolute_expires_at);
    CREATE INDEX sessions_by_last_use ON sessions(last_used_at);
    CREATE TABLE objects (
        class_name TEXT NOT NULL,
        object_id  TEXT NOT NULL,
        fields     JSONB NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        CONSTRAINT objects_unique PRIMARY KEY (class_name, object_id)
    );
    CREATE INDEX objects_by_creation ON objects(class_name, created_at, object_id);
    CREATE TABLE rotated_tokens (
        token_hash BYTEA PRIMARY KEY,
        session_id TEXT NOT NULL,
        user_id    TEXT NOT NULL REFERENCES users(object_id) ON DELETE CASCADE,
        rotated_at BIGINT NOT NULL
    );
    CREATE INDEX rotated_tokens_by_user ON rotated_tokens(user_id);
    CREATE INDEX rotated_tokens_by_session ON rotated_tokens(session_id);
    CREATE TABLE session_events (
        id              BIGSERIAL PRIMARY KEY,
        at              BIGINT NOT NULL,
        kind            TEXT NOT NULL,
        user_id         TEXT,
        session_id      TEXT,
        installation_id TEXT,
        ip              TEXT
    );
    CREATE INDEX session_events_by_time ON session_events(at);",
    // 2: the login throttle's counts, shared by every node (keys are
    // SHA-256 digests).
    "CREATE TABLE login_failures (
        key          BYTEA PRIMARY KEY,
        window_start BIGINT NOT NULL,
        in_window    BIGINT NOT NULL,
        consecutive  BIGINT NOT NULL,
        last         BIGINT NOT NULL
    );
    CREATE INDEX login_failures_by_last ON login_failures(last);",
    // 3: what finds need: the pointers in objects (a find by pointer reads
    // the index, not its class) and the objects by update time.
    "CREATE TABLE object_pointers (
        class_name TEXT NOT NULL,
        field      TEXT NOT NULL,
        target     TEXT NOT NULL,
        object_id  TEXT NOT NULL,
        PRIMARY KEY (class_name, field, target, object_id),
        FOREIGN KEY (class_name, object_id) REFERENCES objects(class_name, object_id)
            ON DELETE CASCADE
    );
    CREATE INDEX object_pointers_by_object ON object_pointers(class_name, object_id);
    CREATE INDEX objects_by_update ON objects(class_name, updated_at, created_at, object_id);",
    // 4: classes declared through /schemas (their fields as Parse types).
    "CREATE TABLE classes (
        class_name TEXT PRIMARY KEY,
        fields     JSONB NOT NULL
    );",
];

/// The migration that created `object_pointers`: the objects stored before
/// it get their rows when it is applied.
const POINTERS_MIGRATION: i32 = 3;

pub(super) async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS cloudcode_migrations (
            version    INTEGER PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .await?;
    let applied: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM cloudcode_migrations",
            &[],
        )
        .await?
        .get(0);
    for (version, sql) in (1..).zip(MIGRATIONS).skip(applied.max(0) as usize) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO cloudcode_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        if version == POINTERS_MIGRATION {
            super::objects::index_all_pointers(&tx).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
