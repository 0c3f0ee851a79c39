//! The same figures on every platform: what each system calls the process's resident,
//! private and committed memory, the system's commit and memory load, and the job
//! object's limits, each with the source it was read from or why it is unavailable
//! there. The platform modules (`windows`, `macos`, procfs on Linux) only read raw
//! numbers; the choices made from them live here, in plain functions that every host's
//! unit tests exercise.

use serde::Serialize;

/// One figure: its value and where it came from, or why this platform has none.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Figure {
    pub value: Option<u64>,
    pub source: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

impl Figure {
    pub fn of(value: u64, source: &'static str) -> Figure {
        Figure {
            value: Some(value),
            source: Some(source),
            unavailable: None,
        }
    }

    pub fn opt(value: Option<u64>, source: &'static str, missing: &str) -> Figure {
        match value {
            Some(v) => Figure::of(v, source),
            None => Figure::none(missing),
        }
    }

    pub fn none(reason: impl Into<String>) -> Figure {
        Figure {
            value: None,
            source: None,
            unavailable: Some(reason.into()),
        }
    }
}

/// `process.memory`: the process's memory as each system counts it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ProcessMemory {
    /// Resident set (Linux), working set (Windows), resident size (macOS).
    pub resident: Figure,
    pub peak_resident: Figure,
    /// Memory only this process uses: anonymous resident pages (Linux), private bytes
    /// (Windows), internal pages (macOS).
    pub private: Figure,
    /// What the system's commit limit and a job's memory limit count: private bytes
    /// (Windows).
    pub commit: Figure,
    pub peak_commit: Figure,
    /// Pagefile-backed committed memory (Windows).
    pub pagefile: Figure,
    /// What macOS's memory pressure and jetsam judge the process by (`phys_footprint`).
    pub footprint: Figure,
    /// Compressed by the memory compressor (macOS).
    pub compressed: Figure,
    /// Swapped out (Linux).
    pub swap: Figure,
    /// Page faults since the process started (a count, not bytes).
    pub page_faults: Figure,
    /// Open handles (Windows) or descriptors (Linux, macOS).
    pub handles: Figure,
}

/// `system.memoryDetail`: the system's own view of memory beyond total and available.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SystemMemoryDetail {
    /// Percent of physical memory in use (Windows).
    pub memory_load_percent: Figure,
    /// The most memory that can be committed (Windows: RAM plus pagefiles; Linux's
    /// `CommitLimit` is only enforced with `vm.overcommit_memory=2`).
    pub commit_limit: Figure,
    pub commit_total: Figure,
    /// macOS's page counts, in bytes.
    pub free: Figure,
    pub active: Figure,
    pub inactive: Figure,
    pub wired: Figure,
    pub compressed: Figure,
    /// `kern.memorystatus_vm_pressure_level` (macOS): 1 normal, 2 warning, 4 critical.
    pub pressure_level: Figure,
}

/// `jobObject`: the Windows job this process runs in and its memory limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct JobObject {
    pub in_job: bool,
    /// `JOB_OBJECT_LIMIT_PROCESS_MEMORY`: the most each process of the job may commit.
    pub process_memory_limit_bytes: Option<u64>,
    /// `JOB_OBJECT_LIMIT_JOB_MEMORY`: the most the whole job may commit.
    pub job_memory_limit_bytes: Option<u64>,
    pub peak_process_memory_used_bytes: Option<u64>,
    pub peak_job_memory_used_bytes: Option<u64>,
    #[cfg_attr(test, schemars(extend("const" = "QueryInformationJobObject")))]
    pub source: &'static str,
}

