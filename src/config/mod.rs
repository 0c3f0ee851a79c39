//! Dumper options after validation, and the rules that validate them.
//!
//! Validation lives here rather than in the binding so that every limit (and its error
//! message) is unit-tested without Node. Messages always name the field and say what was
//! expected, because the host developer reads them once, in a stack trace, and must be
//! able to fix the call from that line alone.
//!
//! Length: about 730 lines of code and 410 of unit tests: every option's rule and message
//! in one place, each tested beside it, so the file stays whole.

use std::fmt;
use std::path::PathBuf;

use crate::probes::rss_split::{SmapsRollupPolicy, DEFAULT_SMAPS_ROLLUP_MAX_RSS_BYTES};

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
/// Byte counts above 2^53 cannot come from JS exactly.
pub const MAX_SAFE_BYTES: u64 = 9_007_199_254_740_991;

pub const DEFAULT_HARD_SUGGESTION: &str = "Memory use is high. Save your work and consider starting a new session or closing large files and long conversations to release memory.";
pub const DEFAULT_CRITICAL_SUGGESTION: &str = "Memory is critically low and the process may be killed soon. Save your work and restart the application; if this keeps happening, attach this diagnostics file to a bug report.";

pub const DEFAULT_WATCHDOG_SUGGESTION: &str = "Memory grew while the application stopped responding (its event loop was blocked). Save your work and restart it; attach this file and the recorder file to a bug report.";

/// Why a dump was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The host's monitor saw hard pressure.
    Hard,
    /// The host's monitor saw critical pressure.
    Critical,
    /// The host asked for a dump outside its pressure levels (a debug command, say).
    Manual,
    /// The native watchdog: memory crossed its threshold while JS was silent. Never
    /// accepted from JS.
    Watchdog,
}

impl Trigger {
    pub const ACCEPTED: &'static str = "'hard', 'critical' or 'manual'";

    pub fn parse(s: &str) -> Option<Trigger> {
        match s {
            "hard" => Some(Trigger::Hard),
            "critical" => Some(Trigger::Critical),
            "manual" => Some(Trigger::Manual),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Hard => "hard",
            Trigger::Critical => "critical",
            Trigger::Manual => "manual",
            Trigger::Watchdog => "watchdog",
        }
    }
}

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

/// What a JS value looked like, as far as validation cares.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum RawValue {
    #[default]
    Missing,
    Number(f64),
    Text(String),
    Bool(bool),
    /// Any other type, by its `typeof` name (`object`, `function`, `bigint`, `null`, ...).
    Other(&'static str),
    /// An options object read whole: its own enumerable keys in `Object.keys` order.
    Object(Vec<(String, RawValue)>),
    /// An array read whole (the triggers list).
    List(Vec<RawValue>),
}

impl RawValue {
    /// A short description for error messages, never echoing long strings back.
    pub fn describe(&self) -> String {
        match self {
            RawValue::Missing => "undefined".into(),
            RawValue::Number(n) => crate::format::number_text(*n),
            RawValue::Text(s) if s.chars().count() <= 40 => crate::format::quote(s),
            RawValue::Text(s) => format!("a string of {} characters", s.chars().count()),
            RawValue::Bool(b) => format!("{b}"),
            RawValue::Other(t) => (*t).into(),
            RawValue::Object(_) => "object".into(),
            RawValue::List(_) => "array".into(),
        }
    }

    /// The value's kind with its article, for "expected an object, got a number".
    pub fn type_name(&self) -> String {
        match self {
            RawValue::Missing => "undefined",
            RawValue::Number(_) => "a number",
            RawValue::Text(_) => "a string",
            RawValue::Bool(_) => "a boolean",
            RawValue::Object(_) | RawValue::Other("object") => "an object",
            RawValue::List(_) | RawValue::Other("array") => "an array",
            RawValue::Other("null") => "null",
            RawValue::Other("function") => "a function",
            RawValue::Other("bigint") => "a bigint",
            RawValue::Other("symbol") => "a symbol",
            RawValue::Other(_) => "an unknown value",
        }
        .into()
    }

    fn get(&self, key: &str) -> &RawValue {
        match self {
            RawValue::Object(kv) => kv
                .iter()
                .find(|(k, _)| k == key)
                .map_or(&RawValue::Missing, |(_, v)| v),
            _ => &RawValue::Missing,
        }
    }
}

/// The short session id of an id with no letter, digit or underscore.
pub const NO_SESSION_SHORT: &str = "nosessn";
/// Items of a list option read at most (`heapSnapshot.triggers`): a longer array is not a
/// list of triggers and is refused whole.
pub const MAX_LIST_ITEMS: usize = 16;

/// The nested option objects, in the order their shape is checked.
const NESTED: &[(&str, &[&str])] = &[
    ("suggestions", SUGGESTION_KEYS),
    ("recorder", RECORDER_KEYS),
    ("watchdog", WATCHDOG_KEYS),
    ("heapSnapshot", HEAP_SNAPSHOT_KEYS),
    ("allocationProfile", ALLOCATION_PROFILE_KEYS),
];

