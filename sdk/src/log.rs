//! Logging into the server's log. Lines are tagged with the hook and
//! truncated; a hook may write a bounded number of lines per call.
//!
//! Natively (outside the sandbox) lines go to standard error.

fn write(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::__bindings::cloudcode::hooks::log;
        let level = match level {
            Level::Debug => log::Level::Debug,
            Level::Info => log::Level::Info,
            Level::Warn => log::Level::Warn,
            Level::Error => log::Level::Error,
        };
        log::write(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

#[derive(Debug, Clone, Copy)]
enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// Logs a debug line.
pub fn debug(message: &str) {
    write(Level::Debug, message)
}

/// Logs an informational line.
pub fn info(message: &str) {
    write(Level::Info, message)
}

/// Logs a warning.
pub fn warn(message: &str) {
    write(Level::Warn, message)
}

/// Logs an error.
pub fn error(message: &str) {
    write(Level::Error, message)
}