impl JobObject {
    /// The job's limit that binds this process: the smaller of the two.
    pub fn limit(&self) -> Option<u64> {
        match (self.process_memory_limit_bytes, self.job_memory_limit_bytes) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// `JOB_OBJECT_LIMIT_PROCESS_MEMORY` and `JOB_OBJECT_LIMIT_JOB_MEMORY`.
pub const JOB_OBJECT_LIMIT_PROCESS_MEMORY: u32 = 0x0000_0100;
pub const JOB_OBJECT_LIMIT_JOB_MEMORY: u32 = 0x0000_0200;

/// The raw fields of `JOBOBJECT_EXTENDED_LIMIT_INFORMATION` this library reads.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RawJobLimits {
    pub limit_flags: u32,
    pub process_memory_limit: u64,
    pub job_memory_limit: u64,
    pub peak_process_memory_used: u64,
    pub peak_job_memory_used: u64,
}

/// A job's limits from `QueryInformationJobObject`: a limit counts only when its flag is set.
pub fn job_object(raw: Option<RawJobLimits>) -> JobObject {
    let Some(r) = raw else {
        return JobObject {
            in_job: false,
            source: "QueryInformationJobObject",
            ..Default::default()
        };
    };
    let flag = |f: u32, v: u64| (r.limit_flags & f != 0 && v > 0).then_some(v);
    JobObject {
        in_job: true,
        process_memory_limit_bytes: flag(JOB_OBJECT_LIMIT_PROCESS_MEMORY, r.process_memory_limit),
        job_memory_limit_bytes: flag(JOB_OBJECT_LIMIT_JOB_MEMORY, r.job_memory_limit),
        peak_process_memory_used_bytes: Some(r.peak_process_memory_used),
        peak_job_memory_used_bytes: Some(r.peak_job_memory_used),
        source: "QueryInformationJobObject",
    }
}

/// `PROCESS_MEMORY_COUNTERS_EX`, widened.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WinMemoryCounters {
    pub page_faults: u64,
    pub working_set: u64,
    pub peak_working_set: u64,
    pub pagefile: u64,
    pub peak_pagefile: u64,
    pub private_bytes: u64,
}

/// `MEMORYSTATUSEX`, the fields used.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WinMemoryStatus {
    pub memory_load_percent: u32,
    pub total_phys: u64,
    pub avail_phys: u64,
    /// `ullTotalPageFile`: the commit limit.
    pub total_page_file: u64,
    /// `ullAvailPageFile`: what can still be committed.
    pub avail_page_file: u64,
}

/// `task_vm_info`, the fields used (macOS).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MacVmInfo {
    pub resident: u64,
    pub resident_peak: u64,
    pub internal: u64,
    pub compressed: u64,
    pub phys_footprint: u64,
    pub phys_footprint_peak: Option<u64>,
}

/// `vm_statistics64` page counts and the page size (macOS).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MacPages {
    pub page_size: u64,
    pub free: u64,
    pub active: u64,
    pub inactive: u64,
    pub wired: u64,
    /// Pages the compressor occupies.
    pub compressor: u64,
    pub speculative: u64,
}

fn not_on(os: &str, what: &str) -> String {
    format!("unavailable on {os}: {what}")
}

/// Linux: from `/proc/self/status`, `/proc/self/stat` and the descriptor count.
pub fn process_memory_linux(
    status: Option<&super::procfs::ProcStatus>,
    faults: Option<&super::procfs::PageFaults>,
    fds: Option<u64>,
) -> ProcessMemory {
    let st = |f: fn(&super::procfs::ProcStatus) -> Option<u64>| status.and_then(f);
    let missing = if status.is_some() {
        "not in /proc/self/status"
    } else {
        "/proc/self/status was not read"
    };
    let windows_only = not_on("linux", "a Windows figure (GetProcessMemoryInfo)");
    let macos_only = not_on("linux", "a macOS figure (task_info TASK_VM_INFO)");
    ProcessMemory {
        resident: Figure::opt(st(|s| s.vm_rss), "status:VmRSS", missing),
        peak_resident: Figure::opt(st(|s| s.vm_hwm), "status:VmHWM", missing),
        private: Figure::opt(st(|s| s.rss_anon), "status:RssAnon", missing),
        commit: Figure::none(not_on(
            "linux",
            "the kernel charges no per-process commit (system.memoryDetail has Committed_AS)",
        )),
        peak_commit: Figure::none(windows_only.clone()),
        pagefile: Figure::none(windows_only),
        footprint: Figure::none(macos_only.clone()),
        compressed: Figure::none(macos_only),
        swap: Figure::opt(st(|s| s.vm_swap), "status:VmSwap", missing),
        page_faults: Figure::opt(
            faults.map(|f| f.minor + f.major),
            "stat:minflt+majflt",
            "/proc/self/stat was not read",
        ),
        handles: Figure::opt(fds, "/proc/self/fd", "/proc/self/fd was not read"),
    }
}

