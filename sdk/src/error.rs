/// Parse error codes a hook commonly returns.
pub mod codes {
    /// The requested object does not exist (HTTP 404).
    pub const OBJECT_NOT_FOUND: u32 = 101;
    /// The operation is not allowed.
    pub const OPERATION_FORBIDDEN: u32 = 119;
    /// The script failed: the default for hook errors.
    pub const SCRIPT_FAILED: u32 = 141;
    /// Validation of the input failed.
    pub const VALIDATION_ERROR: u32 = 142;
    /// The caller has no valid session.
    pub const INVALID_SESSION_TOKEN: u32 = 209;
}

/// An error returned to the client as `{"code": code, "error": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookError {
    /// A Parse error code (see [`codes`]). Code 1 (internal error) is reserved
    /// for the server and reported as 141.
    pub code: u32,
    /// A message for the client. Do not put secrets in it.
    pub message: String,
}

impl HookError {
    /// An error with any Parse code.
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Code 141, "script failed".
    pub fn script_failed(message: impl Into<String>) -> Self {
        Self::new(codes::SCRIPT_FAILED, message)
    }

    /// Code 119, "operation forbidden".
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(codes::OPERATION_FORBIDDEN, message)
    }

    /// Code 142, "validation error": for bad parameters.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(codes::VALIDATION_ERROR, message)
    }
}

impl std::fmt::Display for HookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for HookError {}

/// So that `?` works on JSON (de)serialisation in a hook: the client gets
/// 141 with the JSON error's message (which names no value, only where the
/// input was wrong).
impl From<serde_json::Error> for HookError {
    fn from(error: serde_json::Error) -> Self {
        Self::script_failed(format!("Invalid JSON: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_convert_with_question_mark() {
        fn parse(text: &str) -> Result<u32, HookError> {
            Ok(serde_json::from_str::<u32>(text)?)
        }
        let error = parse("\"seven\"").unwrap_err();
        assert_eq!(error.code, codes::SCRIPT_FAILED);
        assert!(error.message.starts_with("Invalid JSON: "), "{error}");
        assert_eq!(parse("7"), Ok(7));
    }

    #[test]
    fn typed_parameters_or_a_validation_error() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Args {
            name: String,
            #[serde(default)]
            keep_current: bool,
        }
        let args: Args = crate::params(serde_json::json!({"name": "Ada"})).unwrap();
        assert_eq!(
            args,
            Args {
                name: "Ada".into(),
                keep_current: false
            }
        );
        let error = crate::params::<Args>(serde_json::json!({"name": 7})).unwrap_err();
        assert_eq!(error.code, codes::VALIDATION_ERROR);
        assert!(error.message.starts_with("Invalid parameters: "), "{error}");
    }
}
