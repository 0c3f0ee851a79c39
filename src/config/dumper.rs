//! A dumper's validated configuration, its defaults and bounds, and the short session id
//! that goes into file names.

use crate::probes::rss_split::SmapsRollupPolicy;

use super::allocation_profile::AllocationProfileConfig;
use super::heap_snapshot::HeapSnapshotConfig;
use super::trigger::Trigger;

use std::path::PathBuf;

pub const DEFAULT_MAX_DUMPS_PER_SESSION: u32 = 3;
pub const DEFAULT_COOLDOWN_MS: u64 = 30_000;
pub const DEFAULT_MAX_FILES: u32 = 20;
/// Upper bounds exist so that a typo (an extra zero, a timestamp in the wrong field)
/// is caught instead of silently disabling the disk-safety limits.
pub const MAX_DUMPS_PER_SESSION_LIMIT: u32 = 1_000_000;
pub const MAX_COOLDOWN_MS: u64 = 7 * 24 * 3600 * 1000;
pub const MAX_FILES_LIMIT: u32 = 100_000;
/// Free-text options end up in every dump; keep them to a size a person reads.
pub const MAX_TEXT_OPTION_CHARS: usize = 1024;
/// Characters of the session id that go into file names.
pub const SESSION_SHORT_LEN: usize = 8;

pub const DEFAULT_HARD_SUGGESTION: &str = "Memory use is high. Save your work and consider starting a new session or closing large files and long conversations to release memory.";
pub const DEFAULT_CRITICAL_SUGGESTION: &str = "Memory is critically low and the process may be killed soon. Save your work and restart the application; if this keeps happening, attach this diagnostics file to a bug report.";

pub const DEFAULT_WATCHDOG_SUGGESTION: &str = "Memory grew while the application stopped responding (its event loop was blocked). Save your work and restart it; attach this file and the recorder file to a bug report.";

pub const DEFAULT_PRESSURE_SUGGESTION: &str = "The process's memory neared the limit that ends it (the kernel's, or its job's), whatever its JavaScript heap showed. Save your work and restart it; attach this file and the recorder file to a bug report.";

/// The short session id of an id with no letter, digit or underscore.
pub const NO_SESSION_SHORT: &str = "nosessn";

/// Validated dumper configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DumperConfig {
    pub directory: PathBuf,
    pub max_dumps_per_session: u32,
    pub cooldown_ms: u64,
    pub max_files: u32,
    pub app_version: Option<String>,
    pub suggestions: Suggestions,
    /// The flight recorder; also started (with defaults) when only a watchdog is asked for.
    pub recorder: Option<crate::config::RecorderConfig>,
    pub watchdog: Option<crate::config::WatchdogConfig>,
    /// When phase 2 reads `/proc/self/smaps_rollup` (a page-table walk).
    pub smaps_rollup: SmapsRollupPolicy,
    /// The host supplied its own millisecond clock (`options.now`).
    pub host_clock: bool,
    /// When phase 2 calls glibc's `mallinfo2` (it holds malloc's locks while it walks).
    pub mallinfo: crate::probes::malloc::MallinfoPolicy,
    /// The opt-in heap snapshot; `None` (the default) takes none.
    pub heap_snapshot: Option<HeapSnapshotConfig>,
    /// The allocation profile `lib/dumper/allocation-profile.js` keeps (`options.allocationProfile`).
    pub allocation_profile: Option<AllocationProfileConfig>,
    /// The recorder's own dumps near the effective limit (on wherever the recorder runs,
    /// unless `pressure: false`).
    pub pressure: Option<crate::config::PressureConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Suggestions {
    pub hard: String,
    pub critical: String,
    pub manual: Option<String>,
}

impl Suggestions {
    pub fn for_trigger(&self, t: Trigger) -> Option<&str> {
        match t {
            Trigger::Hard => Some(&self.hard),
            Trigger::Critical => Some(&self.critical),
            Trigger::Manual => self.manual.as_deref(),
            Trigger::Watchdog => Some(DEFAULT_WATCHDOG_SUGGESTION),
            Trigger::Pressure => Some(DEFAULT_PRESSURE_SUGGESTION),
        }
    }
}

/// The short, file-name-safe form of a session id: its first eight ASCII letters, digits
/// or underscores, skipping everything else. An id with none of those becomes `nosessn`
/// so that the file name keeps its shape (and its parser keeps working).
pub fn short_session_id(session_id: &str) -> String {
    let short: String = session_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(SESSION_SHORT_LEN)
        .collect();
    if short.is_empty() {
        NO_SESSION_SHORT.to_string()
    } else {
        short
    }
}
