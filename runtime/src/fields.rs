//! Writing fields of Parse objects: key rules and the `__op` operations the
//! SDKs send (`Delete`, `Increment`, `Add`, `AddUnique`, `Remove`).

use serde_json::{Map, Value};

use crate::acl;
use crate::error::{Error, Result};
use crate::naming::is_valid_key;
use crate::store::Fields;

/// Keys the server owns: never accepted from a client.
pub const SERVER_KEYS: &[&str] = &["objectId", "createdAt", "updatedAt"];

/// The request body as an object, or 107.
pub fn body_object(body: Value) -> Result<Map<String, Value>> {
    match body {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(Error::invalid_json(
            "The request body must be a JSON object.",
        )),
    }
}

/// Applies a client's changes to `fields`. Returns the keys whose new value
/// the server computed (operations), which Parse echoes in the response.
pub fn apply(fields: &mut Fields, changes: Map<String, Value>) -> Result<Vec<String>> {
    let mut computed = Vec::new();
    for (key, value) in changes {
        if SERVER_KEYS.contains(&key.as_str()) || (key != "ACL" && !is_valid_key(&key)) {
            return Err(Error::invalid_key(&key));
        }
        match operation(&value) {
            Some(op) => {
                apply_op(fields, &key, op, &value)?;
                if op != "Delete" {
                    computed.push(key);
                }
            }
            None => {
                if key == "ACL" {
                    acl::validate(&value)?;
                }
                fields.insert(key, value);
            }
        }
    }
    Ok(computed)
}

fn operation(value: &Value) -> Option<&str> {
    value.get("__op").and_then(Value::as_str)
}

fn apply_op(fields: &mut Fields, key: &str, op: &str, value: &Value) -> Result<()> {
    match op {
        "Delete" => {
            fields.remove(key);
        }
        "Increment" => {
            let amount = value
                .get("amount")
                .and_then(Value::as_f64)
                .ok_or_else(|| Error::incorrect_type("Increment needs a numeric amount."))?;
            let current = match fields.get(key) {
                None | Some(Value::Null) => Value::from(0),
                Some(v @ Value::Number(_)) => v.clone(),
                Some(_) => return Err(Error::incorrect_type(format!("Cannot increment {key}."))),
            };
            fields.insert(
                key.to_string(),
                add_numbers(&current, &value["amount"], amount),
            );
        }
        "Add" | "AddUnique" | "Remove" => {
            let objects = value
                .get("objects")
                .and_then(Value::as_array)
                .ok_or_else(|| Error::incorrect_type(format!("{op} needs an array of objects.")))?;
            let mut list = match fields.remove(key) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(list)) => list,
                Some(_) => return Err(Error::incorrect_type(format!("{key} is not an array."))),
            };
            match op {
                "Add" => list.extend(objects.iter().cloned()),
                "AddUnique" => {
                    for o in objects {
                        if !list.contains(o) {
                            list.push(o.clone());
                        }
                    }
                }
                _ => list.retain(|item| !objects.contains(item)),
            }
            fields.insert(key.to_string(), Value::Array(list));
        }
        other => {
            return Err(Error::incorrect_type(format!("Unknown operation {other}.")));
        }
    }
    Ok(())
}

/// Integer arithmetic stays integer; anything else becomes a float.
fn add_numbers(current: &Value, amount: &Value, amount_f: f64) -> Value {
    match (current.as_i64(), amount.as_i64()) {
        (Some(a), Some(b)) => a.checked_add(b).map(Value::from).unwrap_or(Value::Null),
        _ => serde_json::Number::from_f64(current.as_f64().unwrap_or(0.0) + amount_f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn plain_values_and_operations() {
        let mut fields = obj(json!({"score": 1, "tags": ["a"], "gone": true}));
        let computed = apply(
            &mut fields,
            obj(json!({
                "score": {"__op": "Increment", "amount": 2},
                "tags": {"__op": "AddUnique", "objects": ["a", "b"]},
                "gone": {"__op": "Delete"},
                "name": "x"
            })),
        )
        .unwrap();
        assert_eq!(
            Value::Object(fields),
            json!({"score": 3, "tags": ["a", "b"], "name": "x"})
        );
        assert_eq!(computed, vec!["score".to_string(), "tags".to_string()]);
    }

    #[test]
    fn remove_and_add_and_float_increment() {
        let mut fields = obj(json!({"l": [1, 2, 1], "f": 1.5}));
        apply(
            &mut fields,
            obj(json!({"l": {"__op": "Remove", "objects": [1]}})),
        )
        .unwrap();
        apply(
            &mut fields,
            obj(json!({"l": {"__op": "Add", "objects": [3]}})),
        )
        .unwrap();
        apply(
            &mut fields,
            obj(json!({"f": {"__op": "Increment", "amount": 1}})),
        )
        .unwrap();
        assert_eq!(Value::Object(fields), json!({"l": [2, 3], "f": 2.5}));
    }

    #[test]
    fn bad_keys_and_operations_are_refused() {
        for bad in [
            json!({"objectId": "x"}),
            json!({"_hashed_password": "x"}),
            json!({"a.b": 1}),
            json!({"n": {"__op": "Increment", "amount": "1"}}),
            json!({"n": {"__op": "Explode"}}),
            json!({"ACL": {"*": "yes"}}),
        ] {
            assert!(
                apply(&mut Fields::new(), obj(bad.clone())).is_err(),
                "{bad}"
            );
        }
        let mut fields = obj(json!({"s": "text"}));
        assert!(
            apply(
                &mut fields,
                obj(json!({"s": {"__op": "Increment", "amount": 1}}))
            )
            .is_err()
        );
    }
}
