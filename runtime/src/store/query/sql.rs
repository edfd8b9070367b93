//! A [`Query`] compiled to SQL, once for both backends. A [`Dialect`] says
//! how its engine reads the JSON `fields` column; this module says what a
//! query means in those terms, by the rules of [`Normal`]:
//!
//! - every key reads as a *kind* (`'null'`, `'bool'`, `'number'`,
//!   `'string'`, `'pointer'`, `'other'`) and a value of that kind, Dates
//!   and Pointers already normalised to strings;
//! - a condition holds when the kinds agree and the values compare, never
//!   across kinds; each one is wrapped in `COALESCE(.., FALSE)` so that SQL's
//!   NULL can never turn a `$ne` or `$nin` into a match;
//! - the ACL is a condition like any other, so `limit`, `skip` and `count`
//!   only ever see rows the reader may read.
//!
//! Values travel as bound parameters, never as SQL text; keys that are not
//! valid field names read as missing.

use std::cmp::Ordering;

use serde_json::Value;

use super::{Clause, Condition, Filter, Normal, Query, Reader};
use crate::clock::{from_iso, to_iso};
use crate::naming::is_valid_key;

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Text(String),
    Float(f64),
    Int(i64),
    Json(Value),
}

/// What a query key reads besides the JSON `fields`: a text column (NOT
/// NULL), one that may be NULL, or a time in milliseconds (NOT NULL) that
/// clients see as an ISO string.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Column {
    Text(&'static str),
    NullableText(&'static str),
    Date(&'static str),
}

/// The keys of a table that are columns (every other key is a field).
pub(crate) const OBJECT_KEYS: &[(&str, Column)] = &[
    ("objectId", Column::Text("object_id")),
    ("createdAt", Column::Date("created_at")),
    ("updatedAt", Column::Date("updated_at")),
];

pub(crate) const USER_KEYS: &[(&str, Column)] = &[
    ("objectId", Column::Text("object_id")),
    ("createdAt", Column::Date("created_at")),
    ("updatedAt", Column::Date("updated_at")),
    ("username", Column::Text("username")),
    ("email", Column::NullableText("email")),
];

/// How one engine reads JSON. `Json` is its handle on one JSON value: a
/// field of the row, or an element of an array field.
pub(crate) trait Dialect {
    type Json: Clone;
    /// The placeholder of parameter number `n` (from 1).
    fn placeholder(n: usize) -> String;
    /// The parameter that names `key` for [`Dialect::field`].
    fn field_param(key: &str) -> Param;
    /// The field named by the parameter behind `placeholder`.
    fn field(placeholder: String) -> Self::Json;
    /// One of 'null', 'bool', 'number', 'string', 'pointer', 'other' (see
    /// [`Normal`]).
    fn kind(json: &Self::Json) -> String;
    /// The normalised string, where the kind is 'string' or 'pointer'.
    fn text(json: &Self::Json) -> String;
    fn number(json: &Self::Json) -> String;
    /// 1 or 0, where the kind is 'bool'.
    fn boolean(json: &Self::Json) -> String;
    /// Whether the value equals, as a whole, one of the parameters (made
    /// by `other_param`) behind `placeholders` (comma-separated).
    fn same_json_any(json: &Self::Json, placeholders: &str) -> String;
    fn other_param(value: &Value) -> Param;
    /// Whether `json` is an array with an element for which `holds` holds.
    fn any_element(json: &Self::Json, holds: &mut dyn FnMut(&Self::Json) -> String) -> String;
    /// Text compared bytewise, as Rust compares strings.
    fn bytewise(text: String) -> String;
    /// A millisecond column rendered as Parse's ISO date.
    fn iso(column: &str) -> String;
    /// The read half of [`super::acl_grants`]; `user`: the placeholder of
    /// the parameter from [`Dialect::acl_user_param`].
    fn acl_allows_read(user: Option<&str>) -> String;
    fn acl_user_param(user: &str) -> Param;
    /// A `LIMIT` or `OFFSET` of the parameter behind `placeholder`, written
    /// so that the statement's plan does not depend on its value.
    fn row_count(placeholder: String) -> String;
}

/// A compiled query: its condition and order, and the parameters they bind.
pub(crate) struct Compiled {
    pub condition: String,
    pub order: String,
    pub params: Vec<Param>,
    /// How many of `params` the condition binds (the order's come after).
    condition_params: usize,
}

impl Compiled {
    /// How many rows of `table` match, and the parameters that binds.
    pub(crate) fn count_sql(&self, table: &str) -> (String, &[Param]) {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE {}", self.condition);
        (sql, &self.params[..self.condition_params])
    }

    /// The page's rows of `table`, binding its limit and offset; `None` when
    /// the page is empty (`limit=0`, a count alone).
    pub(crate) fn page_sql<D: Dialect>(
        &mut self,
        table: &str,
        columns: &str,
        query: &Query,
    ) -> Option<String> {
        if query.limit == 0 {
            return None;
        }
        let mut bind = |n: usize| {
            self.params
                .push(Param::Int(i64::try_from(n).unwrap_or(i64::MAX)));
            D::row_count(D::placeholder(self.params.len()))
        };
        let (limit, offset) = (bind(query.limit), bind(query.skip));
        Some(format!(
            "SELECT {columns} FROM {table} WHERE {} ORDER BY {} LIMIT {limit} OFFSET {offset}",
            self.condition, self.order
        ))
    }
}

/// Compiles `query` for a table whose keys are these `columns` and
/// `fields`. With a `class`, the table is `objects`: the class scopes it,
/// and `object_pointers` serves equality with a pointer.
pub(crate) fn compile<D: Dialect>(
    query: &Query,
    columns: &'static [(&'static str, Column)],
    reader: &Reader,
    class: Option<&str>,
) -> Compiled {
    let mut builder = Builder::<D> {
        params: Vec::new(),
        columns,
        class: None,
        dialect: std::marker::PhantomData,
    };
    let mut conditions = Vec::new();
    if let Some(class) = class {
        let placeholder = builder.bind(Param::Text(class.into()));
        conditions.push(format!("class_name = {placeholder}"));
        builder.class = Some(placeholder);
    }
    if let Reader::User(user) = reader {
        let user = user.as_deref().map(|u| builder.bind(D::acl_user_param(u)));
        conditions.push(D::acl_allows_read(user.as_deref()));
    }
    conditions.push(builder.filter(&query.filter));
    let condition_params = builder.params.len();
    let mut order = Vec::new();
    for key in &query.order {
        let direction = if key.descending { " DESC" } else { "" };
        for term in builder.sort_terms(&key.key) {
            order.push(format!("{term}{direction}"));
        }
    }
    order.push("created_at".into());
    order.push(D::bytewise("object_id".into()));
    Compiled {
        condition: conditions.join(" AND "),
        order: order.join(", "),
        params: builder.params,
        condition_params,
    }
}

