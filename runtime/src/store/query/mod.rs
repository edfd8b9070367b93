//! The query model every backend runs: a parsed `where`, an order and a
//! page. Backends compile it to SQL ([`sql`]) so that a class is never
//! loaded whole; records that are not stored rows (sessions rendered with
//! their expiry, audit events) are matched in memory by the same rules
//! ([`Filter::matches`], [`compare_for_sort`]), and a test holds the two to
//! the same answers.
//!
//! The rules, Parse's: a Date compares by its `iso` (as the string
//! `createdAt` renders as), a Pointer with Pointers by `Class$objectId`; an
//! array field equals a non-array value it contains; numbers compare as
//! numbers whatever their JSON spelling; values of different kinds never
//! compare; missing and null sort first.

pub(crate) mod sql;

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::Fields;

/// One find: the filter, the order, the page, and whether to count.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub filter: Filter,
    pub order: Vec<SortKey>,
    pub skip: usize,
    pub limit: usize,
    pub count: bool,
}

/// One key of an `order`.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub key: String,
    pub descending: bool,
}

/// A `where`: every clause must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter(pub Vec<Clause>);

#[derive(Debug, Clone, PartialEq)]
pub enum Clause {
    Field(String, Vec<Condition>),
    Or(Vec<Filter>),
    And(Vec<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Equal(Value),
    NotEqual(Value),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    /// `$lt` (Less, false), `$lte` (Less, true), `$gt`, `$gte`.
    Compare(Ordering, bool, Value),
    Exists(bool),
}

/// Who reads: ACLs hide rows from everyone but the master key.
#[derive(Debug, Clone, PartialEq)]
pub enum Reader {
    Master,
    /// A user, or `None` for an anonymous caller.
    User(Option<String>),
}

/// A page of rows and, when asked, how many matched in all.
#[derive(Debug)]
pub struct Found<T> {
    pub rows: Vec<T>,
    pub count: Option<u64>,
}

impl<T> Found<T> {
    /// The same page, each row rendered.
    pub fn map<U>(self, render: impl FnMut(&T) -> U) -> Found<U> {
        Found {
            rows: self.rows.iter().map(render).collect(),
            count: self.count,
        }
    }
}

/// Parse's ACL rule, written once: an object without `ACL` is open to all;
/// otherwise `*` or the user must be granted `access` ("read" or "write")
/// with `true`. The SQL backends compile the read case of this rule.
pub fn acl_grants(fields: &Fields, user: Option<&str>, access: &str) -> bool {
    let Some(acl) = fields.get("ACL") else {
        return true;
    };
    let grants = |who: &str| {
        acl.get(who)
            .and_then(|entry| entry.get(access))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    grants("*") || user.is_some_and(grants)
}

impl Reader {
    pub fn may_read(&self, fields: &Fields) -> bool {
        match self {
            Reader::Master => true,
            Reader::User(user) => acl_grants(fields, user.as_deref(), "read"),
        }
    }
}

/// A value as queries see it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Normal {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    /// `Class$objectId`.
    Pointer(String),
    /// Arrays and objects other than Dates and Pointers: equal only as a whole.
    Other(Value),
}

impl Normal {
    pub(crate) fn of(value: Option<&Value>) -> Normal {
        match value {
            None | Some(Value::Null) => Normal::Null,
            Some(Value::Bool(b)) => Normal::Bool(*b),
            Some(Value::Number(n)) => Normal::Number(n.as_f64().unwrap_or(f64::NAN)),
            Some(Value::String(s)) => Normal::String(s.clone()),
            Some(object @ Value::Object(map)) => match map.get("__type").and_then(Value::as_str) {
                Some("Date") => match map.get("iso") {
                    Some(Value::String(iso)) => Normal::String(iso.clone()),
                    _ => Normal::Null,
                },
                Some("Pointer") => {
                    let part = |key| map.get(key).and_then(Value::as_str).unwrap_or_default();
                    Normal::Pointer(format!("{}${}", part("className"), part("objectId")))
                }
                _ => Normal::Other(object.clone()),
            },
            Some(array @ Value::Array(_)) => Normal::Other(array.clone()),
        }
    }

