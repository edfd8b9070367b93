//! Cloud functions: `POST /functions/:name`, served by hooks.

use serde_json::{Map, Value, json};

use super::Reply;
use crate::Core;
use crate::auth::Caller;
use crate::error::{Error, Result};

/// Runs on the executor: the hook yields while it computes, and its
/// database writes go to the blocking pool.
pub async fn call(core: &Core, caller: &Caller, name: &str, body: Value) -> Result<Reply> {
    let params = match body {
        Value::Null => Value::Object(Map::new()),
        params @ Value::Object(_) => params,
        _ => {
            return Err(Error::invalid_json(
                "Cloud function parameters must be a JSON object.",
            ));
        }
    };
    let result = core
        .sandbox
        .call_function(&core.port(), &caller.into(), name, &params)
        .await?;
    Ok(Reply::ok(json!({ "result": result })))
}
