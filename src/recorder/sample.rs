//! One sample of the process's memory, taken on the recorder thread: RSS, the cgroup's
//! usage and limit, PSI, and the V8 figures JS last pushed.

use std::fs::{self};
use std::path::{Path, PathBuf};

use crate::probes::{cgroup, pressure, procfs, ProbeRoots};
use crate::timefmt::UtcTime;

use super::block::{Shared, V8Figures};
use crate::report::Sample;

/// Where the cgroup figures come from, found once.
pub(super) fn cgroup_files(roots: &ProbeRoots) -> Option<(PathBuf, &'static str, &'static str)> {
    let c = cgroup::read(&roots.proc, &roots.pid_dir, &roots.cgroup_fs).ok()?;
    let (usage, limit) = if c.version == "v2" {
        ("memory.current", "memory.max")
    } else {
        ("memory.usage_in_bytes", "memory.limit_in_bytes")
    };
    Some((PathBuf::from(c.directory), usage, limit))
}

fn read_number(path: &Path) -> Option<u64> {
    let n: u64 = fs::read_to_string(path).ok()?.trim().parse().ok()?;
    (n < cgroup::V1_UNLIMITED_FLOOR).then_some(n)
}

/// Takes one sample: cheap procfs reads only.
pub fn sample(
    shared: &Shared,
    roots: &ProbeRoots,
    cg: Option<&(PathBuf, &'static str, &'static str)>,
) -> Sample {
    let now = UtcTime::now();
    let status = procfs::read_status(roots).ok();
    let (v8, age) = match shared.observed() {
        Some((v, age)) => (v, Some(age)),
        None => (V8Figures::default(), None),
    };
    Sample {
        kind: "sample",
        t: now.iso8601(),
        epoch_ms: now.epoch_ms,
        rss_bytes: status.as_ref().and_then(|s| s.vm_rss),
        rss_anon_bytes: status.as_ref().and_then(|s| s.rss_anon),
        rss_file_bytes: status.as_ref().and_then(|s| s.rss_file),
        rss_shmem_bytes: status.as_ref().and_then(|s| s.rss_shmem),
        swap_bytes: status.as_ref().and_then(|s| s.vm_swap),
        cgroup_usage_bytes: cg.and_then(|(d, u, _)| read_number(&d.join(u))),
        cgroup_limit_bytes: cg.and_then(|(d, _, l)| read_number(&d.join(l))),
        psi_some_avg10: pressure::read_system(&roots.proc)
            .ok()
            .map(|p| p.some.avg10),
        heap_used_bytes: v8.heap_used,
        heap_total_bytes: v8.heap_total,
        heap_limit_bytes: v8.heap_limit,
        external_bytes: v8.external,
        heap_physical_bytes: v8.heap_physical,
        array_buffers_bytes: v8.array_buffers,
        v8_age_ms: age,
    }
}
