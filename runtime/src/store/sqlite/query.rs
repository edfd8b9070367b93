//! Finds in SQLite: [`crate::store::query::sql`] compiled with SQLite's JSON
//! functions, which read `fields` by path (`$."key"`, or an array element's
//! `fullkey`).

use r2d2_sqlite::rusqlite::{self, Connection, Row, params_from_iter};
use serde_json::Value;

use super::objects::object_from_row;
use super::users::{USER_COLUMNS, user_from_row};
use super::{Db, to_json};
use crate::store::query::sql::{self, Compiled, Dialect, OBJECT_KEYS, Param};
use crate::store::query::{Found, Query, Reader};
use crate::store::{ObjectRecord, StoreError, UserRecord};

pub(super) struct Sqlite;

/// A JSON value in the row's `fields`, as an SQL expression of its path.
#[derive(Clone)]
pub(super) struct Path(String);

impl Path {
    fn at(&self, member: &str) -> String {
        format!("{} || '.{member}'", self.0)
    }

    fn type_of(&self) -> String {
        format!("json_type(fields, {})", self.0)
    }

    fn extract(&self) -> String {
        format!("json_extract(fields, {})", self.0)
    }

    /// A string member of an object, or ''.
    fn string_member(&self, member: &str) -> String {
        let path = self.at(member);
        format!(
            "(CASE json_type(fields, {path}) WHEN 'text' THEN json_extract(fields, {path}) \
             ELSE '' END)"
        )
    }
}

impl Dialect for Sqlite {
    type Json = Path;

    fn placeholder(n: usize) -> String {
        format!("?{n}")
    }

    fn field_param(key: &str) -> Param {
        Param::Text(format!("$.\"{key}\""))
    }

    fn field(placeholder: String) -> Path {
        Path(placeholder)
    }

    fn kind(json: &Path) -> String {
        let (of_type, iso) = (json.at("__type"), json.at("iso"));
        format!(
            "(CASE {} WHEN 'text' THEN 'string' WHEN 'integer' THEN 'number' \
             WHEN 'real' THEN 'number' WHEN 'true' THEN 'bool' WHEN 'false' THEN 'bool' \
             WHEN 'array' THEN 'other' \
             WHEN 'object' THEN (CASE json_extract(fields, {of_type}) \
                WHEN 'Date' THEN (CASE json_type(fields, {iso}) WHEN 'text' THEN 'string' ELSE 'null' END) \
                WHEN 'Pointer' THEN 'pointer' ELSE 'other' END) \
             ELSE 'null' END)",
            json.type_of()
        )
    }

    fn text(json: &Path) -> String {
        let (of_type, iso) = (json.at("__type"), json.at("iso"));
        format!(
            "(CASE {} WHEN 'text' THEN {} \
             WHEN 'object' THEN (CASE json_extract(fields, {of_type}) \
                WHEN 'Date' THEN json_extract(fields, {iso}) \
                WHEN 'Pointer' THEN {} || '$' || {} END) END)",
            json.type_of(),
            json.extract(),
            json.string_member("className"),
            json.string_member("objectId"),
        )
    }

    fn number(json: &Path) -> String {
        json.extract()
    }

    fn boolean(json: &Path) -> String {
        json.extract()
    }

    fn same_json_any(json: &Path, placeholders: &str) -> String {
        // Both sides are serde_json's compact text with sorted keys: the
        // stored fields were written by it, and SQLite returns them compact.
        format!("{} IN ({placeholders})", json.extract())
    }

    fn other_param(value: &Value) -> Param {
        Param::Text(to_json(value))
    }

    fn any_element(json: &Path, holds: &mut dyn FnMut(&Path) -> String) -> String {
        let element = holds(&Path("element.fullkey".into()));
        format!(
            "EXISTS (SELECT 1 FROM json_each(fields, {}) AS element \
             WHERE {} = 'array' AND {element})",
            json.0,
            json.type_of()
        )
    }

    fn bytewise(text: String) -> String {
        // Explicit: `username` and `email` are declared NOCASE.
        format!("({text}) COLLATE BINARY")
    }

    fn iso(column: &str) -> String {
        format!(
            "(strftime('%Y-%m-%dT%H:%M:%S', {column} / 1000, 'unixepoch') \
             || printf('.%03dZ', {column} % 1000))"
        )
    }

    fn acl_allows_read(user: Option<&str>) -> String {
        let granted = |path: &str| format!("json_type(fields, {path}) = 'true'");
        let mut grants = vec![
            "json_type(fields, '$.ACL') IS NULL".to_string(),
            granted("'$.ACL.\"*\".read'"),
        ];
        grants.extend(user.map(granted));
        format!("COALESCE(({}), FALSE)", grants.join(" OR "))
    }

