use serde_json::json;

/// What a hook component serves: cloud function names and `afterSave` classes.
///
/// ```
/// use cloudcode_sdk::Manifest;
/// let m = Manifest::new().function("hello").after_save("_User");
/// assert_eq!(m.functions(), ["hello"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    functions: Vec<String>,
    after_save: Vec<String>,
}

impl Manifest {
    /// An empty manifest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves the cloud function `name` (`POST /functions/<name>`).
    pub fn function(mut self, name: impl Into<String>) -> Self {
        self.functions.push(name.into());
        self
    }

    /// Runs `after_save` after every create or update of `class_name`.
    pub fn after_save(mut self, class_name: impl Into<String>) -> Self {
        self.after_save.push(class_name.into());
        self
    }

    /// The cloud function names.
    pub fn functions(&self) -> &[String] {
        &self.functions
    }

    /// The `afterSave` class names.
    pub fn after_save_classes(&self) -> &[String] {
        &self.after_save
    }

    /// The JSON form the host reads.
    pub fn to_json(&self) -> String {
        json!({"functions": self.functions, "afterSave": self.after_save}).to_string()
    }
}