/// The host's options object, read whole by the binding (or the fallback), checked for
/// its shape: the object itself, its unknown keys, then each nested object's type and
/// unknown keys in the order of `NESTED`. Values are checked after, by [`validate`], in
/// its order. Both implementations follow this order, so the first error is the same
/// (`tests/fixtures/golden/options.json`).
pub fn from_tree(tree: &RawValue) -> Result<RawOptions, InvalidArg> {
    let RawValue::Object(top) = tree else {
        return Err(InvalidArg::new("options", "an object", tree.type_name()));
    };
    let keys: Vec<&str> = top.iter().map(|(k, _)| k.as_str()).collect();
    check_keys("options", &keys, OPTION_KEYS)?;
    let mut nested: Vec<Option<&RawValue>> = Vec::with_capacity(NESTED.len());
    for (key, known) in NESTED {
        let v = tree.get(key);
        nested.push(match v {
            RawValue::Missing | RawValue::Other("null") => None,
            RawValue::Object(kv) => {
                let keys: Vec<&str> = kv.iter().map(|(k, _)| k.as_str()).collect();
                check_keys(&format!("options.{key}"), &keys, known)?;
                Some(v)
            }
            // `allocationProfile: true` is checked with the values.
            _ if *key == "allocationProfile" => None,
            other => {
                return Err(InvalidArg::new(
                    format!("options.{key}"),
                    "an object",
                    other.type_name(),
                ))
            }
        });
    }
    let sub = |i: usize, key: &str| nested[i].map_or(RawValue::Missing, |o| o.get(key).clone());
    let prop = |key: &str| tree.get(key).clone();
    let heap = nested[3];
    let alloc = match tree.get("allocationProfile") {
        RawValue::Object(_) => RawValue::Other("object"),
        other => other.clone(),
    };
    Ok(RawOptions {
        directory: prop("directory"),
        session_id: prop("sessionId"),
        max_dumps_per_session: prop("maxDumpsPerSession"),
        cooldown_ms: prop("cooldownMs"),
        max_files: prop("maxFiles"),
        app_version: prop("appVersion"),
        suggestion_hard: sub(0, "hard"),
        suggestion_critical: sub(0, "critical"),
        suggestion_manual: sub(0, "manual"),
        recorder: nested[1].is_some(),
        recorder_interval_ms: sub(1, "intervalMs"),
        recorder_samples: sub(1, "samples"),
        watchdog: nested[2].is_some(),
        watchdog_rss_ratio: sub(2, "rssRatio"),
        watchdog_rss_bytes: sub(2, "rssBytes"),
        watchdog_stall_ms: sub(2, "stallMs"),
        watchdog_capture_stack: sub(2, "captureStack"),
        smaps_rollup: prop("smapsRollup"),
        smaps_rollup_max_rss_bytes: prop("smapsRollupMaxRssBytes"),
        now: prop("now"),
        mallinfo: prop("mallinfo"),
        heap_snapshot: heap.is_some(),
        heap_snapshot_triggers: match heap.map(|h| h.get("triggers")) {
            None | Some(RawValue::Missing) => Err(RawValue::Missing),
            Some(RawValue::List(items)) => Ok(items.clone()),
            Some(other) => Err(other.clone()),
        },
        heap_snapshot_max_per_session: sub(3, "maxPerSession"),
        heap_snapshot_max_bytes: sub(3, "maxBytes"),
        heap_snapshot_redact: sub(3, "redact"),
        allocation_profile: alloc,
        allocation_profile_sampling_interval_bytes: sub(4, "samplingIntervalBytes"),
        allocation_profile_max_sites: sub(4, "maxSites"),
    })
}

/// Options as given by the host, before validation.
#[derive(Debug, Clone)]
pub struct RawOptions {
    pub directory: RawValue,
    pub session_id: RawValue,
    pub max_dumps_per_session: RawValue,
    pub cooldown_ms: RawValue,
    pub max_files: RawValue,
    pub app_version: RawValue,
    pub suggestion_hard: RawValue,
    pub suggestion_critical: RawValue,
    pub suggestion_manual: RawValue,
    /// `options.recorder` is present (an object).
    pub recorder: bool,
    pub recorder_interval_ms: RawValue,
    pub recorder_samples: RawValue,
    /// `options.watchdog` is present (an object).
    pub watchdog: bool,
    pub watchdog_rss_ratio: RawValue,
    pub watchdog_rss_bytes: RawValue,
    pub watchdog_stall_ms: RawValue,
    pub watchdog_capture_stack: RawValue,
    pub smaps_rollup: RawValue,
    pub smaps_rollup_max_rss_bytes: RawValue,
    /// `options.now`: a clock function for host tests (fake timers).
    pub now: RawValue,
    pub mallinfo: RawValue,
    /// `options.heapSnapshot` is present (an object).
    pub heap_snapshot: bool,
    /// `options.heapSnapshot.triggers`: the array's items, or the value when it is not an
    /// array (`Err(RawValue::Missing)`: not given).
    pub heap_snapshot_triggers: Result<Vec<RawValue>, RawValue>,
    pub heap_snapshot_max_per_session: RawValue,
    pub heap_snapshot_max_bytes: RawValue,
    pub heap_snapshot_redact: RawValue,
    /// `options.allocationProfile`: `true`/`false`, or `Other("object")` with its fields.
    pub allocation_profile: RawValue,
    pub allocation_profile_sampling_interval_bytes: RawValue,
    pub allocation_profile_max_sites: RawValue,
}

