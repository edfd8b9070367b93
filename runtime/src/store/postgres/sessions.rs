use deadpool_postgres::Transaction;

use std::sync::Arc;

use super::readers::{FOUND_AT, Key, Read};
use super::rows::{SESSION_COLUMN_COUNT, SESSION_COLUMNS, session_at, session_from_row, user_at};
use super::{Cached, Pg, RETURNING, insert_events, lock_user, revoked};
use crate::clock::Millis;
use crate::policy::SessionPolicy;
use crate::store::events::{Event, Trail};
use crate::store::{RevokedSession, SessionRecord, StoreError, UserRecord, WriterSession};
use crate::token::TokenHash;

/// Inserts a session after deleting the user's other sessions on the same
/// installation (one session per user and installation, as Parse does);
/// returns those it replaced.
pub(super) async fn insert_session(
    tx: &Transaction<'_>,
    s: &SessionRecord,
    hash: &TokenHash,
) -> Result<Vec<RevokedSession>, StoreError> {
    let replaced = match &s.installation_id {
        Some(installation) => revoked(
            tx.rows(
                &format!(
                    "DELETE FROM sessions WHERE user_id = $1 AND installation_id = $2 {RETURNING}"
                ),
                &[&s.user_id, installation],
            )
            .await?,
        ),
        None => Vec::new(),
    };
    insert_session_row(tx, s, hash).await?;
    Ok(replaced)
}

