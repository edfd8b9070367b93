use cloudcode_sdk::{Caller, HookError, Hooks, Manifest, Value, json, register_hooks};

pub struct RlibOnly;

impl Hooks for RlibOnly {
    fn manifest() -> Manifest {
        Manifest::new().function("forgotten")
    }

    fn call_function(_: &Caller, _: &str, _: Value) -> Result<Value, HookError> {
        Ok(json!("never served: no component is built"))
    }
}

register_hooks!(RlibOnly);