impl Default for RawOptions {
    fn default() -> Self {
        RawOptions {
            directory: RawValue::Missing,
            session_id: RawValue::Missing,
            max_dumps_per_session: RawValue::Missing,
            cooldown_ms: RawValue::Missing,
            max_files: RawValue::Missing,
            app_version: RawValue::Missing,
            suggestion_hard: RawValue::Missing,
            suggestion_critical: RawValue::Missing,
            suggestion_manual: RawValue::Missing,
            recorder: false,
            recorder_interval_ms: RawValue::Missing,
            recorder_samples: RawValue::Missing,
            watchdog: false,
            watchdog_rss_ratio: RawValue::Missing,
            watchdog_rss_bytes: RawValue::Missing,
            watchdog_stall_ms: RawValue::Missing,
            watchdog_capture_stack: RawValue::Missing,
            smaps_rollup: RawValue::Missing,
            smaps_rollup_max_rss_bytes: RawValue::Missing,
            mallinfo: RawValue::Missing,
            heap_snapshot: false,
            heap_snapshot_triggers: Err(RawValue::Missing),
            heap_snapshot_max_per_session: RawValue::Missing,
            heap_snapshot_max_bytes: RawValue::Missing,
            heap_snapshot_redact: RawValue::Missing,
            allocation_profile: RawValue::Missing,
            allocation_profile_sampling_interval_bytes: RawValue::Missing,
            allocation_profile_max_sites: RawValue::Missing,
            now: RawValue::Missing,
        }
    }
}

/// The opt-in heap snapshot (`options.heapSnapshot`).
#[derive(Debug, Clone, PartialEq)]
pub struct HeapSnapshotConfig {
    /// The triggers whose dumps may be followed by a snapshot.
    pub triggers: Vec<Trigger>,
    /// Snapshots taken per session (skipped ones do not count).
    pub max_per_session: u32,
    /// Bytes all heap snapshots in the directory may take together; a snapshot larger
    /// than this is not kept.
    pub max_bytes: u64,
    /// Replace the values of strings in the heap by their length (the default).
    pub redact: bool,
}

pub const DEFAULT_HEAP_SNAPSHOT_MAX_BYTES: u64 = 1 << 30;
pub const MAX_HEAP_SNAPSHOTS_PER_SESSION: u64 = 100;
/// Smaller than any real snapshot: a budget below it is a unit mistake.
pub const MIN_HEAP_SNAPSHOT_BYTES: u64 = 1 << 20;

fn heap_snapshot_config(raw: &RawOptions) -> Result<Option<HeapSnapshotConfig>, InvalidArg> {
    if !raw.heap_snapshot {
        return Ok(None);
    }
    const FIELD: &str = "options.heapSnapshot.triggers";
    const EXPECTED: &str = "a non-empty array of 'hard', 'critical' and 'manual'";
    let triggers = match &raw.heap_snapshot_triggers {
        Err(RawValue::Missing) | Err(RawValue::Other("null")) => vec![Trigger::Critical],
        Err(other) => return Err(InvalidArg::new(FIELD, EXPECTED, other.describe())),
        Ok(items) if items.is_empty() => {
            return Err(InvalidArg::new(FIELD, EXPECTED, "an empty array"))
        }
        Ok(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let t = match item {
                    RawValue::Text(s) => Trigger::parse(s),
                    _ => None,
                }
                .ok_or_else(|| {
                    InvalidArg::new(format!("{FIELD}[{i}]"), Trigger::ACCEPTED, item.describe())
                })?;
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            out
        }
    };
    let redact = match &raw.heap_snapshot_redact {
        RawValue::Missing | RawValue::Other("null") => true,
        RawValue::Bool(b) => *b,
        other => {
            return Err(InvalidArg::new(
                "options.heapSnapshot.redact",
                "a boolean",
                other.describe(),
            ))
        }
    };
    Ok(Some(HeapSnapshotConfig {
        triggers,
        max_per_session: integer(
            &raw.heap_snapshot_max_per_session,
            "options.heapSnapshot.maxPerSession",
            1,
            MAX_HEAP_SNAPSHOTS_PER_SESSION,
            1,
        )? as u32,
        max_bytes: integer(
            &raw.heap_snapshot_max_bytes,
            "options.heapSnapshot.maxBytes",
            MIN_HEAP_SNAPSHOT_BYTES,
            MAX_SAFE_BYTES,
            DEFAULT_HEAP_SNAPSHOT_MAX_BYTES,
        )?,
        redact,
    }))
}

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
    /// The allocation profile the package entry keeps (`options.allocationProfile`).
    pub allocation_profile: Option<AllocationProfileConfig>,
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
        }
    }
}

