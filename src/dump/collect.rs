//! What phase 2 reads: every probe, each on its own (one that fails costs its section,
//! never the dump), through a [`ProbeRunner`] that bounds their time; the platform's
//! figures where procfs is missing.

use crate::probes::cgroup::{self, CgroupInfo};
use crate::probes::malloc::{self, MallocStats};
use crate::probes::pressure::{self, Psi};
use crate::probes::rss_split::{self, SmapsRollupPolicy};
use crate::probes::system::SystemInfo;
use crate::probes::tree::{self, ProcessTree, TreeLimits, TreeProcess};
use crate::probes::{platform, portable, procfs, rusage, system, ProbeRoots, ProbeRunner};
use crate::report::ProcessSection;
use crate::timefmt::UtcTime;

/// Everything phase 2 collects, before it goes into the report.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub process: ProcessSection,
    pub system: Option<SystemInfo>,
    pub cgroup: Option<CgroupInfo>,
    pub job_object: Option<platform::JobObject>,
    pub pressure: Option<Psi>,
    pub tree: Option<ProcessTree>,
    /// `mallinfo2`, or why the C library has none.
    pub malloc: Option<Result<MallocStats, String>>,
}

/// Runs every probe; each may fail on its own.
pub fn collect(
    roots: &ProbeRoots,
    runner: &mut ProbeRunner,
    smaps_policy: SmapsRollupPolicy,
    mallinfo: malloc::MallinfoPolicy,
) -> Collected {
    let linux = cfg!(target_os = "linux");
    // Off Linux, the procfs files with a counterpart here are replaced by the probe that
    // reads it; those without (PSI, smaps, the OOM score) are listed as unavailable.
    let (status, statm) = if linux {
        (
            runner.run_linux("status", || procfs::read_status(roots)),
            runner.run_linux("statm", || procfs::read_statm(roots)),
        )
    } else {
        runner.replaced("status", "processMemory");
        runner.replaced("statm", "processMemory");
        (None, None)
    };
    // The cheap counters say how large the process is before anything walks its pages.
    let rss = status
        .as_ref()
        .and_then(|s| s.vm_rss)
        .or(statm.map(|m| m.resident));
    let (smaps_rollup, smaps_skipped) = match smaps_policy.decide(rss) {
        Err(reason) if linux => {
            runner.skip("smapsRollup", reason.clone());
            (None, Some(reason))
        }
        _ => (
            runner.run_linux("smapsRollup", || procfs::read_smaps_rollup(roots)),
            None,
        ),
    };
    let rss_split = linux.then(|| {
        rss_split::build(
            status.as_ref(),
            statm.as_ref(),
            smaps_rollup.as_ref(),
            smaps_skipped.as_deref(),
        )
    });
    let open_fds = runner.run("openFds", open_fds_here(roots));
    let resource_usage = runner.run("resourceUsage", rusage::read);
    let page_faults = if cfg!(windows) {
        runner.replaced("pageFaults", "processMemory");
        None
    } else if linux {
        runner.run_linux("pageFaults", || procfs::read_page_faults(roots))
    } else {
        // getrusage counts this process's faults the way /proc/self/stat does.
        resource_usage.as_ref().map(|r| procfs::PageFaults {
            minor: r.minor_page_faults.unwrap_or(0),
            major: r.major_page_faults.unwrap_or(0),
        })
    };
    let memory = if linux {
        Some(platform::process_memory_linux(
            status.as_ref(),
            page_faults.as_ref(),
            open_fds,
        ))
    } else {
        process_memory_here(runner, open_fds, page_faults.as_ref())
    };
    let process = ProcessSection {
        rss_split,
        smaps_rollup,
        open_fds,
        open_fds_limit: runner
            .run("openFdsLimit", rusage::open_files_limit)
            .flatten(),
        resource_usage,
        page_faults,
        oom_score: runner.run_linux("oomScore", || procfs::read_oom_score(roots)),
        mappings: runner.run("mappings", mappings_here(roots)),
        uptime_seconds: runner.run("uptime", uptime_here(roots)),
        memory,
        status,
        statm,
    };
    let mut system = runner.run("system", system::read);
    if let Some(s) = system.as_mut() {
        if linux {
            s.meminfo = runner.run_linux("meminfo", || procfs::read_meminfo(roots));
            s.memory_detail = Some(platform::system_detail_linux(s.meminfo.as_ref()));
        } else {
            runner.replaced("meminfo", "systemMemory");
            s.memory_detail = system_detail_here(runner);
        }
    }
    let (cgroup, job_object) = if cfg!(windows) {
        runner.replaced("cgroup", "jobObject");
        (None, job_object_here(runner))
    } else {
        let cgroup = runner.run_linux("cgroup", || {
            cgroup::read(&roots.proc, &roots.pid_dir, &roots.cgroup_fs)
        });
        (cgroup, None)
    };
    let pressure = runner.run_linux("pressure", || pressure::read_system(&roots.proc));
    let pid = std::process::id();
    let tree = if linux {
        runner.run("processTree", || {
            tree::read(&roots.proc, pid, TreeLimits::default())
        })
    } else {
        runner.run("processTree", || {
            portable_tree(pid, TreeLimits::default().max_processes)
        })
    };
    // Off the JS thread, after the cheap probes: it holds each malloc arena's lock while
    // it walks that arena (docs/benchmarks.md has its cost).
    // A C library without mallinfo2 is a platform fact (its reason goes into the
    // accounting), not a failed probe; a deliberately skipped call is listed as skipped.
    let malloc = match mallinfo.decide() {
        Ok(()) => runner.run("malloc", || Ok::<_, String>(malloc::read())),
        Err(reason) => match malloc::available() {
            Ok(()) => {
                runner.skip("malloc", reason.clone());
                Some(Err(reason))
            }
            Err(unavailable) => Some(Err(unavailable)),
        },
    };
    Collected {
        process,
        system,
        cgroup,
        job_object,
        pressure,
        tree,
        malloc,
    }
}

