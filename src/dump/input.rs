//! What the host passes to `dump()`, checked field by field.
//!
//! A dump is most valuable exactly when the host is in trouble, so malformed numbers must
//! never cost the dump: a missing, NaN, negative or non-number figure is recorded as
//! `null` and listed under `inputWarnings`. Only structural mistakes (the containers
//! themselves being the wrong type) are argument errors, and those are raised by the
//! binding before any slot is consumed.

use crate::config::RawValue;
use crate::report::{AtTrigger, HeapSpace, NamedNumbers, NumberMap, SessionValue};

/// `v8.getHeapStatistics()` keys, their camelCase names in the document, and whether
/// Node 20+ always provides them (a missing required one is worth a warning).
pub const HEAP_STAT_FIELDS: &[(&str, &str, bool)] = &[
    ("total_heap_size", "totalHeapSize", true),
    (
        "total_heap_size_executable",
        "totalHeapSizeExecutable",
        true,
    ),
    ("total_physical_size", "totalPhysicalSize", true),
    ("total_available_size", "totalAvailableSize", true),
    ("used_heap_size", "usedHeapSize", true),
    ("heap_size_limit", "heapSizeLimit", true),
    ("malloced_memory", "mallocedMemory", true),
    ("peak_malloced_memory", "peakMallocedMemory", true),
    ("does_zap_garbage", "doesZapGarbage", false),
    ("number_of_native_contexts", "numberOfNativeContexts", true),
    (
        "number_of_detached_contexts",
        "numberOfDetachedContexts",
        true,
    ),
    ("total_global_handles_size", "totalGlobalHandlesSize", false),
    ("used_global_handles_size", "usedGlobalHandlesSize", false),
    ("external_memory", "externalMemory", false),
];

/// `process.memoryUsage()` keys (already camelCase).
pub const MEMORY_USAGE_FIELDS: &[(&str, &str, bool)] = &[
    ("rss", "rss", true),
    ("heapTotal", "heapTotal", true),
    ("heapUsed", "heapUsed", true),
    ("external", "external", true),
    ("arrayBuffers", "arrayBuffers", true),
];

/// `v8.getHeapSpaceStatistics()[i]` numeric keys.
pub const HEAP_SPACE_FIELDS: &[(&str, &str, bool)] = &[
    ("space_size", "spaceSize", true),
    ("space_used_size", "spaceUsedSize", true),
    ("space_available_size", "spaceAvailableSize", true),
    ("physical_space_size", "physicalSpaceSize", true),
];

/// V8 has about ten heap spaces; anything far beyond that is not heap-space data.
pub const MAX_HEAP_SPACES: usize = 32;
pub const MAX_SPACE_NAME_CHARS: usize = 64;
/// The `session` object is context, not payload: a few dozen counters and labels.
pub const MAX_SESSION_KEYS: usize = 64;
pub const MAX_SESSION_KEY_CHARS: usize = 64;
pub const MAX_SESSION_STRING_CHARS: usize = 1024;
/// The binding reads at most this many bytes of any string (UTF-8 is at most 4 bytes a
/// character), so a multi-megabyte string costs nothing on the dump path.
pub const MAX_STRING_READ_BYTES: usize = MAX_SESSION_STRING_CHARS * 4 + 4;

/// The host's own recent samples: at most this many (the most recent are kept).
pub const MAX_SAMPLES: usize = 120;
/// Each sample is a flat object of at most this many numbers.
pub const MAX_SAMPLE_KEYS: usize = 32;
/// Names in samples and active-resource types are cut at this many characters.
pub const MAX_NAME_CHARS: usize = 64;
/// `process.getActiveResourcesInfo()` has a dozen or so types; more is not that data.
pub const MAX_RESOURCE_TYPES: usize = 64;
/// Lines the public class may add about reads of the input that threw (its guarded second
/// try, lib/dumper/public-class.js): this many, then one saying how many more.
pub const MAX_GUARD_WARNINGS: usize = 16;
/// Characters of each of those lines.
pub const MAX_GUARD_WARNING_CHARS: usize = 300;