struct Builder<D> {
    params: Vec<Param>,
    columns: &'static [(&'static str, Column)],
    /// The placeholder of the class, for a find in `objects`.
    class: Option<String>,
    dialect: std::marker::PhantomData<D>,
}

enum Source<J> {
    Json(J),
    Column(Column),
    Missing,
}

impl<D: Dialect> Builder<D> {
    fn bind(&mut self, param: Param) -> String {
        self.params.push(param);
        D::placeholder(self.params.len())
    }

    fn source(&mut self, key: &str) -> Source<D::Json> {
        if let Some((_, column)) = self.columns.iter().find(|(name, _)| *name == key) {
            return Source::Column(*column);
        }
        if !is_valid_key(key) {
            return Source::Missing;
        }
        let placeholder = self.bind(D::field_param(key));
        Source::Json(D::field(placeholder))
    }

    fn filter(&mut self, filter: &Filter) -> String {
        let clauses: Vec<String> = filter.0.iter().map(|c| self.clause(c)).collect();
        all(clauses)
    }

    fn clause(&mut self, clause: &Clause) -> String {
        match clause {
            Clause::Field(key, conditions) => {
                let conditions = conditions
                    .iter()
                    .map(|condition| {
                        let source = self.source(key);
                        self.condition(key, &source, condition)
                    })
                    .collect();
                all(conditions)
            }
            Clause::Or(filters) => {
                let each: Vec<String> = filters.iter().map(|f| self.filter(f)).collect();
                any(each)
            }
            Clause::And(filters) => {
                let each: Vec<String> = filters.iter().map(|f| self.filter(f)).collect();
                all(each)
            }
        }
    }

