//! memory-diagnostics-dumper: writes memory diagnostics to disk the moment a Node.js
//! process comes under memory pressure.
//!
//! The `binding` module (with `settler`, which settles its promises) is the only one that
//! knows about Node-API; everything else is plain Rust with its own unit tests, so
//! `cargo test` exercises the core without Node.

#![deny(clippy::all)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod accounting;
pub mod admission;
pub mod allocation;
pub mod analysis;
pub mod background;
pub mod binding;
pub mod collector;
#[cfg(test)]
mod contract;
pub mod dumper;
pub mod facts;
pub mod filelock;
pub mod format;
#[cfg(test)]
mod goldens;
pub mod input;
#[cfg(test)]
mod layering;
pub mod options;
pub mod places;
pub mod probes;
pub mod recorder;
pub mod report;
#[cfg(test)]
mod schema;
pub mod settler;
pub mod snapshot_redact;
pub mod snapshot_take;
pub mod stack_capture;
pub mod test_hooks;
pub mod timefmt;
pub mod writer;
