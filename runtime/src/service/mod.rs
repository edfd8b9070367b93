//! One function per API operation. Each takes the resolved caller and the
//! request's JSON, and returns a [`Reply`] or a Parse error. Reads by key
//! are synchronous and run in place; every other operation is `async` and
//! itself sends what blocks (password hashing, writes, scans) to the
//! blocking pool, while hooks (cloud functions, afterSave) run on the
//! request's task. HTTP handlers only extract and delegate.

mod account;
pub mod functions;
mod hooks;
pub mod login;
pub mod objects;
pub mod render;
pub mod schemas;
pub mod sessions;
pub mod users;

use serde_json::{Map, Value};

use crate::Core;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::sandbox::{AfterSave, SaveEvent};

/// Runs the afterSave hooks of `class`, if any. `render` gives the saved
/// object and the original (before an update), and is called only when a
/// hook will read them.
pub(crate) async fn after_save(
    core: &Core,
    caller: &Caller,
    class_name: &str,
    changed: Vec<String>,
    render: impl FnOnce() -> (Map<String, Value>, Option<Map<String, Value>>),
) -> AfterSave {
    if !core.sandbox.has_after_save(class_name) {
        return AfterSave::default();
    }
    let (object, original) = render();
    let object = Value::Object(object);
    let original = original.map(Value::Object);
    let event = SaveEvent {
        class_name,
        object: &object,
        original: original.as_ref(),
        changed,
    };
    core.sandbox
        .after_save(&core.port(), &caller.into(), &event)
        .await
}

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

/// Refuses a caller without the master key (the administration routes).
pub(crate) fn master_only(caller: &Caller) -> Result<()> {
    if caller.master {
        Ok(())
    } else {
        Err(Error::forbidden("unauthorized: master key is required"))
    }
}
