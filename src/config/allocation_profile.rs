//! `options.allocationProfile` (used by `allocation_profile`): its configuration, defaults and
//! bounds, and its validation.

use super::error::InvalidArg;
use super::raw::{integer, RawOptions, RawValue};

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
/// The V8 heap's old generation must have this much free below its own limit (the heap's
/// limit less what V8 keeps for the young generation: `heapRoom` in
/// lib/dumper/allocation-profile.js) for the profile to be fetched: the protocol's reply is
/// built as a JS string and parsed into objects on that heap.
pub const MIN_FREE_HEAP_BYTES: u64 = 32 << 20;
/// `options.allocationProfile`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocationProfileConfig {
    pub sampling_interval_bytes: u64,
    pub max_sites: u32,
}

/// `options.allocationProfile`: `true` (the defaults), an object of them, or off.
pub(super) fn allocation_profile_config(
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