/// Why a page-fault count of 0 is not recorded.
pub const ZERO_FAULTS: &str = "GetProcessMemoryInfo reported 0 page faults, which no running process has: this system does not count them (Wine 8 does not)";

/// Windows: from `GetProcessMemoryInfo` and `GetProcessHandleCount`.
pub fn process_memory_windows(
    c: Option<&WinMemoryCounters>,
    handles: Result<u64, &str>,
    why: &str,
) -> ProcessMemory {
    let f = |v: fn(&WinMemoryCounters) -> u64, src: &'static str| match c {
        Some(c) => Figure::of(v(c), src),
        None => Figure::none(why),
    };
    let macos_only = not_on("win32", "a macOS figure (task_info TASK_VM_INFO)");
    // `PrivateUsage` (the EX part) and `PagefileUsage` are both the commit charge; a
    // system that fills only the base struct (Wine 8) leaves the first 0.
    let commit = match c {
        Some(c) if c.private_bytes > 0 => {
            Figure::of(c.private_bytes, "GetProcessMemoryInfo:PrivateUsage")
        }
        Some(c) => Figure::of(c.pagefile, "GetProcessMemoryInfo:PagefileUsage"),
        None => Figure::none(why),
    };
    ProcessMemory {
        resident: f(|c| c.working_set, "GetProcessMemoryInfo:WorkingSetSize"),
        peak_resident: f(
            |c| c.peak_working_set,
            "GetProcessMemoryInfo:PeakWorkingSetSize",
        ),
        private: commit.clone(),
        commit,
        peak_commit: f(
            |c| c.peak_pagefile,
            "GetProcessMemoryInfo:PeakPagefileUsage",
        ),
        pagefile: f(|c| c.pagefile, "GetProcessMemoryInfo:PagefileUsage"),
        footprint: Figure::none(macos_only.clone()),
        compressed: Figure::none(macos_only),
        swap: Figure::none(not_on(
            "win32",
            "paged-out memory is not counted per process (see pagefile)",
        )),
        // A running process has faulted its pages in: 0 is a system that does not count
        // faults (Wine 8), not a figure.
        page_faults: match c {
            Some(c) if c.page_faults == 0 => Figure::none(ZERO_FAULTS),
            _ => f(|c| c.page_faults, "GetProcessMemoryInfo:PageFaultCount"),
        },
        handles: match handles {
            Ok(n) => Figure::of(n, "GetProcessHandleCount"),
            Err(why) => Figure::none(why),
        },
    }
}

/// macOS: from `task_info(TASK_VM_INFO)`, `getrusage` and the descriptor count.
pub fn process_memory_macos(
    v: Option<&MacVmInfo>,
    faults: Option<u64>,
    fds: Option<u64>,
    why: &str,
) -> ProcessMemory {
    let f = |g: fn(&MacVmInfo) -> u64, src: &'static str| match v {
        Some(v) => Figure::of(g(v), src),
        None => Figure::none(why),
    };
    let windows_only = not_on("darwin", "a Windows figure (GetProcessMemoryInfo)");
    ProcessMemory {
        resident: f(|v| v.resident, "task_info:resident_size"),
        peak_resident: f(|v| v.resident_peak, "task_info:resident_size_peak"),
        private: f(|v| v.internal, "task_info:internal"),
        commit: Figure::none(not_on("darwin", "macOS does not limit commit")),
        peak_commit: Figure::none(windows_only.clone()),
        pagefile: Figure::none(windows_only),
        footprint: f(|v| v.phys_footprint, "task_info:phys_footprint"),
        compressed: f(|v| v.compressed, "task_info:compressed"),
        swap: Figure::none(not_on(
            "darwin",
            "swapped memory is counted in footprint and compressed",
        )),
        page_faults: Figure::opt(faults, "getrusage:ru_minflt+ru_majflt", "getrusage failed"),
        handles: Figure::opt(fds, "/dev/fd", "/dev/fd could not be listed"),
    }
}