/// Validates the raw options; returns the config and the session id (raw, unsanitized).
pub fn validate(raw: &RawOptions) -> Result<(DumperConfig, String), InvalidArg> {
    let directory = match &raw.directory {
        RawValue::Text(s) if !s.trim().is_empty() && !s.contains('\0') => PathBuf::from(s),
        other => {
            return Err(InvalidArg::new(
                "options.directory",
                "a non-empty path string",
                other.describe(),
            ))
        }
    };
    let session_id =
        optional_text(&raw.session_id, "options.sessionId", usize::MAX)?.unwrap_or_default();
    let max_dumps_per_session = integer(
        &raw.max_dumps_per_session,
        "options.maxDumpsPerSession",
        1,
        MAX_DUMPS_PER_SESSION_LIMIT as u64,
        DEFAULT_MAX_DUMPS_PER_SESSION as u64,
    )? as u32;
    let cooldown_ms = integer(
        &raw.cooldown_ms,
        "options.cooldownMs",
        0,
        MAX_COOLDOWN_MS,
        DEFAULT_COOLDOWN_MS,
    )?;
    let max_files = integer(
        &raw.max_files,
        "options.maxFiles",
        1,
        MAX_FILES_LIMIT as u64,
        DEFAULT_MAX_FILES as u64,
    )? as u32;
    let app_version = optional_text(
        &raw.app_version,
        "options.appVersion",
        MAX_TEXT_OPTION_CHARS,
    )?;
    let suggestions = Suggestions {
        hard: optional_text(
            &raw.suggestion_hard,
            "options.suggestions.hard",
            MAX_TEXT_OPTION_CHARS,
        )?
        .unwrap_or_else(|| DEFAULT_HARD_SUGGESTION.to_string()),
        critical: optional_text(
            &raw.suggestion_critical,
            "options.suggestions.critical",
            MAX_TEXT_OPTION_CHARS,
        )?
        .unwrap_or_else(|| DEFAULT_CRITICAL_SUGGESTION.to_string()),
        manual: optional_text(
            &raw.suggestion_manual,
            "options.suggestions.manual",
            MAX_TEXT_OPTION_CHARS,
        )?,
    };
    let watchdog = if raw.watchdog {
        let rss_ratio = match &raw.watchdog_rss_ratio {
            RawValue::Missing | RawValue::Other("null") => None,
            RawValue::Number(n) if *n > 0.0 && *n <= 1.0 => Some(*n),
            other => {
                return Err(InvalidArg::new(
                    "options.watchdog.rssRatio",
                    "a number greater than 0 and at most 1",
                    other.describe(),
                ))
            }
        };
        let rss_bytes = match &raw.watchdog_rss_bytes {
            RawValue::Missing | RawValue::Other("null") => None,
            _ => Some(integer(
                &raw.watchdog_rss_bytes,
                "options.watchdog.rssBytes",
                1,
                MAX_SAFE_BYTES,
                0,
            )?),
        };
        if rss_ratio.is_none() && rss_bytes.is_none() {
            return Err(InvalidArg::new(
                "options.watchdog",
                "rssRatio or rssBytes",
                "neither",
            ));
        }
        Some(crate::config::WatchdogConfig {
            rss_ratio,
            rss_bytes,
            stall_ms: integer(
                &raw.watchdog_stall_ms,
                "options.watchdog.stallMs",
                crate::config::MIN_INTERVAL_MS,
                crate::config::MAX_INTERVAL_MS,
                crate::config::DEFAULT_STALL_MS,
            )?,
            capture_stack: match &raw.watchdog_capture_stack {
                RawValue::Missing | RawValue::Other("null") => false,
                RawValue::Bool(b) => *b,
                other => {
                    return Err(InvalidArg::new(
                        "options.watchdog.captureStack",
                        "a boolean",
                        other.describe(),
                    ))
                }
            },
        })
    } else {
        None
    };
    let recorder = if raw.recorder || watchdog.is_some() {
        let d = crate::config::RecorderConfig::default();
        Some(crate::config::RecorderConfig {
            interval_ms: integer(
                &raw.recorder_interval_ms,
                "options.recorder.intervalMs",
                crate::config::MIN_INTERVAL_MS,
                crate::config::MAX_INTERVAL_MS,
                d.interval_ms,
            )?,
            samples: integer(
                &raw.recorder_samples,
                "options.recorder.samples",
                1,
                crate::config::MAX_SAMPLES as u64,
                d.samples as u64,
            )? as u32,
        })
    } else {
        None
    };
    let max_rss_bytes = integer(
        &raw.smaps_rollup_max_rss_bytes,
        "options.smapsRollupMaxRssBytes",
        0,
        MAX_SAFE_BYTES,
        DEFAULT_SMAPS_ROLLUP_MAX_RSS_BYTES,
    )?;
    let smaps_rollup = match &raw.smaps_rollup {
        RawValue::Missing | RawValue::Other("null") => SmapsRollupPolicy::Auto { max_rss_bytes },
        RawValue::Text(s) if s == "auto" => SmapsRollupPolicy::Auto { max_rss_bytes },
        RawValue::Text(s) if s == "always" => SmapsRollupPolicy::Always,
        RawValue::Text(s) if s == "never" => SmapsRollupPolicy::Never,
        other => {
            return Err(InvalidArg::new(
                "options.smapsRollup",
                "'auto', 'always' or 'never'",
                other.describe(),
            ))
        }
    };
    let host_clock = match &raw.now {
        RawValue::Missing | RawValue::Other("null") => false,
        RawValue::Other("function") => true,
        other => {
            return Err(InvalidArg::new(
                "options.now",
                "a function returning milliseconds, such as () => Date.now()",
                other.describe(),
            ))
        }
    };
    let mallinfo = {
        use crate::probes::malloc::MallinfoPolicy;
        match &raw.mallinfo {
            RawValue::Missing | RawValue::Other("null") => MallinfoPolicy::Auto,
            RawValue::Text(s) if s == "auto" => MallinfoPolicy::Auto,
            RawValue::Text(s) if s == "always" => MallinfoPolicy::Always,
            RawValue::Text(s) if s == "never" => MallinfoPolicy::Never,
            other => {
                return Err(InvalidArg::new(
                    "options.mallinfo",
                    "'auto', 'always' or 'never'",
                    other.describe(),
                ))
            }
        }
    };
    Ok((
        DumperConfig {
            directory,
            max_dumps_per_session,
            cooldown_ms,
            max_files,
            app_version,
            suggestions,
            recorder,
            watchdog,
            smaps_rollup,
            host_clock,
            mallinfo,
            heap_snapshot: heap_snapshot_config(raw)?,
            allocation_profile: allocation_profile_config(raw)?,
        },
        session_id,
    ))
}

