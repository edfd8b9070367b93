//! Finds in PostgreSQL: [`crate::store::query::sql`] compiled with jsonb
//! operators. Each find is sent with its parameters' types in one round
//! trip (no prepare), so no per-connection statement cache grows with the
//! shapes of clients' queries.

use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

use super::Pg;
use super::objects::{OBJECT_COLUMNS, object_from_row};
use super::rows::{USER_COLUMNS, user_from_row};
use crate::store::query::sql::{self, Compiled, Dialect, OBJECT_KEYS, Param, USER_KEYS};
use crate::store::query::{Found, Query, Reader};
use crate::store::{ObjectRecord, StoreError, UserRecord};

pub(super) struct Postgres;

impl Dialect for Postgres {
    /// A jsonb expression.
    type Json = String;

    fn placeholder(n: usize) -> String {
        format!("${n}")
    }

    fn field_param(key: &str) -> Param {
        Param::Text(key.into())
    }

    fn field(placeholder: String) -> String {
        format!("(fields -> {placeholder})")
    }

    fn kind(json: &String) -> String {
        format!(
            "(CASE jsonb_typeof({json}) WHEN 'string' THEN 'string' WHEN 'number' THEN 'number' \
             WHEN 'boolean' THEN 'bool' WHEN 'array' THEN 'other' \
             WHEN 'object' THEN (CASE {json} ->> '__type' \
                WHEN 'Date' THEN (CASE jsonb_typeof({json} -> 'iso') WHEN 'string' THEN 'string' ELSE 'null' END) \
                WHEN 'Pointer' THEN 'pointer' ELSE 'other' END) \
             ELSE 'null' END)"
        )
    }

    fn text(json: &String) -> String {
        let member = |name: &str| {
            format!(
                "(CASE jsonb_typeof({json} -> '{name}') WHEN 'string' THEN {json} ->> '{name}' \
                 ELSE '' END)"
            )
        };
        format!(
            "(CASE jsonb_typeof({json}) WHEN 'string' THEN {json} #>> '{{}}' \
             WHEN 'object' THEN (CASE {json} ->> '__type' \
                WHEN 'Date' THEN {json} ->> 'iso' \
                WHEN 'Pointer' THEN {} || '$' || {} END) END)",
            member("className"),
            member("objectId"),
        )
    }

    fn number(json: &String) -> String {
        format!("(CASE jsonb_typeof({json}) WHEN 'number' THEN ({json})::float8 END)")
    }

    fn boolean(json: &String) -> String {
        format!(
            "(CASE jsonb_typeof({json}) WHEN 'boolean' THEN \
             (CASE WHEN ({json})::boolean THEN 1 ELSE 0 END) END)"
        )
    }

    fn same_json_any(json: &String, placeholders: &str) -> String {
        format!("{json} IN ({placeholders})")
    }

    fn other_param(value: &Value) -> Param {
        Param::Json(value.clone())
    }

    fn any_element(json: &String, holds: &mut dyn FnMut(&String) -> String) -> String {
        let element = holds(&"element.value".to_string());
        format!(
            "(CASE WHEN jsonb_typeof({json}) = 'array' THEN EXISTS \
             (SELECT 1 FROM jsonb_array_elements({json}) AS element(value) WHERE {element}) \
             ELSE FALSE END)"
        )
    }

    fn bytewise(text: String) -> String {
        format!("({text}) COLLATE \"C\"")
    }

    fn iso(column: &str) -> String {
        format!(
            "(to_char(to_timestamp(({column} / 1000)::float8) AT TIME ZONE 'UTC', \
             'YYYY-MM-DD\"T\"HH24:MI:SS') || '.' || lpad(({column} % 1000)::text, 3, '0') || 'Z')"
        )
    }

    fn acl_allows_read(user: Option<&str>) -> String {
        let mut grants = vec![
            "fields -> 'ACL' IS NULL".to_string(),
            "fields #> '{ACL,*,read}' = 'true'::jsonb".to_string(),
        ];
        grants.extend(user.map(|u| format!("fields -> 'ACL' -> {u} -> 'read' = 'true'::jsonb")));
        format!("COALESCE(({}), FALSE)", grants.join(" OR "))
    }

    fn acl_user_param(user: &str) -> Param {
        Param::Text(user.into())
    }

    fn row_count(placeholder: String) -> String {
        placeholder
    }
}

/// The parameters with their types, as `query_typed` takes them.
fn typed(params: &[Param]) -> Vec<(&(dyn ToSql + Sync), Type)> {
    params
        .iter()
        .map(|param| -> (&(dyn ToSql + Sync), Type) {
            match param {
                Param::Text(text) => (text, Type::TEXT),
                Param::Float(n) => (n, Type::FLOAT8),
                Param::Int(n) => (n, Type::INT8),
                Param::Json(value) => (value, Type::JSONB),
            }
        })
        .collect()
}

impl Pg {
    /// Runs a compiled query: the count, when asked, and the page.
    async fn find<T>(
        &self,
        table: &str,
        columns: &str,
        mut compiled: Compiled,
        query: &Query,
        from_row: fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Found<T>, StoreError> {
        let client = self.client().await?;
        let count = match query.count {
            true => {
                let (sql, params) = compiled.count_sql(table);
                let row = client.query_typed_one(&sql, &typed(params)).await?;
                Some(row.get::<_, i64>(0) as u64)
            }
            false => None,
        };
        let mut rows = Vec::new();
        if let Some(sql) = compiled.page_sql::<Postgres>(table, columns, query) {
            for row in client.query_typed(&sql, &typed(&compiled.params)).await? {
                rows.push(from_row(&row)?);
            }
        }
        Ok(Found { rows, count })
    }

    pub async fn find_objects(
        &self,
        class: &str,
        query: &Query,
        reader: &Reader,
    ) -> Result<Found<ObjectRecord>, StoreError> {
        let compiled = sql::compile::<Postgres>(query, OBJECT_KEYS, reader, Some(class));
        self.find("objects", OBJECT_COLUMNS, compiled, query, object_from_row)
            .await
    }

    pub async fn find_users(
        &self,
        query: &Query,
        reader: &Reader,
    ) -> Result<Found<UserRecord>, StoreError> {
        let compiled = sql::compile::<Postgres>(query, USER_KEYS, reader, None);
        self.find("users", USER_COLUMNS, compiled, query, user_from_row)
            .await
    }
}
