//! Exports `cloudcode:hooks/hooks@1.0.0`; a 0.x host must refuse to load it.

// Built only for the sandbox: the export names are not valid native symbols.
#[cfg(target_arch = "wasm32")]
mod guest {
    wit_bindgen::generate!({ world: "cloud-code", path: "wit" });

    use exports::cloudcode::hooks::hooks::{Caller, Guest, HookError};

    struct FutureContract;

    impl Guest for FutureContract {
        fn manifest() -> String {
            r#"{"functions":["future"]}"#.into()
        }

        fn call_function(_: Caller, _: String, _: String) -> Result<String, HookError> {
            Ok("null".into())
        }
    }

    export!(FutureContract);
}
