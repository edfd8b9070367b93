//! What Parse Dashboard reads to know the server (`/serverInfo`, `/config`),
//! its classes (`/schemas[/:className]`, `/purge/:className`) and its
//! hooks (`/releases/latest`, `/scripts/:file`). Master key, except
//! `/config`.

use axum::extract::State;
use serde_json::{Value, json};

use super::Payload;
use super::classes::Class;
use super::error::Path;
use crate::Core;
use crate::auth::Caller;
use crate::error::Result;
use crate::fields::body_object;
use crate::service::{Reply, functions, master_only, schemas};

/// What Parse Dashboard gates its pages on: true only for what this server
/// does. Push, jobs, logs, webhooks and global config are not served, so
/// the Dashboard hides those pages; its Cloud Code page lists the loaded
/// hooks (what each declares: its source is not on the server).
fn features() -> Value {
    json!({
        "globalConfig": {"create": false, "read": false, "update": false, "delete": false},
        "hooks": {"create": false, "read": false, "update": false, "delete": false},
        "cloudCode": {"jobs": false, "viewCode": true},
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
    master_only(&caller)?;
    Ok(Reply::ok(json!({
        "parseServerVersion": crate::server_version(),
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

/// `GET /config`: Parse's global config. This server keeps none, so it is
/// empty for everyone (the Dashboard reads it on every page).
pub async fn config() -> Reply {
    Reply::ok(json!({"params": {}, "masterKeyOnly": {}}))
}

pub async fn release(State(core): State<Core>, caller: Caller) -> Result<Reply> {
    functions::release(&core, &caller)
}

pub async fn script(
    State(core): State<Core>,
    Path(file): Path<String>,
    caller: Caller,
) -> Result<Reply> {
    functions::script(&core, &caller, &file)
}
