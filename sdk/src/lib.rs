//! # cloudcode-sdk
//!
//! Write Parse-style Cloud Code in Rust: cloud functions and `afterSave`
//! triggers, compiled to a WebAssembly component that the cloudcode server
//! runs in a sandbox. A hook can compute, log, and manage the sessions of
//! the user who called it; it cannot touch files, the network, or anything
//! else, and it never sees a session token, a password hash or the master key.
//!
//! ```
//! use cloudcode_sdk::{json, register_hooks, Caller, HookError, Hooks, Manifest, Value};
//!
//! pub struct Hello;
//!
//! impl Hooks for Hello {
//!     fn manifest() -> Manifest {
//!         Manifest::new().function("hello")
//!     }
//!
//!     fn call_function(_caller: &Caller, _name: &str, _params: Value) -> Result<Value, HookError> {
//!         Ok(json!({"hello": "world"}))
//!     }
//! }
//!
//! register_hooks!(Hello);
//! ```
//!
//! Build the crate (`[lib] crate-type = ["cdylib", "rlib"]`: `cdylib` makes
//! the component, `rlib` lets the crate's own tests link it) with
//! `cargo build --release --target wasm32-wasip2` and start the server with
//! `--hooks-dir` pointing at the `.wasm` file's folder. Test it inside the
//! real sandbox with the `testkit` feature of `cloudcode-runtime`.
//!
//! On targets other than `wasm32` the crate still builds, so hook crates can
//! run their plain unit tests natively; calls into the host ([`sessions`])
//! then fail with [`HookError`] code 141.

mod error;
mod event;
pub mod log;
mod manifest;
pub mod sessions;

pub use error::{HookError, codes};
pub use event::SaveEvent;
pub use manifest::Manifest;
pub use serde_json::{self, Value, json};

/// A cloud function's parameters as `T`, any type that implements serde's
/// `Deserialize`: `let args: Args = cloudcode_sdk::params(params)?;`.
/// Parameters that do not fit are the client's mistake: code 142
/// (validation error) with serde's account of what is wrong.
pub fn params<T: serde::de::DeserializeOwned>(params: Value) -> Result<T, HookError> {
    serde_json::from_value(params)
        .map_err(|e| HookError::invalid_params(format!("Invalid parameters: {e}")))
}

#[doc(hidden)]
pub mod __bindings {
    wit_bindgen::generate!({
        world: "cloud-code",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_cloud_code",
        default_bindings_module: "cloudcode_sdk::__bindings",
    });
}

/// The request's caller, as resolved and validated by the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The authenticated user, if the request carried a live session.
    pub user_id: Option<String>,
    /// The objectId of the caller's session (never its token).
    pub session_id: Option<String>,
    /// The device (installation id) the request came from.
    pub installation_id: Option<String>,
    /// True when the request used the master key.
    pub master: bool,
}

impl Caller {
    /// The caller's user id, or a 209 "invalid session" error for calls
    /// without a logged-in user (anonymous or master-key calls).
    pub fn require_user(&self) -> Result<&str, HookError> {
        self.user_id.as_deref().ok_or_else(|| {
            HookError::new(
                codes::INVALID_SESSION_TOKEN,
                "This function requires a logged-in user.",
            )
        })
    }
}

/// What a hook component does. Implement it on a unit struct and export the
/// struct with [`register_hooks!`].
///
/// Every call runs in a fresh sandbox instance: keep no state between calls.
pub trait Hooks {
    /// The cloud functions and `afterSave` classes this component serves.
    fn manifest() -> Manifest;

    /// Runs the cloud function `name` (one of those in the manifest) with the
    /// client's parameters; the returned value is the client's `result`.
    fn call_function(caller: &Caller, name: &str, params: Value) -> Result<Value, HookError> {
        let _ = (caller, params);
        Err(HookError::script_failed(format!(
            "Invalid function: \"{name}\""
        )))
    }

    /// Runs after a successful create or update of a class in the manifest.
    /// An error is logged by the server; the save stands (Parse semantics).
    fn after_save(caller: &Caller, event: &SaveEvent) -> Result<(), HookError> {
        let _ = (caller, event);
        Ok(())
    }
}

/// Exports a [`Hooks`] implementation as the component's entry points.
///
/// It expands to nothing on targets other than `wasm32`, so the same crate
/// builds and tests natively.
#[macro_export]
macro_rules! register_hooks {
    ($hooks:ty) => {
        #[cfg(target_arch = "wasm32")]
        mod __cloudcode_hooks_export {
            use super::*;

            struct Export;

            impl $crate::__bindings::exports::cloudcode::hooks::hooks::Guest for Export {
                fn manifest() -> ::std::string::String {
                    $crate::__private::manifest::<$hooks>()
                }

                fn call_function(
                    caller: $crate::__private::WitCaller,
                    name: ::std::string::String,
                    params_json: ::std::string::String,
                ) -> ::std::result::Result<::std::string::String, $crate::__private::WitHookError> {
                    $crate::__private::call_function::<$hooks>(caller, name, params_json)
                }

                fn after_save(
                    caller: $crate::__private::WitCaller,
                    class_name: ::std::string::String,
                    object_json: ::std::string::String,
                    original_json: ::std::option::Option<::std::string::String>,
                    changed: ::std::vec::Vec<::std::string::String>,
                ) -> ::std::result::Result<(), $crate::__private::WitHookError> {
                    $crate::__private::after_save::<$hooks>(caller, class_name, object_json, original_json, changed)
                }
            }

            $crate::__bindings::__export_cloud_code!(Export with_types_in $crate::__bindings);
        }
    };
}

#[doc(hidden)]
pub mod __private {
    use super::*;

    pub use crate::__bindings::cloudcode::hooks::types::{
        Caller as WitCaller, HookError as WitHookError,
    };

    fn caller(c: WitCaller) -> Caller {
        Caller {
            user_id: c.user_id,
            session_id: c.session_id,
            installation_id: c.installation_id,
            master: c.master,
        }
    }

    fn wit_error(e: HookError) -> WitHookError {
        WitHookError {
            code: e.code,
            message: e.message,
        }
    }

    pub fn manifest<H: Hooks>() -> String {
        H::manifest().to_json()
    }

    pub fn call_function<H: Hooks>(
        c: WitCaller,
        name: String,
        params_json: String,
    ) -> Result<String, WitHookError> {
        let params = serde_json::from_str(&params_json)
            .map_err(|e| wit_error(HookError::script_failed(e.to_string())))?;
        H::call_function(&caller(c), &name, params)
            .map(|v| v.to_string())
            .map_err(wit_error)
    }

    pub fn after_save<H: Hooks>(
        c: WitCaller,
        class_name: String,
        object_json: String,
        original_json: Option<String>,
        changed: Vec<String>,
    ) -> Result<(), WitHookError> {
        let parse = |s: &str| {
            serde_json::from_str(s).map_err(|e| wit_error(HookError::script_failed(e.to_string())))
        };
        let event = SaveEvent {
            class_name,
            object: parse(&object_json)?,
            original: original_json.as_deref().map(parse).transpose()?,
            changed,
        };
        H::after_save(&caller(c), &event).map_err(wit_error)
    }
}
