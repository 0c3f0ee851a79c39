//! Phase 2: collect the rich picture of the process and atomically replace the phase-1
//! file with the enriched document. Runs on the background thread, never on the JS one.

use std::path::PathBuf;
use std::time::Instant;

use crate::probes::{procfs, rusage, system, ProbeRoots, ProbeRunner};
use crate::report::{ProcessSection, Report, SystemInfoSection};
use crate::writer::{self, Durability, RetentionReport};

/// Everything phase 2 needs, handed over by phase 1.
#[derive(Debug, Clone)]
pub struct Phase2Plan {
    pub dir: PathBuf,
    pub final_name: String,
    /// The phase-1 document; phase 2 only adds to it.
    pub report: Report,
    pub max_files: u32,
    pub roots: ProbeRoots,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Phase2Outcome {
    /// The enriched document is in place.
    pub complete: bool,
    pub error: Option<String>,
    pub retention: RetentionReport,
    pub swept_temps: Vec<String>,
}

/// Runs every probe; each may fail on its own.
pub fn collect(
    roots: &ProbeRoots,
    runner: &mut ProbeRunner,
) -> (ProcessSection, Option<SystemInfoSection>) {
    let process = ProcessSection {
        status: runner.run("status", || procfs::read_status(roots)),
        smaps_rollup: runner.run("smapsRollup", || procfs::read_smaps_rollup(roots)),
        open_fds: runner.run("openFds", || procfs::count_open_fds(roots)),
        open_fds_limit: runner
            .run("openFdsLimit", rusage::open_files_limit)
            .flatten(),
        resource_usage: runner.run("resourceUsage", rusage::read),
        page_faults: runner.run("pageFaults", || procfs::read_page_faults(roots)),
        oom_score: runner.run("oomScore", || procfs::read_oom_score(roots)),
        mappings: runner.run("mappings", || procfs::count_mappings(roots)),
        uptime_seconds: runner.run("uptime", || procfs::process_uptime_seconds(roots)),
    };
    let mut system = runner.run("system", system::read);
    if let Some(s) = system.as_mut() {
        s.meminfo = runner.run("meminfo", || procfs::read_meminfo(roots));
    }
    (process, system)
}

pub fn run_phase2(plan: Phase2Plan) -> Phase2Outcome {
    let start = Instant::now();
    let Phase2Plan {
        dir,
        final_name,
        mut report,
        max_files,
        roots,
    } = plan;
    let mut runner = ProbeRunner::new();
    let (process, system) = collect(&roots, &mut runner);
    report.process = Some(process);
    report.system = system;
    report.collection_complete = true;
    report.collection.failed_probes = Some(runner.failures);
    report.collection.probe_micros = Some(runner.micros);
    report.collection.phase2_millis = Some((start.elapsed().as_secs_f64() * 1e6).round() / 1e3);
    let bytes = report.to_json();
    match writer::write_atomic(&dir, &final_name, &bytes, Durability::PowerLoss) {
        Ok(_) => Phase2Outcome {
            complete: true,
            error: None,
            retention: writer::apply_retention(&dir, max_files as usize),
            swept_temps: writer::sweep_stale_temps(&dir),
        },
        Err(e) => Phase2Outcome {
            complete: false,
            error: Some(format!(
                "phase 2: {e}; the phase-1 document is left in place"
            )),
            retention: RetentionReport::default(),
            swept_temps: writer::sweep_stale_temps(&dir),
        },
    }
}
