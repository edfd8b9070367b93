//! The one error type of the API. Every failure a request can meet ends up
//! here; `http::error` alone turns it into Parse's JSON and HTTP status.

use crate::auth::password::PasswordError;
use crate::sandbox::SandboxError;
use crate::store::StoreError;

/// Parse error codes (values from the Parse SDKs' `ParseError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Code {
    InternalServerError = 1,
    ObjectNotFound = 101,
    InvalidQuery = 102,
    InvalidClassName = 103,
    InvalidKeyName = 105,
    InvalidJson = 107,
    IncorrectType = 111,
    OperationForbidden = 119,
    InvalidAcl = 123,
    InvalidEmailAddress = 125,
    Timeout = 124,
    ScriptFailed = 141,
    UsernameMissing = 200,
    PasswordMissing = 201,
    UsernameTaken = 202,
    EmailTaken = 203,
    SessionMissing = 206,
    RequestLimitExceeded = 155,
    InvalidSessionToken = 209,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Wrong application id, client key or master key: Parse answers 403
    /// `{"error":"unauthorized"}` without a code.
    #[error("unauthorized")]
    Unauthorized,
    /// An ordinary Parse error: a code and a message safe to show the client.
    #[error("{message}")]
    Parse { code: Code, message: String },
    #[error("request body too large")]
    BodyTooLarge,
    /// The client did not send the whole body in time.
    #[error("The request body did not arrive in time.")]
    BodyTimeout,
    /// A plain-HTTP request that the transport policy refuses.
    #[error("HTTPS is required.")]
    HttpsRequired,
    /// A fault of the server, not of the request: logged, never detailed to the client.
    /// An error a hook returned on purpose: its code and message go to the client.
    #[error("{message}")]
    Hook { code: u32, message: String },
    /// A hook that trapped, timed out, ran out of memory or returned garbage:
    /// 141 with a generic message; the detail is logged.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn parse(code: Code, message: impl Into<String>) -> Self {
        Error::Parse {
            code,
            message: message.into(),
        }
    }

    /// The one answer for unknown, malformed, expired and revoked tokens.
    pub fn invalid_session() -> Self {
        Self::parse(Code::InvalidSessionToken, "Invalid session token")
    }

    pub fn session_required() -> Self {
        Self::parse(Code::InvalidSessionToken, "Session token required.")
    }

    pub fn not_found() -> Self {
        Self::parse(Code::ObjectNotFound, "Object not found.")
    }

    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::parse(Code::InvalidJson, message)
    }

    pub fn invalid_key(key: &str) -> Self {
        Self::parse(Code::InvalidKeyName, format!("Invalid field name: {key}."))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::parse(Code::OperationForbidden, message)
    }

    pub fn incorrect_type(message: impl Into<String>) -> Self {
        Self::parse(Code::IncorrectType, message)
    }

    /// A hook's own error. Code 1 is the server's (and would make the SDKs
    /// retry), so a hook using it is reported as 141.
    pub fn hook(code: u32, message: impl Into<String>) -> Self {
        let code = if code == Code::InternalServerError as u32 {
            Code::ScriptFailed as u32
        } else {
            code
        };
        let message = message.into();
        let message =
            crate::sandbox::truncate(&message, crate::sandbox::MAX_ERROR_MESSAGE).to_string();
        Error::Hook { code, message }
    }

    /// The Parse code this error is reported with (`None` for the plain
    /// 403 `unauthorized`).
    pub fn code(&self) -> Option<u32> {
        match self {
            Error::Unauthorized => None,
            Error::BodyTooLarge => Some(Code::InvalidJson as u32),
            Error::BodyTimeout => Some(Code::Timeout as u32),
            Error::HttpsRequired => Some(Code::OperationForbidden as u32),
            Error::Parse { code, .. } => Some(*code as u32),
            Error::Hook { code, .. } => Some(*code),
            Error::Sandbox(_) => Some(Code::ScriptFailed as u32),
            Error::Store(_) | Error::Password(_) => Some(Code::InternalServerError as u32),
        }
    }
}
