//! `beforeLogin`: refuses the login of a user whose `suspended` field is
//! `true` (set it with the master key, e.g. from Parse Dashboard). The
//! client gets code 101 and "This account is suspended."; the password was
//! right, so saying why reveals nothing to a guesser.
//!
//! It needs no capability: a refusal is its return value.

use cloudcode_sdk::{Caller, HookError, Hooks, LoginEvent, Manifest, Value, codes, register_hooks};

pub struct BlockSuspendedUsers;

/// What a suspended user is told.
pub const SUSPENDED: &str = "This account is suspended.";

impl Hooks for BlockSuspendedUsers {
    fn manifest() -> Manifest {
        Manifest::new().before_login()
    }

    fn before_login(_caller: &Caller, login: &LoginEvent) -> Result<(), HookError> {
        if login.field("suspended") == Some(&Value::Bool(true)) {
            return Err(HookError::new(codes::OBJECT_NOT_FOUND, SUSPENDED));
        }
        Ok(())
    }
}

register_hooks!(BlockSuspendedUsers);
