//! Cloud functions (`POST /functions/:name`, served by hooks), and the
//! listings of the loaded hooks.

use serde_json::{Map, Value, json};

use super::{Reply, master_only};
use crate::Core;
use crate::auth::Caller;
use crate::clock::{millis_since_epoch, to_iso};
use crate::error::{Code, Error, Result};
use crate::sandbox::HookListing;

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

/// The files the Cloud Code page lists for a hook: one per cloud function
/// and trigger, under the hook's name (`<hook>/<function>`,
/// `<hook>/afterSave <Class>`, `<hook>/beforeLogin`), so the page shows what is served by what.
fn files(hook: &HookListing<'_>) -> Vec<String> {
    let functions = hook
        .manifest
        .functions
        .iter()
        .map(|f| format!("{}/{f}", hook.name));
    let triggers = (hook.manifest.triggers().into_iter()).map(|t| format!("{}/{t}", hook.name));
    functions.chain(triggers).collect()
}

/// `GET /cloudcode/hooks`: the loaded hooks (master key): for each its
/// file, SHA-256, contract version, functions, triggers, the capabilities
/// it asks for, is granted and is denied, and when its set was loaded.
pub fn hooks(core: &Core, caller: &Caller) -> Result<Reply> {
    master_only(caller)?;
    let set = core.sandbox.current();
    let loaded_at = to_iso(millis_since_epoch(set.loaded_at()));
    let results: Vec<Value> = set
        .hooks()
        .map(|hook| {
            json!({
                "file": hook.name,
                "sha256": hook.sha256,
                "contract": hook.contract.to_string(),
                "functions": hook.manifest.functions,
                "triggers": hook.manifest.triggers(),
                "requested": hook.manifest.capabilities.names(),
                "granted": hook.granted.names(),
                "denied": hook.denied().names(),
                "loadedAt": loaded_at,
            })
        })
        .collect();
    Ok(Reply::ok(json!({ "results": results })))
}

/// `GET /releases/latest`: the loaded hooks as the release Parse
/// Dashboard's Cloud Code page lists (master key).
pub fn release(core: &Core, caller: &Caller) -> Result<Reply> {
    master_only(caller)?;
    let mut checksums = Map::new();
    let mut versions = Map::new();
    let set = core.sandbox.current();
    for hook in set.hooks() {
        for file in files(&hook) {
            checksums.insert(file.clone(), json!(hook.sha256));
            versions.insert(file, json!(1));
        }
    }
    Ok(Reply::ok(json!([{
        "version": 1,
        "parseVersion": crate::server_version(),
        "timestamp": to_iso(millis_since_epoch(set.loaded_at())),
        "checksums": Value::Object(checksums).to_string(),
        "userFiles": Value::Object(versions).to_string(),
    }])))
}

/// `GET /scripts/:file`: what the hook behind a listed file declares, as
/// the text the Cloud Code page shows (its source is not on the server).
pub fn script(core: &Core, caller: &Caller, file: &str) -> Result<Reply> {
    master_only(caller)?;
    let set = core.sandbox.current();
    let hook = set
        .hooks()
        .find(|hook| files(hook).iter().any(|f| f == file))
        .ok_or_else(|| Error::parse(Code::ObjectNotFound, format!("No hook serves {file}.")))?;
    Ok(Reply::ok(json!(describe(&hook))))
}

fn describe(hook: &HookListing<'_>) -> String {
    let list = |names: &[String]| {
        if names.is_empty() {
            "(none)".to_string()
        } else {
            names.join(", ")
        }
    };
    format!(
        "// {name}\n\
         // A WebAssembly component ({contract}), SHA-256 {sha}.\n\
         // Its source is not on the server; this is what it declares.\n\
         //\n\
         // Cloud functions: {functions}\n\
         // Triggers: {triggers}\n\
         // Granted: {granted}\n",
        name = hook.name,
        contract = hook.contract,
        triggers = list(&hook.manifest.triggers()),
        granted = hook.granted,
        sha = hook.sha256,
        functions = list(&hook.manifest.functions),
    )
}
