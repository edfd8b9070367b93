//! The audit trail's rows in SQLite: `session_events`.

use r2d2_sqlite::rusqlite::{Connection, params};

use super::Db;
use crate::clock::Millis;
use crate::store::StoreError;
use crate::store::events::{Event, EventRecord, Subject, Trail};

/// Inserts the rows of `event` about `subjects`, in the caller's
/// transaction.
pub(super) fn insert<'a>(
    conn: &Connection,
    event: Event,
    trail: Trail,
    subjects: impl IntoIterator<Item = Subject<'a>>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO session_events (at, kind, user_id, session_id, installation_id, ip)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let ip = trail.ip.map(|ip| ip.to_string());
    for subject in subjects {
        stmt.execute(params![
            trail.at,
            event.as_str(),
            subject.user_id,
            subject.session_id,
            subject.installation_id,
            ip
        ])?;
    }
    Ok(())
}

impl Db {
    /// Records an event that comes with no change of its own (a refused
    /// token).
    pub fn record_event(
        &self,
        event: Event,
        subject: Subject<'_>,
        trail: Trail,
    ) -> Result<(), StoreError> {
        insert(&*self.conn()?, event, trail, [subject])?;
        self.journal.log(event, trail, [subject]);
        Ok(())
    }

    /// The audit trail, oldest first.
    pub fn events(&self) -> Result<Vec<EventRecord>, StoreError> {
        self.read(all_events)
    }

    /// Drops audit rows older than `before`.
    pub fn purge_events(&self, before: Millis) -> Result<usize, StoreError> {
        Ok(self
            .conn()?
            .execute("DELETE FROM session_events WHERE at < ?1", [before])?)
    }
}

/// The audit trail, oldest first.
pub(super) fn all_events(conn: &Connection) -> Result<Vec<EventRecord>, StoreError> {
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
}