    fn condition(&mut self, key: &str, source: &Source<D::Json>, condition: &Condition) -> String {
        match condition {
            Condition::Equal(value) => self.one_of(Some(key), source, std::slice::from_ref(value)),
            Condition::NotEqual(value) => {
                format!(
                    "NOT {}",
                    self.one_of(None, source, std::slice::from_ref(value))
                )
            }
            Condition::In(values) => self.one_of(Some(key), source, values),
            Condition::NotIn(values) => format!("NOT {}", self.one_of(None, source, values)),
            Condition::Exists(wanted) => {
                let test = if *wanted { "<>" } else { "=" };
                format!("({} {test} 'null')", self.kind(source))
            }
            Condition::Compare(direction, or_equal, bound) => {
                let operator = match (direction, or_equal) {
                    (Ordering::Less, false) => "<",
                    (Ordering::Less, true) => "<=",
                    (_, false) => ">",
                    (_, true) => ">=",
                };
                let normal = Normal::of(Some(bound));
                self.holds(source, &normal, operator)
            }
        }
    }

    /// Whether the value equals one of `values`, or, for an array field,
    /// holds one of those that are not arrays. With the `key` (not under a
    /// NOT) and only pointers among `values`, `object_pointers` narrows it
    /// first: it lists exactly the rows whose field holds one of them, alone
    /// or in an array, so the index loses none.
    fn one_of(&mut self, key: Option<&str>, source: &Source<D::Json>, values: &[Value]) -> String {
        let normals: Vec<Normal> = values.iter().map(|v| Normal::of(Some(v))).collect();
        let whole = self.equals_any(source, &normals);
        let exact = match source {
            Source::Json(json) => {
                let elements: Vec<Normal> = values
                    .iter()
                    .zip(&normals)
                    .filter(|(value, _)| !value.is_array())
                    .map(|(_, normal)| normal.clone())
                    .collect();
                if elements.is_empty() {
                    whole
                } else {
                    let element = D::any_element(json, &mut |element| {
                        self.equals_any(&Source::Json(element.clone()), &elements)
                    });
                    format!("({whole} OR {element})")
                }
            }
            _ => whole,
        };
        let targets: Option<Vec<String>> = normals
            .iter()
            .map(|n| match n {
                Normal::Pointer(target) => Some(target.clone()),
                _ => None,
            })
            .collect();
        match (key, self.class.clone(), targets, source) {
            (Some(key), Some(class), Some(targets), Source::Json(_)) if !targets.is_empty() => {
                let field = self.bind(Param::Text(key.into()));
                let targets = self.bind_all(targets.into_iter().map(Param::Text));
                format!(
                    "(object_id IN (SELECT object_id FROM object_pointers \
                     WHERE class_name = {class} AND field = {field} AND target IN ({targets})) \
                     AND {exact})"
                )
            }
            _ => exact,
        }
    }

