//! The session capability: list and revoke the sessions of the calling user
//! (of any user when the request used the master key), and rotate the
//! caller's own token. The host checks every call against the request's
//! caller; a call outside those bounds stops the hook with code 141.
//!
//! ```no_run
//! use cloudcode_sdk::{sessions, Caller, HookError};
//!
//! fn log_out_everywhere_else(caller: &Caller) -> Result<u32, HookError> {
//!     let user = caller.require_user()?;
//!     sessions::revoke_all_for_user(user, true)
//! }
//! ```

use crate::HookError;

/// A session as hooks see it (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session's objectId.
    pub object_id: String,
    /// Its user.
    pub user_id: String,
    /// ISO 8601 creation time.
    pub created_at: String,
    /// ISO 8601 effective expiry.
    pub expires_at: String,
    /// The device it belongs to.
    pub installation_id: Option<String>,
    /// `"signup"` or `"login"`.
    pub created_with: String,
    /// True for the session of the current request.
    pub current: bool,
}

#[cfg(target_arch = "wasm32")]
mod host {
    pub use crate::__bindings::cloudcode::hooks::sessions::*;
    pub use crate::__bindings::cloudcode::hooks::types::HookError as WitError;

    pub fn error(e: WitError) -> crate::HookError {
        crate::HookError::new(e.code, e.message)
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn outside_sandbox<T>() -> Result<T, HookError> {
    Err(HookError::script_failed(
        "sessions are only available inside the cloudcode sandbox",
    ))
}

/// The live sessions of `user_id`.
pub fn list_for_user(user_id: &str) -> Result<Vec<SessionInfo>, HookError> {
    #[cfg(target_arch = "wasm32")]
    {
        let list = host::list_for_user(user_id).map_err(host::error)?;
        Ok(list
            .into_iter()
            .map(|s| SessionInfo {
                object_id: s.object_id,
                user_id: s.user_id,
                created_at: s.created_at,
                expires_at: s.expires_at,
                installation_id: s.installation_id,
                created_with: s.created_with,
                current: s.current,
            })
            .collect())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = user_id;
        outside_sandbox()
    }
}

/// Revokes the session `session_id`; `false` if it did not exist or is
/// another user's (without the master key): the same answer, so that a
/// function revoking by id cannot tell its callers which ids exist.
pub fn revoke(session_id: &str) -> Result<bool, HookError> {
    #[cfg(target_arch = "wasm32")]
    {
        host::revoke(session_id).map_err(host::error)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = session_id;
        outside_sandbox()
    }
}

/// Revokes every session of `user_id`, except the caller's current one when
/// `keep_current` is true. Returns how many were revoked.
pub fn revoke_all_for_user(user_id: &str, keep_current: bool) -> Result<u32, HookError> {
    #[cfg(target_arch = "wasm32")]
    {
        host::revoke_all_for_user(user_id, keep_current).map_err(host::error)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (user_id, keep_current);
        outside_sandbox()
    }
}

/// Gives the caller's current session a new token. The old token stops
/// working at once and the host sends the new one to the client in the
/// response (`sessionToken`), which the Parse SDKs adopt automatically.
pub fn rotate_current() -> Result<(), HookError> {
    #[cfg(target_arch = "wasm32")]
    {
        host::rotate_current().map_err(host::error)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        outside_sandbox()
    }
}
