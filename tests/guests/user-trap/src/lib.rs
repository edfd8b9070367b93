//! A rotate-on-password-change gone wrong: its afterSave on `_User` panics
//! before rotating anything. The host must still end the session whose
//! password changed.

use cloudcode_sdk::{Caller, HookError, Hooks, Manifest, SaveEvent, register_hooks};

pub struct UserTrap;

impl Hooks for UserTrap {
    fn manifest() -> Manifest {
        Manifest::new().after_save("_User")
    }

    fn after_save(_: &Caller, _: &SaveEvent) -> Result<(), HookError> {
        panic!("afterSave of _User gave up")
    }
}

register_hooks!(UserTrap);
