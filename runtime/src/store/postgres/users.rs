use std::sync::Arc;

use deadpool_postgres::Transaction;
use tokio_postgres::types::Json;

use super::readers::{FOUND_AT, Key, Read};
use super::rows::{USER_COLUMNS, user_at, user_from_row};
use super::sessions::{check_writer, delete_user_sessions, insert_session, seal_session};
use super::{Cached, Pg, insert_events};
use crate::store::events::{Event, Subject, Trail};
use crate::store::{Revoke, RevokedSession, SessionRecord, StoreError, UserRecord, WriterSession};
use crate::token::TokenHash;

/// Usernames and emails are unique, and found, ignoring ASCII case.
fn folded(identifier: &str) -> String {
    identifier.to_ascii_lowercase()
}

pub(super) enum Save {
    Insert,
    Update,
}

/// Writes every column of a user row, as a new row or over the existing one.
pub(super) async fn save_user(
    tx: &Transaction<'_>,
    user: &UserRecord,
    save: Save,
) -> Result<(), StoreError> {
    let sql = match save {
        Save::Insert => {
            "INSERT INTO users (object_id, username, username_folded, email, email_folded,
                                password_hash, fields, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        }
        Save::Update => {
            "UPDATE users SET username = $2, username_folded = $3, email = $4, email_folded = $5,
                              password_hash = $6, fields = $7, created_at = $8, updated_at = $9
             WHERE object_id = $1"
        }
    };
    tx.run(
        sql,
        &[
            &user.object_id,
            &user.username,
            &folded(&user.username),
            &user.email,
            &user.email.as_deref().map(folded),
            &user.password_hash,
            &Json(&user.fields),
            &user.created_at,
            &user.updated_at,
        ],
    )
    .await?;
    Ok(())
}

impl Pg {
    pub async fn create_user(
        &self,
        user: &UserRecord,
        session: Option<(&SessionRecord, &TokenHash)>,
        trail: Trail,
    ) -> Result<(), StoreError> {
        let created: Vec<Subject<'_>> =
            session.map(|(s, _)| Subject::from(s)).into_iter().collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        save_user(&tx, user, Save::Insert).await?;
        if let Some((session, hash)) = session {
            // A brand-new user has no sessions for this to replace.
            insert_session(&tx, session, hash).await?;
        }
        insert_events(&tx, Event::Created, trail, &created).await?;
        tx.commit().await?;
        self.journal.log(Event::Created, trail, created);
        Ok(())
    }

    pub async fn user(&self, object_id: &str) -> Result<Option<Arc<UserRecord>>, StoreError> {
        let row = self
            .readers
            .query_opt(Read::User, Key::ObjectId(object_id.to_owned()))
            .await?;
        row.as_ref()
            .map(|row| user_at(row, FOUND_AT))
            .transpose()
            .map(|u| u.map(Arc::new))
    }

    pub async fn user_by_login(
        &self,
        username: Option<&str>,
        email: Option<&str>,
    ) -> Result<Option<UserRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .row(
                &format!(
                    "SELECT {USER_COLUMNS} FROM users
                     WHERE username_folded = $1 OR email_folded = $2 LIMIT 1"
                ),
                &[&username.map(folded), &email.map(folded)],
            )
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn update_user<T, E>(
        &self,
        object_id: &str,
        writer: Option<&WriterSession>,
        trail: Trail,
        change: impl FnOnce(&mut UserRecord) -> Result<(Revoke, T), E>,
    ) -> Result<Option<(UserRecord, T)>, E>
    where
        E: From<StoreError>,
    {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        // The user's row first (the lock order), then the writer's session.
        let row = tx
            .row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE object_id = $1 FOR NO KEY UPDATE"),
                &[&object_id],
            )
            .await?;
        if let Some(writer) = writer {
            check_writer(&tx, writer).await?;
        }
        let Some(row) = row else {
            return Ok(None);
        };
        let mut user = user_from_row(&row)?;
        let (revoke, outcome) = change(&mut user)?;
        save_user(&tx, &user, Save::Update).await?;
        let revoked: Vec<RevokedSession> = match revoke {
            Revoke::Nothing => Vec::new(),
            Revoke::PasswordChanged { seal } => {
                if let Some(sealed) = &seal {
                    seal_session(&tx, sealed, user.updated_at).await?;
                }
                delete_user_sessions(&tx, object_id, seal.as_deref()).await?
            }
        };
        self.commit_session_change(tx, Event::RevokedByPasswordChange, trail, revoked)
            .await?;
        Ok(Some((user, outcome)))
    }

    pub async fn replace_password_hash(
        &self,
        object_id: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let changed = client
            .run(
                "UPDATE users SET password_hash = $3 WHERE object_id = $1 AND password_hash = $2",
                &[&object_id, &old, &new],
            )
            .await?;
        Ok(changed > 0)
    }

    pub async fn delete_user(
        &self,
        object_id: &str,
        trail: Trail,
    ) -> Result<Option<Vec<RevokedSession>>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let exists = tx
            .row(
                "SELECT 1 FROM users WHERE object_id = $1 FOR UPDATE",
                &[&object_id],
            )
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let sessions = delete_user_sessions(&tx, object_id, None).await?;
        tx.run("DELETE FROM users WHERE object_id = $1", &[&object_id])
            .await?;
        let sessions = self
            .commit_session_change(tx, Event::RevokedWithUser, trail, sessions)
            .await?;
        Ok(Some(sessions))
    }
}