/// Linux: `CommitLimit` and `Committed_AS` from `/proc/meminfo`.
pub fn system_detail_linux(meminfo: Option<&super::procfs::MemInfo>) -> SystemMemoryDetail {
    let missing = "/proc/meminfo was not read";
    let macos_only = not_on("linux", "a macOS figure (host_statistics64)");
    SystemMemoryDetail {
        memory_load_percent: Figure::none(not_on(
            "linux",
            "a Windows figure (GlobalMemoryStatusEx)",
        )),
        commit_limit: Figure::opt(
            meminfo.and_then(|m| m.commit_limit),
            "meminfo:CommitLimit",
            missing,
        ),
        commit_total: Figure::opt(
            meminfo.and_then(|m| m.committed_as),
            "meminfo:Committed_AS",
            missing,
        ),
        free: Figure::none(macos_only.clone()),
        active: Figure::none(macos_only.clone()),
        inactive: Figure::none(macos_only.clone()),
        wired: Figure::none(macos_only.clone()),
        compressed: Figure::none(macos_only),
        pressure_level: Figure::none(not_on(
            "linux",
            "a macOS figure (kern.memorystatus_vm_pressure_level); see pressure (PSI)",
        )),
    }
}

/// Windows: `GlobalMemoryStatusEx`.
pub fn system_detail_windows(s: Option<&WinMemoryStatus>, why: &str) -> SystemMemoryDetail {
    let f = |g: fn(&WinMemoryStatus) -> u64, src: &'static str| match s {
        Some(s) => Figure::of(g(s), src),
        None => Figure::none(why),
    };
    let macos_only = not_on("win32", "a macOS figure (host_statistics64)");
    SystemMemoryDetail {
        memory_load_percent: f(
            |s| s.memory_load_percent as u64,
            "GlobalMemoryStatusEx:dwMemoryLoad",
        ),
        commit_limit: f(
            |s| s.total_page_file,
            "GlobalMemoryStatusEx:ullTotalPageFile",
        ),
        commit_total: f(
            |s| s.total_page_file.saturating_sub(s.avail_page_file),
            "GlobalMemoryStatusEx:ullTotalPageFile-ullAvailPageFile",
        ),
        free: Figure::none(macos_only.clone()),
        active: Figure::none(macos_only.clone()),
        inactive: Figure::none(macos_only.clone()),
        wired: Figure::none(macos_only.clone()),
        compressed: Figure::none(macos_only),
        pressure_level: Figure::none(not_on(
            "win32",
            "a macOS figure (kern.memorystatus_vm_pressure_level)",
        )),
    }
}

/// macOS: `host_statistics64(HOST_VM_INFO64)` and the pressure level.
pub fn system_detail_macos(
    p: Option<&MacPages>,
    pressure_level: Option<u64>,
    why: &str,
) -> SystemMemoryDetail {
    let f = |g: fn(&MacPages) -> u64, src: &'static str| match p {
        Some(p) => Figure::of(g(p).saturating_mul(p.page_size), src),
        None => Figure::none(why),
    };
    let windows_only = not_on("darwin", "a Windows figure (GlobalMemoryStatusEx)");
    SystemMemoryDetail {
        memory_load_percent: Figure::none(windows_only),
        commit_limit: Figure::none(not_on("darwin", "macOS does not limit commit")),
        commit_total: Figure::none(not_on("darwin", "macOS does not limit commit")),
        free: f(
            |p| p.free + p.speculative,
            "host_statistics64:free_count+speculative_count",
        ),
        active: f(|p| p.active, "host_statistics64:active_count"),
        inactive: f(|p| p.inactive, "host_statistics64:inactive_count"),
        wired: f(|p| p.wired, "host_statistics64:wire_count"),
        compressed: f(|p| p.compressor, "host_statistics64:compressor_page_count"),
        pressure_level: Figure::opt(
            pressure_level,
            "sysctl:kern.memorystatus_vm_pressure_level",
            "sysctl kern.memorystatus_vm_pressure_level failed",
        ),
    }
}

