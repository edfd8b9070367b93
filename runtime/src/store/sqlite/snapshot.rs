//! Reading the whole database for `cloudcode migrate`.

use super::Db;
use crate::backoff::Failures;
use crate::store::snapshot::{RotatedToken, Snapshot};
use crate::store::{ObjectRecord, SessionRecord, StoreError};

impl Db {
    /// Every row, read in one transaction (a consistent copy even while a
    /// server writes).
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let users = super::users::all_users(&tx)?;
        let events = super::events::all_events(&tx)?;
        let mut sessions = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT object_id, user_id, installation_id, created_with, created_at, updated_at,
                        last_used_at, absolute_expires_at, token_hash FROM sessions",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let session = SessionRecord {
                    object_id: row.get(0)?,
                    user_id: row.get(1)?,
                    installation_id: row.get(2)?,
                    created_with: serde_json::from_str(&row.get::<_, String>(3)?)?,
                    created_at: row.get(4)?,
                    updated_at: row.get(5)?,
                    last_used_at: row.get(6)?,
                    absolute_expires_at: row.get(7)?,
                };
                sessions.push((session, row.get(8)?));
            }
        }
        let rotated_tokens = tx
            .prepare("SELECT token_hash, session_id, user_id, rotated_at FROM rotated_tokens")?
            .query_map([], |row| {
                Ok(RotatedToken {
                    token_hash: row.get(0)?,
                    session_id: row.get(1)?,
                    user_id: row.get(2)?,
                    rotated_at: row.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut objects = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT class_name, object_id, fields, created_at, updated_at FROM objects",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let object = ObjectRecord {
                    object_id: row.get(1)?,
                    fields: super::from_json(&row.get::<_, String>(2)?)?,
                    created_at: row.get(3)?,
                    updated_at: row.get(4)?,
                };
                objects.push((row.get(0)?, object));
            }
        }
        let login_failures = tx
            .prepare("SELECT key, window_start, in_window, consecutive, last FROM login_failures")?
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    Failures {
                        window_start: row.get(1)?,
                        in_window: row.get(2)?,
                        consecutive: row.get(3)?,
                        last: row.get(4)?,
                    },
                ))
            })?
            .collect::<Result<_, _>>()?;
        Ok(Snapshot {
            users,
            sessions,
            rotated_tokens,
            events,
            objects,
            login_failures,
        })
    }
}