/// The dump input's figures as the fast path (`lib/dumper/fast-path.js`) writes them into one `Float64Array` the
/// addon lends (`inputFigures`), so that they cross Node-API once instead of property by
/// property: element [`INPUT_MASK_SLOT`] is a mask of the fields the host left out (bit
/// `i`: field `i`), elements 1.. the fields of [`HEAP_STAT_FIELDS`] then
/// [`MEMORY_USAGE_FIELDS`], in order (contract.json's `dumpInput.slots`). Written and read
/// on the JS thread only, inside one `dump()` call; JS never writes it while Rust reads.
/// A value that is neither a number nor undefined never reaches it: the fast path (`lib/dumper/fast-path.js`)
/// takes the checked path for it, which names the field and what it got.
pub struct InputBlock {
    cells: Box<[std::sync::atomic::AtomicU64]>,
}

pub const INPUT_MASK_SLOT: usize = 0;

/// Where the heap spaces start in the block: this slot holds their count, then each space's
/// [`HEAP_SPACE_FIELDS`] follow in order, [`MAX_HEAP_SPACES`] at most. Their names, which
/// change only with V8, are handed over apart and kept (`setHeapSpaceNames`).
pub fn input_space_count_slot() -> usize {
    1 + HEAP_STAT_FIELDS.len() + MEMORY_USAGE_FIELDS.len()
}

/// The names of the block's figure slots (from element 1), in order.
pub fn input_figure_keys() -> Vec<String> {
    HEAP_STAT_FIELDS
        .iter()
        .map(|(js, _, _)| format!("heapStatistics.{js}"))
        .chain(
            MEMORY_USAGE_FIELDS
                .iter()
                .map(|(js, _, _)| format!("memoryUsage.{js}")),
        )
        .collect()
}

impl Default for InputBlock {
    fn default() -> Self {
        let n = input_space_count_slot() + 1 + MAX_HEAP_SPACES * HEAP_SPACE_FIELDS.len();
        InputBlock {
            cells: (0..n)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
        }
    }
}

impl InputBlock {
    /// The block's memory, for the external buffer JS writes into.
    pub fn raw(&self) -> (*mut u8, usize) {
        (
            self.cells.as_ptr() as *mut u8,
            std::mem::size_of_val(&*self.cells),
        )
    }

    #[cfg(test)]
    pub fn set(&self, slot: usize, v: f64) {
        self.cells[slot].store(v.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }

    /// heapStatistics and memoryUsage, checked exactly as the property-by-property path
    /// checks them (same nulls, same warnings).
    pub fn read(&self, checker: &mut InputChecker) -> (NumberMap, NumberMap) {
        use std::sync::atomic::Ordering::Relaxed;
        let get = |i: usize| f64::from_bits(self.cells[i].load(Relaxed));
        let mask = get(INPUT_MASK_SLOT);
        let mask = if mask.is_finite() && mask >= 0.0 {
            mask as u64
        } else {
            0
        };
        let mut slot = 0usize;
        let mut next = |_: &str| {
            let i = slot;
            slot += 1;
            if i < 64 && mask & (1u64 << i) != 0 {
                RawValue::Missing
            } else {
                RawValue::Number(get(1 + i))
            }
        };
        let heap = checker.number_map("heapStatistics", HEAP_STAT_FIELDS, &mut next);
        let usage = checker.number_map("memoryUsage", MEMORY_USAGE_FIELDS, &mut next);
        (heap, usage)
    }

    /// The heap spaces written into the block, named by `names` (in order), checked exactly
    /// as the property-by-property path checks them.
    pub fn read_spaces(&self, checker: &mut InputChecker, names: &[String]) -> Vec<HeapSpace> {
        use std::sync::atomic::Ordering::Relaxed;
        let get = |i: usize| f64::from_bits(self.cells[i].load(Relaxed));
        let at = input_space_count_slot();
        let count = get(at);
        let count = if count.is_finite() && count >= 0.0 {
            (count as usize).min(MAX_HEAP_SPACES)
        } else {
            0
        };
        let n = HEAP_SPACE_FIELDS.len();
        (0..count)
            .map(|i| {
                let name = names
                    .get(i)
                    .map_or(RawValue::Missing, |s| RawValue::Text(s.clone()));
                let mut j = 0usize;
                checker.heap_space(i, &name, |_| {
                    let v = get(at + 1 + i * n + j);
                    j += 1;
                    RawValue::Number(v)
                })
            })
            .collect()
    }
}

/// `heapSpaces[i]`, as a warning names a heap space.
#[derive(Clone, Copy)]
struct SpaceAt(usize);

impl std::fmt::Display for SpaceAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "heapSpaces[{}]", self.0)
    }
}

