//! Parse error codes: a leaf every layer may name (the sandbox shapes hook
//! errors with them) without depending on the error type ([`crate::error`]).

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
    ChangedImmutableField = 136,
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
    ClassNotEmpty = 255,
}
