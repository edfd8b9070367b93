//! Parse queries (`where`, `order`, `skip`, `limit`, `count`, `keys`) evaluated
//! over objects rendered as the caller would see them. Rendering first means a
//! query can never match on something the caller may not read (a password
//! hash, another session's token).

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::error::{Code, Error, Result};

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
    filter: Filter,
    limit: usize,
    skip: usize,
    order: Vec<(String, bool)>,
    count: bool,
    keys: Option<Vec<String>>,
    exclude_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Filter(Vec<Clause>);

#[derive(Debug, Clone, PartialEq)]
enum Clause {
    Field(String, Vec<Condition>),
    Or(Vec<Filter>),
    And(Vec<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Equal(Value),
    NotEqual(Value),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    Compare(Ordering, bool, Value),
    Exists(bool),
}

fn invalid_query(message: impl Into<String>) -> Error {
    Error::parse(Code::InvalidQuery, message)
}

impl FindOptions {
    /// Reads query options from a URL query string or an SDK body (values
    /// may be strings, as in a URL, or typed JSON).
    pub fn from_params(params: Map<String, Value>) -> Result<Self> {
        let mut options = FindOptions {
            filter: Filter::default(),
            limit: DEFAULT_LIMIT,
            skip: 0,
            order: Vec::new(),
            count: false,
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
                    options.filter = Filter::parse(&json_param(value)?, &mut Budget::default())?
                }
                "limit" => options.limit = count_param(&name, &value)?,
                "skip" => options.skip = count_param(&name, &value)?,
                "order" => options.order = list_param(&value)?.into_iter().map(order_key).collect(),
                "count" => {
                    options.count = matches!(&value, Value::Bool(true))
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

    /// Filters, orders and pages `rows`; answers Parse's `{"results": [...]}`
    /// (with `"count"` when asked).
    pub fn run(&self, rows: impl IntoIterator<Item = Map<String, Value>>) -> Value {
        let mut matched: Vec<Map<String, Value>> = rows
            .into_iter()
            .filter(|row| self.filter.matches(row))
            .collect();
        let total = matched.len();
        if !self.order.is_empty() {
            matched.sort_by(|a, b| {
                self.order
                    .iter()
                    .map(|(key, descending)| {
                        let o = compare_for_sort(a.get(key), b.get(key));
                        if *descending { o.reverse() } else { o }
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            });
        }
        let results: Vec<Value> = matched
            .into_iter()
            .skip(self.skip)
            .take(self.limit)
            .map(|row| Value::Object(self.project(row)))
            .collect();
        let mut response = Map::new();
        response.insert("results".into(), Value::Array(results));
        if self.count {
            response.insert("count".into(), Value::from(total));
        }
        Value::Object(response)
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

fn order_key(key: String) -> (String, bool) {
    match key.strip_prefix('-') {
        Some(k) => (k.to_string(), true),
        None => (key, false),
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

impl Filter {
    fn parse(value: &Value, budget: &mut Budget) -> Result<Self> {
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

    fn matches(&self, row: &Map<String, Value>) -> bool {
        self.0.iter().all(|clause| match clause {
            Clause::Field(key, conditions) => conditions.iter().all(|c| c.matches(row.get(key))),
            Clause::Or(filters) => filters.iter().any(|f| f.matches(row)),
            Clause::And(filters) => filters.iter().all(|f| f.matches(row)),
        })
    }
}

fn sub_filters(value: &Value, budget: &mut Budget) -> Result<Vec<Filter>> {
    budget.depth += 1;
    let filters = value
        .as_array()
        .ok_or_else(|| invalid_query("$or and $and take an array."))?
        .iter()
        .map(|filter| Filter::parse(filter, budget))
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

impl Condition {
    fn matches(&self, field: Option<&Value>) -> bool {
        let present = field.filter(|v| !v.is_null());
        match self {
            Condition::Equal(expected) => equals(field, expected),
            Condition::NotEqual(expected) => !equals(field, expected),
            Condition::In(options) => options.iter().any(|o| equals(field, o)),
            Condition::NotIn(options) => !options.iter().any(|o| equals(field, o)),
            Condition::Exists(wanted) => present.is_some() == *wanted,
            Condition::Compare(direction, or_equal, bound) => present
                .and_then(|v| compare(&normalize(v), &normalize(bound)))
                .is_some_and(|o| o == *direction || (*or_equal && o.is_eq())),
        }
    }
}

/// Parse equality: Dates by instant, Pointers by class and id, and an array
/// field matches a scalar it contains.
fn equals(field: Option<&Value>, expected: &Value) -> bool {
    let expected = normalize(expected);
    match field {
        None => expected.is_null(),
        Some(Value::Array(items)) if !expected.is_array() => {
            items.iter().any(|i| normalize(i) == expected)
        }
        Some(value) => normalize(value) == expected,
    }
}

fn normalize(value: &Value) -> Value {
    match value.get("__type").and_then(Value::as_str) {
        Some("Date") => value.get("iso").cloned().unwrap_or(Value::Null),
        Some("Pointer") => Value::String(format!(
            "{}${}",
            value
                .get("className")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            value
                .get("objectId")
                .and_then(Value::as_str)
                .unwrap_or_default()
        )),
        _ => value.clone(),
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Missing and null sort first; values of different kinds keep their order.
fn compare_for_sort(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    let a = a.map(normalize).filter(|v| !v.is_null());
    let b = b.map(normalize).filter(|v| !v.is_null());
    match (&a, &b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => compare(x, y).unwrap_or(Ordering::Equal),
    }
}

#[cfg(test)]
mod tests;
