//! One function per API operation. Each takes the resolved caller and the
//! request's JSON, and returns a [`Reply`] or a Parse error. Reads by key
//! are synchronous and run in place; every other operation is `async` and
//! itself sends what blocks (password hashing, writes, scans) to the
//! blocking pool, while hooks (cloud functions, afterSave) run on the
//! request's task. HTTP handlers only extract and delegate.

mod account;
pub mod functions;
pub mod hooks;
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
use crate::sandbox::{AfterSave, Fired, Invoker, LoginEvent, SaveEvent};
use crate::store::UserRecord;

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

/// The caller of the login triggers: the user whose password was just
/// verified (or who just signed up), on the device logging in.
pub(crate) fn device(
    user: &UserRecord,
    installation_id: Option<String>,
    ip: Option<std::net::IpAddr>,
) -> Invoker {
    Invoker {
        user_id: Some(user.object_id.clone()),
        installation_id,
        ip,
        ..Invoker::default()
    }
}

/// Runs the before-login hooks, if any: one that refuses, or does not run
/// to completion, refuses the login.
pub(crate) async fn before_login(core: &Core, device: Invoker, user: &UserRecord) -> Result<()> {
    if !core.sandbox.has_before_login() {
        return Ok(());
    }
    let user = Value::Object(render::user(user, None));
    let login = LoginEvent {
        user: &user,
        signup: false,
    };
    core.sandbox
        .before_login(&core.port(), &device, &login)
        .await
        .map_err(Error::from)
}

/// Runs the after-login hooks, if any, as the new session (`device`).
/// They cannot undo the login; failures are logged.
pub(crate) async fn after_login(
    core: &Core,
    device: Invoker,
    user: &UserRecord,
    signup: bool,
) -> Fired {
    if !core.sandbox.has_after_login() {
        return Fired::default();
    }
    let user = Value::Object(render::user(user, None));
    let login = LoginEvent {
        user: &user,
        signup,
    };
    core.sandbox
        .after_login(&core.port(), &device, &login)
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
