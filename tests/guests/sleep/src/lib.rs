//! Hostile test guest: a cloud function that waits inside the host (a WASI
//! sleep) for an hour, where the epoch deadline cannot stop it; and a slow
//! afterSave of `_User` that sleeps the saved user's `sleepMs` first.

use cloudcode_sdk::{Caller, HookError, Hooks, Manifest, SaveEvent, Value, register_hooks};

pub struct Sleep;

impl Hooks for Sleep {
    fn manifest() -> Manifest {
        Manifest::new().function("sleep").after_save("_User")
    }

    fn call_function(_: &Caller, _: &str, _: Value) -> Result<Value, HookError> {
        std::thread::sleep(std::time::Duration::from_secs(3600));
        Ok(Value::Null)
    }

    fn after_save(_: &Caller, event: &SaveEvent) -> Result<(), HookError> {
        if let Some(ms) = event.object.get("sleepMs").and_then(Value::as_u64) {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        Ok(())
    }
}

register_hooks!(Sleep);