    /// The rank of its kind in a sort: null first, then booleans, numbers,
    /// strings, pointers, and the rest.
    fn rank(&self) -> u8 {
        match self {
            Normal::Null => 0,
            Normal::Bool(_) => 1,
            Normal::Number(_) => 2,
            Normal::String(_) => 3,
            Normal::Pointer(_) => 4,
            Normal::Other(_) => 5,
        }
    }

    /// Order within a kind; `None` across kinds and among `Other`s.
    fn compare(&self, other: &Normal) -> Option<Ordering> {
        match (self, other) {
            (Normal::Bool(a), Normal::Bool(b)) => Some(a.cmp(b)),
            (Normal::Number(a), Normal::Number(b)) => a.partial_cmp(b),
            (Normal::String(a), Normal::String(b)) | (Normal::Pointer(a), Normal::Pointer(b)) => {
                Some(a.cmp(b))
            }
            _ => None,
        }
    }

    fn equals(&self, other: &Normal) -> bool {
        match (self, other) {
            (Normal::Null, Normal::Null) => true,
            (Normal::Other(a), Normal::Other(b)) => a == b,
            _ => self.compare(other) == Some(Ordering::Equal),
        }
    }
}

/// The pointers among `fields` (top-level values and the elements of
/// top-level arrays), as `(key, "Class$objectId")`: what the backends index
/// so that a find by pointer does not scan its class.
pub(crate) fn pointers(fields: &Fields) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (key, value) in fields {
        let elements = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        for element in elements {
            if let Normal::Pointer(target) = Normal::of(Some(element)) {
                found.push((key.clone(), target));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

impl Filter {
    pub fn matches(&self, row: &Map<String, Value>) -> bool {
        self.0.iter().all(|clause| match clause {
            Clause::Field(key, conditions) => conditions.iter().all(|c| c.matches(row.get(key))),
            Clause::Or(filters) => filters.iter().any(|f| f.matches(row)),
            Clause::And(filters) => filters.iter().all(|f| f.matches(row)),
        })
    }
}

impl Condition {
    fn matches(&self, field: Option<&Value>) -> bool {
        match self {
            Condition::Equal(expected) => equals(field, expected),
            Condition::NotEqual(expected) => !equals(field, expected),
            Condition::In(options) => options.iter().any(|o| equals(field, o)),
            Condition::NotIn(options) => !options.iter().any(|o| equals(field, o)),
            Condition::Exists(wanted) => (Normal::of(field) != Normal::Null) == *wanted,
            Condition::Compare(direction, or_equal, bound) => Normal::of(field)
                .compare(&Normal::of(Some(bound)))
                .is_some_and(|o| o == *direction || (*or_equal && o.is_eq())),
        }
    }
}

/// Equality; an array field also equals a non-array value it contains.
fn equals(field: Option<&Value>, expected: &Value) -> bool {
    let expected_normal = Normal::of(Some(expected));
    if Normal::of(field).equals(&expected_normal) {
        return true;
    }
    match field {
        Some(Value::Array(items)) if !expected.is_array() => items
            .iter()
            .any(|item| Normal::of(Some(item)).equals(&expected_normal)),
        _ => false,
    }
}

/// The order of two rows under one sort key, ascending.
pub fn compare_for_sort(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    let (a, b) = (Normal::of(a), Normal::of(b));
    a.rank()
        .cmp(&b.rank())
        .then_with(|| a.compare(&b).unwrap_or(Ordering::Equal))
}

impl Query {
    /// Runs the query over rows already in memory, in their given order
    /// (which a sort keeps among equals).
    pub fn run_in_memory(
        &self,
        rows: impl IntoIterator<Item = Map<String, Value>>,
    ) -> Found<Map<String, Value>> {
        let mut matched: Vec<Map<String, Value>> = rows
            .into_iter()
            .filter(|row| self.filter.matches(row))
            .collect();
        let count = self.count.then_some(matched.len() as u64);
        if !self.order.is_empty() {
            matched.sort_by(|a, b| {
                self.order
                    .iter()
                    .map(|key| {
                        let o = compare_for_sort(a.get(&key.key), b.get(&key.key));
                        if key.descending { o.reverse() } else { o }
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            });
        }
        let rows = matched
            .into_iter()
            .skip(self.skip)
            .take(self.limit)
            .collect();
        Found { rows, count }
    }
}

#[cfg(test)]
mod tests;
