use serde_json::Value;

use super::*;
use crate::store::sqlite::{MAY_WAIT, without_waiting};

const T: Trail = Trail { at: 0, ip: None };
use crate::store::{Event, SessionRecord, StoreError, Trail};
use crate::store::{Revoke, UserRecord};
use crate::token;

/// A store on a file of its own: only those cache sessions.
/// Fields drop in order: the store closes before its directory goes.
struct FileStore {
    store: Db,
    dir: tempfile::TempDir,
}

impl FileStore {
    fn new(name: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("cloudcode-store-{name}-"))
            .tempdir()
            .unwrap();
        let store = Db::open(&dir.path().join("test.db")).unwrap();
        assert!(store.commits.is_some(), "a file store caches sessions");
        FileStore { store, dir }
    }
}

/// A user named after its id, not yet stored.
pub(in crate::store::sqlite) fn new_user(user_id: &str) -> UserRecord {
    UserRecord {
        object_id: user_id.into(),
        username: user_id.into(),
        email: None,
        password_hash: None,
        fields: Default::default(),
        created_at: 0,
        updated_at: 0,
    }
}

/// A session of `user_id` on `installation`, not yet stored.
pub(in crate::store::sqlite) fn new_session(user_id: &str, installation: &str) -> SessionRecord {
    SessionRecord {
        object_id: token::object_id(),
        user_id: user_id.into(),
        installation_id: Some(installation.into()),
        created_with: Value::Null,
        created_at: 0,
        updated_at: 0,
        last_used_at: 0,
        absolute_expires_at: 1_000_000,
    }
}

/// A user with one session whose token the cache holds.
fn cached_session(store: &Db, user_id: &str) -> (SessionRecord, TokenHash) {
    if store.user(user_id).unwrap().is_none() {
        store.create_user(&new_user(user_id), None, T).unwrap();
    }
    let session = new_session(user_id, "phone");
    let hash = token::mint().hash;
    store.create_session(&session, &hash, None, T).unwrap();
    for _ in 0..2 {
        assert!(store.session_by_token(&hash).unwrap().is_some());
    }
    let mark = store.commits.as_ref().unwrap().mark();
    assert!(store.cached.sessions.get(&hash, mark).is_some(), "cached");
    (session, hash)
}

type Write = fn(&Db, &SessionRecord);

#[test]
fn no_cached_token_outlives_a_write_that_ends_its_session() {
    let db = FileStore::new("revocations");
    let writes: [(&str, Write); 7] = [
        ("logout", |store, s| {
            store
                .delete_session(&s.object_id, Event::LoggedOut, T)
                .unwrap();
        }),
        ("revoke all", |store, s| {
            store
                .delete_sessions_of_user(&s.user_id, None, Event::RevokedByHook, T)
                .unwrap();
        }),
        ("login on the same installation", |store, s| {
            cached_session(store, &s.user_id);
        }),
        ("rotation", |store, s| {
            store
                .rotate_session_token(&s.object_id, &token::mint().hash, Trail::new(1, None))
                .unwrap();
        }),
        ("password change by the master key", |store, s| {
            store
                .update_user(&s.user_id, None, T, |_| {
                    Ok::<_, StoreError>((Revoke::PasswordChanged { seal: None }, ()))
                })
                .unwrap();
        }),
        ("user deleted", |store, s| {
            store.delete_user(&s.user_id, T).unwrap();
        }),
        ("deleted by another process", |store, s| {
            let path = store.readers.as_deref().unwrap();
            let other = r2d2_sqlite::rusqlite::Connection::open(path).unwrap();
            other
                .execute("DELETE FROM sessions WHERE object_id = ?1", [&s.object_id])
                .unwrap();
        }),
    ];
    for (i, (write, apply)) in writes.into_iter().enumerate() {
        let (session, hash) = cached_session(&db.store, &format!("user{i}"));
        apply(&db.store, &session);
        assert_eq!(db.store.session_by_token(&hash).unwrap(), None, "{write}");
    }
}

#[test]
fn a_cached_session_sees_its_expiry_shortened_and_its_sweep() {
    let db = FileStore::new("expiry");
    let (session, hash) = cached_session(&db.store, "u");
    db.store
        .shorten_session(&session.object_id, 10, Trail::new(5, None))
        .unwrap();
    let seen = db.store.session_by_token(&hash).unwrap().unwrap();
    assert_eq!(seen.absolute_expires_at, 10);
    db.store
        .sweep_expired_sessions(&SessionPolicy::new(1_000_000, 1_000_000), 20)
        .unwrap();
    assert_eq!(db.store.session_by_token(&hash).unwrap(), None);
}

#[test]
fn a_cached_user_sees_every_change() {
    let db = FileStore::new("users");
    cached_session(&db.store, "u");
    for _ in 0..2 {
        assert_eq!(db.store.user("u").unwrap().unwrap().username, "u");
    }
    db.store
        .update_user("u", None, T, |user| {
            user.username = "renamed".into();
            Ok::<_, StoreError>((Revoke::Nothing, ()))
        })
        .unwrap();
    assert_eq!(db.store.user("u").unwrap().unwrap().username, "renamed");
    db.store.delete_user("u", T).unwrap();
    assert_eq!(db.store.user("u").unwrap(), None);
}

