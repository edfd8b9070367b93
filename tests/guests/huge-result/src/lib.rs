use cloudcode_sdk::{Caller, HookError, Hooks, Manifest, Value, register_hooks};

pub struct HugeResult;

impl Hooks for HugeResult {
    fn manifest() -> Manifest {
        Manifest::new().function("huge")
    }

    fn call_function(_: &Caller, _: &str, _: Value) -> Result<Value, HookError> {
        Ok(Value::String("x".repeat(100 << 20)))
    }
}

register_hooks!(HugeResult);