    /// Whether the value equals one of `normals`: one `IN` list per kind,
    /// so that a `$in` of a thousand values is one condition, not a chain.
    fn equals_any(&mut self, source: &Source<D::Json>, normals: &[Normal]) -> String {
        let (mut strings, mut pointers, mut numbers) = (Vec::new(), Vec::new(), Vec::new());
        let (mut booleans, mut others, mut with_null) = (Vec::new(), Vec::new(), false);
        for normal in normals {
            match normal {
                Normal::Null => with_null = true,
                Normal::Bool(b) => booleans.push(u8::from(*b).to_string()),
                Normal::Number(x) => numbers.push(*x),
                Normal::String(t) => strings.push(t.clone()),
                Normal::Pointer(t) => pointers.push(t.clone()),
                Normal::Other(v) => others.push(v.clone()),
            }
        }

        let mut tests = Vec::new();
        let kind = self.kind(source);
        match source {
            Source::Column(Column::Date(column)) => {
                // Only a canonical ISO string is ever a rendered date.
                let instants: Vec<i64> = strings.iter().filter_map(|t| canonical_iso(t)).collect();
                if !instants.is_empty() {
                    let list = self.bind_all(instants.into_iter().map(Param::Int));
                    tests.push(format!("{column} IN ({list})"));
                }
            }
            // NOT NULL: bare, so that the index serves (`objectId` `$in`).
            Source::Column(Column::Text(column)) => {
                if !strings.is_empty() {
                    let list = self.bind_all(strings.into_iter().map(Param::Text));
                    tests.push(format!("{column} IN ({list})"));
                }
            }
            Source::Column(Column::NullableText(column)) => {
                if !strings.is_empty() {
                    let list = self.bind_all(strings.into_iter().map(Param::Text));
                    tests.push(format!("COALESCE({column} IN ({list}), FALSE)"));
                }
                if with_null {
                    tests.push(format!("{column} IS NULL"));
                }
            }
            Source::Missing => {
                if with_null {
                    tests.push("TRUE".into());
                }
            }
            Source::Json(json) => {
                let mut json_tests = Vec::new();
                if with_null {
                    json_tests.push(format!("{kind} = 'null'"));
                }
                if !booleans.is_empty() {
                    let list = booleans.join(", ");
                    json_tests.push(format!(
                        "{kind} = 'bool' AND {} IN ({list})",
                        D::boolean(json)
                    ));
                }
                if !numbers.is_empty() {
                    let list = self.bind_all(numbers.into_iter().map(Param::Float));
                    json_tests.push(format!(
                        "{kind} = 'number' AND {} IN ({list})",
                        D::number(json)
                    ));
                }
                for (name, texts) in [("string", strings), ("pointer", pointers)] {
                    if !texts.is_empty() {
                        let list = self.bind_all(texts.into_iter().map(Param::Text));
                        json_tests.push(format!(
                            "{kind} = '{name}' AND {} IN ({list})",
                            D::text(json)
                        ));
                    }
                }
                if !others.is_empty() {
                    let list = self.bind_all(others.iter().map(D::other_param));
                    json_tests.push(format!(
                        "{kind} = 'other' AND {}",
                        D::same_json_any(json, &list)
                    ));
                }
                // SQL's NULL must never reach a NOT.
                tests.extend(
                    json_tests
                        .into_iter()
                        .map(|t| format!("COALESCE(({t}), FALSE)")),
                );
            }
        }
        any(tests)
    }

    /// Binds each parameter; their placeholders, comma-separated.
    fn bind_all(&mut self, params: impl IntoIterator<Item = Param>) -> String {
        let placeholders: Vec<String> = params.into_iter().map(|p| self.bind(p)).collect();
        placeholders.join(", ")
    }

    /// `source operator value` for an ordering operator, within the value's
    /// kind; never across kinds.
    fn holds(&mut self, source: &Source<D::Json>, value: &Normal, operator: &str) -> String {
        // A NOT NULL column against a bound value is never NULL: left bare,
        // the condition is one an index can serve.
        match (value, source) {
            (Normal::String(text), Source::Column(Column::Date(column))) => {
                if let Some(ms) = canonical_iso(text) {
                    // A canonical ISO string compares like its instant.
                    return format!("{column} {operator} {}", self.bind(Param::Int(ms)));
                }
            }
            (Normal::String(text), Source::Column(Column::Text(column))) => {
                let text = self.bind(Param::Text(text.clone()));
                return match operator {
                    // Equality is bytewise under every deterministic collation.
                    "=" => format!("{column} = {text}"),
                    _ => format!(
                        "{} {operator} {}",
                        D::bytewise(column.to_string()),
                        D::bytewise(text)
                    ),
                };
            }
            _ => {}
        }
        let kind = self.kind(source);
        let test = match (value, source) {
            (Normal::String(text), Source::Column(Column::Date(column))) => {
                let text = self.bind(Param::Text(text.clone()));
                format!(
                    "{} {operator} {}",
                    D::bytewise(D::iso(column)),
                    D::bytewise(text)
                )
            }
            (Normal::String(text), _) => self.text_holds(source, "string", text, operator),
            (Normal::Pointer(target), Source::Json(_)) => {
                self.text_holds(source, "pointer", target, operator)
            }
            (Normal::Number(n), Source::Json(json)) => format!(
                "{kind} = 'number' AND {} {operator} {}",
                D::number(json),
                self.bind(Param::Float(*n))
            ),
            (Normal::Bool(b), Source::Json(json)) => format!(
                "{kind} = 'bool' AND {} {operator} {}",
                D::boolean(json),
                u8::from(*b)
            ),
            _ => "FALSE".into(),
        };
        format!("COALESCE(({test}), FALSE)")
    }

