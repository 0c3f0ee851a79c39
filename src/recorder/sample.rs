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
        children_rss_bytes: children_rss(roots),
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

/// The descendants' RSS: 0 without children (one small read per thread of this process),
/// else the tree, bounded (64 processes, 20 ms). Only for this process (`/proc/self`).
fn children_rss(roots: &ProbeRoots) -> Option<u64> {
    if roots.pid_dir != "self" {
        return None;
    }
    let pid = std::process::id();
    if !crate::probes::tree::has_children(&roots.proc, pid)? {
        return Some(0);
    }
    let limits = crate::probes::tree::TreeLimits {
        max_processes: 64,
        max_duration: std::time::Duration::from_millis(20),
    };
    crate::probes::tree::read(&roots.proc, pid, limits)
        .ok()
        .map(|t| t.descendants_rss_bytes)
}

/// One `key value` line's value from a small stat file (`memory.stat`, `/proc/meminfo`,
/// whose values may end in ` kB`).
fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut parts = l.split_whitespace();
        let k = parts.next()?.trim_end_matches(':');
        (k == key).then(|| parts.next()?.parse::<u64>().ok())?
    })
}

/// The pressure rule's reading with this sample: what counts against the effective limit
/// as that limit's killer counts it (`pressure::counted`), and how it was read. `None` where
/// the figure cannot be read here (a Windows job's or commit limit: not sampled yet).
pub fn counted_against(
    roots: &ProbeRoots,
    cg: Option<&(PathBuf, &'static str, &'static str)>,
    source: &'static str,
    limit: u64,
    s: &Sample,
) -> Option<(super::pressure::Reading, &'static str)> {
    let epoch_ms = u64::try_from(s.epoch_ms).unwrap_or(0);
    match source {
        "cgroup" => {
            let (dir, usage_file, _) = cg?;
            let usage = s.cgroup_usage_bytes?;
            let v2 = *usage_file == "memory.current";
            let stat = fs::read_to_string(dir.join("memory.stat")).ok();
            // What the kernel reclaims before it kills in the cgroup: page cache, active or
            // not (clean cache is dropped, the active list is aged into the inactive one
            // first), and reclaimable slab (dentries and inodes; v2 only). Shared memory
            // (tmpfs) is on the anonymous lists: it counts.
            let keys: &[&str] = if v2 {
                &["inactive_file", "active_file", "slab_reclaimable"]
            } else {
                &["total_inactive_file", "total_active_file"]
            };
            let inactive = stat.as_deref().and_then(|t| {
                let found: Vec<u64> = keys.iter().filter_map(|k| stat_value(t, k)).collect();
                (!found.is_empty()).then(|| found.iter().sum())
            });
            let psi = if v2 {
                pressure::read_file(&dir.join("memory.pressure"))
                    .ok()
                    .and_then(|p| p.full.map(|f| f.avg10))
            } else {
                None
            };
            Some((
                super::pressure::Reading {
                    epoch_ms,
                    counted: super::pressure::counted(source, usage, inactive),
                    limit,
                    source,
                    psi_full_avg10: psi,
                },
                if inactive.is_some() {
                    "the cgroup's usage less its page cache and reclaimable slab (memory.stat active_file, inactive_file, slab_reclaimable), which the kernel reclaims before it kills"
                } else {
                    "the cgroup's usage (its page cache could not be read)"
                },
            ))
        }
        "physical" => {
            let text = fs::read_to_string(roots.proc.join("meminfo")).ok();
            let (total, available) = match text
                .as_deref()
                .map(|t| (stat_value(t, "MemTotal"), stat_value(t, "MemAvailable")))
            {
                Some((Some(t), Some(a))) => (t * 1024, a * 1024),
                _ => {
                    let sys = crate::probes::system::read().ok()?;
                    (sys.total_memory, sys.available_memory)
                }
            };
            let psi = pressure::read_system(&roots.proc)
                .ok()
                .and_then(|p| p.full.map(|f| f.avg10));
            Some((
                super::pressure::Reading {
                    epoch_ms,
                    counted: total.saturating_sub(available),
                    limit,
                    source,
                    psi_full_avg10: psi,
                },
                "the machine's memory in use: total less what the kernel counts available (MemAvailable), which leaves out reclaimable cache",
            ))
        }
        "job" | "commit" => {
            let (counted, counts) = windows_counted(source, windows_figures())?;
            Some((
                super::pressure::Reading {
                    epoch_ms,
                    counted,
                    limit,
                    source,
                    psi_full_avg10: None,
                },
                counts,
            ))
        }
        _ => None,
    }
}