/// The option names each options object accepts; anything else is a typo to report.
pub const OPTION_KEYS: &[&str] = &[
    "directory",
    "sessionId",
    "maxDumpsPerSession",
    "cooldownMs",
    "maxFiles",
    "appVersion",
    "suggestions",
    "recorder",
    "watchdog",
    "smapsRollup",
    "smapsRollupMaxRssBytes",
    "mallinfo",
    "now",
    "heapSnapshot",
    "allocationProfile",
];
pub const SUGGESTION_KEYS: &[&str] = &["hard", "critical", "manual"];
pub const RECORDER_KEYS: &[&str] = &["intervalMs", "samples"];
pub const WATCHDOG_KEYS: &[&str] = &["rssRatio", "rssBytes", "stallMs", "captureStack"];
pub const HEAP_SNAPSHOT_KEYS: &[&str] = &["triggers", "maxPerSession", "maxBytes", "redact"];
// Allocation profiles (`options.allocationProfile`, src/allocation.rs).
/// The profiler's mean sampling interval by default: 512 KiB of allocation per sample
/// (V8's own default is 32 KiB; the research behind this feature measured 128-512 KiB as
/// negligible on an allocation-heavy loop).
pub const DEFAULT_SAMPLING_INTERVAL_BYTES: u64 = 512 << 10;
pub const MIN_SAMPLING_INTERVAL_BYTES: u64 = 1 << 10;
pub const MAX_SAMPLING_INTERVAL_BYTES: u64 = 64 << 20;
/// Sites kept per dump by default, and at most.
pub const DEFAULT_MAX_SITES: u32 = 10;
pub const MAX_SITES: u32 = 50;
/// Frames of each site's call path.
pub const MAX_PATH_FRAMES: usize = 8;
/// Characters of a function name and of a script.
pub const MAX_FUNCTION_CHARS: usize = 200;
pub const MAX_SCRIPT_CHARS: usize = 300;
/// The V8 heap must have this much free (limit minus used) for the profile to be fetched:
/// the protocol's reply is built as a JS string and parsed into objects on that heap.
pub const MIN_FREE_HEAP_BYTES: u64 = 32 << 20;
/// `options.allocationProfile`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocationProfileConfig {
    pub sampling_interval_bytes: u64,
    pub max_sites: u32,
}

pub const ALLOCATION_PROFILE_KEYS: &[&str] = &["samplingIntervalBytes", "maxSites"];

/// `options.allocationProfile`: `true` (the defaults), an object of them, or off.
fn allocation_profile_config(
    raw: &RawOptions,
) -> Result<Option<AllocationProfileConfig>, InvalidArg> {
    match &raw.allocation_profile {
        RawValue::Missing | RawValue::Other("null") | RawValue::Bool(false) => Ok(None),
        RawValue::Bool(true) | RawValue::Other("object") => Ok(Some(AllocationProfileConfig {
            sampling_interval_bytes: integer(
                &raw.allocation_profile_sampling_interval_bytes,
                "options.allocationProfile.samplingIntervalBytes",
                MIN_SAMPLING_INTERVAL_BYTES,
                MAX_SAMPLING_INTERVAL_BYTES,
                DEFAULT_SAMPLING_INTERVAL_BYTES,
            )?,
            max_sites: integer(
                &raw.allocation_profile_max_sites,
                "options.allocationProfile.maxSites",
                1,
                MAX_SITES as u64,
                DEFAULT_MAX_SITES as u64,
            )? as u32,
        })),
        other => Err(InvalidArg::new(
            "options.allocationProfile",
            "true, false or an object { samplingIntervalBytes?, maxSites? }",
            other.describe(),
        )),
    }
}

