//! # cloudcode-sdk
//!
//! Write Parse-style Cloud Code in Rust: cloud functions and triggers
//! (`afterSave`, before and after login, after a session ends), compiled to a WebAssembly component that the cloudcode server
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
//! real sandbox with the `cloudcode-testkit` crate (`cloudcode new-hook`
//! sets up both).
//!
//! On targets other than `wasm32` the crate still builds, so hook crates can
//! run their plain unit tests natively; calls into the host ([`sessions`])
//! then fail with [`HookError`] code 141.

pub mod config;
mod error;
mod event;
pub mod log;
mod manifest;
pub mod sessions;

pub use error::{HookError, codes};
pub use event::{EndReason, LoginEvent, SaveEvent, SessionEnd};
pub use manifest::{Capability, Manifest, Trigger};
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
    /// The client's IP address, where the server knows it.
    pub client_address: Option<String>,
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

    /// Runs before every login ([`Manifest::before_login`]), after the
    /// password was verified and before the session is created. An error
    /// refuses the login: the client gets its code and message. If the hook
    /// traps or runs out of time the login is refused too (code 141).
    ///
    /// ```
    /// use cloudcode_sdk::{Caller, HookError, LoginEvent, Value, codes};
    /// fn before_login(_: &Caller, login: &LoginEvent) -> Result<(), HookError> {
    ///     if login.field("suspended") == Some(&Value::Bool(true)) {
    ///         return Err(HookError::new(codes::OBJECT_NOT_FOUND, "This account is suspended."));
    ///     }
    ///     Ok(())
    /// }
    /// ```
    fn before_login(caller: &Caller, login: &LoginEvent) -> Result<(), HookError> {
        let _ = (caller, login);
        Ok(())
    }

    /// Runs after every login and signup ([`Manifest::after_login`]); the
    /// caller is the new session. An error is logged; the login stands.
    fn after_login(caller: &Caller, login: &LoginEvent) -> Result<(), HookError> {
        let _ = (caller, login);
        Ok(())
    }

    /// Runs after a session ended ([`Manifest::after_session_end`]), for
    /// any reason; the caller is the session's user. It cannot stop the
    /// ending; an error is logged.
    fn after_session_end(caller: &Caller, ended: &SessionEnd) -> Result<(), HookError> {
        let _ = (caller, ended);
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
                fn manifest() -> $crate::__private::WitManifest {
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

                fn before_login(
                    caller: $crate::__private::WitCaller,
                    login: $crate::__private::WitLogin,
                ) -> ::std::result::Result<(), $crate::__private::WitHookError> {
                    $crate::__private::before_login::<$hooks>(caller, login)
                }

                fn after_login(
                    caller: $crate::__private::WitCaller,
                    login: $crate::__private::WitLogin,
                ) -> ::std::result::Result<(), $crate::__private::WitHookError> {
                    $crate::__private::after_login::<$hooks>(caller, login)
                }

                fn after_session_end(
                    caller: $crate::__private::WitCaller,
                    ended: $crate::__private::WitEndedSession,
                ) -> ::std::result::Result<(), $crate::__private::WitHookError> {
                    $crate::__private::after_session_end::<$hooks>(caller, ended)
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
        Caller as WitCaller, Capability as WitCapability, HookError as WitHookError,
    };
    pub use crate::__bindings::exports::cloudcode::hooks::hooks::{
        EndReason as WitEndReason, EndedSession as WitEndedSession, HookManifest as WitManifest,
        Login as WitLogin, Trigger as WitTrigger,
    };

    fn caller(c: WitCaller) -> Caller {
        Caller {
            user_id: c.user_id,
            session_id: c.session_id,
            installation_id: c.installation_id,
            master: c.master,
            client_address: c.client_address,
        }
    }

    fn wit_error(e: HookError) -> WitHookError {
        WitHookError {
            code: e.code,
            message: e.message,
        }
    }

    fn parse(json: &str) -> Result<Value, WitHookError> {
        serde_json::from_str(json).map_err(|e| wit_error(HookError::script_failed(e.to_string())))
    }

    pub fn manifest<H: Hooks>() -> WitManifest {
        let manifest = H::manifest();
        WitManifest {
            functions: manifest.functions().to_vec(),
            triggers: manifest
                .triggers()
                .iter()
                .map(|t| match t {
                    Trigger::AfterSave(class) => WitTrigger::AfterSave(class.clone()),
                    Trigger::BeforeLogin => WitTrigger::BeforeLogin,
                    Trigger::AfterLogin => WitTrigger::AfterLogin,
                    Trigger::AfterSessionEnd => WitTrigger::AfterSessionEnd,
                })
                .collect(),
            capabilities: manifest
                .capabilities()
                .iter()
                .map(|c| match c {
                    Capability::SessionsRead => WitCapability::SessionsRead,
                    Capability::SessionsRevoke => WitCapability::SessionsRevoke,
                    Capability::SessionsRotate => WitCapability::SessionsRotate,
                    Capability::Log => WitCapability::Log,
                })
                .collect(),
        }
    }

    pub fn call_function<H: Hooks>(
        c: WitCaller,
        name: String,
        params_json: String,
    ) -> Result<String, WitHookError> {
        let params = parse(&params_json)?;
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
        let event = SaveEvent {
            class_name,
            object: parse(&object_json)?,
            original: original_json.as_deref().map(parse).transpose()?,
            changed,
        };
        H::after_save(&caller(c), &event).map_err(wit_error)
    }

    fn login(login: WitLogin) -> Result<LoginEvent, WitHookError> {
        Ok(LoginEvent {
            user: parse(&login.user_json)?,
            signup: login.signup,
            installation_id: login.installation_id,
            client_address: login.client_address,
        })
    }

    pub fn before_login<H: Hooks>(c: WitCaller, l: WitLogin) -> Result<(), WitHookError> {
        H::before_login(&caller(c), &login(l)?).map_err(wit_error)
    }

    pub fn after_login<H: Hooks>(c: WitCaller, l: WitLogin) -> Result<(), WitHookError> {
        H::after_login(&caller(c), &login(l)?).map_err(wit_error)
    }

    pub fn after_session_end<H: Hooks>(
        c: WitCaller,
        ended: WitEndedSession,
    ) -> Result<(), WitHookError> {
        let reason = match ended.reason {
            WitEndReason::Logout => EndReason::Logout,
            WitEndReason::RevokedByUser => EndReason::RevokedByUser,
            WitEndReason::RevokedByHook => EndReason::RevokedByHook,
            WitEndReason::RevokedByAdmin => EndReason::RevokedByAdmin,
            WitEndReason::PasswordChange => EndReason::PasswordChange,
            WitEndReason::ReuseDetected => EndReason::ReuseDetected,
            WitEndReason::Expired => EndReason::Expired,
            WitEndReason::UserDeleted => EndReason::UserDeleted,
            WitEndReason::Replaced => EndReason::Replaced,
        };
        let ended = SessionEnd {
            session_id: ended.object_id,
            user_id: ended.user_id,
            installation_id: ended.installation_id,
            reason,
            client_address: ended.client_address,
        };
        H::after_session_end(&caller(c), &ended).map_err(wit_error)
    }
}
