//! Imports `hostile:unknown-import/network`, which no cloudcode host
//! provides. The component must still load; only the call that uses the
//! import fails. It speaks contract 0.1.0, which hosts keep linking.

// Built only for the sandbox: the export names are not valid native symbols.
#[cfg(target_arch = "wasm32")]
mod guest {
    wit_bindgen::generate!({ world: "hostile", path: "wit", generate_all });

    use exports::cloudcode::hooks::hooks::{Caller, Guest, HookError};

    struct UnknownImport;

    impl Guest for UnknownImport {
        fn manifest() -> String {
            r#"{"functions":["connect","offline"]}"#.into()
        }

        fn call_function(_: Caller, name: String, _: String) -> Result<String, HookError> {
            match name.as_str() {
                "connect" => {
                    Ok(hostile::unknown_import::network::connect("example.com").to_string())
                }
                _ => Ok(r#""no network needed""#.into()),
            }
        }

        fn after_save(
            _: Caller,
            _: String,
            _: String,
            _: Option<String>,
            _: Vec<String>,
        ) -> Result<(), HookError> {
            Ok(())
        }
    }

    export!(UnknownImport);
}
