//! The limit that stops the process: every limit that applies on this platform (the
//! cgroup's, a Windows job's, the commit limit, physical memory) with what counts against
//! it, and the smallest of them. Built from what the platform probes and the system probe
//! read, so it sits above both.

use super::platform::{JobObject, ProcessMemory};
use super::system::SystemInfo;

/// One limit that can stop the process, what counts against it, and its name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitCandidate {
    pub limit: u64,
    pub source: &'static str,
    pub usage: Option<u64>,
}

/// The limits that apply on this platform, from what phase 2 read: the cgroup's (Linux),
/// the job's and the commit limit (Windows), physical memory (everywhere).
pub fn limit_candidates(
    cgroup: Option<(u64, Option<u64>)>,
    job: Option<&JobObject>,
    process: Option<&ProcessMemory>,
    system: Option<&SystemInfo>,
) -> Vec<LimitCandidate> {
    let mut out = Vec::new();
    if let Some((limit, usage)) = cgroup {
        out.push(LimitCandidate {
            limit,
            source: "cgroup",
            usage,
        });
    }
    // A job's memory limits count committed private memory: this process's private bytes
    // (for a job limit, a lower bound: other processes of the job count too).
    let commit = process.and_then(|p| p.commit.value);
    if let Some(limit) = job.and_then(JobObject::limit) {
        out.push(LimitCandidate {
            limit,
            source: "job",
            usage: commit,
        });
    }
    if let Some(d) = system.and_then(|s| s.memory_detail.as_ref()) {
        // Only Windows enforces the commit limit (Linux only with overcommit disabled).
        if d.commit_limit.source == Some("GlobalMemoryStatusEx:ullTotalPageFile") {
            if let Some(limit) = d.commit_limit.value.filter(|l| *l > 0) {
                out.push(LimitCandidate {
                    limit,
                    source: "commit",
                    usage: d.commit_total.value,
                });
            }
        }
    }
    if let Some(s) = system.filter(|s| s.total_memory > 0) {
        out.push(LimitCandidate {
            limit: s.total_memory,
            source: "physical",
            usage: Some(s.total_memory.saturating_sub(s.available_memory)),
        });
    }
    out
}

/// The smallest limit; on a tie, the later (more general) one, as before job limits.
pub fn effective(candidates: &[LimitCandidate]) -> Option<LimitCandidate> {
    candidates
        .iter()
        .fold(None, |best: Option<LimitCandidate>, c| match best {
            Some(b) if b.limit < c.limit => Some(b),
            _ => Some(*c),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::platform::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn win_system(total: u64, avail: u64, commit_limit: u64, commit_avail: u64) -> SystemInfo {
        let s = WinMemoryStatus {
            memory_load_percent: 40,
            total_phys: total,
            avail_phys: avail,
            total_page_file: commit_limit,
            avail_page_file: commit_avail,
        };
        SystemInfo {
            total_memory: total,
            available_memory: avail,
            memory_detail: Some(system_detail_windows(Some(&s), "")),
            ..Default::default()
        }
    }

    #[test]
    fn a_job_limit_below_the_rest_is_the_effective_one() {
        let job = job_object(Some(RawJobLimits {
            limit_flags: JOB_OBJECT_LIMIT_PROCESS_MEMORY,
            process_memory_limit: 256 * MIB,
            job_memory_limit: 0,
            peak_process_memory_used: 90 * MIB,
            peak_job_memory_used: 95 * MIB,
        }));
        assert_eq!(job.limit(), Some(256 * MIB));
        let sys = win_system(16 * GIB, 8 * GIB, 24 * GIB, 20 * GIB);
        let p = win_process_fixture(80 * MIB);
        let c = limit_candidates(None, Some(&job), Some(&p), Some(&sys));
        assert_eq!(
            c.iter().map(|c| c.source).collect::<Vec<_>>(),
            ["job", "commit", "physical"]
        );
        let e = effective(&c).unwrap();
        assert_eq!(
            (e.limit, e.source, e.usage),
            (256 * MIB, "job", Some(80 * MIB))
        );
        // The commit limit below physical memory (a small pagefile): commit binds.
        let sys = win_system(16 * GIB, 8 * GIB, 12 * GIB, 2 * GIB);
        let e = effective(&limit_candidates(None, None, Some(&p), Some(&sys))).unwrap();
        assert_eq!(
            (e.limit, e.source, e.usage),
            (12 * GIB, "commit", Some(10 * GIB))
        );
        // Otherwise physical memory.
        let sys = win_system(16 * GIB, 8 * GIB, 24 * GIB, 20 * GIB);
        let e = effective(&limit_candidates(None, None, Some(&p), Some(&sys))).unwrap();
        assert_eq!(
            (e.limit, e.source, e.usage),
            (16 * GIB, "physical", Some(8 * GIB))
        );
    }

    #[test]
    fn a_job_limit_counts_only_with_its_flag_and_the_smaller_of_two_binds() {
        let raw = RawJobLimits {
            limit_flags: 0,
            process_memory_limit: 256 * MIB,
            job_memory_limit: 128 * MIB,
            ..Default::default()
        };
        assert_eq!(job_object(Some(raw)).limit(), None);
        assert!(job_object(Some(raw)).in_job);
        let both = RawJobLimits {
            limit_flags: JOB_OBJECT_LIMIT_PROCESS_MEMORY | JOB_OBJECT_LIMIT_JOB_MEMORY,
            ..raw
        };
        assert_eq!(job_object(Some(both)).limit(), Some(128 * MIB));
        let job_only = RawJobLimits {
            limit_flags: JOB_OBJECT_LIMIT_JOB_MEMORY,
            ..raw
        };
        assert_eq!(job_object(Some(job_only)).process_memory_limit_bytes, None);
        assert_eq!(job_object(Some(job_only)).limit(), Some(128 * MIB));
        let none = job_object(None);
        assert!(!none.in_job && none.limit().is_none());
    }

    #[test]
    fn linux_commit_is_not_a_limit_and_the_cgroup_keeps_its_place() {
        let meminfo = crate::probes::procfs::parse_meminfo(
            "CommitLimit:    1024 kB\nCommitted_AS:    4096 kB\n",
        );
        let sys = SystemInfo {
            total_memory: 8 * GIB,
            available_memory: 6 * GIB,
            memory_detail: Some(system_detail_linux(Some(&meminfo))),
            ..Default::default()
        };
        let d = sys.memory_detail.as_ref().unwrap();
        assert_eq!(d.commit_limit.value, Some(1 << 20));
        assert_eq!(d.commit_total.source, Some("meminfo:Committed_AS"));
        assert!(d
            .memory_load_percent
            .unavailable
            .as_deref()
            .unwrap()
            .contains("linux"));
        let c = limit_candidates(Some((512 * MIB, Some(100 * MIB))), None, None, Some(&sys));
        assert_eq!(
            c.iter().map(|c| c.source).collect::<Vec<_>>(),
            ["cgroup", "physical"]
        );
        assert_eq!(effective(&c).unwrap().source, "cgroup");
        // A tie goes to physical memory (a cgroup limit at the machine's size binds no sooner).
        let c = limit_candidates(Some((8 * GIB, Some(1))), None, None, Some(&sys));
        assert_eq!(effective(&c).unwrap().source, "physical");
        assert_eq!(effective(&[]), None);
    }
}
