//! A dumper's options: read from the host's object (`raw`), checked (`validate`) into a
//! configuration (`dumper`, with one file per feature's options), or refused with an
//! error that names the field (`error`).
//!
//! Validation lives here rather than in the binding so that every limit (and its error
//! message) is unit-tested without Node, and the JS fallback's `lib/fallback/config.js` follows the
//! same order (`tests/fixtures/golden/options.json`).

pub mod allocation_profile;
pub mod dumper;
pub mod error;
pub mod heap_snapshot;
pub mod raw;
pub mod recorder;
pub mod trigger;
pub mod validate;

pub use allocation_profile::*;
pub use dumper::*;
pub use error::*;
pub use heap_snapshot::*;
pub use raw::*;
pub use recorder::*;
pub use trigger::*;
pub use validate::*;

#[cfg(test)]
mod tests;
