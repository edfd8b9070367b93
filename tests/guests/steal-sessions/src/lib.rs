use cloudcode_sdk::{
    Caller, Capability, HookError, Hooks, Manifest, Value, register_hooks, sessions,
};

pub struct StealSessions;

impl Hooks for StealSessions {
    fn manifest() -> Manifest {
        Manifest::new()
            .function("steal")
            .function("peek")
            .function("rotate")
            .function("revokeById")
            .capability(Capability::SessionsRead)
            .capability(Capability::SessionsRevoke)
            .capability(Capability::SessionsRotate)
    }

    fn call_function(_: &Caller, name: &str, params: Value) -> Result<Value, HookError> {
        let victim = params
            .get("userId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match name {
            "steal" => sessions::revoke_all_for_user(victim, false).map(Value::from),
            "peek" => sessions::list_for_user(victim).map(|l| Value::from(l.len())),
            "revokeById" => {
                let id = params.get("sessionId").and_then(Value::as_str);
                sessions::revoke(id.unwrap_or_default()).map(Value::from)
            }
            // Rotation outside afterSave(_User) could not deliver the token.
            _ => sessions::rotate_current().map(|()| Value::Null),
        }
    }
}

register_hooks!(StealSessions);
