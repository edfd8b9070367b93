use serde_json::{Map, Value};
use tokio_postgres::types::Json;

use super::{Cached, Pg};
use crate::store::StoreError;
use crate::store::classes::{DeclaredClass, FieldSeen, JsonKind};

/// `jsonb_typeof` as a [`JsonKind`].
fn kind(pg_type: &str) -> JsonKind {
    match pg_type {
        "boolean" => JsonKind::Boolean,
        "number" => JsonKind::Number,
        "string" => JsonKind::String,
        "array" => JsonKind::Array,
        "object" => JsonKind::Object,
        _ => JsonKind::Null,
    }
}

impl Pg {
    pub async fn declared_classes(&self) -> Result<Vec<DeclaredClass>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .rows(
                "SELECT class_name, fields FROM classes ORDER BY class_name",
                &[],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let fields: Value = row.get(1);
                Ok(DeclaredClass {
                    class: row.get(0),
                    fields: serde_json::from_value(fields)?,
                })
            })
            .collect()
    }

    pub async fn fields_seen(&self, class: Option<&str>) -> Result<Vec<FieldSeen>, StoreError> {
        const SHAPE: &str =
            "j.key, jsonb_typeof(j.value), j.value->>'__type', j.value->>'className'";
        let objects =
            format!("SELECT DISTINCT o.class_name, {SHAPE} FROM objects o, jsonb_each(o.fields) j");
        let users =
            format!("SELECT DISTINCT '_User', {SHAPE} FROM users u, jsonb_each(u.fields) j");
        let sql = match class {
            None => format!("{objects} UNION {users}"),
            Some("_User") => users,
            // One class reads its own objects only (the key's prefix).
            Some(_) => format!("{objects} WHERE o.class_name = $1"),
        };
        let filter = class.filter(|c| *c != "_User");
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            filter.iter().map(|c| c as _).collect();
        let client = self.client().await?;
        let rows = client.rows(&sql, &params).await?;
        Ok(rows
            .iter()
            .map(|row| FieldSeen {
                class: row.get(0),
                field: row.get(1),
                kind: kind(row.get(2)),
                type_tag: row.get(3),
                class_name: row.get(4),
            })
            .collect())
    }

    pub async fn declare_class(
        &self,
        class: &str,
        fields: &Map<String, Value>,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let inserted = client
            .run(
                "INSERT INTO classes (class_name, fields) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&class, &Json(fields)],
            )
            .await?;
        Ok(inserted == 1)
    }

    pub async fn redeclare_class(
        &self,
        class: &str,
        fields: &Map<String, Value>,
        removed: &[String],
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.run(
            "INSERT INTO classes (class_name, fields) VALUES ($1, $2)
             ON CONFLICT (class_name) DO UPDATE SET fields = EXCLUDED.fields",
            &[&class, &Json(fields)],
        )
        .await?;
        for field in removed {
            if class == "_User" {
                tx.run(
                    "UPDATE users SET fields = fields - $1 WHERE fields ? $1",
                    &[field],
                )
                .await?;
            } else {
                tx.run(
                    "UPDATE objects SET fields = fields - $2 WHERE class_name = $1 AND fields ? $2",
                    &[&class, field],
                )
                .await?;
                tx.run(
                    "DELETE FROM object_pointers WHERE class_name = $1 AND field = $2",
                    &[&class, field],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn drop_class(&self, class: &str) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let held: i64 = tx
            .row(
                "SELECT count(*) FROM objects WHERE class_name = $1",
                &[&class],
            )
            .await?
            .map_or(0, |row| row.get(0));
        if held == 0 {
            tx.run("DELETE FROM classes WHERE class_name = $1", &[&class])
                .await?;
        }
        tx.commit().await?;
        Ok(held.max(0) as u64)
    }

    pub async fn purge_objects(&self, class: &str) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client
            .run("DELETE FROM objects WHERE class_name = $1", &[&class])
            .await
    }
}
