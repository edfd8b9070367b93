use serde_json::Value;

use super::*;

const T: Trail = Trail { at: 0, ip: None };
use crate::store::{Event, SessionRecord, StoreError, Trail};
use crate::store::{Revoke, UserRecord};
use crate::token;

/// A store on a file of its own: only those cache sessions.
/// Fields drop in order: the store closes before its directory goes.
struct FileStore {
    store: Db,
    _dir: tempfile::TempDir,
}

impl FileStore {
    fn new(name: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("cloudcode-store-{name}-"))
            .tempdir()
            .unwrap();
        let store = Db::open(&dir.path().join("test.db")).unwrap();
        assert!(store.commits.is_some(), "a file store caches sessions");
        FileStore { store, _dir: dir }
    }
}

/// A user with one session whose token the cache holds.
fn cached_session(store: &Db, user_id: &str) -> (SessionRecord, TokenHash) {
    if store.user(user_id).unwrap().is_none() {
        let user = UserRecord {
            object_id: user_id.into(),
            username: user_id.into(),
            email: None,
            password_hash: None,
            fields: Default::default(),
            created_at: 0,
            updated_at: 0,
        };
        store.create_user(&user, None, T).unwrap();
    }
    let session = SessionRecord {
        object_id: token::object_id(),
        user_id: user_id.into(),
        installation_id: Some("phone".into()),
        created_with: Value::Null,
        created_at: 0,
        updated_at: 0,
        last_used_at: 0,
        absolute_expires_at: 1_000_000,
    };
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
