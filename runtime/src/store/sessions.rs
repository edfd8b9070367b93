use r2d2_sqlite::rusqlite::{OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::events::{self, Event, Subject, Trail};
use super::{SessionRecord, Store, StoreError, WriterSession, hash_bytes};
use crate::clock::Millis;
use crate::token::TokenHash;

const SESSION_COLUMNS: &str = "object_id, user_id, installation_id, created_with, created_at, \
                               updated_at, last_used_at, absolute_expires_at";

fn session_from_row(row: &Row<'_>) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        object_id: row.get(0)?,
        user_id: row.get(1)?,
        installation_id: row.get(2)?,
        created_with: serde_json::from_str(&row.get::<_, String>(3)?)?,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
        last_used_at: row.get(6)?,
        absolute_expires_at: row.get(7)?,
    })
}

/// A session that a write removed: enough to audit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedSession {
    pub object_id: String,
    pub user_id: String,
    pub installation_id: Option<String>,
    /// Its times when it was removed: whether it was still alive then.
    pub lifetime: crate::policy::Lifetime,
}

const RETURNING: &str =
    "RETURNING object_id, user_id, installation_id, last_used_at, absolute_expires_at";

fn revoked(
    stmt: &mut r2d2_sqlite::rusqlite::CachedStatement<'_>,
    params: impl r2d2_sqlite::rusqlite::Params,
) -> Result<Vec<RevokedSession>, StoreError> {
    let rows = stmt.query_map(params, |row| {
        Ok(RevokedSession {
            object_id: row.get(0)?,
            user_id: row.get(1)?,
            installation_id: row.get(2)?,
            lifetime: crate::policy::Lifetime {
                last_used_at: row.get(3)?,
                absolute_expires_at: row.get(4)?,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Inserts a session after deleting the user's other sessions on the same
/// installation: one session per (user, installation), as Parse does.
/// Returns the sessions it replaced.
pub(super) fn insert_session(
    tx: &Transaction<'_>,
    s: &SessionRecord,
    hash: &TokenHash,
) -> Result<Vec<RevokedSession>, StoreError> {
    let replaced = match &s.installation_id {
        Some(installation) => {
            let mut stmt = tx.prepare_cached(&format!(
                "DELETE FROM sessions WHERE user_id = ?1 AND installation_id = ?2 {RETURNING}"
            ))?;
            revoked(&mut stmt, params![s.user_id, installation])?
        }
        None => Vec::new(),
    };
    tx.execute(
        "INSERT INTO sessions (object_id, token_hash, user_id, installation_id, created_with,
                               created_at, updated_at, last_used_at, absolute_expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            s.object_id,
            hash_bytes(hash),
            s.user_id,
            s.installation_id,
            s.created_with.to_string(),
            s.created_at,
            s.updated_at,
            s.last_used_at,
            s.absolute_expires_at
        ],
    )?;
    Ok(replaced)
}

fn delete_one(tx: &Transaction<'_>, object_id: &str) -> Result<Option<RevokedSession>, StoreError> {
    let mut stmt = tx.prepare_cached(&format!(
        "DELETE FROM sessions WHERE object_id = ?1 {RETURNING}"
    ))?;
    Ok(revoked(&mut stmt, [object_id])?.pop())
}

pub(super) fn delete_user_sessions(
    tx: &Transaction<'_>,
    user_id: &str,
    keep: Option<&str>,
) -> Result<Vec<RevokedSession>, StoreError> {
    let mut stmt = tx.prepare_cached(&format!(
        "DELETE FROM sessions WHERE user_id = ?1 AND object_id IS NOT ?2 {RETURNING}"
    ))?;
    revoked(&mut stmt, params![user_id, keep])
}

/// Fails with [`StoreError::SessionGone`] unless the writer's session still
/// exists under the token the request presented.
pub(super) fn check_writer(
    tx: &Transaction<'_>,
    writer: &WriterSession<'_>,
) -> Result<(), StoreError> {
    let alive = tx
        .prepare_cached("SELECT 1 FROM sessions WHERE object_id = ?1 AND token_hash = ?2")?
        .exists(params![writer.object_id, hash_bytes(writer.token_hash)])?;
    if alive {
        Ok(())
    } else {
        Err(StoreError::SessionGone)
    }
}

/// Replaces a session's token by one nobody holds and remembers the old
/// one as rotated out (reuse detection), in the caller's transaction.
pub(super) fn seal_session(
    tx: &Transaction<'_>,
    object_id: &str,
    now: Millis,
) -> Result<(), StoreError> {
    let unknown = crate::token::mint().hash;
    replace_token(tx, object_id, &unknown, now)?;
    Ok(())
}

/// The user and installation of a session whose token was replaced.
type Rekeyed = (String, Option<String>);

/// Gives a session a new token hash and files the old one under
/// `rotated_tokens`; `None` if the session does not exist.
fn replace_token(
    tx: &Transaction<'_>,
    object_id: &str,
    hash: &TokenHash,
    now: Millis,
) -> Result<Option<Rekeyed>, StoreError> {
    let old: Option<(Vec<u8>, String, Option<String>)> = tx
        .query_row(
            "SELECT token_hash, user_id, installation_id FROM sessions WHERE object_id = ?1",
            [object_id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    let Some((old_hash, user_id, installation_id)) = old else {
        return Ok(None);
    };
    tx.execute(
        "UPDATE sessions SET token_hash = ?2, updated_at = ?3 WHERE object_id = ?1",
        params![object_id, hash_bytes(hash), now],
    )?;
    tx.execute(
        "INSERT OR REPLACE INTO rotated_tokens (token_hash, session_id, user_id, rotated_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![old_hash, object_id, user_id, now],
    )?;
    Ok(Some((user_id, installation_id)))
}

impl Store {
    /// Stores a new session; returns the sessions it replaced (same user and
    /// installation). With `verified_password`, the session is only created
    /// if the user's password hash is still the one the login verified: a
    /// login racing a password change must not outlive it.
    pub fn create_session(
        &self,
        session: &SessionRecord,
        hash: &TokenHash,
        verified_password: Option<&str>,
        trail: Trail,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(verified) = verified_password {
            let current: Option<String> = tx
                .query_row(
                    "SELECT password_hash FROM users WHERE object_id = ?1",
                    [&session.user_id],
                    |row| row.get(0),
                )
                .optional()?
                .flatten();
            if current.as_deref() != Some(verified) {
                return Err(StoreError::Stale);
            }
        }
        let replaced = insert_session(&tx, session, hash)?;
        events::insert(&tx, Event::Created, trail, [session.into()])?;
        events::insert(
            &tx,
            Event::Replaced,
            trail,
            replaced.iter().map(Subject::from),
        )?;
        tx.commit()?;
        events::log(Event::Created, trail, [session.into()]);
        events::log(Event::Replaced, trail, replaced.iter().map(Subject::from));
        Ok(replaced)
    }

    /// The session a token opens (cached).
    pub fn session_by_token(&self, hash: &TokenHash) -> Result<Option<SessionRecord>, StoreError> {
        self.read_cached(&self.cached.sessions, hash, |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = ?1"
            ))?;
            stmt.query_row([hash_bytes(hash)], |row| Ok(session_from_row(row)))
                .optional()?
                .transpose()
        })
    }

    /// Notes a use of a token's session in the cache, ahead of
    /// [`Store::touch_session`], so that uses meanwhile do not write again.
    pub fn note_session_use(&self, hash: &TokenHash, now: Millis) {
        self.cached.sessions.update(hash, |session| {
            session.last_used_at = session.last_used_at.max(now);
        });
    }

    pub fn session(&self, object_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE object_id = ?1"
            ))?;
            stmt.query_row([object_id], |row| Ok(session_from_row(row)))
                .optional()?
                .transpose()
        })
    }

    /// All sessions, or those of one user.
    pub fn sessions(&self, user_id: Option<&str>) -> Result<Vec<SessionRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE ?1 IS NULL OR user_id = ?1
                 ORDER BY created_at, object_id"
            ))?;
            let rows = stmt.query_map([user_id], |row| Ok(session_from_row(row)))?;
            rows.map(|r| r?).collect()
        })
    }

    /// Records a use of the session. Never moves the time backwards and never
    /// touches a row that was deleted meanwhile.
    pub fn touch_session(&self, object_id: &str, now: Millis) -> Result<(), StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "UPDATE sessions SET last_used_at = ?2 WHERE object_id = ?1 AND last_used_at < ?2",
        )?;
        stmt.execute(params![object_id, now])?;
        Ok(())
    }

    /// Revokes one session, recording `event`; returns it if it existed.
    pub fn delete_session(
        &self,
        object_id: &str,
        event: Event,
        trail: Trail,
    ) -> Result<Option<RevokedSession>, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let gone = delete_one(&tx, object_id)?;
        events::insert(&tx, event, trail, gone.iter().map(Subject::from))?;
        tx.commit()?;
        events::log(event, trail, gone.iter().map(Subject::from));
        Ok(gone)
    }

    /// Revokes every session of a user, except `keep` if given, recording
    /// `event` for each; returns them.
    pub fn delete_sessions_of_user(
        &self,
        user_id: &str,
        keep: Option<&str>,
        event: Event,
        trail: Trail,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let revoked = delete_user_sessions(&tx, user_id, keep)?;
        events::insert(&tx, event, trail, revoked.iter().map(Subject::from))?;
        tx.commit()?;
        events::log(event, trail, revoked.iter().map(Subject::from));
        Ok(revoked)
    }

    /// Moves a session's absolute expiry, never later than it already is.
    pub fn shorten_session(
        &self,
        object_id: &str,
        expires_at: Millis,
        trail: Trail,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let shortened = revoked(
            &mut tx.prepare_cached(&format!(
                "UPDATE sessions SET absolute_expires_at = MIN(absolute_expires_at, ?2), updated_at = ?3
                 WHERE object_id = ?1 {RETURNING}"
            ))?,
            params![object_id, expires_at, trail.at],
        )?;
        let subjects = || shortened.iter().map(Subject::from);
        events::insert(&tx, Event::ShortenedByAdmin, trail, subjects())?;
        tx.commit()?;
        events::log(Event::ShortenedByAdmin, trail, subjects());
        Ok(!shortened.is_empty())
    }

    /// Gives a live session a new token; the old one stops working at once
    /// and its hash is remembered, so that a later use of it can be told
    /// apart from a garbage token (reuse detection).
    pub fn rotate_session_token(
        &self,
        object_id: &str,
        hash: &TokenHash,
        trail: Trail,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some((user_id, installation_id)) = replace_token(&tx, object_id, hash, trail.at)?
        else {
            return Ok(false);
        };
        let subject = Subject {
            user_id: Some(&user_id),
            session_id: Some(object_id),
            installation_id: installation_id.as_deref(),
        };
        events::insert(&tx, Event::Rotated, trail, [subject])?;
        tx.commit()?;
        events::log(Event::Rotated, trail, [subject]);
        Ok(true)
    }

    /// Ends a session sealed by a password change that no hook rotated.
    /// Its rotated-out tokens are forgotten with it: the client was never
    /// handed a successor, so a later use of the old token is a stale
    /// client, not a theft.
    pub fn revoke_sealed_session(
        &self,
        object_id: &str,
        trail: Trail,
    ) -> Result<Option<RevokedSession>, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let gone = delete_one(&tx, object_id)?;
        tx.execute(
            "DELETE FROM rotated_tokens WHERE session_id = ?1",
            [object_id],
        )?;
        let event = Event::RevokedByPasswordChange;
        events::insert(&tx, event, trail, gone.iter().map(Subject::from))?;
        tx.commit()?;
        events::log(event, trail, gone.iter().map(Subject::from));
        Ok(gone)
    }

    /// A rotated-out token: its session id, user id and when it was rotated.
    pub fn rotated_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(String, String, Millis)>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT session_id, user_id, rotated_at FROM rotated_tokens WHERE token_hash = ?1",
            )?;
            Ok(stmt
                .query_row([hash_bytes(hash)], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()?)
        })
    }

    /// Purges sessions past their absolute or idle expiry (returning them),
    /// and rotated-token records older than `forget_rotated_before`.
    pub fn sweep_expired_sessions(
        &self,
        now: Millis,
        idle_timeout: Millis,
        forget_rotated_before: Millis,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let swept = {
            let mut stmt = tx.prepare_cached(&format!(
                "DELETE FROM sessions WHERE absolute_expires_at <= ?1 OR last_used_at <= ?1 - ?2 {RETURNING}"
            ))?;
            revoked(&mut stmt, params![now, idle_timeout])?
        };
        tx.execute(
            "DELETE FROM rotated_tokens WHERE rotated_at < ?1",
            [forget_rotated_before],
        )?;
        let trail = Trail::new(now, None);
        events::insert(&tx, Event::Expired, trail, swept.iter().map(Subject::from))?;
        tx.commit()?;
        events::log(Event::Expired, trail, swept.iter().map(Subject::from));
        Ok(swept)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    const T: Trail = Trail { at: 0, ip: None };
    use crate::store::{Revoke, UserRecord};
    use crate::token;

    /// A store on a file of its own: only those cache sessions.
    /// Fields drop in order: the store closes before its directory goes.
    struct FileStore {
        store: Store,
        _dir: tempfile::TempDir,
    }

    impl FileStore {
        fn new(name: &str) -> Self {
            let dir = tempfile::Builder::new()
                .prefix(&format!("cloudcode-store-{name}-"))
                .tempdir()
                .unwrap();
            let store = Store::open(&dir.path().join("test.db")).unwrap();
            assert!(store.commits.is_some(), "a file store caches sessions");
            FileStore { store, _dir: dir }
        }
    }

    /// A user with one session whose token the cache holds.
    fn cached_session(store: &Store, user_id: &str) -> (SessionRecord, TokenHash) {
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

    type Write = fn(&Store, &SessionRecord);

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
                        Ok::<_, StoreError>(Revoke::PasswordChanged { seal: None })
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
        db.store.sweep_expired_sessions(20, 1_000_000, 0).unwrap();
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
                Ok::<_, StoreError>(Revoke::Nothing)
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
        type Attempt = fn(&Store, &SessionRecord) -> bool;
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
                        Ok::<_, StoreError>(Revoke::PasswordChanged { seal: None })
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
                store.sweep_expired_sessions(i64::MAX / 2, 1, 0).is_err()
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
}
