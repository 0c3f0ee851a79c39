//! memory-diagnostics-dumper: writes memory diagnostics to disk the moment a Node.js
//! process comes under memory pressure.
//!
//! The folders follow one dump (docs/architecture.md walks it file by file):
//! - [`binding`]: the only module that knows Node-API; it converts values, and its
//!   `settler` settles the promises from the background thread;
//! - [`config`]: the options, read and validated;
//! - [`dump`]: admission, phase 1 on the caller's thread, phase 2 on the background
//!   thread (`collect`, `enrich`, the replace), and the facts the analysis reads;
//! - [`probes`]: each source of facts, read from a root path tests point at fixtures;
//! - [`analysis`]: the accounting, the growth and the risk rules;
//! - [`writer`]: file names, the directory, the armed phase-1 file, the write path,
//!   retention and locks;
//! - [`recorder`]: the flight recorder's thread, its trail, the watchdog and the stack
//!   capture of a blocked loop;
//! - [`heap_snapshot`] and [`allocation_profile`]: what follows a dump when the options
//!   ask for it;
//! - [`report`] (the document), [`places`] (the one redaction rule for names from the
//!   runtime), [`format`](mod@format) and [`timefmt`]: shared by all of them;
//! - `contract` (test builds only): `lib/contract.json`, the goldens both implementations
//!   are held to, the JSON Schema and the layering test.
//!
//! Everything but `binding` is plain Rust with its own unit tests, so `cargo test`
//! exercises the core without Node.

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