    fn acl_user_param(user: &str) -> Param {
        Param::Text(format!("$.ACL.\"{user}\".read"))
    }

    /// SQLite plans with the value bound to a bare `LIMIT ?`, and so
    /// compiles the statement again on every run (about 100k instructions,
    /// more than the rest of a find); behind a cast it does not.
    fn row_count(placeholder: String) -> String {
        format!("CAST({placeholder} AS INTEGER)")
    }
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Param::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Param::Float(n) => ToSqlOutput::Borrowed(ValueRef::Real(*n)),
            Param::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Param::Json(value) => ToSqlOutput::Owned(to_json(value).into()),
        })
    }
}

/// Runs a compiled query: the count, when asked, and the page.
fn find<T>(
    conn: &Connection,
    table: &str,
    columns: &str,
    mut compiled: Compiled,
    query: &Query,
    from_row: fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Found<T>, StoreError> {
    let count = match query.count {
        true => {
            let (sql, params) = compiled.count_sql(table);
            let mut stmt = conn.prepare_cached(&sql)?;
            let count: i64 = stmt.query_row(params_from_iter(params), |row| row.get(0))?;
            Some(count as u64)
        }
        false => None,
    };
    let mut rows = Vec::new();
    if let Some(sql) = compiled.page_sql::<Sqlite>(table, columns, query) {
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut found = stmt.query(params_from_iter(&compiled.params))?;
        while let Some(row) = found.next()? {
            rows.push(from_row(row)?);
        }
    }
    Ok(Found { rows, count })
}

impl Db {
    pub fn find_objects(
        &self,
        class: &str,
        query: &Query,
        reader: &Reader,
    ) -> Result<Found<ObjectRecord>, StoreError> {
        let compiled = sql::compile::<Sqlite>(query, OBJECT_KEYS, reader, Some(class));
        self.read(|conn| {
            let columns = "object_id, fields, created_at, updated_at";
            find(conn, "objects", columns, compiled, query, object_from_row)
        })
    }

    pub fn find_users(
        &self,
        query: &Query,
        reader: &Reader,
    ) -> Result<Found<UserRecord>, StoreError> {
        let compiled = sql::compile::<Sqlite>(query, sql::USER_KEYS, reader, None);
        self.read(|conn| find(conn, "users", USER_COLUMNS, compiled, query, user_from_row))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::query::{Clause, Condition, Filter};

    /// SQLite's plan for a find in `Thing`.
    fn plan(where_: Clause, order: &[&str]) -> String {
        let db = Db::in_memory().unwrap();
        for i in 0..500 {
            let owner = json!({"__type": "Pointer", "className": "_User", "objectId": format!("u{}", i % 50)});
            let object = crate::store::ObjectRecord {
                object_id: format!("o{i}"),
                fields: json!({"owner": owner, "n": i}).as_object().unwrap().clone(),
                created_at: i,
                updated_at: i,
            };
            db.create_object("Thing", &object).unwrap();
        }
        db.read(super::super::refresh_statistics).unwrap();
        let query = Query {
            filter: Filter(vec![where_]),
            order: order
                .iter()
                .map(|key| crate::store::query::SortKey {
                    key: key.to_string(),
                    descending: false,
                })
                .collect(),
            skip: 0,
            limit: 10,
            count: false,
        };
        let mut compiled =
            sql::compile::<Sqlite>(&query, OBJECT_KEYS, &Reader::Master, Some("Thing"));
        let sql = compiled
            .page_sql::<Sqlite>("objects", "object_id", &query)
            .unwrap();
        db.read(|conn| {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let rows = stmt.query_map(params_from_iter(&compiled.params), |row| {
                row.get::<_, String>(3)
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?.join("\n"))
        })
        .unwrap()
    }

    #[test]
    fn finds_by_pointer_and_by_time_use_indexes() {
        let pointer = json!({"__type": "Pointer", "className": "_User", "objectId": "u1"});
        let by_pointer = plan(
            Clause::Field("owner".into(), vec![Condition::Equal(pointer)]),
            &[],
        );
        assert!(
            by_pointer.contains("SEARCH object_pointers USING PRIMARY KEY")
                && by_pointer.contains("SEARCH objects USING PRIMARY KEY"),
            "{by_pointer}"
        );
        let since = json!({"__type": "Date", "iso": "2024-01-01T00:00:00.000Z"});
        let recent = plan(
            Clause::Field(
                "updatedAt".into(),
                vec![Condition::Compare(
                    std::cmp::Ordering::Greater,
                    false,
                    since,
                )],
            ),
            &["updatedAt"],
        );
        assert!(
            recent.contains("objects_by_update (class_name=? AND updated_at>?)"),
            "{recent}"
        );
        let until = json!({"__type": "Date", "iso": "1970-01-01T00:00:00.100Z"});
        let oldest = plan(
            Clause::Field(
                "createdAt".into(),
                vec![Condition::Compare(std::cmp::Ordering::Less, true, until)],
            ),
            &[],
        );
        assert!(
            oldest.contains("objects_by_creation (class_name=? AND created_at<?)"),
            "{oldest}"
        );
    }

    /// How many times SQLite compiled `sql` again over runs with each of
    /// `runs`' parameters, on a connection that has loaded the statistics.
    fn recompiles(db: &Db, sql: &str, runs: &[Vec<Param>]) -> i32 {
        db.read(|conn| {
            for params in runs {
                let mut stmt = conn.prepare_cached(sql)?;
                let mut rows = stmt.query(params_from_iter(params))?;
                while rows.next()?.is_some() {}
            }
            let stmt = conn.prepare_cached(sql)?;
            Ok(stmt.get_status(rusqlite::StatementStatus::RePrepare))
        })
        .unwrap()
    }

    #[test]
    fn statistics_never_make_a_find_or_a_session_lookup_compile_again() {
        use super::super::sessions::tests::{new_session, new_user};
        let db = Db::in_memory().unwrap();
        let trail = crate::store::Trail { at: 0, ip: None };
        for u in 0..20 {
            let user = format!("u{u}");
            db.create_user(&new_user(&user), None, trail).unwrap();
            for device in 0..u % 4 + 1 {
                let session = new_session(&user, &format!("device{device}"));
                let hash = crate::token::mint().hash;
                db.create_session(&session, &hash, None, trail).unwrap();
            }
        }
        for i in 0..300 {
            let object = crate::store::ObjectRecord {
                object_id: format!("o{i}"),
                fields: json!({"n": i}).as_object().unwrap().clone(),
                created_at: i,
                updated_at: i,
            };
            db.create_object(if i % 10 == 0 { "Rare" } else { "Common" }, &object)
                .unwrap();
        }
        db.read(super::super::refresh_statistics).unwrap();
        let analysed: i64 = db
            .read(|conn| Ok(conn.query_row("SELECT count(*) FROM sqlite_stat1", [], |r| r.get(0))?))
            .unwrap();
        assert!(analysed > 0, "the statistics were gathered");

        let users: Vec<Vec<Param>> = (0..3)
            .map(|u| vec![Param::Text(format!("u{u}")), Param::Text("none".into())])
            .collect();
        let of_user = "SELECT object_id FROM sessions WHERE user_id = ?1 AND object_id IS NOT ?2";
        assert_eq!(recompiles(&db, of_user, &users), 0, "{of_user}");

        for reader in [Reader::Master, Reader::User(Some("u1".into()))] {
            let mut runs = Vec::new();
            let mut page = String::new();
            for (class, limit, skip) in [("Rare", 5, 0), ("Common", 100, 10), ("Rare", 1, 2)] {
                let query = Query {
                    filter: Filter(Vec::new()),
                    order: Vec::new(),
                    skip,
                    limit,
                    count: false,
                };
                let mut compiled =
                    sql::compile::<Sqlite>(&query, OBJECT_KEYS, &reader, Some(class));
                page = compiled
                    .page_sql::<Sqlite>("objects", "object_id", &query)
                    .unwrap();
                runs.push(compiled.params);
            }
            assert_eq!(recompiles(&db, &page, &runs), 0, "{page}");
        }
    }

    #[test]
    fn objects_stored_before_the_pointer_index_get_their_rows() {
        let db = Db::in_memory().unwrap();
        let owner = json!({"__type": "Pointer", "className": "_User", "objectId": "u1"});
        let object = crate::store::ObjectRecord {
            object_id: "o1".into(),
            fields: json!({"owner": owner.clone()}).as_object().unwrap().clone(),
            created_at: 1,
            updated_at: 1,
        };
        db.create_object("Thing", &object).unwrap();
        let query = Query {
            filter: Filter(vec![Clause::Field(
                "owner".into(),
                vec![Condition::Equal(owner)],
            )]),
            order: Vec::new(),
            skip: 0,
            limit: 10,
            count: true,
        };
        let count = || {
            db.find_objects("Thing", &query, &Reader::Master)
                .unwrap()
                .count
        };
        assert_eq!(count(), Some(1));
        // As a database from before migration 4 would be:
        db.write(|tx| {
            tx.execute_batch("DELETE FROM object_pointers")
                .map_err(StoreError::from)
        })
        .unwrap();
        assert_eq!(count(), Some(0));
        db.write(|tx| super::super::objects::index_all_pointers(tx))
            .unwrap();
        assert_eq!(count(), Some(1));
    }
}
