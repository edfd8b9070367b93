//! Hostile test guest: a cloud function that waits inside the host (a WASI
//! sleep) for an hour, where the epoch deadline cannot stop it.

use cloudcode_sdk::{Caller, HookError, Hooks, Manifest, Value, register_hooks};

pub struct Sleep;

impl Hooks for Sleep {
    fn manifest() -> Manifest {
        Manifest::new().function("sleep")
    }

    fn call_function(_: &Caller, _: &str, _: Value) -> Result<Value, HookError> {
        std::thread::sleep(std::time::Duration::from_secs(3600));
        Ok(Value::Null)
    }
}

register_hooks!(Sleep);
