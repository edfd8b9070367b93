//! One function per API operation. Each runs synchronously (on the blocking
//! pool), takes the resolved caller and the request's JSON, and returns a
//! [`Reply`] or a Parse error. HTTP handlers only extract and delegate.

pub mod objects;
pub mod render;
pub mod sessions;
pub mod users;

use serde_json::Value;

/// A successful answer: a JSON body, and for creates the new object's path.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub created: Option<String>,
    pub body: Value,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Self {
            created: None,
            body,
        }
    }

    pub fn created(location: String, body: Value) -> Self {
        Self {
            created: Some(location),
            body,
        }
    }

    pub fn empty() -> Self {
        Self::ok(Value::Object(Default::default()))
    }
}