/// This process's private bytes and the system's memory status (Windows only).
fn windows_figures() -> (
    Option<u64>,
    Option<crate::probes::platform::WinMemoryStatus>,
) {
    #[cfg(windows)]
    {
        use crate::probes::windows;
        (
            windows::memory_counters().ok().map(|c| c.private_bytes),
            windows::memory_status().ok(),
        )
    }
    #[cfg(not(windows))]
    {
        (None, None)
    }
}

/// What counts against a Windows limit, as Windows counts it: committed memory, resident or
/// not (a job's limit and the commit limit refuse a commit; nothing is reclaimed first).
/// - `job`: this process's private bytes (`PrivateUsage`). For a job-wide limit a lower
///   bound: the job's other processes commit too.
/// - `commit`: the system's commit charge (`ullTotalPageFile - ullAvailPageFile`).
pub fn windows_counted(
    source: &str,
    (private_bytes, status): (
        Option<u64>,
        Option<crate::probes::platform::WinMemoryStatus>,
    ),
) -> Option<(u64, &'static str)> {
    match source {
        "job" => private_bytes.map(|p| {
            (
                p,
                "this process's committed private bytes (PrivateUsage), which a job's memory limit counts; a job-wide limit also counts its other processes",
            )
        }),
        "commit" => status.filter(|s| s.total_page_file > 0).map(|s| {
            (
                s.total_page_file.saturating_sub(s.avail_page_file),
                "the system's commit charge (GlobalMemoryStatusEx: ullTotalPageFile less ullAvailPageFile), which the commit limit refuses past",
            )
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_values_by_key() {
        let t = "anon 100\ninactive_file 2048\nactive_file 7\n";
        assert_eq!(stat_value(t, "inactive_file"), Some(2048));
        assert_eq!(stat_value(t, "file"), None);
        let m = "MemTotal:       16384 kB\nMemAvailable:    4096 kB\n";
        assert_eq!(stat_value(m, "MemAvailable"), Some(4096));
    }

    #[test]
    fn windows_limits_count_committed_memory() {
        use crate::probes::platform::WinMemoryStatus;
        let status = WinMemoryStatus {
            memory_load_percent: 50,
            total_phys: 16 << 30,
            avail_phys: 8 << 30,
            total_page_file: 20 << 30,
            avail_page_file: 3 << 30,
        };
        let (job, how) = windows_counted("job", (Some(300 << 20), Some(status))).unwrap();
        assert_eq!(job, 300 << 20);
        assert!(how.contains("PrivateUsage"));
        let (commit, how) = windows_counted("commit", (None, Some(status))).unwrap();
        assert_eq!(commit, 17 << 30);
        assert!(how.contains("commit charge"));
        // Nothing read: no reading (no pressure dump), never a zero that looks like room.
        assert_eq!(windows_counted("job", (None, None)), None);
        let empty = WinMemoryStatus {
            memory_load_percent: 0,
            total_phys: 0,
            avail_phys: 0,
            total_page_file: 0,
            avail_page_file: 0,
        };
        assert_eq!(windows_counted("commit", (Some(1), Some(empty))), None);
        assert_eq!(windows_counted("cgroup", (Some(1), None)), None);
    }
}