    fn text_holds(
        &mut self,
        source: &Source<D::Json>,
        kind_name: &str,
        text: &str,
        operator: &str,
    ) -> String {
        let text = self.bind(Param::Text(text.into()));
        format!(
            "{} = '{kind_name}' AND {} {operator} {}",
            self.kind(source),
            self.text(source),
            D::bytewise(text)
        )
    }

    fn kind(&self, source: &Source<D::Json>) -> String {
        match source {
            Source::Json(json) => D::kind(json),
            Source::Column(Column::Text(_)) => "'string'".into(),
            Source::Column(Column::NullableText(column)) => {
                format!("(CASE WHEN {column} IS NULL THEN 'null' ELSE 'string' END)")
            }
            Source::Column(Column::Date(_)) => "'string'".into(),
            Source::Missing => "'null'".into(),
        }
    }

    fn text(&self, source: &Source<D::Json>) -> String {
        D::bytewise(match source {
            Source::Json(json) => D::text(json),
            Source::Column(Column::Text(column) | Column::NullableText(column)) => {
                column.to_string()
            }
            Source::Column(Column::Date(column)) => D::iso(column),
            Source::Missing => "NULL".into(),
        })
    }

    /// What orders rows by `key`, as [`super::compare_for_sort`] does:
    /// the kind's rank, then the value within the kind.
    fn sort_terms(&mut self, key: &str) -> Vec<String> {
        let source = self.source(key);
        match &source {
            Source::Column(Column::Date(column)) => vec![column.to_string()],
            Source::Missing => Vec::new(),
            Source::Column(Column::Text(_) | Column::NullableText(_)) => {
                let kind = self.kind(&source);
                vec![
                    format!("(CASE {kind} WHEN 'null' THEN 0 ELSE 3 END)"),
                    self.text(&source),
                ]
            }
            Source::Json(json) => {
                let kind = self.kind(&source);
                vec![
                    format!(
                        "(CASE {kind} WHEN 'null' THEN 0 WHEN 'bool' THEN 1 WHEN 'number' THEN 2 \
                         WHEN 'string' THEN 3 WHEN 'pointer' THEN 4 ELSE 5 END)"
                    ),
                    format!("(CASE WHEN {kind} = 'bool' THEN {} END)", D::boolean(json)),
                    format!("(CASE WHEN {kind} = 'number' THEN {} END)", D::number(json)),
                    format!(
                        "(CASE WHEN {kind} IN ('string', 'pointer') THEN {} END)",
                        self.text(&source)
                    ),
                ]
            }
        }
    }
}

/// The instant of an ISO string that is exactly how Parse renders it.
fn canonical_iso(text: &str) -> Option<i64> {
    from_iso(text).filter(|ms| to_iso(*ms) == text)
}

fn all(conditions: Vec<String>) -> String {
    balanced(conditions, "AND", "TRUE")
}

fn any(conditions: Vec<String>) -> String {
    balanced(conditions, "OR", "FALSE")
}

/// `a OP b OP ...` as a balanced tree of parentheses: a `$or` of a thousand
/// branches nests ten deep, within SQLite's expression depth limit (1000).
fn balanced(mut conditions: Vec<String>, operator: &str, empty: &str) -> String {
    match conditions.len() {
        0 => empty.into(),
        1 => conditions.pop().unwrap_or_default(),
        n => {
            let right = conditions.split_off(n / 2);
            let (left, right) = (
                balanced(conditions, operator, empty),
                balanced(right, operator, empty),
            );
            format!("({left} {operator} {right})")
        }
    }
}
