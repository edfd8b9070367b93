//! The operator's settings for this hook: the `config` table of its entry
//! in the server's hooks config file (`--hooks-config`).
//!
//! ```toml
//! [hooks."max-sessions-per-user.wasm"]
//! grant = ["sessions:read", "sessions:revoke"]
//! config = { max-sessions = 3 }
//! ```
//!
//! ```no_run
//! let max: u32 = cloudcode_sdk::config::get("max-sessions")?.unwrap_or(5);
//! # Ok::<(), cloudcode_sdk::HookError>(())
//! ```

use serde::de::DeserializeOwned;

use crate::HookError;

/// The value of `key` as `T`; `None` when the operator did not set it. A
/// value that is not a `T` is an error (code 141) naming the key.
pub fn get<T: DeserializeOwned>(key: &str) -> Result<Option<T>, HookError> {
    let Some(json) = raw(key) else {
        return Ok(None);
    };
    serde_json::from_str(&json)
        .map(Some)
        .map_err(|e| HookError::script_failed(format!("Invalid config value {key:?}: {e}")))
}

/// The value of `key` as JSON text.
fn raw(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    {
        crate::__bindings::cloudcode::hooks::config::get(key)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = key;
        None
    }
}
