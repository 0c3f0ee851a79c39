//! Phase 2: collect the rich picture of the process and atomically replace the phase-1
//! file with the enriched document. Runs on the background thread, never on the JS one.
//!
//! Length: about 760 lines of code and 250 of unit tests: phase 2's probes, the facts it
//! derives from them and the replace, kept together with their tests.

use std::path::PathBuf;
use std::time::Instant;

use crate::analysis::accounting::{self, MemoryAccounting};
use crate::analysis::{self, Facts, GrowthPoint};
use crate::heap_snapshot::take::{HeapSnapshotSection, HeapState, Pending};
use crate::probes::cgroup::{self, CgroupInfo};
use crate::probes::malloc::{self, MallocStats};
use crate::probes::pressure::{self, Psi};
use crate::probes::rss_split::{self, SmapsRollupPolicy};
use crate::probes::system::SystemInfo;
use crate::probes::tree::{self, ProcessTree, TreeLimits, TreeProcess};
use crate::probes::{platform, portable, procfs, rusage, system, ProbeRoots, ProbeRunner};
use crate::report::{ProcessSection, Report};
use crate::timefmt::UtcTime;
use crate::writer::{self, FileId, RetentionReport};

/// Everything phase 2 needs, handed over by phase 1.
#[derive(Debug, Clone)]
pub struct Phase2Plan {
    pub dir: PathBuf,
    /// The name phase 1 landed at (its first choice or the next free one).
    pub final_name: String,
    /// The phase-1 file, so phase 2 replaces it and nothing else.
    pub file_id: Option<FileId>,
    /// The phase-1 document; phase 2 only adds to it.
    pub report: Report,
    pub max_files: u32,
    pub roots: ProbeRoots,
    /// The dumper's armed-file slot, re-armed here, off the JS thread.
    pub arm: Option<std::sync::Arc<crate::writer::ArmSlot>>,
    pub smaps_rollup: SmapsRollupPolicy,
    pub mallinfo: malloc::MallinfoPolicy,
    /// The heap-snapshot state, when `options.heapSnapshot` is set.
    pub heap: Option<std::sync::Arc<HeapState>>,
    /// The heap-snapshot session the dump was made in ([`HeapState::session`]).
    pub heap_session: u64,
    /// The first dump's growth point of this dumper (this process), kept for the next
    /// dumps' growth attribution; phase 2 fills it when empty.
    pub first_point: Option<std::sync::Arc<parking_lot::Mutex<Option<GrowthPoint>>>>,
    /// The watchdog's stack request: answered (or given up) before the document is written.
    pub stack: Option<crate::recorder::stack_capture::Ticket>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Phase2Outcome {
    /// The enriched document is in place.
    pub complete: bool,
    pub error: Option<String>,
    pub retention: RetentionReport,
    pub swept_temps: Vec<String>,
    /// The heap-snapshot section written into the document, and the ticket of a pending
    /// snapshot (for the JS side to take it).
    pub heap: Option<(HeapSnapshotSection, Option<u32>)>,
}

pub use crate::report::MemoryLimit;

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

/// The host's figures the accounting uses, from `atTrigger`.
pub fn host_figures(at: &crate::report::AtTrigger) -> accounting::HostFigures {
    let heap = &at.v8_heap_stats;
    let usage = &at.memory_usage;
    accounting::HostFigures {
        total_physical_size: heap.get("totalPhysicalSize"),
        heap_total: usage.get("heapTotal"),
        rss: usage.get("rss"),
        array_buffers: usage.get("arrayBuffers"),
        external: usage.get("external"),
        external_memory: heap.get("externalMemory"),
        spaces: at.v8_heap_spaces.as_ref().map(|v| {
            v.iter()
                .map(|s| (s.name.clone(), s.values.get("physicalSpaceSize")))
                .collect()
        }),
    }
}

/// This dump's point for growth attribution, from its accounting and `atTrigger`.
pub fn dump_point(epoch_ms: i64, a: &MemoryAccounting, report: &Report) -> GrowthPoint {
    let heap = &report.at_trigger.v8_heap_stats;
    let usage = &report.at_trigger.memory_usage;
    let m = a.malloc.stats.as_ref();
    GrowthPoint {
        epoch_ms,
        rss: a.rss_bytes.map(|v| v as f64),
        anon: a.anon_bytes.map(|v| v as f64),
        file: a.parts.file_backed.bytes.map(|v| v as f64),
        shmem: a.parts.shared_memory.bytes.map(|v| v as f64),
        v8_heap: heap.get("totalPhysicalSize").or(usage.get("heapTotal")),
        heap_used: heap.get("usedHeapSize").or(usage.get("heapUsed")),
        external: usage.get("external").or(heap.get("externalMemory")),
        array_buffers: usage.get("arrayBuffers"),
        malloc_in_use: m.map(|m| m.in_use_bytes as f64),
        malloc_free: m.map(|m| m.free_retained_bytes as f64),
        children: a.children.as_ref().map(|c| c.rss_bytes as f64),
        handles: None,
    }
}

/// A recorder sample as a growth point.
pub fn sample_point(s: &crate::recorder::Sample) -> GrowthPoint {
    GrowthPoint {
        epoch_ms: s.epoch_ms,
        rss: s.rss_bytes.map(|v| v as f64),
        anon: s.rss_anon_bytes.map(|v| v as f64),
        file: s.rss_file_bytes.map(|v| v as f64),
        shmem: s.rss_shmem_bytes.map(|v| v as f64),
        v8_heap: s.heap_physical_bytes.or(s.heap_total_bytes),
        heap_used: s.heap_used_bytes,
        external: s.external_bytes,
        array_buffers: s.array_buffers_bytes,
        ..Default::default()
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

/// The smaller of the cgroup's limit and physical memory (and, on Windows, the commit
/// limit the system reports), with usage and headroom.
pub fn memory_limit(
    cgroup: Option<&CgroupInfo>,
    system: Option<&SystemInfo>,
) -> Option<MemoryLimit> {
    memory_limit_from(cgroup, None, None, system)
}

/// The smallest of the limits that apply here (`probes::platform::limit_candidates`),
/// with what counts against it and the headroom left.
pub fn memory_limit_from(
    cgroup: Option<&CgroupInfo>,
    job: Option<&platform::JobObject>,
    process: Option<&platform::ProcessMemory>,
    system: Option<&SystemInfo>,
) -> Option<MemoryLimit> {
    let cg = cgroup.and_then(|c| c.effective_limit.map(|l| (l, c.usage)));
    let best = crate::probes::limit::effective(&crate::probes::limit::limit_candidates(
        cg, job, process, system,
    ))?;
    let (limit, usage) = (best.limit, best.usage);
    Some(MemoryLimit {
        effective_limit_bytes: limit,
        source: best.source,
        usage_bytes: usage,
        headroom_bytes: usage.map(|u| limit.saturating_sub(u)),
        usage_ratio: usage.map(|u| (u as f64 / limit as f64 * 1e4).round() / 1e4),
    })
}

/// The figures the analysis rules look at: read from the document phase 2 has filled (the
/// one mapping, `facts::facts_from_document`, which the JS fallback's `lib/facts.js`
/// twins), with the growth points across this process's dumps.
pub fn facts(report: &Report, growth_points: Vec<GrowthPoint>) -> Facts {
    let doc = serde_json::to_value(report).unwrap_or(serde_json::Value::Null);
    let mut f = crate::dump::facts::facts_from_document(&doc);
    f.growth_points = growth_points;
    f
}

/// Fills the phase-2 sections of `report` from what was collected. `first` holds the
/// growth point of this process's first dump (filled here when empty).
pub fn enrich(
    report: &mut Report,
    c: Collected,
    first: Option<&parking_lot::Mutex<Option<GrowthPoint>>>,
) {
    let limit = memory_limit_from(
        c.cgroup.as_ref(),
        c.job_object.as_ref(),
        c.process.memory.as_ref(),
        c.system.as_ref(),
    );
    let acc = accounting::build_on(
        c.process.status.as_ref(),
        accounting_basis(c.process.memory.as_ref()),
        &host_figures(&report.at_trigger),
        c.malloc
            .clone()
            .unwrap_or_else(|| Err("the malloc probe failed".into())),
        c.tree.as_ref(),
    );
    let now = crate::timefmt::UtcTime::now().epoch_ms;
    let mut this = dump_point(now, &acc, report);
    this.handles = c.process.open_fds.map(|v| v as f64);
    let mut points: Vec<GrowthPoint> = Vec::new();
    if let Some(slot) = first {
        let mut slot = slot.lock();
        match slot.as_ref() {
            Some(p) => points.push(p.clone()),
            None => *slot = Some(this.clone()),
        }
    }
    points.extend(report.history.iter().flatten().map(sample_point));
    points.retain(|p| p.epoch_ms < now);
    points.sort_by_key(|p| p.epoch_ms);
    points.push(this);
    report.memory_accounting = Some(acc);
    report.memory_limit = limit;
    report.process = Some(c.process);
    report.system = c.system;
    report.cgroup = c.cgroup;
    report.job_object = c.job_object;
    report.pressure = c.pressure;
    report.process_tree = c.tree;
    // The analysis reads its facts from the document as written (one mapping: `facts`),
    // with the growth points beside it.
    report.analysis = Some(analysis::analyze(&facts(report, points)));
    report.collection_complete = true;
}

/// What the accounting splits off Linux: private bytes (Windows), the physical footprint
/// (macOS). On Linux (no basis) it splits `VmRSS`.
pub fn accounting_basis(m: Option<&platform::ProcessMemory>) -> Option<accounting::Basis> {
    let m = m?;
    if let (Some(bytes), Some(source)) = (m.commit.value, m.commit.source) {
        return Some(accounting::Basis {
            bytes,
            source,
            why_not_split:
                "not measured on win32: Windows gives no per-kind split of private bytes",
        });
    }
    if let (Some(bytes), Some(source)) = (m.footprint.value, m.footprint.source) {
        return Some(accounting::Basis {
            bytes,
            source,
            why_not_split: "not measured on darwin: macOS gives no per-kind split of the footprint",
        });
    }
    None
}

/// Phase 2 with any panic turned into a reported error: the promise must settle, and
/// the phase-1 file stays as it was.
pub fn run_phase2_guarded(plan: Phase2Plan) -> Phase2Outcome {
    let dir = plan.dir.clone();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_phase2(plan))) {
        Ok(outcome) => outcome,
        Err(panic) => Phase2Outcome {
            complete: false,
            error: Some(format!(
                "phase 2: internal error (panic): {}; the phase-1 document is left in place",
                crate::dump::background::panic_message(panic.as_ref())
            )),
            retention: RetentionReport::default(),
            swept_temps: writer::sweep_stale_temps(&dir),
            heap: None,
        },
    }
}

/// What runs right after phase 1, off the JS thread: re-arm the next phase 1, then
/// retention (never the file just written) and the sweep of abandoned temporary files.
fn after_phase1(plan: &Phase2Plan) -> (RetentionReport, Vec<String>) {
    if let Some(arm) = &plan.arm {
        arm.rearm();
    }
    let retention = writer::apply_retention(
        &plan.dir,
        plan.max_files as usize,
        &[plan.final_name.as_str()],
        &UtcTime::now(),
    );
    (retention, writer::sweep_stale_temps(&plan.dir))
}

pub fn run_phase2(plan: Phase2Plan) -> Phase2Outcome {
    let (retention, swept_temps) = after_phase1(&plan);
    crate::test_hooks::check("phase2");
    let start = Instant::now();
    let Phase2Plan {
        dir,
        final_name,
        file_id,
        mut report,
        roots,
        smaps_rollup,
        mallinfo,
        heap,
        heap_session,
        max_files,
        first_point: plan_first,
        stack,
        ..
    } = plan;
    let mut runner = ProbeRunner::new();
    let collected = collect(&roots, &mut runner, smaps_rollup, mallinfo);
    enrich(&mut report, collected, plan_first.as_deref());
    report.collection.failed_probes = Some(runner.failures);
    report.collection.skipped_probes = Some(runner.skipped);
    report.collection.probe_micros = Some(runner.micros);
    // After the collection, so that the helper's capture overlapped with it.
    if let Some(ticket) = stack {
        let captured = ticket.wait();
        if let Some(w) = report.watchdog.as_mut() {
            w.stack = Some(captured);
        }
    }
    report.collection.phase2_millis = Some((start.elapsed().as_secs_f64() * 1e6).round() / 1e3);
    // Phase 2's figures decide about a heap snapshot; its section goes into this document.
    let planned = heap
        .as_ref()
        .and_then(|h| h.plan(&dir, &report, heap_session));
    report.heap_snapshot = planned.as_ref().map(|p| p.section.clone());
    let bytes = report.to_json();
    match writer::replace_own_id(&dir, &final_name, file_id, &bytes) {
        Ok((_, dump_id)) => {
            let heap_out = match (planned, heap) {
                (Some(p), Some(state)) => {
                    let section = p.section.clone();
                    let ticket = p.raw.map(|(raw, heap_name, reservation)| {
                        state.add(Pending {
                            raw: Some(raw),
                            dir: dir.clone(),
                            heap_name,
                            dump_name: final_name.clone(),
                            dump_id,
                            config: state.config.clone(),
                            report,
                            section: p.section,
                            max_files,
                            sampler: None,
                            reservation,
                        })
                    });
                    Some((section, ticket))
                }
                _ => None,
            };
            Phase2Outcome {
                complete: true,
                error: None,
                retention,
                swept_temps,
                heap: heap_out,
            }
        }
        Err(e) => Phase2Outcome {
            complete: false,
            error: Some(format!(
                "phase 2: {e}; the phase-1 document is left in place"
            )),
            retention,
            swept_temps,
            heap: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::cgroup::CgroupEvents;

    fn sys(total: u64, available: u64) -> SystemInfo {
        SystemInfo {
            total_memory: total,
            available_memory: available,
            ..Default::default()
        }
    }

    fn cg(limit: Option<u64>, usage: u64) -> CgroupInfo {
        CgroupInfo {
            effective_limit: limit,
            usage: Some(usage),
            ..Default::default()
        }
    }

    #[test]
    fn effective_limit_is_the_smaller_one() {
        let l = memory_limit(Some(&cg(Some(100), 60)), Some(&sys(1000, 900))).unwrap();
        assert_eq!(
            (
                l.effective_limit_bytes,
                l.source,
                l.usage_bytes,
                l.headroom_bytes
            ),
            (100, "cgroup", Some(60), Some(40))
        );
        assert_eq!(l.usage_ratio, Some(0.6));
        let l = memory_limit(Some(&cg(Some(5000), 60)), Some(&sys(1000, 900))).unwrap();
        assert_eq!(
            (
                l.effective_limit_bytes,
                l.source,
                l.usage_bytes,
                l.headroom_bytes
            ),
            (1000, "physical", Some(100), Some(900))
        );
        let l = memory_limit(Some(&cg(None, 60)), Some(&sys(1000, 250))).unwrap();
        assert_eq!((l.source, l.usage_bytes), ("physical", Some(750)));
        let l = memory_limit(None, Some(&sys(1000, 250))).unwrap();
        assert_eq!(l.source, "physical");
        assert_eq!(
            memory_limit(Some(&cg(Some(10), 20)), None)
                .unwrap()
                .headroom_bytes,
            Some(0)
        );
        assert_eq!(memory_limit(None, None), None);
    }

    #[test]
    fn facts_prefer_live_figures_and_the_worst_pressure() {
        let report = crate::report::tests::sample();
        let mut c = Collected::default();
        c.process.status = Some(procfs::ProcStatus {
            vm_rss: Some(5000),
            threads: Some(12),
            ..Default::default()
        });
        c.pressure = Some(pressure::parse_psi("some avg10=1.00 avg60=0 avg300=0 total=0").unwrap());
        let mut g = cg(Some(100), 90);
        g.pressure = Some(pressure::parse_psi("some avg10=30.00 avg60=0 avg300=0 total=0\nfull avg10=7.00 avg60=0 avg300=0 total=0").unwrap());
        g.events = Some(CgroupEvents {
            oom_kill: Some(2),
            ..Default::default()
        });
        c.cgroup = Some(g);
        let mut r = report.clone();
        enrich(&mut r, c, None);
        let f = facts(&r, vec![]);
        assert_eq!(f.rss, Some(5000.0));
        assert_eq!(f.psi_some_avg10, Some(30.0));
        assert_eq!(f.psi_full_avg10, Some(7.0));
        assert_eq!(f.cgroup_oom_kills, Some(2.0));
        assert_eq!(f.usage_against_limit, Some(90.0));
        let kinds: Vec<_> = r
            .analysis
            .as_ref()
            .unwrap()
            .risks
            .iter()
            .map(|r| r.kind)
            .collect();
        assert!(
            kinds.contains(&"cgroupOomKills")
                && kinds.contains(&"rssNearLimit")
                && kinds.contains(&"memoryPressureStall"),
            "{kinds:?}"
        );
        assert!(r.collection_complete);
    }

    /// A fixture process 4 GiB resident: the split comes from `status`, and
    /// `smaps_rollup` (present in the fixture) is read only when the policy allows it.
    #[cfg(target_os = "linux")]
    #[test]
    fn large_process_keeps_its_split_without_the_page_table_walk() {
        let d = std::env::temp_dir().join(format!("mdd-collector-4g-{}", std::process::id()));
        let own = d.join("self");
        std::fs::create_dir_all(&own).unwrap();
        std::fs::write(
            own.join("status"),
            "VmRSS:\t4194304 kB\nRssAnon:\t4128768 kB\nRssFile:\t61440 kB\nRssShmem:\t4096 kB\nVmSwap:\t2048 kB\nThreads:\t11\n",
        )
        .unwrap();
        std::fs::write(own.join("statm"), "2000000 1048576 16384 10 0 1000000 0\n").unwrap();
        std::fs::write(
            own.join("smaps_rollup"),
            "00400000-7fff0000 ---p 00000000 00:00 0 [rollup]\nRss: 4194304 kB\nPss: 4190000 kB\nSwapPss: 2000 kB\n",
        )
        .unwrap();
        let roots = ProbeRoots {
            proc: d.clone(),
            ..Default::default()
        };
        let mut runner = ProbeRunner::new();
        let c = collect(
            &roots,
            &mut runner,
            SmapsRollupPolicy::default(),
            Default::default(),
        );
        let split = c.process.rss_split.unwrap();
        const KIB: u64 = 1024;
        assert_eq!(split.rss.bytes, Some(4194304 * KIB));
        assert_eq!(
            (split.anon.bytes, split.anon.source),
            (Some(4128768 * KIB), Some("status:RssAnon"))
        );
        assert_eq!(split.file.source, Some("status:RssFile"));
        assert_eq!(split.shmem.bytes, Some(4096 * KIB));
        assert_eq!(
            (split.swap.bytes, split.swap.source),
            (Some(2048 * KIB), Some("status:VmSwap"))
        );
        assert_eq!(split.pss.bytes, None);
        let reason = split.pss.skipped.unwrap();
        assert!(reason.contains("(4096.0 MiB)"), "{reason}");
        assert!(c.process.smaps_rollup.is_none());
        assert_eq!(runner.skipped.len(), 1);
        assert_eq!(runner.skipped[0].probe, "smapsRollup");
        assert_eq!(runner.skipped[0].reason, reason);
        assert!(!runner.micros.contains_key("smapsRollup"), "never opened");
        assert_eq!(
            c.process.statm.unwrap().resident,
            1048576 * procfs::page_size()
        );

        // The host opted in: read, and PSS is in the split.
        let mut runner = ProbeRunner::new();
        let c = collect(
            &roots,
            &mut runner,
            SmapsRollupPolicy::Always,
            Default::default(),
        );
        let split = c.process.rss_split.unwrap();
        assert_eq!(
            (split.pss.bytes, split.pss.source),
            (Some(4190000 * KIB), Some("smaps_rollup:Pss"))
        );
        assert_eq!(split.swap_pss.bytes, Some(2000 * KIB));
        assert!(runner.skipped.is_empty());
        assert_eq!(c.process.smaps_rollup.unwrap()["rss"], 4194304 * KIB);

        // Below the threshold the default reads it.
        let mut runner = ProbeRunner::new();
        let c = collect(
            &roots,
            &mut runner,
            SmapsRollupPolicy::Auto {
                max_rss_bytes: 5 << 30,
            },
            Default::default(),
        );
        assert!(c.process.smaps_rollup.is_some() && runner.skipped.is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Two dumps of one dumper: the first stores its point, the second measures growth from
    /// it (fixture figures: the JS heap grew 100 MiB, nothing else).
    #[test]
    fn enrich_accounts_and_attributes_growth_across_dumps() {
        use crate::report::NumberMap;
        const MIB: f64 = 1024.0 * 1024.0;
        let collected = |anon_kib: u64| {
            let mut c = Collected::default();
            c.process.status = Some(procfs::parse_status(&format!(
                "VmRSS:\t{} kB\nRssAnon:\t{anon_kib} kB\nRssFile:\t40960 kB\nRssShmem:\t0 kB\nVmStk:\t132 kB\n",
                anon_kib + 40960
            )));
            c.malloc = Some(Ok(MallocStats {
                in_use_bytes: 8 << 20,
                free_retained_bytes: 1 << 20,
                ..Default::default()
            }));
            c
        };
        let report = |heap: f64| {
            let mut r = crate::report::tests::sample();
            r.at_trigger.memory_usage = NumberMap(vec![
                ("external", Some(2.0 * MIB)),
                ("arrayBuffers", Some(1.0 * MIB)),
            ]);
            r.at_trigger.v8_heap_stats = NumberMap(vec![("totalPhysicalSize", Some(heap))]);
            r.at_trigger.v8_heap_spaces = None;
            r
        };
        let first = parking_lot::Mutex::new(None);
        let mut a = report(20.0 * MIB);
        enrich(&mut a, collected(40 * 1024), Some(&first));
        let acc = a.memory_accounting.as_ref().unwrap();
        assert_eq!(acc.rss_bytes, Some(80 << 20));
        assert_eq!(
            acc.parts.sum() as i64 + acc.unexplained_bytes.unwrap(),
            80 << 20
        );
        assert_eq!(acc.parts.malloc_other.bytes, Some(6 << 20));
        let g = a.analysis.as_ref().unwrap().growth.as_ref().unwrap();
        assert_eq!((g.kind, g.points), (None, 1));
        assert!(first.lock().is_some());
        std::thread::sleep(std::time::Duration::from_millis(5));
        let mut b = report(120.0 * MIB);
        enrich(&mut b, collected(140 * 1024), Some(&first));
        let an = b.analysis.as_ref().unwrap();
        let g = an.growth.as_ref().unwrap();
        assert_eq!(
            (g.kind, g.bytes, g.points),
            (Some("jsHeap"), Some(100.0 * MIB), 2)
        );
        assert_eq!(g.by_kind["native"], 0.0);
        assert!(an.risks.iter().any(|r| r.kind == "memoryGrowth"));
        assert!(an.recommendation.contains("heap snapshots"));
    }

    #[test]
    fn portable_tree_has_this_process() {
        let t = portable_tree(std::process::id(), 64).unwrap();
        assert_eq!(t.method, "sysinfo");
        assert_eq!(t.processes[0].pid, std::process::id());
        assert!(t.total_rss_bytes > 0);
    }
}