/// A Windows process's memory with `private` bytes committed: a fixture for the tests of
/// this module and of `limit`.
#[cfg(test)]
pub fn win_process_fixture(private: u64) -> ProcessMemory {
    let c = WinMemoryCounters {
        working_set: private / 2,
        private_bytes: private,
        ..Default::default()
    };
    process_memory_windows(Some(&c), Ok(300), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_figure_has_a_source_or_a_reason_on_every_platform() {
        let status = crate::probes::procfs::parse_status(
            "VmRSS:\t2048 kB\nVmHWM:\t4096 kB\nRssAnon:\t1024 kB\n",
        );
        let faults = crate::probes::procfs::PageFaults { minor: 5, major: 2 };
        let linux = process_memory_linux(Some(&status), Some(&faults), Some(12));
        assert_eq!(linux.resident.value, Some(2 << 20));
        assert_eq!(linux.page_faults.value, Some(7));
        assert_eq!(
            linux.swap.unavailable.as_deref(),
            Some("not in /proc/self/status")
        );
        let win = win_process_fixture(100);
        assert_eq!(
            (win.commit.value, win.handles.value),
            (Some(100), Some(300))
        );
        // Only the base counters filled, no faults counted (Wine 8): the commit charge from
        // PagefileUsage, the fault count unavailable.
        let base = WinMemoryCounters {
            pagefile: 70,
            ..Default::default()
        };
        let w = process_memory_windows(Some(&base), Err("stub"), "");
        assert_eq!(
            (w.commit.value, w.commit.source),
            (Some(70), Some("GetProcessMemoryInfo:PagefileUsage"))
        );
        assert_eq!(w.private, w.commit);
        assert_eq!(w.page_faults.unavailable.as_deref(), Some(ZERO_FAULTS));
        assert_eq!(w.handles.unavailable.as_deref(), Some("stub"));
        let counted = WinMemoryCounters {
            page_faults: 12,
            ..base
        };
        let w = process_memory_windows(Some(&counted), Ok(5), "");
        assert_eq!(w.page_faults.value, Some(12));
        assert_eq!(
            win.resident.source,
            Some("GetProcessMemoryInfo:WorkingSetSize")
        );
        let failed = process_memory_windows(None, Err("x"), "GetProcessMemoryInfo: access denied");
        assert_eq!(
            failed.resident.unavailable.as_deref(),
            Some("GetProcessMemoryInfo: access denied")
        );
        let mac = process_memory_macos(
            Some(&MacVmInfo {
                resident: 10,
                resident_peak: 20,
                internal: 7,
                compressed: 3,
                phys_footprint: 9,
                phys_footprint_peak: None,
            }),
            Some(4),
            Some(30),
            "",
        );
        assert_eq!(
            (mac.footprint.value, mac.compressed.value, mac.private.value),
            (Some(9), Some(3), Some(7))
        );
        let pages = MacPages {
            page_size: 16384,
            free: 10,
            speculative: 2,
            active: 3,
            inactive: 4,
            wired: 5,
            compressor: 6,
        };
        let d = system_detail_macos(Some(&pages), Some(2), "");
        assert_eq!(d.free.value, Some(12 * 16384));
        assert_eq!(d.compressed.value, Some(6 * 16384));
        assert_eq!(d.pressure_level.value, Some(2));
        for pm in [&linux, &win, &failed, &mac] {
            let v = serde_json::to_value(pm).unwrap();
            for (k, f) in v.as_object().unwrap() {
                let has_value = !f["value"].is_null() && f["source"].is_string();
                let has_reason = f["value"].is_null() && f["unavailable"].is_string();
                assert!(has_value || has_reason, "{k}: {f}");
            }
        }
        for sd in [
            system_detail_linux(None),
            d,
            system_detail_windows(None, "x"),
        ] {
            let v = serde_json::to_value(&sd).unwrap();
            assert_eq!(v.as_object().unwrap().len(), 9);
            for (k, f) in v.as_object().unwrap() {
                assert!(
                    f["source"].is_string() || f["unavailable"].is_string(),
                    "{k}: {f}"
                );
            }
        }
    }
}
