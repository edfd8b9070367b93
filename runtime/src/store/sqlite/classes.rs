use r2d2_sqlite::rusqlite::{Connection, params, params_from_iter};
use serde_json::{Map, Value};

use super::{Db, from_json, to_json};
use crate::store::StoreError;
use crate::store::classes::{DeclaredClass, FieldSeen, JsonKind};

/// `json_each`'s `type` as a [`JsonKind`].
fn kind(sqlite_type: &str) -> JsonKind {
    match sqlite_type {
        "true" | "false" => JsonKind::Boolean,
        "integer" | "real" => JsonKind::Number,
        "text" => JsonKind::String,
        "array" => JsonKind::Array,
        "object" => JsonKind::Object,
        _ => JsonKind::Null,
    }
}

/// Every declared class, read on `conn` (a snapshot reads in its transaction).
pub(super) fn all_declared(conn: &Connection) -> Result<Vec<DeclaredClass>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT class_name, fields FROM classes ORDER BY class_name")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    rows.map(|row| {
        let (class, fields) = row?;
        Ok(DeclaredClass {
            class,
            fields: from_json(&fields)?,
        })
    })
    .collect()
}

impl Db {
    pub fn declared_classes(&self) -> Result<Vec<DeclaredClass>, StoreError> {
        self.read(all_declared)
    }

    pub fn fields_seen(&self, class: Option<&str>) -> Result<Vec<FieldSeen>, StoreError> {
        const SHAPE: &str = "j.key, j.type,
            CASE WHEN j.type = 'object' THEN json_extract(j.value, '$.__type') END,
            CASE WHEN j.type = 'object' THEN json_extract(j.value, '$.className') END";
        let objects =
            format!("SELECT DISTINCT o.class_name, {SHAPE} FROM objects o, json_each(o.fields) j");
        let users = format!("SELECT DISTINCT '_User', {SHAPE} FROM users u, json_each(u.fields) j");
        let sql = match class {
            None => format!("{objects} UNION {users}"),
            Some("_User") => users,
            // One class reads its own objects only (the key's prefix).
            Some(_) => format!("{objects} WHERE o.class_name = ?1"),
        };
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let params: Vec<&str> = class.filter(|c| *c != "_User").into_iter().collect();
            let rows = stmt.query_map(params_from_iter(params), |row| {
                Ok(FieldSeen {
                    class: row.get(0)?,
                    field: row.get(1)?,
                    kind: kind(&row.get::<_, String>(2)?),
                    type_tag: row.get(3).ok(),
                    class_name: row.get(4).ok(),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    pub fn declare_class(
        &self,
        class: &str,
        fields: &Map<String, Value>,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO classes (class_name, fields) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![class, to_json(fields)],
            )?;
            Ok(inserted == 1)
        })
    }

    pub fn redeclare_class(
        &self,
        class: &str,
        fields: &Map<String, Value>,
        removed: &[String],
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO classes (class_name, fields) VALUES (?1, ?2)
                 ON CONFLICT (class_name) DO UPDATE SET fields = excluded.fields",
                params![class, to_json(fields)],
            )?;
            for field in removed {
                // A key as a JSON path: quoted, so no character of it is syntax.
                let path = format!("$.{}", Value::String(field.clone()));
                if class == "_User" {
                    tx.execute(
                        "UPDATE users SET fields = json_remove(fields, ?1)
                         WHERE json_type(fields, ?1) IS NOT NULL",
                        params![path],
                    )?;
                } else {
                    tx.execute(
                        "UPDATE objects SET fields = json_remove(fields, ?2)
                         WHERE class_name = ?1 AND json_type(fields, ?2) IS NOT NULL",
                        params![class, path],
                    )?;
                    tx.execute(
                        "DELETE FROM object_pointers WHERE class_name = ?1 AND field = ?2",
                        params![class, field],
                    )?;
                }
            }
            Ok(())
        })
    }

    pub fn drop_class(&self, class: &str) -> Result<u64, StoreError> {
        self.write(|tx| {
            let held: i64 = tx.query_row(
                "SELECT count(*) FROM objects WHERE class_name = ?1",
                [class],
                |row| row.get(0),
            )?;
            let held = held.max(0) as u64;
            if held == 0 {
                tx.execute("DELETE FROM classes WHERE class_name = ?1", [class])?;
            }
            Ok(held)
        })
    }

    pub fn purge_objects(&self, class: &str) -> Result<u64, StoreError> {
        self.write(|tx| {
            let deleted = tx.execute("DELETE FROM objects WHERE class_name = ?1", [class])?;
            Ok(deleted as u64)
        })
    }
}
