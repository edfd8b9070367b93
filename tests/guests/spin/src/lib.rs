use cloudcode_sdk::{Caller, HookError, Hooks, Manifest, Value, register_hooks};

pub struct Spin;

impl Hooks for Spin {
    fn manifest() -> Manifest {
        Manifest::new().function("spin")
    }

    fn call_function(_: &Caller, _: &str, _: Value) -> Result<Value, HookError> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

register_hooks!(Spin);
