//! Errors the library reports, typed by what the user can do about them.
//!
//! [`InputError`] means the user asked for something that cannot run — a file
//! that is not a plan, an unknown test case, a bad parameter — and the message
//! says what would be right. [`Error`] is what the library's entry points
//! return: bad input, or a failure of the host itself (with its context).
//! The command line's exit code is [`Error::exit_code`], decided by the
//! variant, never by inspecting a message or a chain of causes.
//!
//! Inside the library, `anyhow` carries context for host failures; a function
//! that can find bad input returns [`Result`], so that the input error reaches
//! the entry point as itself.

/// Something wrong with what the user gave; the message says what would be right.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(String);

impl InputError {
    /// An input error with `message`.
    pub fn new(message: impl Into<String>) -> InputError {
        InputError(message.into())
    }

    /// What is wrong, and what would be right.
    pub fn message(&self) -> &str {
        &self.0
    }
}

/// Why a call into the library failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What the user gave cannot run.
    #[error(transparent)]
    Input(#[from] InputError),
    /// tg-wasm itself failed; the chain says where.
    #[error("{0:#}")]
    Host(#[from] anyhow::Error),
}

impl Error {
    /// Bad input saying `message`.
    pub fn input(message: impl Into<String>) -> Error {
        Error::Input(InputError::new(message))
    }

    /// Whether the user can fix it by changing what they gave.
    pub fn is_input(&self) -> bool {
        matches!(self, Error::Input(_))
    }

    /// The exit code the command line ends with: 2 for bad input, 3 for a
    /// failure of tg-wasm itself (see `tg-wasm --help`).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Input(_) => 2,
            Error::Host(_) => 3,
        }
    }

    /// Adds `context` to a host failure; bad input keeps its own words, which
    /// already say what to fix.
    pub fn context(self, context: impl std::fmt::Display + Send + Sync + 'static) -> Error {
        match self {
            Error::Input(e) => Error::Input(e),
            Error::Host(e) => Error::Host(e.context(context)),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Host(e.into())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::Host(e.into())
    }
}

impl From<wasmtime::Error> for Error {
    fn from(e: wasmtime::Error) -> Error {
        Error::Host(anyhow::Error::from(e))
    }
}

/// The library's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shorthand: fail with an [`InputError`] made from a format string.
#[macro_export]
macro_rules! bad_input {
    ($($arg:tt)*) => {
        return Err($crate::error::InputError::new(format!($($arg)*)).into())
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_code_follows_the_variant() {
        assert_eq!(Error::input("no such test case").exit_code(), 2);
        assert_eq!(Error::from(anyhow::anyhow!("disk full")).exit_code(), 3);
    }

    #[test]
    fn context_is_added_to_host_failures_only() {
        let input = Error::input("--instances must be at least 1").context("starting the run");
        assert_eq!(input.to_string(), "--instances must be at least 1");
        let host = Error::from(anyhow::anyhow!("disk full")).context("writing summary.json");
        assert_eq!(host.to_string(), "writing summary.json: disk full");
    }
}
