//! Parse's query parameters (`where`, `order`, `skip`, `limit`, `count`,
//! `keys`, `excludeKeys`) read into the store's [`Query`], which the
//! backends run as SQL; `keys` then shape the rendered page. Records that
//! live only rendered (sessions, audit events) run the same query in memory.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::error::{Code, Error, Result};
use crate::store::query::{Clause, Condition, Filter, Found, Query, SortKey};

pub const DEFAULT_LIMIT: usize = 100;

/// The bounds on a `where`, so that no query can cost more than a scan of
/// the class with a few thousand cheap comparisons per object: values in
/// one `$in`/`$nin`, conditions and values in the whole `where`, nesting
/// of `$or`/`$and`, and the size of its JSON.
pub const MAX_LIST_VALUES: usize = 1000;
pub const MAX_TERMS: usize = 2000;
pub const MAX_DEPTH: usize = 8;
pub const MAX_WHERE_BYTES: usize = 64 << 10;

const PARAMS: &[&str] = &[
    "where",
    "limit",
    "skip",
    "order",
    "count",
    "keys",
    "include",
    "excludeKeys",
    "readPreference",
    "includeReadPreference",
    "subqueryReadPreference",
];

/// Options of one `GET /classes/:className` (or its SDK envelope form).
#[derive(Debug, Clone, PartialEq)]
pub struct FindOptions {
    query: Query,
    keys: Option<Vec<String>>,
    exclude_keys: Vec<String>,
}

fn invalid_query(message: impl Into<String>) -> Error {
    Error::parse(Code::InvalidQuery, message)
}

impl FindOptions {
    /// Reads query options from a URL query string or an SDK body (values
    /// may be strings, as in a URL, or typed JSON).
    pub fn from_params(params: Map<String, Value>) -> Result<Self> {
        let mut options = FindOptions {
            query: Query {
                filter: Filter::default(),
                order: Vec::new(),
                skip: 0,
                limit: DEFAULT_LIMIT,
                count: false,
            },
            keys: None,
            exclude_keys: Vec::new(),
        };
        for (name, value) in params {
            match name.as_str() {
                "where" => {
                    let size = match &value {
                        Value::String(text) => text.len(),
                        other => other.to_string().len(),
                    };
                    if size > MAX_WHERE_BYTES {
                        return Err(invalid_query(format!(
                            "where is too large: at most {MAX_WHERE_BYTES} bytes."
                        )));
                    }
                    options.query.filter =
                        parse_filter(&json_param(value)?, &mut Budget::default())?
                }
                "limit" => options.query.limit = count_param(&name, &value)?,
                "skip" => options.query.skip = count_param(&name, &value)?,
                "order" => {
                    options.query.order = list_param(&value)?.into_iter().map(sort_key).collect()
                }
                "count" => {
                    options.query.count = matches!(&value, Value::Bool(true))
                        || value.as_i64() == Some(1)
                        || matches!(value.as_str(), Some("1" | "true"))
                }
                "keys" => options.keys = Some(list_param(&value)?),
                "excludeKeys" => options.exclude_keys = list_param(&value)?,
                other if PARAMS.contains(&other) => {}
                other => {
                    return Err(invalid_query(format!(
                        "Invalid parameter for query: {other}"
                    )));
                }
            }
        }
        Ok(options)
    }

    /// What the store runs.
    pub fn query(&self) -> &Query {
        &self.query
    }

    /// Parse's `{"results": [...]}` (with `"count"` when asked) for a page
    /// the store found, shaped by `keys` and `excludeKeys`.
    pub fn answer(&self, found: Found<Map<String, Value>>) -> Value {
        let results: Vec<Value> = found
            .rows
            .into_iter()
            .map(|row| Value::Object(self.project(row)))
            .collect();
        let mut response = Map::new();
        response.insert("results".into(), Value::Array(results));
        if let Some(count) = found.count {
            response.insert("count".into(), Value::from(count));
        }
        Value::Object(response)
    }

    /// Runs the query over rows in memory (records the store does not hold
    /// as rows) and answers as [`FindOptions::answer`].
    pub fn run(&self, rows: impl IntoIterator<Item = Map<String, Value>>) -> Value {
        self.answer(self.query.run_in_memory(rows))
    }

    fn project(&self, mut row: Map<String, Value>) -> Map<String, Value> {
        const ALWAYS: &[&str] = &["objectId", "createdAt", "updatedAt"];
        if let Some(keys) = &self.keys {
            row.retain(|k, _| ALWAYS.contains(&k.as_str()) || keys.contains(k));
        }
        row.retain(|k, _| ALWAYS.contains(&k.as_str()) || !self.exclude_keys.contains(k));
        row
    }
}

