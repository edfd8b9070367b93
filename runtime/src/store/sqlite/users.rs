use std::sync::Arc;

use r2d2_sqlite::rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Db, events, execute_cached, from_json, to_json, unique_violation};
use crate::store::events::{Event, Subject, Trail};
use crate::store::{Revoke, RevokedSession, SessionRecord, StoreError, UserRecord, WriterSession};
use crate::token::TokenHash;

pub(super) const USER_COLUMNS: &str =
    "object_id, username, email, password_hash, fields, created_at, updated_at";

pub(super) fn user_from_row(row: &Row<'_>) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        object_id: row.get(0)?,
        username: row.get(1)?,
        email: row.get(2)?,
        password_hash: row.get(3)?,
        fields: from_json(&row.get::<_, String>(4)?)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

impl Db {
    /// Inserts a new user and, for a signup that logs in, its first session.
    pub fn create_user(
        &self,
        user: &UserRecord,
        session: Option<(&SessionRecord, &TokenHash)>,
        trail: Trail,
    ) -> Result<(), StoreError> {
        let created = || session.map(|(s, _)| Subject::from(s));
        self.write(|tx| {
            save_user(tx, user, Save::Insert)?;
            if let Some((session, hash)) = session {
                // A brand-new user has no sessions for this to replace.
                super::sessions::insert_session(tx, session, hash)?;
            }
            events::insert(tx, Event::Created, trail, created())
        })?;
        self.journal.log(Event::Created, trail, created());
        Ok(())
    }

    /// A user by id (cached).
    pub fn user(&self, object_id: &str) -> Result<Option<Arc<UserRecord>>, StoreError> {
        self.read_cached(&self.cached.users, object_id, |conn| {
            Ok(load_user(conn, object_id)?.map(Arc::new))
        })
    }

    /// The user whose username or email is the one given, ASCII case
    /// aside. The row SQLite's NOCASE comparison finds is checked again
    /// here, because that comparison stops at a NUL byte (stored before
    /// such names were refused): no identifier matches another stored value.
    pub fn user_by_login(
        &self,
        username: Option<&str>,
        email: Option<&str>,
    ) -> Result<Option<UserRecord>, StoreError> {
        let found = self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE username = ?1 OR email = ?2 LIMIT 1"
            ))?;
            stmt.query_row(params![username, email], |row| Ok(user_from_row(row)))
                .optional()?
                .transpose()
        })?;
        let same = |stored: Option<&str>, given: Option<&str>| {
            stored
                .zip(given)
                .is_some_and(|(s, g)| s.eq_ignore_ascii_case(g))
        };
        Ok(found.filter(|user| {
            same(Some(&user.username), username) || same(user.email.as_deref(), email)
        }))
    }

    /// Reads, changes and writes a user in one transaction, revoking sessions
    /// as the change demands. `change` sees the current row and may refuse.
    /// With a `writer`, nothing is written unless that session is still
    /// alive under its token ([`StoreError::SessionGone`]). Returns `None`
    /// when the user does not exist.
    pub fn update_user<T, E>(
        &self,
        object_id: &str,
        writer: Option<&WriterSession>,
        trail: Trail,
        change: impl FnOnce(&mut UserRecord) -> Result<(Revoke, T), E>,
    ) -> Result<Option<(UserRecord, T)>, E>
    where
        E: From<StoreError>,
    {
        let mut updated = None;
        self.change_sessions::<E>(Event::RevokedByPasswordChange, trail, |tx| {
            if let Some(writer) = writer {
                super::sessions::check_writer(tx, writer)?;
            }
            let Some(mut user) = load_user(tx, object_id)? else {
                return Ok(Vec::new());
            };
            let (revoke, outcome) = change(&mut user)?;
            save_user(tx, &user, Save::Update)?;
            let revoked = match revoke {
                Revoke::Nothing => Vec::new(),
                Revoke::PasswordChanged { seal } => {
                    if let Some(sealed) = &seal {
                        super::sessions::seal_session(tx, sealed, user.updated_at)?;
                    }
                    super::sessions::delete_user_sessions(tx, object_id, seal.as_deref())?
                }
            };
            updated = Some((user, outcome));
            Ok(revoked)
        })?;
        Ok(updated)
    }

    /// Replaces a password hash (re-hash on login) unless the hash changed
    /// meanwhile; true if it was replaced.
    pub fn replace_password_hash(
        &self,
        object_id: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let n = execute_cached(
            &*self.conn()?,
            "UPDATE users SET password_hash = ?3 WHERE object_id = ?1 AND password_hash = ?2",
            params![object_id, old, new],
        )?;
        Ok(n > 0)
    }

    /// Deletes a user and their sessions (returned), or `None` if absent.
    pub fn delete_user(
        &self,
        object_id: &str,
        trail: Trail,
    ) -> Result<Option<Vec<RevokedSession>>, StoreError> {
        let mut deleted = 0;
        let sessions = self.change_sessions(Event::RevokedWithUser, trail, |tx| {
            let sessions = super::sessions::delete_user_sessions(tx, object_id, None)?;
            deleted = execute_cached(tx, "DELETE FROM users WHERE object_id = ?1", [object_id])?;
            Ok::<_, StoreError>(sessions)
        })?;
        Ok((deleted > 0).then_some(sessions))
    }
}

enum Save {
    Insert,
    Update,
}

/// Writes every column of a user row, as a new row or over the existing one.
fn save_user(conn: &Connection, user: &UserRecord, save: Save) -> Result<(), StoreError> {
    let sql = match save {
        Save::Insert => {
            "INSERT INTO users (object_id, username, email, password_hash, fields, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        }
        Save::Update => {
            "UPDATE users SET username = ?2, email = ?3, password_hash = ?4, fields = ?5,
                              created_at = ?6, updated_at = ?7
             WHERE object_id = ?1"
        }
    };
    execute_cached(
        conn,
        sql,
        params![
            user.object_id,
            user.username,
            user.email,
            user.password_hash,
            to_json(&user.fields),
            user.created_at,
            user.updated_at
        ],
    )
    .map_err(unique_violation)?;
    Ok(())
}

fn load_user(conn: &Connection, object_id: &str) -> Result<Option<UserRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE object_id = ?1"
    ))?;
    stmt.query_row([object_id], |row| Ok(user_from_row(row)))
        .optional()?
        .transpose()
}

/// Every user, oldest first.
pub(super) fn all_users(conn: &Connection) -> Result<Vec<UserRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users ORDER BY created_at, object_id"
    ))?;
    let rows = stmt.query_map([], |row| Ok(user_from_row(row)))?;
    rows.map(|r| r?).collect()
}
