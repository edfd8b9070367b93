//! - `beforeLogin` traps for users whose `trapOnLogin` field is true (a
//!   broken policy hook: the login must be refused);
//! - `afterSessionEnd` logs `session-ended <id> <reason>` for every
//!   session that ends;
//! - `revokeMine` revokes the caller's other sessions: it needs
//!   `sessions:revoke`, which tests grant or withhold.

use cloudcode_sdk::{
    Caller, Capability, HookError, Hooks, LoginEvent, Manifest, SessionEnd, Value, log,
    register_hooks, sessions,
};

pub struct Lifecycle;

impl Hooks for Lifecycle {
    fn manifest() -> Manifest {
        Manifest::new()
            .function("revokeMine")
            .before_login()
            .after_session_end()
            .capability(Capability::SessionsRevoke)
            .capability(Capability::Log)
    }

    fn call_function(caller: &Caller, _name: &str, _params: Value) -> Result<Value, HookError> {
        let user = caller.require_user()?;
        sessions::revoke_all_for_user(user, true).map(Value::from)
    }

    fn before_login(_caller: &Caller, login: &LoginEvent) -> Result<(), HookError> {
        if login.field("trapOnLogin") == Some(&Value::Bool(true)) {
            panic!("a broken login policy");
        }
        Ok(())
    }

    fn after_session_end(_caller: &Caller, ended: &SessionEnd) -> Result<(), HookError> {
        log::info(&format!(
            "session-ended {} {}",
            ended.session_id,
            ended.reason.as_str()
        ));
        Ok(())
    }
}

register_hooks!(Lifecycle);