/// Collects the checked input and every warning about it.
#[derive(Debug, Default)]
pub struct InputChecker {
    pub warnings: Vec<String>,
}

impl InputChecker {
    pub fn new() -> Self {
        Self::default()
    }

    /// A byte count or counter: finite and non-negative, else `None` plus a warning
    /// about `container.key` (the name is only formatted when something is wrong: this
    /// runs for every figure on the dump path).
    pub fn number(
        &mut self,
        container: impl std::fmt::Display,
        key: &str,
        raw: &RawValue,
        required: bool,
    ) -> Option<f64> {
        match raw {
            RawValue::Number(n) if n.is_finite() && *n >= 0.0 => Some(*n),
            RawValue::Missing if !required => None,
            other => {
                self.warnings.push(format!(
                    "{container}.{key}: expected a non-negative finite number, got {}; recorded as null",
                    other.describe_input()
                ));
                None
            }
        }
    }

    /// Builds a number map from `(jsKey, camelKey, required)` and a lookup.
    pub fn number_map(
        &mut self,
        container: impl std::fmt::Display + Copy,
        fields: &[(&str, &'static str, bool)],
        mut get: impl FnMut(&str) -> RawValue,
    ) -> NumberMap {
        let mut out = Vec::with_capacity(fields.len());
        for (js, camel, required) in fields {
            let raw = get(js);
            let v = self.number(container, js, &raw, *required);
            out.push((*camel, v));
        }
        NumberMap(out)
    }

    /// One heap space; `index` is only for messages.
    pub fn heap_space(
        &mut self,
        index: usize,
        name: &RawValue,
        get: impl FnMut(&str) -> RawValue,
    ) -> HeapSpace {
        // Named only in a warning: formatted only when there is one.
        let container = SpaceAt(index);
        let name = match name {
            RawValue::Text(s) => truncate_chars(s, MAX_SPACE_NAME_CHARS).0,
            other => {
                self.warnings.push(format!(
                    "{container}.space_name: expected a string, got {}; recorded as null",
                    other.describe_input()
                ));
                String::new()
            }
        };
        let values = self.number_map(container, HEAP_SPACE_FIELDS, get);
        HeapSpace {
            name: if name.is_empty() { None } else { Some(name) },
            values,
        }
    }

    pub fn too_many_spaces(&mut self, given: usize) {
        self.warnings.push(format!(
            "heapSpaces: {given} entries given, kept the first {MAX_HEAP_SPACES}"
        ));
    }

    /// One `session` entry, given the entries already `kept`. `key_read_truncated` and
    /// `read_bytes_truncated` say the binding stopped reading the key or a string value
    /// early (it was longer than the read bound).
    /// A key is cut to its first [`MAX_SESSION_KEY_CHARS`] characters (the binding reads
    /// at least that many); one that then repeats a kept key is dropped, so the document
    /// never holds a JSON key twice.
    pub fn session_entry(
        &mut self,
        key: &str,
        key_read_truncated: bool,
        raw: RawValue,
        read_bytes_truncated: bool,
        kept: &[(String, SessionValue)],
    ) -> Option<(String, SessionValue)> {
        let (key_out, key_cut) = truncate_chars(key, MAX_SESSION_KEY_CHARS);
        if key_cut || key_read_truncated {
            self.warnings.push(format!(
                "session: a key longer than {MAX_SESSION_KEY_CHARS} characters was cut to its first {MAX_SESSION_KEY_CHARS}"
            ));
        }
        if kept.iter().any(|(k, _)| *k == key_out) {
            self.warnings.push(format!(
                "session.{key_out}: the key repeats an earlier one once cut to {MAX_SESSION_KEY_CHARS} characters; dropped"
            ));
            return None;
        }
        let value = match raw {
            RawValue::Number(n) if n.is_finite() => SessionValue::Number(n),
            RawValue::Number(_) => {
                self.warnings.push(format!(
                    "session.{key_out}: expected a finite number, got a non-finite one; dropped"
                ));
                return None;
            }
            RawValue::Bool(b) => SessionValue::Bool(b),
            RawValue::Text(s) => {
                let (t, cut) = truncate_chars(&s, MAX_SESSION_STRING_CHARS);
                if cut || read_bytes_truncated {
                    self.warnings.push(format!(
                        "session.{key_out}: string truncated to {MAX_SESSION_STRING_CHARS} characters"
                    ));
                }
                SessionValue::Text(t)
            }
            RawValue::Missing => return None,
            other => {
                self.warnings.push(format!(
                    "session.{key_out}: expected a number, string or boolean, got {}; dropped",
                    other.describe_input()
                ));
                return None;
            }
        };
        Some((key_out, value))
    }

    /// One entry of a flat `name -> number` object (`samples[i]`, `activeResources`):
    /// finite (and non-negative when `counts`), else dropped with a warning.
    pub fn named_number(
        &mut self,
        container: &str,
        key: &str,
        raw: &RawValue,
        counts: bool,
    ) -> Option<(String, f64)> {
        let (name, _) = truncate_chars(key, MAX_NAME_CHARS);
        match raw {
            RawValue::Number(n) if n.is_finite() && (!counts || *n >= 0.0) => Some((name, *n)),
            RawValue::Missing => None,
            other => {
                let expected = if counts {
                    "a non-negative finite number"
                } else {
                    "a finite number"
                };
                self.warnings.push(format!(
                    "{container}.{name}: expected {expected}, got {}; dropped",
                    other.describe_input()
                ));
                None
            }
        }
    }

    /// Says how much of an oversized flat object or array was kept.
    pub fn cut(&mut self, container: &str, what: &str, given: usize, kept: &str, max: usize) {
        self.warnings.push(format!(
            "{container}: {given} {what} given, kept the {kept} {max}"
        ));
    }

    pub fn too_many_session_keys(&mut self, given: usize) {
        self.warnings.push(format!(
            "session: {given} keys given, kept the first {MAX_SESSION_KEYS}"
        ));
    }
}

/// The figures as passed at the moment of the trigger, plus warnings.
#[derive(Debug, Clone)]
pub struct TriggerInput {
    pub at_trigger: AtTrigger,
    pub session: Vec<(String, SessionValue)>,
    pub warnings: Vec<String>,
    /// The host's own recent samples (`dump(trigger, { samples })`).
    pub samples: Option<Vec<NamedNumbers>>,
    /// Set by the watchdog for its own dumps.
    pub watchdog: Option<crate::report::WatchdogInfo>,
    /// Set by the pressure rule for its own dumps.
    pub near_limit: Option<crate::report::NearLimit>,
}

pub use crate::config::truncate_chars;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_block_reads_as_the_property_path_does() {
        // The mask fits one f64 exactly (53 bits) and every field has a bit.
        assert!(HEAP_STAT_FIELDS.len() + MEMORY_USAGE_FIELDS.len() <= 52);
        let b = InputBlock::default();
        let all: Vec<_> = HEAP_STAT_FIELDS.iter().chain(MEMORY_USAGE_FIELDS).collect();
        // Every figure i+1 (bytes), one left out, one NaN, one negative.
        let missing = all.iter().position(|f| !f.2).expect("an optional field");
        let required_missing = all.iter().position(|f| f.2).unwrap();
        for i in 0..all.len() {
            b.set(1 + i, (i + 1) as f64);
        }
        b.set(1 + 1, f64::NAN);
        b.set(1 + all.len() - 1, -5.0);
        b.set(0, ((1u64 << missing) | (1u64 << required_missing)) as f64);
        let mut fast = InputChecker::new();
        let (h, u) = b.read(&mut fast);
        // The property path, given the same values.
        let value = |i: usize| {
            if i == missing || i == required_missing {
                RawValue::Missing
            } else if i == 1 {
                RawValue::Number(f64::NAN)
            } else if i == all.len() - 1 {
                RawValue::Number(-5.0)
            } else {
                RawValue::Number((i + 1) as f64)
            }
        };
        let mut slow = InputChecker::new();
        let hs = slow.number_map("heapStatistics", HEAP_STAT_FIELDS, |k| {
            value(HEAP_STAT_FIELDS.iter().position(|f| f.0 == k).unwrap())
        });
        let us = slow.number_map("memoryUsage", MEMORY_USAGE_FIELDS, |k| {
            value(
                HEAP_STAT_FIELDS.len() + MEMORY_USAGE_FIELDS.iter().position(|f| f.0 == k).unwrap(),
            )
        });
        assert_eq!(h, hs);
        assert_eq!(u, us);
        assert_eq!(fast.warnings, slow.warnings);
        assert_eq!(fast.warnings.len(), 3, "{:?}", fast.warnings);
        assert_eq!(input_figure_keys().len(), all.len());
        // Heap spaces: two, their names kept apart, one figure negative.
        let at = input_space_count_slot();
        b.set(at, 2.0);
        for (k, v) in [1.0, 2.0, 3.0, 4.0, 5.0, -6.0, 7.0, 8.0].iter().enumerate() {
            b.set(at + 1 + k, *v);
        }
        let mut fast = InputChecker::new();
        let spaces = b.read_spaces(&mut fast, &["new_space".into(), "old_space".into()]);
        let mut slow = InputChecker::new();
        let expected: Vec<HeapSpace> = (0..2)
            .map(|i| {
                let mut j = 0;
                slow.heap_space(
                    i,
                    &RawValue::Text(["new_space", "old_space"][i].into()),
                    |_| {
                        let v = [1.0, 2.0, 3.0, 4.0, 5.0, -6.0, 7.0, 8.0][i * 4 + j];
                        j += 1;
                        RawValue::Number(v)
                    },
                )
            })
            .collect();
        assert_eq!(spaces, expected);
        assert_eq!(fast.warnings, slow.warnings);
        assert_eq!(fast.warnings.len(), 1);
        assert_eq!(spaces[1].name.as_deref(), Some("old_space"));
    }

    #[test]
    fn good_numbers_pass_and_bad_ones_become_null_with_a_warning() {
        let mut c = InputChecker::new();
        let vals = [
            ("rss", RawValue::Number(100.0)),
            ("heapTotal", RawValue::Number(f64::NAN)),
            ("heapUsed", RawValue::Number(-5.0)),
            ("external", RawValue::Text("12".into())),
        ];
        let m = c.number_map("memoryUsage", MEMORY_USAGE_FIELDS, |k| {
            vals.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or(RawValue::Missing)
        });
        assert_eq!(m.get("rss"), Some(100.0));
        assert_eq!(m.get("heapTotal"), None);
        assert_eq!(m.get("heapUsed"), None);
        assert_eq!(m.get("external"), None);
        assert_eq!(m.get("arrayBuffers"), None);
        assert_eq!(c.warnings.len(), 4, "{:?}", c.warnings);
        assert!(c.warnings[0]
            .starts_with("memoryUsage.heapTotal: expected a non-negative finite number, got NaN"));
        assert!(c.warnings[1].contains("got -5"));
        // A string is measured, never quoted: it may hold anything.
        assert!(
            c.warnings[2].contains("got a string of 2 characters"),
            "{}",
            c.warnings[2]
        );
        assert!(
            c.warnings[3].starts_with("memoryUsage.arrayBuffers:")
                && c.warnings[3].contains("undefined")
        );
    }

    #[test]
    fn optional_heap_fields_missing_are_silent() {
        let mut c = InputChecker::new();
        let m = c.number_map("heapStatistics", HEAP_STAT_FIELDS, |k| {
            if k == "external_memory" || k == "does_zap_garbage" {
                RawValue::Missing
            } else {
                RawValue::Number(1.0)
            }
        });
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(m.get("heapSizeLimit"), Some(1.0));
        assert_eq!(m.get("externalMemory"), None);
    }

    #[test]
    fn a_key_that_repeats_a_kept_one_once_cut_is_dropped() {
        let mut c = InputChecker::new();
        let long = |tail: &str| format!("{}{tail}", "k".repeat(MAX_SESSION_KEY_CHARS));
        let first = c
            .session_entry(&long("a"), false, RawValue::Number(1.0), false, &[])
            .unwrap();
        let kept = vec![first];
        assert!(c
            .session_entry(&long("b"), false, RawValue::Number(2.0), false, &kept)
            .is_none());
        assert_eq!(kept[0].1, SessionValue::Number(1.0));
        assert!(c
            .warnings
            .last()
            .unwrap()
            .contains("repeats an earlier one"));
    }

    #[test]
    fn session_entries_are_bounded() {
        let mut c = InputChecker::new();
        let (k, v) = c
            .session_entry("historyEntries", false, RawValue::Number(42.0), false, &[])
            .unwrap();
        assert_eq!(
            (k.as_str(), v),
            ("historyEntries", SessionValue::Number(42.0))
        );
        let (_, v) = c
            .session_entry("s", false, RawValue::Text("é".repeat(5000)), false, &[])
            .unwrap();
        assert_eq!(v, SessionValue::Text("é".repeat(MAX_SESSION_STRING_CHARS)));
        assert!(c
            .warnings
            .last()
            .unwrap()
            .contains("session.s: string truncated"));
        let (k, _) = c
            .session_entry(&"k".repeat(500), false, RawValue::Bool(true), false, &[])
            .unwrap();
        assert_eq!(k.len(), MAX_SESSION_KEY_CHARS);
        assert!(c
            .session_entry("o", false, RawValue::Other("object"), false, &[])
            .is_none());
        assert!(c
            .warnings
            .last()
            .unwrap()
            .contains("session.o: expected a number, string or boolean, got object; dropped"));
        assert!(c
            .session_entry("n", false, RawValue::Number(f64::INFINITY), false, &[])
            .is_none());
        let (_, v) = c
            .session_entry("short", false, RawValue::Text("abc".into()), true, &[])
            .unwrap();
        assert_eq!(v, SessionValue::Text("abc".into()));
        assert!(c
            .warnings
            .last()
            .unwrap()
            .contains("session.short: string truncated"));
    }

    #[test]
    fn heap_space_names() {
        let mut c = InputChecker::new();
        let s = c.heap_space(2, &RawValue::Number(1.0), |_| RawValue::Number(8.0));
        assert_eq!(s.name, None);
        assert_eq!(s.values.get("spaceUsedSize"), Some(8.0));
        assert!(c.warnings[0].starts_with("heapSpaces[2].space_name: expected a string"));
    }

    #[test]
    fn named_numbers_keep_finite_values_only() {
        let mut c = InputChecker::new();
        assert_eq!(
            c.named_number("samples[0]", "heapUsed", &RawValue::Number(-3.5), false),
            Some(("heapUsed".into(), -3.5))
        );
        assert_eq!(
            c.named_number("activeResources", "Timeout", &RawValue::Number(-1.0), true),
            None
        );
        assert_eq!(
            c.named_number("samples[1]", "x", &RawValue::Number(f64::NAN), false),
            None
        );
        assert_eq!(
            c.named_number("samples[2]", "y", &RawValue::Other("object"), false),
            None
        );
        assert_eq!(
            c.warnings,
            [
                "activeResources.Timeout: expected a non-negative finite number, got -1; dropped",
                "samples[1].x: expected a finite number, got NaN; dropped",
                "samples[2].y: expected a finite number, got object; dropped",
            ]
        );
        let (k, _) = c
            .named_number("s", &"k".repeat(100), &RawValue::Number(1.0), false)
            .unwrap();
        assert_eq!(k.len(), MAX_NAME_CHARS);
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate_chars("héllo", 2), ("hé".to_string(), true));
        assert_eq!(truncate_chars("hé", 2), ("hé".to_string(), false));
    }
}
