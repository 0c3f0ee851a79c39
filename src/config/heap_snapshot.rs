//! `options.heapSnapshot`: its configuration, defaults and bounds, and its validation.

use super::error::InvalidArg;
use super::raw::{integer, RawOptions, RawValue, MAX_SAFE_BYTES};
use super::trigger::Trigger;

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

pub(super) fn heap_snapshot_config(
    raw: &RawOptions,
) -> Result<Option<HeapSnapshotConfig>, InvalidArg> {
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
