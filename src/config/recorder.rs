//! `options.recorder`, `options.watchdog` and `options.pressure`: the flight recorder's
//! interval and ring, the watchdog's thresholds, and the pressure rule's.

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

/// `options.pressure`: when the recorder thread dumps on its own, as the memory that counts
/// against the effective limit nears it (`recorder::pressure` says what counts and why).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PressureConfig {
    /// Fire at this share of the effective limit.
    pub ratio: f64,
    /// Fire when PSI `full` avg10 (percent) reaches this, past
    /// `recorder::pressure::PSI_FLOOR` of the limit; `None`: PSI is not watched.
    pub psi_full: Option<f64>,
    /// Fire when the latest growth would reach `ratio` within this many milliseconds;
    /// `None`: growth is not watched.
    pub within_ms: Option<u64>,
}

pub const DEFAULT_PRESSURE_RATIO: f64 = 0.9;
/// The lowest and highest `pressure.ratio`: under half the limit is no longer "near" it
/// (a host at rest would dump), and at the limit itself the kill comes first.
pub const MIN_PRESSURE_RATIO: f64 = 0.5;
pub const MAX_PRESSURE_RATIO: f64 = 0.99;
pub const DEFAULT_PSI_FULL: f64 = 10.0;
pub const MIN_WITHIN_MS: u64 = 1_000;
/// The default lead of the growth rule: at the default interval (1 s) a ramp of 50 MiB/s to
/// a 256 MiB limit crosses the last tenth between two samples (an outside test missed it in
/// 3 of 4 runs without the rule); growth is judged only past 75% of the limit.
pub const DEFAULT_WITHIN_MS: u64 = 5_000;

impl Default for PressureConfig {
    fn default() -> Self {
        PressureConfig {
            ratio: DEFAULT_PRESSURE_RATIO,
            psi_full: Some(DEFAULT_PSI_FULL),
            within_ms: Some(DEFAULT_WITHIN_MS),
        }
    }
}
