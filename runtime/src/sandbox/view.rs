//! What an afterSave hook receives of a saved object: its JSON, bounded.
//! Whatever a client stores (a 12 MB string, say) would otherwise be copied
//! into the hook's memory twice (object and original) and could exhaust it,
//! so a client could make a hook fail at will.

use serde_json::{Map, Value, json};

/// Largest JSON a field's value may take and reach a hook as it is.
pub const MAX_FIELD_BYTES: usize = 64 << 10;
/// Largest JSON of a whole object: past it, its largest fields are elided too.
pub const MAX_OBJECT_BYTES: usize = 1 << 20;

/// The object as JSON for a hook: any field whose value's JSON is over
/// [`MAX_FIELD_BYTES`], then the largest fields while the object is over
/// [`MAX_OBJECT_BYTES`], become `{"__type": "Elided", "bytes": N}`.
pub fn object_json(object: &Value) -> String {
    // The common case, in one pass: an object no larger than the field cap
    // has no field over it either, and is within the object cap.
    let whole = json(object);
    let Value::Object(fields) = object else {
        return whole;
    };
    if whole.len() <= MAX_FIELD_BYTES {
        return whole;
    }
    let mut sizes: Vec<(&String, usize)> = fields.iter().map(|(k, v)| (k, json_len(v))).collect();
    let mut total = whole.len();
    sizes.sort_by_key(|&(_, size)| std::cmp::Reverse(size));
    let placeholder = json_len(&elided(usize::MAX));
    let mut elide = Vec::new();
    for (key, size) in sizes {
        let too_big = size > MAX_FIELD_BYTES || (total > MAX_OBJECT_BYTES && size > placeholder);
        if !too_big {
            break;
        }
        total = total - size + placeholder;
        elide.push((key, size));
    }
    if elide.is_empty() {
        return whole;
    }
    let mut bounded: Map<String, Value> = fields.clone();
    for (key, size) in elide {
        bounded.insert(key.clone(), elided(size));
    }
    json(&Value::Object(bounded))
}

/// A value's JSON text. `Value`'s `Display` writes through `fmt` into a
/// string grown from empty: three times the cost for a small object.
pub fn json(value: &Value) -> String {
    serde_json::to_string(value).expect("a JSON value serialises")
}

fn elided(bytes: usize) -> Value {
    json!({"__type": "Elided", "bytes": bytes})
}

/// The length of a value's JSON, without building it.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).expect("a JSON value serialises");
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_objects_pass_unchanged() {
        let object = json!({"objectId": "a", "nick": "al", "n": [1, 2, 3]});
        assert_eq!(object_json(&object), object.to_string());
    }

    #[test]
    fn a_large_field_is_elided_with_its_size() {
        let blob = "x".repeat(12 << 20);
        let object = json!({"objectId": "a", "blob": blob, "nick": "al"});
        let seen: Value = serde_json::from_str(&object_json(&object)).unwrap();
        assert_eq!(seen["objectId"], "a");
        assert_eq!(seen["nick"], "al");
        assert_eq!(
            seen["blob"],
            json!({"__type": "Elided", "bytes": (12 << 20) + 2})
        );
    }

    #[test]
    fn many_medium_fields_are_cut_to_the_object_budget_largest_first() {
        let mut fields = Map::new();
        fields.insert("objectId".into(), json!("a"));
        for i in 0..40 {
            fields.insert(format!("f{i:02}"), json!("y".repeat(60_000 + i)));
        }
        let json = object_json(&Value::Object(fields));
        assert!(json.len() <= MAX_OBJECT_BYTES, "{}", json.len());
        let seen: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(seen["objectId"], "a");
        assert_eq!(seen["f39"]["__type"], "Elided", "the largest go first");
        assert!(seen["f00"].is_string(), "the smallest stay");
    }
}