/// Inserts a session row as it is (a copy's rows, or after the above).
pub(super) async fn insert_session_row(
    tx: &Transaction<'_>,
    s: &SessionRecord,
    hash: &TokenHash,
) -> Result<(), StoreError> {
    tx.run(
        "INSERT INTO sessions (object_id, token_hash, user_id, installation_id, created_with,
                               created_at, updated_at, last_used_at, absolute_expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &s.object_id,
            &hash.0.as_slice(),
            &s.user_id,
            &s.installation_id,
            &s.created_with,
            &s.created_at,
            &s.updated_at,
            &s.last_used_at,
            &s.absolute_expires_at,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn delete_user_sessions(
    tx: &Transaction<'_>,
    user_id: &str,
    keep: Option<&str>,
) -> Result<Vec<RevokedSession>, StoreError> {
    Ok(revoked(
        tx.rows(
            &format!(
                "DELETE FROM sessions WHERE user_id = $1 AND object_id IS DISTINCT FROM $2 {RETURNING}"
            ),
            &[&user_id, &keep],
        )
        .await?,
    ))
}

/// Fails with [`StoreError::SessionGone`] unless the writer's session still
/// exists under the token the request presented; locks it until the write
/// commits, so a logout cannot slip in between.
pub(super) async fn check_writer(
    tx: &Transaction<'_>,
    writer: &WriterSession,
) -> Result<(), StoreError> {
    let alive = tx
        .row(
            "SELECT 1 FROM sessions WHERE object_id = $1 AND token_hash = $2 FOR UPDATE",
            &[&writer.object_id, &writer.token_hash.0.as_slice()],
        )
        .await?;
    match alive {
        Some(_) => Ok(()),
        None => Err(StoreError::SessionGone),
    }
}

/// Replaces a session's token by one nobody holds and files the old one as
/// rotated out, in the caller's transaction.
pub(super) async fn seal_session(
    tx: &Transaction<'_>,
    object_id: &str,
    now: Millis,
) -> Result<(), StoreError> {
    let unknown = crate::token::mint().hash;
    replace_token(tx, object_id, &unknown, now).await?;
    Ok(())
}

/// Gives a session a new token hash and files the old one under
/// `rotated_tokens`; returns the session (none if it does not exist).
async fn replace_token(
    tx: &Transaction<'_>,
    object_id: &str,
    hash: &TokenHash,
    now: Millis,
) -> Result<Vec<RevokedSession>, StoreError> {
    let old = tx
        .row(
            "SELECT token_hash FROM sessions WHERE object_id = $1 FOR UPDATE",
            &[&object_id],
        )
        .await?;
    let Some(old) = old else {
        return Ok(Vec::new());
    };
    let old_hash: Vec<u8> = old.get(0);
    let rekeyed = revoked(
        tx.rows(
            &format!(
                "UPDATE sessions SET token_hash = $2, updated_at = $3 WHERE object_id = $1 {RETURNING}"
            ),
            &[&object_id, &hash.0.as_slice(), &now],
        )
        .await?,
    );
    for session in &rekeyed {
        tx.run(
            "INSERT INTO rotated_tokens (token_hash, session_id, user_id, rotated_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (token_hash) DO UPDATE
             SET session_id = EXCLUDED.session_id, user_id = EXCLUDED.user_id,
                 rotated_at = EXCLUDED.rotated_at",
            &[&old_hash, &object_id, &session.user_id, &now],
        )
        .await?;
    }
    Ok(rekeyed)
}

impl Pg {
    pub async fn create_session(
        &self,
        session: &SessionRecord,
        hash: &TokenHash,
        verified_password: Option<&str>,
        trail: Trail,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The user's row orders this login after any password change.
        let current = tx
            .row(
                "SELECT password_hash FROM users WHERE object_id = $1 FOR NO KEY UPDATE",
                &[&session.user_id],
            )
            .await?;
        if let Some(verified) = verified_password {
            let current: Option<String> = current.and_then(|row| row.get(0));
            if current.as_deref() != Some(verified) {
                return Err(StoreError::Stale);
            }
        }
        let replaced = insert_session(&tx, session, hash).await?;
        insert_events(&tx, Event::Created, trail, &[session.into()]).await?;
        let replaced = self
            .commit_session_change(tx, Event::Replaced, trail, replaced)
            .await?;
        self.journal.log(Event::Created, trail, [session.into()]);
        Ok(replaced)
    }

    pub async fn session_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = self
            .readers
            .query_opt(Read::SessionByToken, Key::TokenHash(*hash))
            .await?;
        Ok(row.as_ref().map(|row| session_at(row, FOUND_AT)))
    }

    pub async fn session_and_user_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(SessionRecord, Arc<UserRecord>)>, StoreError> {
        let row = self
            .readers
            .query_opt(Read::SessionAndUserByToken, Key::TokenHash(*hash))
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user = user_at(&row, FOUND_AT + SESSION_COLUMN_COUNT)?;
        Ok(Some((session_at(&row, FOUND_AT), Arc::new(user))))
    }

    pub async fn session(&self, object_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .row(
                &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE object_id = $1"),
                &[&object_id],
            )
            .await?;
        Ok(row.as_ref().map(session_from_row))
    }

    pub async fn sessions(&self, user_id: Option<&str>) -> Result<Vec<SessionRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .rows(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE $1::TEXT IS NULL OR user_id = $1
                     ORDER BY created_at, object_id"
                ),
                &[&user_id],
            )
            .await?;
        Ok(rows.iter().map(session_from_row).collect())
    }

    pub async fn live_sessions(
        &self,
        user_id: Option<&str>,
        policy: &SessionPolicy,
        now: Millis,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let dead = policy.dead_at(now);
        let client = self.client().await?;
        let rows = client
            .rows(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions
                     WHERE ($1::TEXT IS NULL OR user_id = $1)
                       AND absolute_expires_at > $2 AND last_used_at > $3
                     ORDER BY created_at, object_id"
                ),
                &[&user_id, &dead.absolute, &dead.last_used],
            )
            .await?;
        Ok(rows.iter().map(session_from_row).collect())
    }

    pub async fn count_live_sessions(
        &self,
        policy: &SessionPolicy,
        now: Millis,
    ) -> Result<u64, StoreError> {
        let dead = policy.dead_at(now);
        let client = self.client().await?;
        let row = client
            .row(
                "SELECT count(*) FROM sessions WHERE absolute_expires_at > $1 AND last_used_at > $2",
                &[&dead.absolute, &dead.last_used],
            )
            .await?;
        let count: i64 = row.map_or(0, |row| row.get(0));
        Ok(count.try_into().unwrap_or_default())
    }

    pub async fn touch_session(&self, object_id: &str, now: Millis) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .run(
                "UPDATE sessions SET last_used_at = $2 WHERE object_id = $1 AND last_used_at < $2",
                &[&object_id, &now],
            )
            .await?;
        Ok(())
    }

    pub async fn delete_session(
        &self,
        object_id: &str,
        event: Event,
        trail: Trail,
    ) -> Result<Option<RevokedSession>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let gone = revoked(
            tx.rows(
                &format!("DELETE FROM sessions WHERE object_id = $1 {RETURNING}"),
                &[&object_id],
            )
            .await?,
        );
        let gone = self.commit_session_change(tx, event, trail, gone).await?;
        Ok(gone.into_iter().next())
    }

    pub async fn delete_sessions_of_user(
        &self,
        user_id: &str,
        keep: Option<&str>,
        event: Event,
        trail: Trail,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_user(&tx, user_id).await?;
        let gone = delete_user_sessions(&tx, user_id, keep).await?;
        self.commit_session_change(tx, event, trail, gone).await
    }

    pub async fn shorten_session(
        &self,
        object_id: &str,
        expires_at: Millis,
        trail: Trail,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let shortened = revoked(
            tx.rows(
                &format!(
                    "UPDATE sessions SET absolute_expires_at = LEAST(absolute_expires_at, $2),
                                         updated_at = $3
                     WHERE object_id = $1 {RETURNING}"
                ),
                &[&object_id, &expires_at, &trail.at],
            )
            .await?,
        );
        let shortened = self
            .commit_session_change(tx, Event::ShortenedByAdmin, trail, shortened)
            .await?;
        Ok(!shortened.is_empty())
    }

    pub async fn rotate_session_token(
        &self,
        object_id: &str,
        hash: &TokenHash,
        trail: Trail,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let rotated = replace_token(&tx, object_id, hash, trail.at).await?;
        let rotated = self
            .commit_session_change(tx, Event::Rotated, trail, rotated)
            .await?;
        Ok(!rotated.is_empty())
    }

    pub async fn restart_reuse_grace(
        &self,
        session_id: &str,
        sealed_at: Millis,
        now: Millis,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .run(
                "UPDATE rotated_tokens SET rotated_at = $3 WHERE session_id = $1 AND rotated_at = $2",
                &[&session_id, &sealed_at, &now],
            )
            .await?;
        Ok(())
    }

    pub async fn revoke_sealed_session(
        &self,
        object_id: &str,
        trail: Trail,
    ) -> Result<Option<RevokedSession>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.run(
            "DELETE FROM rotated_tokens WHERE session_id = $1",
            &[&object_id],
        )
        .await?;
        let gone = revoked(
            tx.rows(
                &format!("DELETE FROM sessions WHERE object_id = $1 {RETURNING}"),
                &[&object_id],
            )
            .await?,
        );
        let gone = self
            .commit_session_change(tx, Event::RevokedByPasswordChange, trail, gone)
            .await?;
        Ok(gone.into_iter().next())
    }

    pub async fn rotated_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(String, String, Millis)>, StoreError> {
        let client = self.client().await?;
        let row = client
            .row(
                "SELECT session_id, user_id, rotated_at FROM rotated_tokens WHERE token_hash = $1",
                &[&hash.0.as_slice()],
            )
            .await?;
        Ok(row.map(|row| (row.get(0), row.get(1), row.get(2))))
    }

    /// Rows another transaction is changing are skipped (`SKIP LOCKED`):
    /// the next sweep takes them, and the sweeper never waits for, or
    /// deadlocks with, a request.
    pub async fn sweep_expired_sessions(
        &self,
        policy: &SessionPolicy,
        now: Millis,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        let dead = policy.dead_at(now);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.run(
            "DELETE FROM rotated_tokens WHERE rotated_at < $1",
            &[&policy.forget_rotated_before(now)],
        )
        .await?;
        let swept = revoked(
            tx.rows(
                &format!(
                    "DELETE FROM sessions WHERE object_id IN (
                         SELECT object_id FROM sessions
                         WHERE absolute_expires_at <= $1 OR last_used_at <= $2
                         FOR UPDATE SKIP LOCKED)
                     {RETURNING}"
                ),
                &[&dead.absolute, &dead.last_used],
            )
            .await?,
        );
        self.commit_session_change(tx, Event::Expired, Trail::new(now, None), swept)
            .await
    }
}
