//! Errors the library reports to the command line.
//!
//! [`InputError`] means the user asked for something that cannot run — a file
//! that is not a plan, an unknown test case, a bad parameter — and maps to exit
//! code 2 with one line saying what is wrong and what would be right. Anything
//! else that fails is a failure of the host, reported with its context.

/// Something wrong with what the user gave; the message says what would be right.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

impl InputError {
    /// An input error with `message`.
    pub fn new(message: impl Into<String>) -> InputError {
        InputError(message.into())
    }
}

/// Shorthand: fail with an [`InputError`].
#[macro_export]
macro_rules! bad_input {
    ($($arg:tt)*) => {
        return Err($crate::error::InputError::new(format!($($arg)*)).into())
    };
}
