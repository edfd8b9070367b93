//! How hook invocations fail, shaped inside the sandbox: the detail for
//! the log ([`SandboxError`]) and what a client may see ([`FunctionError`]).
//! A leaf: the crate's error type converts from these, never the reverse.

use crate::code::Code;
use crate::metrics::Outcome;

/// Longest hook error message passed on to clients.
pub const MAX_ERROR_MESSAGE: usize = 1024;

/// Why an invocation failed. Clients only ever see a generic 141; this
/// detail goes to the log.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("hook {hook} ran out of time")]
    Timeout { hook: String },
    #[error("hook {hook} trapped: {reason}")]
    Trap { hook: String, reason: String },
    #[error("hook {hook} ran out of memory (its limit is --hook-memory-mib)")]
    OutOfMemory { hook: String },
    #[error("hook {hook} returned an unusable result: {reason}")]
    BadOutput { hook: String, reason: String },
    #[error("no sandbox slot became free in time")]
    Busy,
}

impl SandboxError {
    /// The failure as the metrics count it.
    pub fn outcome(&self) -> Outcome {
        match self {
            SandboxError::Timeout { .. } => Outcome::Timeout,
            SandboxError::Trap { .. } | SandboxError::BadOutput { .. } => Outcome::Trap,
            SandboxError::OutOfMemory { .. } => Outcome::OutOfMemory,
            SandboxError::Busy => Outcome::Busy,
        }
    }
}

/// Why a cloud function gave no result.
#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    /// No hook serves this name.
    #[error("Invalid function: \"{0}\"")]
    Unknown(String),
    /// The hook's own error, shaped for clients ([`FunctionError::hook`]).
    #[error("{message}")]
    Hook { code: u32, message: String },
    /// The hook failed (trap, timeout, no slot, bad result): the detail is
    /// for the log; clients get 141.
    #[error(transparent)]
    Failed(#[from] SandboxError),
}

impl FunctionError {
    /// A hook's own error as clients get it ([`client_error`]).
    pub(super) fn hook(code: u32, message: &str) -> Self {
        let (code, message) = client_error(code, message);
        FunctionError::Hook { code, message }
    }
}

/// A hook's own error as clients get it (functions and before-login
/// alike): code 1 is the server's (the SDKs retry it), so a hook using it
/// is reported as 141; the message is cut to [`MAX_ERROR_MESSAGE`] bytes.
pub(super) fn client_error(code: u32, message: &str) -> (u32, String) {
    let code = if code == Code::InternalServerError as u32 {
        Code::ScriptFailed as u32
    } else {
        code
    };
    (code, truncate(message, MAX_ERROR_MESSAGE).to_string())
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