/// Open descriptors: `/proc/self/fd` (Linux), `/dev/fd` (macOS), handles (Windows).
fn open_fds_here(roots: &ProbeRoots) -> impl FnOnce() -> Result<u64, String> + '_ {
    move || {
        #[cfg(windows)]
        {
            let _ = roots;
            crate::probes::windows::handle_count()
        }
        #[cfg(target_os = "macos")]
        {
            let _ = roots;
            crate::probes::macos::count_open_fds()
        }
        #[cfg(not(any(windows, target_os = "macos")))]
        {
            if cfg!(target_os = "linux") {
                procfs::count_open_fds(roots)
            } else {
                Err(format!(
                    "unavailable on {}: no descriptor count",
                    std::env::consts::OS
                ))
            }
        }
    }
}

/// Memory mappings: `/proc/self/maps` (Linux), committed regions (Windows).
fn mappings_here(roots: &ProbeRoots) -> impl FnOnce() -> Result<procfs::Mappings, String> + '_ {
    move || {
        #[cfg(windows)]
        {
            let _ = roots;
            let (total, file_backed, truncated) =
                crate::probes::windows::count_regions(procfs::MAX_MAPPINGS_COUNTED)?;
            Ok(procfs::Mappings {
                total,
                file_backed,
                truncated,
            })
        }
        #[cfg(not(windows))]
        {
            if cfg!(target_os = "linux") {
                procfs::count_mappings(roots)
            } else {
                Err(format!(
                    "unavailable on {}: Linux only (procfs)",
                    std::env::consts::OS
                ))
            }
        }
    }
}

/// How long this process has run: procfs on Linux, its start time elsewhere.
fn uptime_here(roots: &ProbeRoots) -> impl FnOnce() -> Result<f64, String> + '_ {
    move || {
        if cfg!(target_os = "linux") {
            return procfs::process_uptime_seconds(roots);
        }
        #[cfg(windows)]
        let start = crate::probes::windows::process_times()?.2;
        #[cfg(not(windows))]
        let start = crate::report::process_start_ms();
        let now = UtcTime::now().epoch_ms.max(0) as u64;
        Ok(procfs::round_millis(
            now.saturating_sub(start) as f64 / 1000.0,
        ))
    }
}

