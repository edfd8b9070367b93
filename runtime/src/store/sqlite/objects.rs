use r2d2_sqlite::rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Db, execute_cached, from_json, to_json, unique_violation};
use crate::store::query::pointers;
use crate::store::{Fields, ObjectRecord, StoreError};

pub(super) fn object_from_row(row: &Row<'_>) -> Result<ObjectRecord, StoreError> {
    Ok(ObjectRecord {
        object_id: row.get(0)?,
        fields: from_json(&row.get::<_, String>(1)?)?,
        created_at: row.get(2)?,
        updated_at: row.get(3)?,
    })
}

/// Rewrites the object's rows in `object_pointers` from its fields.
fn index_pointers(
    conn: &Connection,
    class: &str,
    object_id: &str,
    fields: &Fields,
) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM object_pointers WHERE class_name = ?1 AND object_id = ?2")?
        .execute([class, object_id])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO object_pointers (class_name, field, target, object_id) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (field, target) in pointers(fields) {
        insert.execute([class, &field, &target, object_id])?;
    }
    Ok(())
}

/// Indexes the pointers of every stored object (once, when the index is new).
pub(super) fn index_all_pointers(conn: &Connection) -> Result<(), StoreError> {
    let mut stmt = conn.prepare("SELECT class_name, object_id, fields FROM objects")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (class, object_id): (String, String) = (row.get(0)?, row.get(1)?);
        index_pointers(
            conn,
            &class,
            &object_id,
            &from_json(&row.get::<_, String>(2)?)?,
        )?;
    }
    Ok(())
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
        self.write(|tx| {
            execute_cached(
                tx,
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
            index_pointers(tx, class, &object.object_id, &object.fields)
        })
    }

    pub fn object(&self, class: &str, object_id: &str) -> Result<Option<ObjectRecord>, StoreError> {
        self.read(|conn| load_object(conn, class, object_id))
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
            execute_cached(
                tx,
                "UPDATE objects SET fields = ?3, updated_at = ?4 WHERE class_name = ?1 AND object_id = ?2",
                params![class, object_id, to_json(&object.fields), object.updated_at],
            )
            .map_err(StoreError::from)?;
            index_pointers(tx, class, object_id, &object.fields)?;
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
            execute_cached(
                tx,
                "DELETE FROM objects WHERE class_name = ?1 AND object_id = ?2",
                params![class, object_id],
            )
            .map_err(StoreError::from)?;
            Ok(Some(()))
        })
    }
}
