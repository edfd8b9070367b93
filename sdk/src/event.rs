use serde_json::Value;

/// A successful create or update, as an `afterSave` hook sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveEvent {
    /// The class of the saved object, e.g. `"_User"` or `"Game"`.
    pub class_name: String,
    /// The object after the write, without secrets (no password, no token).
    pub object: Value,
    /// The object before the write; `None` for a create.
    pub original: Option<Value>,
    /// The keys the write set.
    pub changed: Vec<String>,
}

impl SaveEvent {
    /// Whether the write set `key`. Unlike Parse's `dirty()` in afterSave,
    /// this works for `"password"` too (its value is never shown).
    pub fn changed(&self, key: &str) -> bool {
        self.changed.iter().any(|k| k == key)
    }

    /// The saved object's id.
    pub fn object_id(&self) -> Option<&str> {
        self.object.get("objectId").and_then(Value::as_str)
    }

    /// True for a create, false for an update.
    pub fn is_new(&self) -> bool {
        self.original.is_none()
    }
}