/// Refuses the first key of `container` that is not in `known`, naming the closest
/// known one: `cooldown: 5` silently ignored would leave the 30 s default in force.
pub fn check_keys<S: AsRef<str>>(
    container: &str,
    keys: &[S],
    known: &[&str],
) -> Result<(), InvalidArg> {
    match keys.iter().map(AsRef::as_ref).find(|k| !known.contains(k)) {
        None => Ok(()),
        Some(k) => Err(InvalidArg::new(
            format!("{container}.{}", truncate_chars(k, 64).0),
            format!(
                "one of the known options (did you mean {container}.{}?)",
                closest(k, known)
            ),
            "an unknown option",
        )),
    }
}

/// The known name nearest to `key`: one that starts with it (or it with one) first,
/// then the smallest case-insensitive edit distance; ties go to the earlier name.
pub fn closest<'a>(key: &str, known: &[&'a str]) -> &'a str {
    let key: Vec<char> = key.to_lowercase().chars().take(64).collect();
    let mut best = ((true, usize::MAX), known[0]);
    for k in known {
        let cand: Vec<char> = k.to_lowercase().chars().collect();
        let prefix =
            key.len().min(cand.len()) >= 3 && (cand.starts_with(&key) || key.starts_with(&cand));
        let score = (!prefix, edit_distance(&key, &cand));
        if score < best.0 {
            best = (score, k);
        }
    }
    best.1
}

fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn optional_text(
    v: &RawValue,
    field: &str,
    max_chars: usize,
) -> Result<Option<String>, InvalidArg> {
    match v {
        RawValue::Missing | RawValue::Other("null") => Ok(None),
        RawValue::Text(s) if s.chars().count() <= max_chars => Ok(Some(s.clone())),
        RawValue::Text(s) => Err(InvalidArg::new(
            field,
            format!("a string of at most {max_chars} characters"),
            format!("a string of {} characters", s.chars().count()),
        )),
        other => Err(InvalidArg::new(field, "a string", other.describe())),
    }
}

