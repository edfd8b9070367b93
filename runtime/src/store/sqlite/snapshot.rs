//! Reading the whole database for `cloudcode migrate`.

use super::Db;
use super::objects::object_from_row;
use super::sessions::{SESSION_COLUMNS, session_from_row};
use crate::backoff::Failures;
use crate::store::StoreError;
use crate::store::snapshot::{RotatedToken, Snapshot};
use crate::token::TokenHash;

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
            let mut stmt = tx.prepare(&format!(
                "SELECT {SESSION_COLUMNS}, token_hash FROM sessions"
            ))?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let hash: Vec<u8> = row.get(8)?;
                let hash = <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| {
                    StoreError::Corrupt(serde::de::Error::custom("a token hash is not 32 bytes"))
                })?;
                sessions.push((session_from_row(row)?, TokenHash(hash)));
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
                "SELECT object_id, fields, created_at, updated_at, class_name FROM objects",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                objects.push((row.get(4)?, object_from_row(row)?));
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
        let classes = super::classes::all_declared(&tx)?;
        Ok(Snapshot {
            users,
            sessions,
            rotated_tokens,
            events,
            objects,
            login_failures,
            classes,
        })
    }
}
