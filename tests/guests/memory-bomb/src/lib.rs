use cloudcode_sdk::{Caller, HookError, Hooks, Manifest, Value, register_hooks};

pub struct MemoryBomb;

impl Hooks for MemoryBomb {
    fn manifest() -> Manifest {
        Manifest::new().function("bomb")
    }

    fn call_function(_: &Caller, _: &str, _: Value) -> Result<Value, HookError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

register_hooks!(MemoryBomb);