fn integer(v: &RawValue, field: &str, min: u64, max: u64, default: u64) -> Result<u64, InvalidArg> {
    let expected = || format!("an integer from {min} to {max}");
    match v {
        RawValue::Missing | RawValue::Other("null") => Ok(default),
        RawValue::Number(n)
            if n.is_finite() && n.fract() == 0.0 && *n >= min as f64 && *n <= max as f64 =>
        {
            Ok(*n as u64)
        }
        other => Err(InvalidArg::new(field, expected(), other.describe())),
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

/// Cuts a string to at most `max` characters; says whether it cut.
pub fn truncate_chars(s: &str, max: usize) -> (String, bool) {
    match s.char_indices().nth(max) {
        Some((i, _)) => (s[..i].to_string(), true),
        None => (s.to_string(), false),
    }
}

// ---- the recorder and the watchdog ----------------------------------------------

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
    /// module; a helper thread started by the package entry answers the request).
    pub capture_stack: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> RawOptions {
        RawOptions {
            directory: RawValue::Text("/tmp/x".into()),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_apply() {
        let (c, sid) = validate(&base()).unwrap();
        assert_eq!(c.max_dumps_per_session, 3);
        assert_eq!(c.cooldown_ms, 30_000);
        assert_eq!(c.max_files, 20);
        assert_eq!(c.app_version, None);
        assert_eq!(c.suggestions.hard, DEFAULT_HARD_SUGGESTION);
        assert_eq!(c.suggestions.manual, None);
        assert_eq!(sid, "");
    }

    #[test]
    fn smaps_rollup_policy() {
        let with = |mode: RawValue, max: RawValue| {
            validate(&RawOptions {
                smaps_rollup: mode,
                smaps_rollup_max_rss_bytes: max,
                ..base()
            })
        };
        assert_eq!(
            with(RawValue::Missing, RawValue::Missing)
                .unwrap()
                .0
                .smaps_rollup,
            SmapsRollupPolicy::Auto {
                max_rss_bytes: DEFAULT_SMAPS_ROLLUP_MAX_RSS_BYTES
            }
        );
        assert_eq!(
            with(RawValue::Text("auto".into()), RawValue::Number(1.0))
                .unwrap()
                .0
                .smaps_rollup,
            SmapsRollupPolicy::Auto { max_rss_bytes: 1 }
        );
        assert_eq!(
            with(RawValue::Text("always".into()), RawValue::Missing)
                .unwrap()
                .0
                .smaps_rollup,
            SmapsRollupPolicy::Always
        );
        assert_eq!(
            with(RawValue::Text("never".into()), RawValue::Missing)
                .unwrap()
                .0
                .smaps_rollup,
            SmapsRollupPolicy::Never
        );
        let e = with(RawValue::Text("sometimes".into()), RawValue::Missing).unwrap_err();
        assert_eq!(
            e.to_string(),
            "options.smapsRollup: expected 'auto', 'always' or 'never', got \"sometimes\""
        );
        for bad in [
            RawValue::Number(-1.0),
            RawValue::Number(1.5),
            RawValue::Bool(true),
        ] {
            let e = with(RawValue::Missing, bad).unwrap_err();
            assert_eq!(e.field, "options.smapsRollupMaxRssBytes");
            assert!(e.expected.starts_with("an integer from 0 to "), "{e}");
        }
    }

    #[test]
    fn directory_must_be_non_empty_text() {
        for bad in [
            RawValue::Missing,
            RawValue::Text("  ".into()),
            RawValue::Number(3.0),
            RawValue::Text("a\0b".into()),
        ] {
            let e = validate(&RawOptions {
                directory: bad,
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(e.field, "options.directory");
            assert!(
                e.to_string().contains("expected a non-empty path string"),
                "{e}"
            );
        }
    }

    #[test]
    fn counts_are_range_checked() {
        for (bad, field) in [
            (
                RawOptions {
                    max_dumps_per_session: RawValue::Number(0.0),
                    ..base()
                },
                "options.maxDumpsPerSession",
            ),
            (
                RawOptions {
                    max_dumps_per_session: RawValue::Number(2.5),
                    ..base()
                },
                "options.maxDumpsPerSession",
            ),
            (
                RawOptions {
                    max_dumps_per_session: RawValue::Text("3".into()),
                    ..base()
                },
                "options.maxDumpsPerSession",
            ),
            (
                RawOptions {
                    cooldown_ms: RawValue::Number(-1.0),
                    ..base()
                },
                "options.cooldownMs",
            ),
            (
                RawOptions {
                    cooldown_ms: RawValue::Number(f64::NAN),
                    ..base()
                },
                "options.cooldownMs",
            ),
            (
                RawOptions {
                    max_files: RawValue::Number(0.0),
                    ..base()
                },
                "options.maxFiles",
            ),
            (
                RawOptions {
                    max_files: RawValue::Number(1e9),
                    ..base()
                },
                "options.maxFiles",
            ),
        ] {
            let e = validate(&bad).unwrap_err();
            assert_eq!(e.field, field);
            assert!(e.expected.starts_with("an integer from"), "{e}");
        }
        let (c, _) = validate(&RawOptions {
            cooldown_ms: RawValue::Number(0.0),
            max_files: RawValue::Number(1.0),
            ..base()
        })
        .unwrap();
        assert_eq!((c.cooldown_ms, c.max_files), (0, 1));
    }

    #[test]
    fn text_options() {
        let e = validate(&RawOptions {
            app_version: RawValue::Number(1.0),
            ..base()
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "options.appVersion: expected a string, got 1"
        );
        let e = validate(&RawOptions {
            suggestion_hard: RawValue::Text("x".repeat(2000)),
            ..base()
        })
        .unwrap_err();
        assert_eq!(e.field, "options.suggestions.hard");
        let (c, _) = validate(&RawOptions {
            suggestion_critical: RawValue::Text("restart".into()),
            app_version: RawValue::Other("null"),
            ..base()
        })
        .unwrap();
        assert_eq!(c.suggestions.critical, "restart");
        assert_eq!(c.app_version, None);
    }

    #[test]
    fn recorder_and_watchdog_options() {
        let (c, _) = validate(&base()).unwrap();
        assert_eq!((c.recorder, c.watchdog), (None, None));
        let (c, _) = validate(&RawOptions {
            recorder: true,
            ..base()
        })
        .unwrap();
        assert_eq!(c.recorder, Some(crate::config::RecorderConfig::default()));
        // A watchdog alone starts the recorder with its defaults.
        let (c, _) = validate(&RawOptions {
            watchdog: true,
            watchdog_rss_ratio: RawValue::Number(0.8),
            ..base()
        })
        .unwrap();
        assert_eq!(c.watchdog.unwrap().stall_ms, 5000);
        assert_eq!(c.recorder.unwrap().interval_ms, 1000);
        for (bad, field) in [
            (
                RawOptions {
                    watchdog: true,
                    ..base()
                },
                "options.watchdog",
            ),
            (
                RawOptions {
                    watchdog: true,
                    watchdog_rss_ratio: RawValue::Number(1.5),
                    ..base()
                },
                "options.watchdog.rssRatio",
            ),
            (
                RawOptions {
                    watchdog: true,
                    watchdog_rss_bytes: RawValue::Number(-1.0),
                    ..base()
                },
                "options.watchdog.rssBytes",
            ),
            (
                RawOptions {
                    watchdog: true,
                    watchdog_rss_bytes: RawValue::Number(1e6),
                    watchdog_stall_ms: RawValue::Number(1.0),
                    ..base()
                },
                "options.watchdog.stallMs",
            ),
            (
                RawOptions {
                    recorder: true,
                    recorder_interval_ms: RawValue::Number(1.0),
                    ..base()
                },
                "options.recorder.intervalMs",
            ),
            (
                RawOptions {
                    recorder: true,
                    recorder_samples: RawValue::Number(0.0),
                    ..base()
                },
                "options.recorder.samples",
            ),
        ] {
            assert_eq!(validate(&bad).unwrap_err().field, field);
        }
    }

    #[test]
    fn unknown_keys_name_the_closest_known_one() {
        assert!(check_keys("options", &["directory", "cooldownMs"], OPTION_KEYS).is_ok());
        let e = check_keys("options", &["directory", "cooldown"], OPTION_KEYS).unwrap_err();
        assert_eq!(e.field, "options.cooldown");
        assert_eq!(
            e.to_string(),
            "options.cooldown: expected one of the known options (did you mean options.cooldownMs?), got an unknown option"
        );
        for (typo, want) in [
            ("maxDumps", "maxDumpsPerSession"),
            ("sessionID", "sessionId"),
            ("dir", "directory"),
            ("maxfiles", "maxFiles"),
            ("suggestion", "suggestions"),
        ] {
            assert_eq!(closest(typo, OPTION_KEYS), want, "{typo}");
        }
        let e = check_keys("options.watchdog", &["stall"], WATCHDOG_KEYS).unwrap_err();
        assert!(
            e.to_string()
                .contains("did you mean options.watchdog.stallMs?"),
            "{e}"
        );
    }

    #[test]
    fn now_must_be_a_function() {
        let (c, _) = validate(&RawOptions {
            now: RawValue::Other("function"),
            ..base()
        })
        .unwrap();
        assert!(c.host_clock);
        assert!(!validate(&base()).unwrap().0.host_clock);
        let e = validate(&RawOptions {
            now: RawValue::Number(5.0),
            ..base()
        })
        .unwrap_err();
        assert_eq!(e.field, "options.now");
    }

    #[test]
    fn heap_snapshot_options() {
        let (c, _) = validate(&base()).unwrap();
        assert_eq!(c.heap_snapshot, None, "off by default");
        let on = |f: fn(&mut RawOptions)| {
            let mut r = RawOptions {
                heap_snapshot: true,
                ..base()
            };
            f(&mut r);
            validate(&r).map(|(c, _)| c.heap_snapshot.unwrap())
        };
        let d = on(|_| {}).unwrap();
        assert_eq!(
            d,
            HeapSnapshotConfig {
                triggers: vec![Trigger::Critical],
                max_per_session: 1,
                max_bytes: DEFAULT_HEAP_SNAPSHOT_MAX_BYTES,
                redact: true,
            }
        );
        let c = on(|r| {
            r.heap_snapshot_triggers = Ok(vec![
                RawValue::Text("hard".into()),
                RawValue::Text("manual".into()),
                RawValue::Text("hard".into()),
            ]);
            r.heap_snapshot_max_per_session = RawValue::Number(2.0);
            r.heap_snapshot_max_bytes = RawValue::Number(5e6);
            r.heap_snapshot_redact = RawValue::Bool(false);
        })
        .unwrap();
        assert_eq!(c.triggers, vec![Trigger::Hard, Trigger::Manual]);
        assert_eq!(
            (c.max_per_session, c.max_bytes, c.redact),
            (2, 5_000_000, false)
        );
        type Case = (fn(&mut RawOptions), &'static str, &'static str);
        let cases: [Case; 7] = [
            (
                |r| r.heap_snapshot_triggers = Err(RawValue::Text("critical".into())),
                "options.heapSnapshot.triggers",
                "expected a non-empty array of 'hard', 'critical' and 'manual', got \"critical\"",
            ),
            (
                |r| r.heap_snapshot_triggers = Ok(vec![]),
                "options.heapSnapshot.triggers",
                "got an empty array",
            ),
            (
                |r| r.heap_snapshot_triggers = Ok(vec![RawValue::Text("watchdog".into())]),
                "options.heapSnapshot.triggers[0]",
                "got \"watchdog\"",
            ),
            (
                |r| r.heap_snapshot_max_per_session = RawValue::Number(0.0),
                "options.heapSnapshot.maxPerSession",
                "an integer from 1 to 100",
            ),
            (
                |r| r.heap_snapshot_max_bytes = RawValue::Number(1000.0),
                "options.heapSnapshot.maxBytes",
                "an integer from 1048576",
            ),
            (
                |r| r.heap_snapshot_max_bytes = RawValue::Text("1GB".into()),
                "options.heapSnapshot.maxBytes",
                "got \"1GB\"",
            ),
            (
                |r| r.heap_snapshot_redact = RawValue::Text("no".into()),
                "options.heapSnapshot.redact",
                "expected a boolean",
            ),
        ];
        for (f, field, msg) in cases {
            let e = on(f).unwrap_err();
            assert_eq!(e.field, field);
            assert!(e.to_string().contains(msg), "{e}");
        }
    }

    #[test]
    fn triggers() {
        assert_eq!(Trigger::parse("hard"), Some(Trigger::Hard));
        assert_eq!(
            Trigger::parse("critical").map(Trigger::as_str),
            Some("critical")
        );
        assert_eq!(Trigger::parse("Hard"), None);
        assert_eq!(Trigger::parse("watchdog"), None);
    }

    #[test]
    fn session_ids_are_shortened_safely() {
        assert_eq!(short_session_id("3f2a9c1e-77b0-4d1e"), "3f2a9c1e");
        assert_eq!(short_session_id("ab-cd-ef-gh-ij"), "abcdefgh");
        assert_eq!(short_session_id("../../etc/passwd"), "etcpassw");
        assert_eq!(short_session_id("a\0b\nc/d"), "abcd");
        assert_eq!(short_session_id("日本語"), "nosessn");
        assert_eq!(short_session_id(""), "nosessn");
        assert_eq!(short_session_id(&"z".repeat(100_000)), "zzzzzzzz");
    }
}
