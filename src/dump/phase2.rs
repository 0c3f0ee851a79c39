//! Phase 2, on the background thread, never on the JS one: first retention and the sweep
//! of stale temporary files (and the re-arming of the phase-1 file), then the rich picture
//! of the process ([`collect`](super::collect)), the document's phase-2 sections and their
//! analysis ([`enrich`](super::enrich)), then the atomic replace of the phase-1 file with
//! the enriched document, and the heap snapshot's decision when the options ask for one.

use std::path::PathBuf;
use std::time::Instant;

use crate::analysis::GrowthPoint;
use crate::dump::collect::collect;
use crate::dump::enrich::enrich;
use crate::heap_snapshot::take::{HeapState, Pending};
use crate::probes::malloc::{self};
use crate::probes::rss_split::SmapsRollupPolicy;
use crate::probes::{ProbeRoots, ProbeRunner};
use crate::report::HeapSnapshotSection;
use crate::report::Report;
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
    /// The identity of the enriched file now at the dump's name (so that a later amend
    /// changes that file only).
    pub landed: Option<writer::FileId>,
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
            landed: None,
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
    // Test builds: a phase 2 that is surely in flight when the host acts on its phase 1.
    if crate::test_hooks::armed("phase2-slow") {
        std::thread::sleep(std::time::Duration::from_millis(60));
    }
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
                landed: dump_id,
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
            landed: None,
        },
    }
}
