use cloudcode_sdk::{Hooks, Manifest, register_hooks};

pub struct DuplicateFunction;

impl Hooks for DuplicateFunction {
    fn manifest() -> Manifest {
        Manifest::new().function("logoutFromAllDevices")
    }
}

register_hooks!(DuplicateFunction);