fn process_memory_here(
    runner: &mut ProbeRunner,
    open_fds: Option<u64>,
    page_faults: Option<&procfs::PageFaults>,
) -> Option<platform::ProcessMemory> {
    #[cfg(windows)]
    {
        let _ = page_faults;
        let mut why = String::new();
        let c = runner.run("processMemory", || {
            crate::probes::windows::memory_counters().inspect_err(|e| why = e.clone())
        });
        let fds_why = runner
            .failures
            .iter()
            .find(|f| f.probe == "openFds")
            .map_or("the openFds probe did not run".to_string(), |f| {
                f.reason.clone()
            });
        Some(platform::process_memory_windows(
            c.as_ref(),
            open_fds.ok_or(fds_why.as_str()),
            &why,
        ))
    }
    #[cfg(target_os = "macos")]
    {
        let mut why = String::new();
        let v = runner.run("processMemory", || {
            crate::probes::macos::vm_info().inspect_err(|e| why = e.clone())
        });
        Some(platform::process_memory_macos(
            v.as_ref(),
            page_faults.map(|f| f.minor + f.major),
            open_fds,
            &why,
        ))
    }
    #[cfg(not(any(windows, target_os = "macos")))]
    {
        let _ = (runner, open_fds, page_faults);
        None
    }
}

fn system_detail_here(runner: &mut ProbeRunner) -> Option<platform::SystemMemoryDetail> {
    #[cfg(windows)]
    {
        let mut why = String::new();
        let s = runner.run("systemMemory", || {
            crate::probes::windows::memory_status().inspect_err(|e| why = e.clone())
        });
        Some(platform::system_detail_windows(s.as_ref(), &why))
    }
    #[cfg(target_os = "macos")]
    {
        let mut why = String::new();
        let p = runner.run("systemMemory", || {
            crate::probes::macos::pages().inspect_err(|e| why = e.clone())
        });
        let level = runner.run("memoryPressureLevel", crate::probes::macos::pressure_level);
        Some(platform::system_detail_macos(p.as_ref(), level, &why))
    }
    #[cfg(not(any(windows, target_os = "macos")))]
    {
        let _ = runner;
        None
    }
}

fn job_object_here(runner: &mut ProbeRunner) -> Option<platform::JobObject> {
    #[cfg(windows)]
    {
        runner
            .run("jobObject", crate::probes::windows::job_limits)
            .map(platform::job_object)
    }
    #[cfg(not(windows))]
    {
        let _ = runner;
        None
    }
}

/// The same tree from sysinfo, where there is no procfs.
fn portable_tree(pid: u32, max: usize) -> Result<ProcessTree, String> {
    let list = portable::read_tree(pid, max)?;
    let processes: Vec<TreeProcess> = list
        .iter()
        .map(|p| TreeProcess {
            pid: p.pid,
            ppid: p.ppid.unwrap_or(0),
            name: p.name.clone(),
            rss_bytes: Some(p.rss_bytes),
            depth: p.depth,
        })
        .collect();
    let total: u64 = processes.iter().filter_map(|p| p.rss_bytes).sum();
    let root_rss = processes.first().and_then(|p| p.rss_bytes).unwrap_or(0);
    Ok(ProcessTree {
        method: "sysinfo",
        root_pid: pid,
        process_count: processes.len(),
        descendant_count: processes.len().saturating_sub(1),
        total_rss_bytes: total,
        descendants_rss_bytes: total - root_rss,
        largest_descendant: processes
            .iter()
            .skip(1)
            .max_by_key(|p| p.rss_bytes)
            .cloned(),
        truncated: processes.len() >= max,
        truncated_reason: (processes.len() >= max).then(|| format!("stopped at {max} processes")),
        vanished: 0,
        processes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_tree_has_this_process() {
        let t = portable_tree(std::process::id(), 64).unwrap();
        assert_eq!(t.method, "sysinfo");
        assert_eq!(t.processes[0].pid, std::process::id());
        assert!(t.total_rss_bytes > 0);
    }
}
