//! `/serverInfo`, `/schemas[/:className]` and `/purge/:className`: what
//! Parse Dashboard reads to know the server and its classes (master key).

use axum::extract::State;
use serde_json::{Value, json};

use super::Payload;
use super::classes::Class;
use crate::Core;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::fields::body_object;
use crate::service::{Reply, schemas};

/// The Parse Server version whose wire behaviour this server implements,
/// tagged with ours: a valid semantic version, so clients that compare
/// versions (Parse Dashboard gates features that way) can.
fn server_version() -> String {
    format!("9.10.0-cloudcode.{}", env!("CARGO_PKG_VERSION"))
}

/// What Parse Dashboard gates its pages on: true only for what this server
/// does. Push, jobs, logs, webhooks, global config and cloud code files
/// are not served, so the Dashboard hides those pages.
fn features() -> Value {
    json!({
        "globalConfig": {"create": false, "read": false, "update": false, "delete": false},
        "hooks": {"create": false, "read": false, "update": false, "delete": false},
        "cloudCode": {"jobs": false, "viewCode": false},
        "logs": {"level": false, "size": false, "order": false, "until": false, "from": false},
        "push": {
            "immediatePush": false, "scheduledPush": false, "storedPushData": false,
            "pushAudiences": false, "localization": false,
        },
        "schemas": {
            "addField": true, "removeField": true, "addClass": true, "removeClass": true,
            "clearAllDataFromClass": true, "exportClass": false,
            "editClassLevelPermissions": false, "editPointerPermissions": false,
        },
    })
}

pub async fn server_info(caller: Caller) -> Result<Reply> {
    if !caller.master {
        return Err(Error::forbidden("unauthorized: master key is required"));
    }
    Ok(Reply::ok(json!({
        "parseServerVersion": server_version(),
        "features": features(),
    })))
}

pub async fn all(State(core): State<Core>, caller: Caller) -> Result<Reply> {
    schemas::all(&core, &caller).await
}

pub async fn one(State(core): State<Core>, Class(class): Class, caller: Caller) -> Result<Reply> {
    schemas::one(&core, &caller, &class).await
}

pub async fn create(
    State(core): State<Core>,
    Class(class): Class,
    caller: Caller,
    payload: Payload,
) -> Result<Reply> {
    schemas::create(&core, &caller, &class, body_object(payload.body)?).await
}

pub async fn update(
    State(core): State<Core>,
    Class(class): Class,
    caller: Caller,
    payload: Payload,
) -> Result<Reply> {
    schemas::update(&core, &caller, &class, body_object(payload.body)?).await
}

pub async fn drop(State(core): State<Core>, Class(class): Class, caller: Caller) -> Result<Reply> {
    schemas::drop(&core, &caller, &class).await
}

pub async fn purge(State(core): State<Core>, Class(class): Class, caller: Caller) -> Result<Reply> {
    schemas::purge(&core, &caller, &class).await
}
