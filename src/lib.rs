//! memory-diagnostics-dumper: writes memory diagnostics to disk the moment a Node.js
//! process comes under memory pressure.
//!
//! The `binding` module (with `settler`, which settles its promises) is the only one that
//! knows about Node-API; everything else is plain Rust with its own unit tests, so
//! `cargo test` exercises the core without Node.

#![deny(clippy::all)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod allocation_profile;
pub mod analysis;
pub mod binding;
pub mod config;
#[cfg(test)]
mod contract;
pub mod dump;
pub mod format;
pub mod heap_snapshot;
pub mod places;
pub mod probes;
pub mod recorder;
pub mod report;
pub mod test_hooks;
pub mod timefmt;
pub mod writer;
