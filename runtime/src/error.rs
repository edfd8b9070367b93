//! The one error type of the API. Every failure a request can meet ends up
//! here, with its Parse code and HTTP status; `http::error` only writes it
//! out as Parse's JSON.

pub use crate::code::Code;
use crate::password::PasswordError;
use crate::sandbox::LoginRefused;
use crate::sandbox::failure::{FunctionError, SandboxError};
use crate::store::StoreError;

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
    /// A route that exists, called with a method it does not take.
    #[error("Method {method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
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

impl From<FunctionError> for Error {
    fn from(error: FunctionError) -> Self {
        match error {
            unknown @ FunctionError::Unknown(_) => {
                Error::parse(Code::ScriptFailed, unknown.to_string())
            }
            FunctionError::Hook { code, message } => Error::Hook { code, message },
            FunctionError::Failed(failure) => Error::Sandbox(failure),
        }
    }
}

impl From<LoginRefused> for Error {
    fn from(refused: LoginRefused) -> Self {
        match refused {
            LoginRefused::Hook { code, message } => Error::Hook { code, message },
            LoginRefused::Failed(failure) => Error::Sandbox(failure),
        }
    }
}

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

    /// The Parse code this error is reported with (`None` for the plain
    /// 403 `unauthorized`).
    pub fn code(&self) -> Option<u32> {
        match self {
            Error::Unauthorized => None,
            Error::BodyTooLarge => Some(Code::InvalidJson as u32),
            Error::BodyTimeout => Some(Code::Timeout as u32),
            Error::MethodNotAllowed { .. } => Some(Code::InvalidJson as u32),
            Error::HttpsRequired => Some(Code::OperationForbidden as u32),
            Error::Parse { code, .. } => Some(*code as u32),
            Error::Hook { code, .. } => Some(*code),
            Error::Sandbox(_) => Some(Code::ScriptFailed as u32),
            Error::Store(_) | Error::Password(_) => Some(Code::InternalServerError as u32),
        }
    }

    /// The message a client gets: internal failures and sandbox failures
    /// say only that they happened (their details are for the log).
    pub fn client_message(&self) -> String {
        match self {
            Error::Store(_) | Error::Password(_) => "Internal server error.".to_string(),
            Error::Sandbox(_) => "Cloud Code failed.".to_string(),
            other => other.to_string(),
        }
    }

    /// The HTTP status it is answered with: Parse's (101 is 404, 1 is 500,
    /// 155 is 429, the rest 400), except where the failure is the
    /// transport's.
    pub fn status(&self) -> u16 {
        match self {
            Error::Unauthorized | Error::HttpsRequired => 403,
            Error::MethodNotAllowed { .. } => 405,
            Error::BodyTimeout => 408,
            Error::BodyTooLarge => 413,
            _ => match self.code() {
                Some(c) if c == Code::InternalServerError as u32 => 500,
                Some(c) if c == Code::ObjectNotFound as u32 => 404,
                Some(c) if c == Code::RequestLimitExceeded as u32 => 429,
                _ => 400,
            },
        }
    }
}
