//! An invalid argument: which field, what was expected, what was given. Messages always
//! name the field, because the host developer reads them once, in a stack trace, and must
//! be able to fix the call from that line alone.

use std::fmt;

/// An invalid argument: which field, what was expected, what was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidArg {
    pub field: String,
    pub expected: String,
    pub got: String,
}

impl InvalidArg {
    pub fn new(
        field: impl Into<String>,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Self {
        InvalidArg {
            field: field.into(),
            expected: expected.into(),
            got: got.into(),
        }
    }
}

impl fmt::Display for InvalidArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, got {}",
            self.field, self.expected, self.got
        )
    }
}

impl std::error::Error for InvalidArg {}
