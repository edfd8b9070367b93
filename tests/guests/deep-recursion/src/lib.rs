use cloudcode_sdk::{Caller, HookError, Hooks, Manifest, Value, register_hooks};

pub struct DeepRecursion;

fn descend(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let frame = std::hint::black_box([depth; 16]);
    descend(depth + 1) + frame[3]
}

impl Hooks for DeepRecursion {
    fn manifest() -> Manifest {
        Manifest::new().function("recurse")
    }

    fn call_function(_: &Caller, _: &str, _: Value) -> Result<Value, HookError> {
        Ok(Value::from(descend(0)))
    }
}

register_hooks!(DeepRecursion);
