//! The host's options object as read, before validation: the raw value tree, the keys
//! each options object accepts (a typo is refused with the nearest name), and the readers
//! that take one raw value as a bounded integer or text.

use super::error::InvalidArg;

/// Byte counts above 2^53 cannot come from JS exactly.
pub const MAX_SAFE_BYTES: u64 = 9_007_199_254_740_991;
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

    /// The value as a warning about the host's dump() input describes it in the document:
    /// like [`describe`](Self::describe), but a string is measured, never quoted (it may
    /// hold anything); the marker of a getter that threw is the public class's and is quoted.
    pub fn describe_input(&self) -> String {
        match self {
            RawValue::Text(s) if s != "<getter threw>" => match s.chars().count() {
                1 => "a string of 1 character".into(),
                n => format!("a string of {n} characters"),
            },
            other => other.describe(),
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

/// Items of a list option read at most (`heapSnapshot.triggers`): a longer array is not a
/// list of triggers and is refused whole.
pub const MAX_LIST_ITEMS: usize = 16;

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
    "pressure",
];
pub const SUGGESTION_KEYS: &[&str] = &["hard", "critical", "manual"];
pub const RECORDER_KEYS: &[&str] = &["intervalMs", "samples"];
pub const WATCHDOG_KEYS: &[&str] = &["rssRatio", "rssBytes", "stallMs", "captureStack"];
pub const ALLOCATION_PROFILE_KEYS: &[&str] = &["samplingIntervalBytes", "maxSites"];
pub const HEAP_SNAPSHOT_KEYS: &[&str] = &["triggers", "maxPerSession", "maxBytes", "redact"];
pub const PRESSURE_KEYS: &[&str] = &["ratio", "psiFull", "withinMs"];

/// The nested option objects, in the order their shape is checked.
const NESTED: &[(&str, &[&str])] = &[
    ("suggestions", SUGGESTION_KEYS),
    ("recorder", RECORDER_KEYS),
    ("watchdog", WATCHDOG_KEYS),
    ("heapSnapshot", HEAP_SNAPSHOT_KEYS),
    ("allocationProfile", ALLOCATION_PROFILE_KEYS),
    ("pressure", PRESSURE_KEYS),
];

/// The host's options object, read whole by the binding (or the fallback), checked for
/// its shape: the object itself, its unknown keys, then each nested object's type and
/// unknown keys in the order of `NESTED`. Values are checked after, by `validate::validate`, in
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
            // `allocationProfile: true` and `pressure: false` are checked with the values.
            _ if *key == "allocationProfile" || *key == "pressure" => None,
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
        pressure: match tree.get("pressure") {
            RawValue::Object(_) => RawValue::Other("object"),
            other => other.clone(),
        },
        pressure_ratio: sub(5, "ratio"),
        pressure_psi_full: sub(5, "psiFull"),
        pressure_within_ms: sub(5, "withinMs"),
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
    /// `options.pressure`: `true`/`false`, or `Other("object")` with its fields.
    pub pressure: RawValue,
    pub pressure_ratio: RawValue,
    pub pressure_psi_full: RawValue,
    pub pressure_within_ms: RawValue,
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
            pressure: RawValue::Missing,
            pressure_ratio: RawValue::Missing,
            pressure_psi_full: RawValue::Missing,
            pressure_within_ms: RawValue::Missing,
            now: RawValue::Missing,
        }
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

pub(super) fn optional_text(
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

pub(super) fn integer(
    v: &RawValue,
    field: &str,
    min: u64,
    max: u64,
    default: u64,
) -> Result<u64, InvalidArg> {
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

/// Cuts a string to at most `max` characters; says whether it cut.
pub fn truncate_chars(s: &str, max: usize) -> (String, bool) {
    match s.char_indices().nth(max) {
        Some((i, _)) => (s[..i].to_string(), true),
        None => (s.to_string(), false),
    }
}
