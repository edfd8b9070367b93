//! An example hook, written as a newcomer would: two cloud functions.
//!
//! - `hello` answers `{"hello": "world"}` (or the `name` parameter).
//! - `mySessions` lists the caller's devices, without any token.

use cloudcode_sdk::{
    Caller, Capability, HookError, Hooks, Manifest, Value, json, log, register_hooks, sessions,
};

pub struct Hello;

impl Hooks for Hello {
    fn manifest() -> Manifest {
        Manifest::new()
            .function("hello")
            .function("mySessions")
            .capability(Capability::SessionsRead)
            .capability(Capability::Log)
    }

    fn call_function(caller: &Caller, name: &str, params: Value) -> Result<Value, HookError> {
        match name {
            "hello" => {
                let who = params
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("world");
                Ok(json!({ "hello": who }))
            }
            "mySessions" => {
                let user = caller.require_user()?;
                let devices = sessions::list_for_user(user)?;
                log::info(&format!("listed {} sessions", devices.len()));
                Ok(devices
                    .into_iter()
                    .map(|s| {
                        json!({
                            "objectId": s.object_id,
                            "installationId": s.installation_id,
                            "createdAt": s.created_at,
                            "expiresAt": s.expires_at,
                            "current": s.current,
                        })
                    })
                    .collect())
            }
            other => Err(HookError::script_failed(format!(
                "Invalid function: \"{other}\""
            ))),
        }
    }
}

register_hooks!(Hello);
