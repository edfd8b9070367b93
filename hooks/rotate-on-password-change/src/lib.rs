//! `afterSave(_User)`: when a user changes their own password, give the
//! device that changed it a fresh session token (the response carries it, so
//! the Parse SDKs switch without another call) and revoke any other session
//! of the user that is still alive. When the master key changed the
//! password, revoke every session of the user.
//!
//! The host has already revoked the user's other sessions in the same
//! transaction as the password write, and sealed this device's session
//! (its old token is dead): the rotation here gives it a new token, and
//! without it the host revokes the session. The revocation here is defence
//! in depth, for example against a login that raced the change.

use cloudcode_sdk::{
    Caller, Capability, HookError, Hooks, Manifest, SaveEvent, register_hooks, sessions,
};

pub struct RotateOnPasswordChange;

impl Hooks for RotateOnPasswordChange {
    fn manifest() -> Manifest {
        Manifest::new()
            .after_save("_User")
            .capability(Capability::SessionsRotate)
            .capability(Capability::SessionsRevoke)
    }

    fn after_save(caller: &Caller, event: &SaveEvent) -> Result<(), HookError> {
        if event.is_new() || !event.changed("password") {
            return Ok(());
        }
        let Some(user) = event.object_id() else {
            return Ok(());
        };
        if caller.master {
            sessions::revoke_all_for_user(user, false)?;
        } else if caller.user_id.as_deref() == Some(user) {
            sessions::rotate_current()?;
            sessions::revoke_all_for_user(user, true)?;
        }
        Ok(())
    }
}

register_hooks!(RotateOnPasswordChange);
