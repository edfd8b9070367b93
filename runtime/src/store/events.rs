use r2d2_sqlite::rusqlite::params;

use super::{Store, StoreError};
use crate::clock::Millis;

/// One row of the session audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub id: i64,
    pub at: Millis,
    pub kind: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub installation_id: Option<String>,
    pub ip: Option<String>,
}

impl Store {
    pub fn insert_event(&self, event: &EventRecord) -> Result<(), StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "INSERT INTO session_events (at, kind, user_id, session_id, installation_id, ip)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        stmt.execute(params![
            event.at,
            event.kind,
            event.user_id,
            event.session_id,
            event.installation_id,
            event.ip
        ])?;
        Ok(())
    }

    /// The audit trail, oldest first.
    pub fn events(&self) -> Result<Vec<EventRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, at, kind, user_id, session_id, installation_id, ip FROM session_events ORDER BY id",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok(EventRecord {
                    id: row.get(0)?,
                    at: row.get(1)?,
                    kind: row.get(2)?,
                    user_id: row.get(3)?,
                    session_id: row.get(4)?,
                    installation_id: row.get(5)?,
                    ip: row.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Drops audit rows older than `before`.
    pub fn purge_events(&self, before: Millis) -> Result<usize, StoreError> {
        Ok(self
            .conn()?
            .execute("DELETE FROM session_events WHERE at < ?1", [before])?)
    }
}
