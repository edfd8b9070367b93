use cloudcode_sdk::{Caller, HookError, Hooks, Manifest, SaveEvent, Value, register_hooks};

pub struct Panic;

impl Hooks for Panic {
    fn manifest() -> Manifest {
        Manifest::new().function("panic").after_save("Fragile")
    }

    fn call_function(_: &Caller, _: &str, _: Value) -> Result<Value, HookError> {
        panic!("the guest gave up")
    }

    fn after_save(_: &Caller, _: &SaveEvent) -> Result<(), HookError> {
        panic!("afterSave gave up")
    }
}

register_hooks!(Panic);
