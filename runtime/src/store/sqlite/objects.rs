use r2d2_sqlite::rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Db, from_json, to_json, unique_violation};
use crate::store::{ObjectRecord, StoreError};

pub(super) fn object_from_row(row: &Row<'_>) -> Result<ObjectRecord, StoreError> {
    Ok(ObjectRecord {
        object_id: row.get(0)?,
        fields: from_json(&row.get::<_, String>(1)?)?,
        created_at: row.get(2)?,
        updated_at: row.get(3)?,
    })
}

fn load_object(
    conn: &Connection,
    class: &str,
    object_id: &str,
) -> Result<Option<ObjectRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT object_id, fields, created_at, updated_at FROM objects
         WHERE class_name = ?1 AND object_id = ?2",
    )?;
    stmt.query_row([class, object_id], |row| Ok(object_from_row(row)))
        .optional()?
        .transpose()
}

impl Db {
    pub fn create_object(&self, class: &str, object: &ObjectRecord) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "INSERT INTO objects (class_name, object_id, fields, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    class,
                    object.object_id,
                    to_json(&object.fields),
                    object.created_at,
                    object.updated_at
                ],
            )
            .map_err(unique_violation)?;
        Ok(())
    }

    pub fn object(&self, class: &str, object_id: &str) -> Result<Option<ObjectRecord>, StoreError> {
        self.read(|conn| load_object(conn, class, object_id))
    }

    pub fn objects(&self, class: &str) -> Result<Vec<ObjectRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT object_id, fields, created_at, updated_at FROM objects
                 WHERE class_name = ?1 ORDER BY created_at, object_id",
            )?;
            let rows = stmt.query_map([class], |row| Ok(object_from_row(row)))?;
            rows.map(|r| r?).collect()
        })
    }

    /// Reads, changes and writes an object in one transaction; `None` when absent.
    pub fn update_object<T, E>(
        &self,
        class: &str,
        object_id: &str,
        change: impl FnOnce(&mut ObjectRecord) -> Result<T, E>,
    ) -> Result<Option<(ObjectRecord, T)>, E>
    where
        E: From<StoreError>,
    {
        self.write(|tx| {
            let Some(mut object) = load_object(tx, class, object_id)? else {
                return Ok(None);
            };
            let outcome = change(&mut object)?;
            tx.execute(
                "UPDATE objects SET fields = ?3, updated_at = ?4 WHERE class_name = ?1 AND object_id = ?2",
                params![class, object_id, to_json(&object.fields), object.updated_at],
            )
            .map_err(StoreError::from)?;
            Ok(Some((object, outcome)))
        })
    }

    /// Deletes an object if `allowed` approves of its current state, atomically.
    /// `Ok(None)`: no such object.
    pub fn delete_object<E>(
        &self,
        class: &str,
        object_id: &str,
        allowed: impl FnOnce(&ObjectRecord) -> Result<(), E>,
    ) -> Result<Option<()>, E>
    where
        E: From<StoreError>,
    {
        self.write(|tx| {
            let Some(object) = load_object(tx, class, object_id)? else {
                return Ok(None);
            };
            allowed(&object)?;
            tx.execute(
                "DELETE FROM objects WHERE class_name = ?1 AND object_id = ?2",
                params![class, object_id],
            )
            .map_err(StoreError::from)?;
            Ok(Some(()))
        })
    }
}