/// A session change and its audit rows commit together or not at all:
/// with the audit insert refused (as a crash between the two would
/// leave it), no change survives either.
#[test]
fn no_session_change_commits_without_its_audit_rows() {
    type Attempt = fn(&Db, &SessionRecord) -> bool;
    let attempts: &[(&str, Attempt)] = &[
        ("logout", |store, s| {
            store
                .delete_session(&s.object_id, Event::LoggedOut, T)
                .is_err()
        }),
        ("revoke all", |store, s| {
            store
                .delete_sessions_of_user(&s.user_id, None, Event::RevokedByHook, T)
                .is_err()
        }),
        ("rotation", |store, s| {
            store
                .rotate_session_token(&s.object_id, &token::mint().hash, T)
                .is_err()
        }),
        ("shortened", |store, s| {
            store.shorten_session(&s.object_id, 10, T).is_err()
        }),
        ("password change by the master key", |store, s| {
            store
                .update_user(&s.user_id, None, T, |_| {
                    Ok::<_, StoreError>((Revoke::PasswordChanged { seal: None }, ()))
                })
                .is_err()
        }),
        ("sealed session revoked", |store, s| {
            store.revoke_sealed_session(&s.object_id, T).is_err()
        }),
        ("user deleted", |store, s| {
            store.delete_user(&s.user_id, T).is_err()
        }),
        ("swept", |store, _| {
            store
                .sweep_expired_sessions(&SessionPolicy::new(1, 1), i64::MAX / 2)
                .is_err()
        }),
        ("login", |store, s| {
            let other = SessionRecord {
                object_id: token::object_id(),
                installation_id: Some("laptop".into()),
                ..s.clone()
            };
            store
                .create_session(&other, &token::mint().hash, None, T)
                .is_err()
        }),
    ];
    for (name, attempt) in attempts {
        let db = FileStore::new("atomic");
        let (session, hash) = cached_session(&db.store, "u");
        let before = db.store.sessions(None).unwrap();
        db.store
            .conn()
            .unwrap()
            .execute_batch(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON session_events
                 BEGIN SELECT RAISE(ABORT, 'audit refused'); END;",
            )
            .unwrap();
        assert!(attempt(&db.store, &session), "{name}: the write failed");
        assert_eq!(db.store.sessions(None).unwrap(), before, "{name}");
        assert!(
            db.store.session_by_token(&hash).unwrap().is_some(),
            "{name}: the token still opens its session"
        );
        assert!(db.store.user("u").unwrap().is_some(), "{name}");
    }
}

/// Rows of the session audit trail.
fn audit_rows(store: &Db) -> i64 {
    store
        .conn()
        .unwrap()
        .query_row("SELECT count(*) FROM session_events", [], |row| row.get(0))
        .unwrap()
}

/// A write that may not wait commits in place when SQLite's write lock is
/// free, and is refused, with nothing written, while another connection
/// holds it; the same work then commits once where it may wait.
#[test]
fn an_in_place_write_commits_at_once_or_is_refused_before_writing() {
    let db = FileStore::new("in-place");
    let (session, _) = cached_session(&db.store, "u");
    let revoke = || {
        db.store
            .delete_sessions_of_user("u", None, Event::RevokedByHook, T)
    };

    let holder = r2d2_sqlite::rusqlite::Connection::open(db.dir.path().join("test.db")).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let audit_before = audit_rows(&db.store);
    assert!(without_waiting(revoke).is_none(), "refused");
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(db.store.sessions(None).unwrap().len(), 1, "nothing revoked");
    assert_eq!(audit_rows(&db.store), audit_before, "nothing audited");

    let revoked = without_waiting(revoke).expect("the lock is free");
    assert_eq!(revoked.unwrap()[0].object_id, session.object_id);
    assert!(db.store.sessions(None).unwrap().is_empty());
    assert_eq!(audit_rows(&db.store), audit_before + 1, "audited once");
}

/// Only the first write of in-place work may be refused: once it has
/// committed, running the work again would write twice, so any later
/// write of the same work may wait.
#[test]
fn in_place_work_may_wait_after_its_first_write() {
    let db = FileStore::new("in-place-twice");
    cached_session(&db.store, "u");
    let done = without_waiting(|| {
        db.store
            .delete_sessions_of_user("u", None, Event::RevokedByHook, T)
            .unwrap();
        MAY_WAIT.get()
    });
    assert_eq!(done, Some(true));
    assert!(MAY_WAIT.get(), "and waits again after it");
}

/// In-place commits never checkpoint on the executor; once the WAL is
/// past SQLite's checkpoint size, writes go to the pool, whose commit
/// checkpoints, so the WAL does not grow without bound.
#[test]
fn in_place_writes_leave_checkpoints_to_the_pool() {
    let db = FileStore::new("in-place-wal");
    cached_session(&db.store, "u");
    let wal = db.dir.path().join("test.db-wal");
    let (mut in_place, mut refused) = (0, 0);
    for i in 0..3000 {
        let session = new_session("u", &format!("device-{i}"));
        let hash = token::mint().hash;
        let create = || db.store.create_session(&session, &hash, None, T);
        match without_waiting(create) {
            Some(created) => {
                created.unwrap();
                in_place += 1;
            }
            None => {
                create().unwrap();
                refused += 1;
            }
        }
    }
    let wal_bytes = std::fs::metadata(&wal).unwrap().len();
    assert!(in_place > 2900, "{in_place} in place");
    assert!(refused >= 1, "a checkpoint came due");
    // Never checkpointed, these 3000 commits took 95 MB of WAL;
    // checkpointed every 1000 pages, 4.2 MB.
    assert!(wal_bytes < 12 << 20, "WAL of {wal_bytes} bytes");
    assert_eq!(db.store.sessions(None).unwrap().len(), 3001);
}
