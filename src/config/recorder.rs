//! `options.recorder` and `options.watchdog`: the flight recorder's interval and ring, and
//! the watchdog's thresholds.

pub const MIN_INTERVAL_MS: u64 = 10;
pub const MAX_INTERVAL_MS: u64 = 3_600_000;
pub const MAX_SAMPLES: u32 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecorderConfig {
    pub interval_ms: u64,
    pub samples: u32,
}

pub const DEFAULT_INTERVAL_MS: u64 = 1000;
pub const DEFAULT_SAMPLES: u32 = 120;
/// The watchdog's default stall: JS silent this long while memory is over the threshold.
pub const DEFAULT_STALL_MS: u64 = 5000;

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            interval_ms: DEFAULT_INTERVAL_MS,
            samples: DEFAULT_SAMPLES,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatchdogConfig {
    /// Fire at this share of the effective memory limit...
    pub rss_ratio: Option<f64>,
    /// ...or at this many bytes of RSS (the smaller threshold wins when both are set).
    pub rss_bytes: Option<u64>,
    /// ...once neither `observe()` nor `dump()` has been called for this long.
    pub stall_ms: u64,
    /// Record the main thread's JS stack in the watchdog's dump (the `stack_capture`
    /// module; a helper thread started by `lib/dumper/stack-helper.js` answers the request).
    pub capture_stack: bool,
}
