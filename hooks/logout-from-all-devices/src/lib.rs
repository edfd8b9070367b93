//! Cloud function `logoutFromAllDevices`: revokes every session of the
//! calling user and returns how many it revoked. With
//! `{"keepCurrent": true}` the device making the call stays logged in.
//!
//! Without a logged-in user (anonymous or master-key calls) it fails with
//! 209. The host only lets it touch the caller's own sessions.

use cloudcode_sdk::{
    Caller, Capability, HookError, Hooks, Manifest, Value, register_hooks, sessions,
};

pub struct LogoutFromAllDevices;

pub const FUNCTION: &str = "logoutFromAllDevices";

impl Hooks for LogoutFromAllDevices {
    fn manifest() -> Manifest {
        Manifest::new()
            .function(FUNCTION)
            .capability(Capability::SessionsRevoke)
    }

    fn call_function(caller: &Caller, _name: &str, params: Value) -> Result<Value, HookError> {
        let user = caller.require_user()?;
        let keep_current = match params.get("keepCurrent") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(keep)) => *keep,
            Some(_) => return Err(HookError::invalid_params("keepCurrent must be a boolean.")),
        };
        let revoked = sessions::revoke_all_for_user(user, keep_current)?;
        Ok(Value::from(revoked))
    }
}

register_hooks!(LogoutFromAllDevices);