fn json_param(value: Value) -> Result<Value> {
    match value {
        Value::String(text) => serde_json::from_str(&text)
            .map_err(|_| Error::invalid_json("Invalid JSON in the where parameter.")),
        other => Ok(other),
    }
}

fn count_param(name: &str, value: &Value) -> Result<usize> {
    let parsed = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    parsed
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .ok_or_else(|| invalid_query(format!("{name} must be a non-negative integer.")))
}

fn list_param(value: &Value) -> Result<Vec<String>> {
    match value {
        Value::String(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(String::from)
            .collect()),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(String::from)
                    .ok_or_else(|| invalid_query("Expected a list of keys."))
            })
            .collect(),
        _ => Err(invalid_query("Expected a comma-separated list of keys.")),
    }
}

fn sort_key(key: String) -> SortKey {
    match key.strip_prefix('-') {
        Some(k) => SortKey {
            key: k.to_string(),
            descending: true,
        },
        None => SortKey {
            key,
            descending: false,
        },
    }
}

/// What is left of a `where`'s bounds while it is parsed.
#[derive(Default)]
struct Budget {
    depth: usize,
    terms: usize,
}

impl Budget {
    fn spend(&mut self, terms: usize) -> Result<()> {
        self.terms += terms;
        if self.terms > MAX_TERMS {
            return Err(invalid_query(format!(
                "where is too complex: at most {MAX_TERMS} conditions and values."
            )));
        }
        Ok(())
    }
}

fn parse_filter(value: &Value, budget: &mut Budget) -> Result<Filter> {
    if budget.depth > MAX_DEPTH {
        return Err(invalid_query(format!(
            "where nests $or/$and too deeply: at most {MAX_DEPTH} levels."
        )));
    }
    let map = match value {
        Value::Object(map) => map,
        Value::Null => return Ok(Filter::default()),
        _ => return Err(Error::invalid_json("where must be a JSON object.")),
    };
    let mut clauses = Vec::new();
    for (key, constraint) in map {
        budget.spend(1)?;
        clauses.push(match key.as_str() {
            "$or" => Clause::Or(sub_filters(constraint, budget)?),
            "$and" => Clause::And(sub_filters(constraint, budget)?),
            k if k.starts_with('$') => {
                return Err(invalid_query(format!("Invalid query operator: {k}")));
            }
            _ => Clause::Field(key.clone(), conditions(constraint, budget)?),
        });
    }
    Ok(Filter(clauses))
}

fn sub_filters(value: &Value, budget: &mut Budget) -> Result<Vec<Filter>> {
    budget.depth += 1;
    let filters = value
        .as_array()
        .ok_or_else(|| invalid_query("$or and $and take an array."))?
        .iter()
        .map(|filter| parse_filter(filter, budget))
        .collect();
    budget.depth -= 1;
    filters
}

fn conditions(constraint: &Value, budget: &mut Budget) -> Result<Vec<Condition>> {
    let Some(ops) = constraint
        .as_object()
        .filter(|m| m.keys().any(|k| k.starts_with('$')))
    else {
        return Ok(vec![Condition::Equal(constraint.clone())]);
    };
    ops.iter()
        .map(|(op, arg)| {
            budget.spend(1)?;
            let mut list = || {
                let values = arg
                    .as_array()
                    .ok_or_else(|| invalid_query(format!("{op} takes an array.")))?;
                if values.len() > MAX_LIST_VALUES {
                    return Err(invalid_query(format!(
                        "{op} takes at most {MAX_LIST_VALUES} values."
                    )));
                }
                budget.spend(values.len())?;
                Ok(values.clone())
            };
            Ok(match op.as_str() {
                "$eq" => Condition::Equal(arg.clone()),
                "$ne" => Condition::NotEqual(arg.clone()),
                "$in" => Condition::In(list()?),
                "$nin" => Condition::NotIn(list()?),
                "$lt" => Condition::Compare(Ordering::Less, false, arg.clone()),
                "$lte" => Condition::Compare(Ordering::Less, true, arg.clone()),
                "$gt" => Condition::Compare(Ordering::Greater, false, arg.clone()),
                "$gte" => Condition::Compare(Ordering::Greater, true, arg.clone()),
                "$exists" => Condition::Exists(
                    arg.as_bool()
                        .ok_or_else(|| invalid_query("$exists takes a boolean."))?,
                ),
                other => return Err(invalid_query(format!("Invalid query operator: {other}"))),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
