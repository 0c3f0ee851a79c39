//! Phase 1, on the caller's thread: admission (cap and cooldown, a slot reserved before
//! any I/O), then the complete phase-1 document, written (armed or plain, see
//! `writer::armed`) before the call returns, and the plan phase 2 follows.

use std::time::Instant;

use super::{DumpMeta, DumpStart, Dumper};
use crate::config::Trigger;
use crate::dump::admission::Admission;
use crate::dump::input::TriggerInput;
use crate::dump::phase2::Phase2Plan;
use crate::report::{Collection, DirectoryNote, Report, SCHEMA_VERSION};
use crate::timefmt::UtcTime;
use crate::writer::{self, Durability};

impl Dumper {
    /// Phase 1: reserve the slot, then write the complete phase-1 document.
    /// Admission and phase 1 only; [`Dumper::dump`] is the entry point.
    pub fn begin(&self, trigger: Trigger, input: TriggerInput) -> DumpStart {
        let started = Instant::now();
        if let Some(problem) = self.problem() {
            return DumpStart::Refused {
                error: problem.to_string(),
            };
        }
        if self.is_closed() {
            return DumpStart::Skipped(Admission::Closed);
        }
        let (dump_number, short_id, mut tightened_from) = {
            let mut st = self.state.lock();
            let now = self.clock.now_ms();
            let admission = match trigger {
                Trigger::Watchdog => st.watchdog_limits.try_reserve(now),
                Trigger::Pressure => st.pressure_limits.try_reserve(now),
                _ => st.limits.try_reserve(now),
            };
            match admission {
                Admission::Granted(_) => {
                    st.numbered += 1;
                    (st.numbered, st.short_id.clone(), st.tightened_from.take())
                }
                other => return DumpStart::Skipped(other),
            }
        };
        crate::test_hooks::check("phase1");
        let now = UtcTime::now();
        let dir = self.config.directory.clone();
        let base_name = writer::dump_file_name(&short_id, &now, dump_number);
        let mut meta = DumpMeta {
            file_path: dir.join(&base_name),
            trigger: trigger.as_str(),
            dump_number,
        };
        let mut report = Report {
            schema_version: SCHEMA_VERSION,
            trigger: trigger.as_str(),
            dump_number,
            session_id: short_id,
            pid: std::process::id(),
            process_start_ms: crate::report::process_start_ms(),
            timestamp: now.iso8601(),
            collection_complete: false,
            at_trigger: input.at_trigger,
            session: input.session,
            suggestion: self
                .config
                .suggestions
                .for_trigger(trigger)
                .map(str::to_string),
            runtime: self.runtime.clone(),
            input_warnings: input.warnings,
            samples: input.samples,
            directory: None,
            history: self.recorder.as_ref().map(|r| r.history()),
            watchdog: input.watchdog,
            near_limit: input.near_limit,
            process: None,
            system: None,
            memory_limit: None,
            cgroup: None,
            pressure: None,
            job_object: None,
            process_tree: None,
            memory_accounting: None,
            analysis: None,
            heap_snapshot: None,
            js_figures: None,
            allocation_profile: None,
            collection: Collection::default(),
        };
        // The directory first, so that a loose one is tightened (and this document says
        // so) before anything lands in it. If it was deleted or replaced since the file
        // was armed, the armed file is dropped: the unarmed path recreates it.
        let mut armed = self.arm.take();
        let secured = match writer::secure_dir(&dir) {
            Ok(t) => Ok(t),
            Err(_) => {
                armed = None;
                writer::prepare_dir(&dir)
            }
        };
        match secured {
            Ok(now_tightened) => tightened_from = now_tightened.or(tightened_from),
            Err(e) => {
                self.keep_tightened_note(tightened_from);
                return DumpStart::Failed {
                    meta,
                    error: format!("phase 1: {e}"),
                };
            }
        }
        report.directory = tightened_from.map(|m| DirectoryNote {
            tightened_from: format!("{m:o}"),
        });
        let landed = match armed {
            // Armed: serialize into the reserved buffer, one write, one link.
            Some(mut armed) => {
                report.collection.phase1_micros = started.elapsed().as_micros() as u64;
                report.collection.phase1_path = "armed";
                armed.buf.clear();
                report.write_json(&mut armed.buf);
                self.arm.fit(armed.buf.len());
                let landed = match armed.land(&base_name) {
                    Ok(l) => Ok(l),
                    // The directory was deleted or replaced, the link failed: the
                    // unarmed path, with the same bytes.
                    Err(_) => writer::prepare_dir(&dir).and_then(|_| {
                        report.collection.phase1_path = "unarmed";
                        armed.buf.clear();
                        report.write_json(&mut armed.buf);
                        writer::write_new(&dir, &base_name, &armed.buf, Durability::ProcessCrash)
                    }),
                };
                // Closed and its buffer reused by the re-arming, off the JS thread.
                self.arm.retire(armed);
                landed
            }
            None => {
                report.collection.phase1_micros = started.elapsed().as_micros() as u64;
                report.collection.phase1_path = "unarmed";
                let mut bytes = Vec::with_capacity(8192);
                report.write_json(&mut bytes);
                self.arm.fit(bytes.len());
                writer::write_new(&dir, &base_name, &bytes, Durability::ProcessCrash)
            }
        };
        let landed = match landed {
            Ok(l) => l,
            Err(e) => {
                self.keep_tightened_note(tightened_from);
                return DumpStart::Failed {
                    meta,
                    error: format!("phase 1: {e}"),
                };
            }
        };
        meta.file_path = landed.path.clone();
        // The phase-2 document carries the full phase-1 time, write included.
        report.collection.phase1_micros = started.elapsed().as_micros() as u64;
        DumpStart::Written {
            meta,
            plan: Box::new(Phase2Plan {
                dir,
                final_name: landed.name,
                file_id: landed.id,
                report,
                max_files: self.config.max_files,
                roots: self.roots.clone(),
                arm: Some(self.arm.clone()),
                smaps_rollup: self.config.smaps_rollup,
                mallinfo: self.config.mallinfo,
                heap: self.heap.clone(),
                heap_session: self.heap.as_ref().map_or(0, |h| h.session()),
                first_point: Some(self.first_point.clone()),
                stack: match trigger {
                    Trigger::Watchdog => self.stack_ticket.lock().take(),
                    _ => None,
                },
            }),
        }
    }

    /// A document that could not be written leaves the note for the next one.
    fn keep_tightened_note(&self, tightened_from: Option<u32>) {
        if tightened_from.is_some() {
            let mut st = self.state.lock();
            st.tightened_from = st.tightened_from.or(tightened_from);
        }
    }
}
