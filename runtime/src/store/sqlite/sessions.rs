use r2d2_sqlite::rusqlite::{OptionalExtension, Row, Transaction, params};

use super::{Db, events, execute_cached, hash_bytes, to_json};
use crate::clock::Millis;
use crate::policy::SessionPolicy;
use crate::store::events::{Event, Trail};
use crate::store::{RevokedSession, SessionRecord, StoreError, WriterSession};
use crate::token::TokenHash;

pub(super) const SESSION_COLUMNS: &str = "object_id, user_id, installation_id, created_with, created_at, \
                               updated_at, last_used_at, absolute_expires_at";

pub(super) fn session_from_row(row: &Row<'_>) -> Result<SessionRecord, StoreError> {
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
    execute_cached(
        tx,
        "INSERT INTO sessions (object_id, token_hash, user_id, installation_id, created_with,
                               created_at, updated_at, last_used_at, absolute_expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            s.object_id,
            hash_bytes(hash),
            s.user_id,
            s.installation_id,
            to_json(&s.created_with),
            s.created_at,
            s.updated_at,
            s.last_used_at,
            s.absolute_expires_at
        ],
    )?;
    Ok(replaced)
}

fn delete_one(tx: &Transaction<'_>, object_id: &str) -> Result<Vec<RevokedSession>, StoreError> {
    let mut stmt = tx.prepare_cached(&format!(
        "DELETE FROM sessions WHERE object_id = ?1 {RETURNING}"
    ))?;
    revoked(&mut stmt, [object_id])
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
pub(super) fn check_writer(tx: &Transaction<'_>, writer: &WriterSession) -> Result<(), StoreError> {
    let alive = tx
        .prepare_cached("SELECT 1 FROM sessions WHERE object_id = ?1 AND token_hash = ?2")?
        .exists(params![writer.object_id, hash_bytes(&writer.token_hash)])?;
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

/// Gives a session a new token hash and files the old one under
/// `rotated_tokens`; returns the session (none if it does not exist).
fn replace_token(
    tx: &Transaction<'_>,
    object_id: &str,
    hash: &TokenHash,
    now: Millis,
) -> Result<Vec<RevokedSession>, StoreError> {
    let old_hash: Option<Vec<u8>> = tx
        .query_row(
            "SELECT token_hash FROM sessions WHERE object_id = ?1",
            [object_id],
            |row| row.get(0),
        )
        .optional()?;
    let Some(old_hash) = old_hash else {
        return Ok(Vec::new());
    };
    let rekeyed = revoked(
        &mut tx.prepare_cached(&format!(
            "UPDATE sessions SET token_hash = ?2, updated_at = ?3 WHERE object_id = ?1 {RETURNING}"
        ))?,
        params![object_id, hash_bytes(hash), now],
    )?;
    for session in &rekeyed {
        execute_cached(
            tx,
            "INSERT OR REPLACE INTO rotated_tokens (token_hash, session_id, user_id, rotated_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![old_hash, object_id, session.user_id, now],
        )?;
    }
    Ok(rekeyed)
}

impl Db {
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
        let replaced = self.change_sessions(Event::Replaced, trail, |tx| {
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
            let replaced = insert_session(tx, session, hash)?;
            events::insert(tx, Event::Created, trail, [session.into()])?;
            Ok(replaced)
        })?;
        self.journal.log(Event::Created, trail, [session.into()]);
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
    /// [`Db::touch_session`], so that uses meanwhile do not write again.
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

    /// All sessions, or those of one user, dead ones included.
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

    /// The sessions alive at `now` under `policy`, of every user or of one
    /// (listings skip dead rows the sweeper has not purged yet).
    pub fn live_sessions(
        &self,
        user_id: Option<&str>,
        policy: &SessionPolicy,
        now: Millis,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let dead = policy.dead_at(now);
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions
                 WHERE (?1 IS NULL OR user_id = ?1)
                   AND absolute_expires_at > ?2 AND last_used_at > ?3
                 ORDER BY created_at, object_id"
            ))?;
            let rows = stmt.query_map(params![user_id, dead.absolute, dead.last_used], |row| {
                Ok(session_from_row(row))
            })?;
            rows.map(|r| r?).collect()
        })
    }

    pub fn count_live_sessions(
        &self,
        policy: &SessionPolicy,
        now: Millis,
    ) -> Result<u64, StoreError> {
        let dead = policy.dead_at(now);
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT count(*) FROM sessions WHERE absolute_expires_at > ?1 AND last_used_at > ?2",
            )?;
            let count: i64 =
                stmt.query_row(params![dead.absolute, dead.last_used], |row| row.get(0))?;
            Ok(count.try_into().unwrap_or_default())
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
        let gone = self.change_sessions(event, trail, |tx| delete_one(tx, object_id))?;
        Ok(gone.into_iter().next())
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
        self.change_sessions(event, trail, |tx| delete_user_sessions(tx, user_id, keep))
    }

    /// Moves a session's absolute expiry, never later than it already is.
    pub fn shorten_session(
        &self,
        object_id: &str,
        expires_at: Millis,
        trail: Trail,
    ) -> Result<bool, StoreError> {
        let shortened = self.change_sessions(Event::ShortenedByAdmin, trail, |tx| {
            revoked(
                &mut tx.prepare_cached(&format!(
                    "UPDATE sessions SET absolute_expires_at = MIN(absolute_expires_at, ?2), updated_at = ?3
                     WHERE object_id = ?1 {RETURNING}"
                ))?,
                params![object_id, expires_at, trail.at],
            )
        })?;
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
        let rotated = self.change_sessions(Event::Rotated, trail, |tx| {
            replace_token(tx, object_id, hash, trail.at)
        })?;
        Ok(!rotated.is_empty())
    }

    /// See [`crate::store::Store::restart_reuse_grace`].
    pub fn restart_reuse_grace(
        &self,
        session_id: &str,
        sealed_at: Millis,
        now: Millis,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            execute_cached(
                tx,
                "UPDATE rotated_tokens SET rotated_at = ?3 WHERE session_id = ?1 AND rotated_at = ?2",
                params![session_id, sealed_at, now],
            )?;
            Ok(())
        })
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
        let gone = self.change_sessions(Event::RevokedByPasswordChange, trail, |tx| {
            execute_cached(
                tx,
                "DELETE FROM rotated_tokens WHERE session_id = ?1",
                [object_id],
            )?;
            delete_one(tx, object_id)
        })?;
        Ok(gone.into_iter().next())
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

    /// Purges the sessions `policy` says are dead at `now` (returning them),
    /// and the rotated-token records it says to forget.
    pub fn sweep_expired_sessions(
        &self,
        policy: &SessionPolicy,
        now: Millis,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        let dead = policy.dead_at(now);
        let forget_rotated_before = policy.forget_rotated_before(now);
        // The sweeper's pass is also when the planner's statistics catch up.
        super::refresh_statistics(&*self.conn()?)?;
        self.change_sessions(Event::Expired, Trail::new(now, None), |tx| {
            execute_cached(
                tx,
                "DELETE FROM rotated_tokens WHERE rotated_at < ?1",
                [forget_rotated_before],
            )?;
            let mut stmt = tx.prepare_cached(&format!(
                "DELETE FROM sessions WHERE absolute_expires_at <= ?1 OR last_used_at <= ?2 {RETURNING}"
            ))?;
            revoked(&mut stmt, params![dead.absolute, dead.last_used])
        })
    }
}

#[cfg(test)]
pub(super) mod tests;
