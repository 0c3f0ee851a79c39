//! The dumper: one entry point, [`Dumper::dump`], runs a whole dump for the binding and
//! for the watchdog alike: admission (cap and cooldown), phase 1 on the caller's thread,
//! then phase 2 (the enriched replace, retention and the temp sweep) where the caller
//! asks, with its outcome handed to the caller's callback.
//!
//! Length: about 590 lines of code; the unit tests beside it take the file past 800.

pub mod admission;
pub mod background;
pub mod facts;
pub mod input;
pub mod phase2;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::Mutex;

use crate::config::{short_session_id, DumperConfig, Trigger};
use crate::dump::admission::{Admission, Clock, MonotonicClock, SessionLimits};
use crate::dump::input::TriggerInput;
use crate::dump::phase2::{Phase2Outcome, Phase2Plan};
use crate::heap_snapshot::take::HeapState;
use crate::probes::ProbeRoots;
use crate::recorder;
use crate::report::{Collection, DirectoryNote, Report, RuntimeInfo, SCHEMA_VERSION};
use crate::timefmt::UtcTime;
use crate::writer::{self, Durability};

pub use crate::writer::ArmSlot;

struct SessionState {
    short_id: String,
    /// The host's dumps (`hard`, `critical`, `manual`): `maxDumpsPerSession`, `cooldownMs`.
    limits: SessionLimits,
    /// The watchdog's own dumps, admitted apart with the same cap and cooldown, so that a
    /// watchdog dump never spends the slot or the cooldown the host's next dump needs.
    watchdog_limits: SessionLimits,
    /// Dumps written in this session by either, for their numbers.
    numbered: u32,
    /// The mode a loose directory had before it was tightened, for the next document.
    tightened_from: Option<u32>,
}

pub struct Dumper {
    config: DumperConfig,
    runtime: RuntimeInfo,
    roots: ProbeRoots,
    clock: Box<dyn Clock>,
    state: Mutex<SessionState>,
    /// The recorder's shared state (ring, observed figures), when it is on.
    recorder: Option<Arc<recorder::Shared>>,
    effective_limit: OnceLock<Option<u64>>,
    arm: Arc<ArmSlot>,
    /// Why the directory cannot be used, found at construction: every dump is refused
    /// with it, without using a slot.
    problem: OnceLock<String>,
    closed: AtomicBool,
    /// The opt-in heap snapshot, when configured.
    heap: Option<Arc<HeapState>>,
    /// The first dump's growth point, for growth attribution across this process's dumps.
    first_point: Arc<Mutex<Option<crate::analysis::GrowthPoint>>>,
    /// The watchdog's stack request, asked before its phase 1 and answered in its phase 2.
    stack_ticket: Mutex<Option<crate::recorder::stack_capture::Ticket>>,
    /// Why no stack helper can serve this dumper (set by the package entry).
    stack_problem: Mutex<Option<String>>,
}

/// Identity of one dump, known once its slot is reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpMeta {
    pub file_path: PathBuf,
    pub trigger: &'static str,
    pub dump_number: u32,
}

/// What phase 1 did.
#[derive(Debug)]
pub enum DumpStart {
    /// Cap, cooldown or closed: nothing was written.
    Skipped(Admission),
    /// The directory is unusable (`Dumper::problem`): no slot used, nothing written.
    Refused { error: String },
    /// The slot is consumed but no file could be written.
    Failed { meta: DumpMeta, error: String },
    /// The phase-1 file is complete at `meta.file_path`; phase 2 is ready to run.
    Written {
        meta: DumpMeta,
        plan: Box<Phase2Plan>,
    },
}

/// Where phase 2 runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase2On {
    /// The background thread (a dump from the host: the JS thread goes on at once).
    Background,
    /// The calling thread (the watchdog's, while the event loop is stuck).
    ThisThread,
}

/// Receives phase 2's outcome (and the dump's directory), on whichever thread ran it.
pub type Phase2Done = Box<dyn FnOnce(&Path, Phase2Outcome) + Send + 'static>;

/// What [`Dumper::dump`] did before it returned.
#[derive(Debug)]
pub enum Dumped {
    /// Cap, cooldown or closed: nothing was written.
    Skipped(Admission),
    /// The directory is unusable (`Dumper::problem`): no slot used, nothing written.
    Refused { error: String },
    /// The slot is consumed but no file could be written.
    Failed { meta: DumpMeta, error: String },
    /// The phase-1 file is complete at `meta.file_path`; phase 2 was scheduled (or, with
    /// [`Phase2On::ThisThread`], has run).
    Written { meta: DumpMeta },
}

impl Dumper {
    /// The whole dump. `done` is asked for the phase-2 callback only when phase 1 wrote a
    /// file; the callback runs once, wherever phase 2 ran (on this thread when no
    /// background thread can be started: the outcome must never be lost).
    pub fn dump(
        &self,
        trigger: Trigger,
        input: TriggerInput,
        on: Phase2On,
        done: impl FnOnce(&DumpMeta) -> Phase2Done,
    ) -> Dumped {
        match self.begin(trigger, input) {
            DumpStart::Skipped(a) => Dumped::Skipped(a),
            DumpStart::Refused { error } => Dumped::Refused { error },
            DumpStart::Failed { meta, error } => Dumped::Failed { meta, error },
            DumpStart::Written { meta, plan } => {
                let callback = done(&meta);
                let job = move || {
                    let dir = plan.dir.clone();
                    callback(&dir, phase2::run_phase2_guarded(*plan));
                };
                match on {
                    Phase2On::ThisThread => job(),
                    Phase2On::Background => {
                        if let Err(job) = crate::dump::background::submit(Box::new(job)) {
                            // No background thread could be started (out of threads or
                            // memory): this thread pays for one phase 2 rather than lose it.
                            job();
                        }
                    }
                }
                Dumped::Written { meta }
            }
        }
    }

    /// Makes a new dumper ready: the directory prepared (an unusable one becomes
    /// [`Dumper::problem`], never an error: the host must start even when its diagnostics
    /// cannot), the recorder started, phase 1 pre-armed (an unnamed file, its space, the
    /// buffer, so the first dump is one write and one link) and the directory's
    /// housekeeping done: leftovers of writers that died mid-write, and retention across
    /// every process using it (not the crisis path: a dumper is made once).
    pub fn start(self: &Arc<Self>) -> std::io::Result<()> {
        // What phase 1 would otherwise read the first time (the first dump matters most):
        // the process's start time (one read of /proc/self/stat, then kept).
        crate::report::process_start_ms();
        // ...and the thread phase 2 runs on (created on the JS thread otherwise).
        crate::dump::background::start();
        self.prepare_directory();
        self.start_recorder()?;
        if self.problem().is_none() {
            self.arm_slot().rearm();
            self.housekeeping();
        }
        Ok(())
    }

    pub fn new(config: DumperConfig, session_id: &str, runtime: RuntimeInfo) -> Self {
        Self::with_clock(config, session_id, runtime, Box::new(MonotonicClock::new()))
    }

    pub fn with_clock(
        config: DumperConfig,
        session_id: &str,
        runtime: RuntimeInfo,
        clock: Box<dyn Clock>,
    ) -> Self {
        Self::with_parts(config, session_id, runtime, ProbeRoots::default(), clock)
    }

    pub fn with_parts(
        config: DumperConfig,
        session_id: &str,
        runtime: RuntimeInfo,
        roots: ProbeRoots,
        clock: Box<dyn Clock>,
    ) -> Self {
        let limits = SessionLimits::new(config.max_dumps_per_session, config.cooldown_ms);
        let recorder = config.recorder.map(|r| recorder::Shared::new(r.samples));
        Dumper {
            heap: config
                .heap_snapshot
                .clone()
                .map(|c| Arc::new(HeapState::new(c))),
            recorder,
            effective_limit: OnceLock::new(),
            first_point: Arc::new(Mutex::new(None)),
            stack_ticket: Mutex::new(None),
            stack_problem: Mutex::new(None),
            arm: Arc::new(ArmSlot::new(&config.directory)),
            state: Mutex::new(SessionState {
                short_id: short_session_id(session_id),
                watchdog_limits: limits.clone(),
                limits,
                numbered: 0,
                tightened_from: None,
            }),
            problem: OnceLock::new(),
            closed: AtomicBool::new(false),
            config,
            runtime,
            roots,
            clock,
        }
    }

    /// Prepares the directory at construction (created 0700, or tightened to 0700 if it
    /// is ours and group- or world-writable). An unusable directory does not fail the
    /// construction: it becomes the dumper's `problem`, and every dump is refused with it.
    pub fn prepare_directory(&self) {
        match writer::prepare_dir(&self.config.directory)
            .and_then(|t| writer::check_writable(&self.config.directory).map(|_| t))
        {
            Ok(tightened) => self.state.lock().tightened_from = tightened,
            Err(e) => {
                let _ = self.problem.set(e.to_string());
            }
        }
    }

    /// Why no dump can be written, if the directory was found unusable.
    pub fn problem(&self) -> Option<&str> {
        self.problem.get().map(String::as_str)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub fn config(&self) -> &DumperConfig {
        &self.config
    }

    pub fn recorder(&self) -> Option<&Arc<recorder::Shared>> {
        self.recorder.as_ref()
    }

    /// JS pushed fresh figures (`observe()`).
    pub fn observe(&self, at_trigger: crate::report::AtTrigger) {
        if let Some(r) = &self.recorder {
            r.observe(at_trigger);
        }
    }

    /// No stack helper can serve this dumper: its watchdog dumps say why.
    pub fn set_stack_problem(&self, reason: String) {
        *self.stack_problem.lock() = Some(reason);
    }

    /// JS is alive (a `dump()` call).
    pub fn touch(&self) {
        if let Some(r) = &self.recorder {
            r.touch();
        }
    }

    pub fn heap(&self) -> Option<&Arc<HeapState>> {
        self.heap.as_ref()
    }

    pub fn arm_slot(&self) -> &Arc<ArmSlot> {
        &self.arm
    }

    /// Construction-time housekeeping: the temporary files of dead writers and retention
    /// across every process using the directory (one directory listing; a process that
    /// died right after its phase 1 left one dump beyond `maxFiles`, removed here).
    pub fn housekeeping(&self) {
        let dir = &self.config.directory;
        if dir.is_dir() {
            writer::sweep_stale_temps(dir);
            writer::apply_retention(dir, self.config.max_files as usize, &[], &UtcTime::now());
            if let Some(h) = &self.heap {
                writer::apply_heap_retention(
                    dir,
                    self.config.max_files as usize,
                    h.config.max_bytes,
                    &[],
                    &UtcTime::now(),
                );
            }
        }
    }

    pub fn roots(&self) -> &ProbeRoots {
        &self.roots
    }

    /// Starts the recorder thread if configured.
    pub fn start_recorder(self: &Arc<Self>) -> std::io::Result<()> {
        match (&self.recorder, self.config.recorder) {
            (Some(shared), Some(config)) => recorder::Recorder::start(
                self.clone(),
                shared.clone(),
                config,
                self.config.watchdog,
                self.roots.clone(),
            )
            .map(|_| ()),
            _ => Ok(()),
        }
    }

    /// Stops the recorder thread (it appends its exit record with `reason`); later dumps
    /// are skipped as `closed`, so the pre-armed phase-1 file (a descriptor and its reserved
    /// blocks) is released and never re-armed. Idempotent.
    pub fn close(&self, reason: &'static str) {
        self.closed.store(true, Ordering::SeqCst);
        self.arm.set_disabled(true);
        if let Some(r) = &self.recorder {
            r.request_stop(reason);
        }
    }

    /// The process is exiting (its `exit` event): closes, and waits a little (at most
    /// 100 ms) for the recorder to end its trail with an `exit` record, since no thread
    /// runs once the event's handlers return.
    /// `end` says how the process ended (the exit record carries it).
    pub fn close_for_exit(&self, end: Option<crate::report::ProcessEnd>) -> bool {
        self.closed.store(true, Ordering::SeqCst);
        self.arm.set_disabled(true);
        match &self.recorder {
            Some(r) => {
                r.set_end(end);
                r.stop_and_wait("exit", std::time::Duration::from_millis(100))
            }
            None => true,
        }
    }

    pub fn dump_count(&self) -> u32 {
        self.state.lock().limits.count()
    }

    pub fn session_short_id(&self) -> String {
        self.state.lock().short_id.clone()
    }

    /// Starts a new session: the count and cooldown start over, and a new id (if
    /// given) names the following files.
    pub fn reset_for_new_session(&self, session_id: Option<&str>) {
        {
            let mut st = self.state.lock();
            st.limits.reset();
            st.watchdog_limits.reset();
            st.numbered = 0;
            if let Some(id) = session_id {
                st.short_id = short_session_id(id);
            }
        }
        if let Some(h) = &self.heap {
            h.reset();
        }
        // The recorder ends the old session's trail (exit reason `sessionReset`) and
        // starts a new file for the new one.
        if let Some(r) = &self.recorder {
            r.new_session();
        }
    }

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

    /// Both phases on the calling thread (tests and tools).
    pub fn dump_blocking(
        &self,
        trigger: Trigger,
        input: TriggerInput,
    ) -> (DumpStart, Option<Phase2Outcome>) {
        match self.begin(trigger, input) {
            DumpStart::Written { meta, plan } => {
                let outcome = phase2::run_phase2((*plan).clone());
                (DumpStart::Written { meta, plan }, Some(outcome))
            }
            other => (other, None),
        }
    }
}

impl recorder::Host for Dumper {
    fn directory(&self) -> PathBuf {
        self.config.directory.clone()
    }

    fn max_files(&self) -> usize {
        self.config.max_files as usize
    }

    fn session_short_id(&self) -> String {
        Dumper::session_short_id(self)
    }

    fn effective_limit(&self) -> Option<u64> {
        *self.effective_limit.get_or_init(|| {
            let cg = crate::probes::cgroup::read(
                &self.roots.proc,
                &self.roots.pid_dir,
                &self.roots.cgroup_fs,
            )
            .ok();
            let sys = crate::probes::system::read().ok();
            phase2::memory_limit(cg.as_ref(), sys.as_ref()).map(|l| l.effective_limit_bytes)
        })
    }

    fn watchdog_dump(&self, stalled_ms: u64, rss: u64, threshold: u64) {
        let (at_trigger, age) = match self.recorder.as_ref().and_then(|r| r.observed_at_trigger()) {
            Some((a, age)) => (a, Some(age)),
            None => (recorder::unobserved_at_trigger(), None),
        };
        let warning = match age {
            Some(ms) => format!(
                "watchdog: the V8 figures are {ms} ms old (from the last observe() or dump() call)"
            ),
            None => "watchdog: no V8 figures were ever observed; atTrigger's figures are null"
                .to_string(),
        };
        let input = TriggerInput {
            at_trigger,
            session: vec![],
            warnings: vec![warning],
            samples: None,
            watchdog: Some(crate::report::WatchdogInfo {
                stalled_ms,
                rss_bytes: rss,
                threshold_bytes: threshold,
                v8_figures_age_ms: age,
                stack: None,
            }),
        };
        // Asked now, while the loop is surely still blocked; the helper captures while
        // phase 1 is written and phase 2 collects, and phase 2 waits for the answer.
        let capture = self.config.watchdog.is_some_and(|w| w.capture_stack);
        if capture {
            let ticket = match self.stack_problem.lock().as_deref() {
                Some(p) => crate::recorder::stack_capture::Ticket::unavailable(p),
                None => crate::recorder::stack_capture::request(),
            };
            *self.stack_ticket.lock() = Some(ticket);
        }
        // The event loop is stuck, so phase 2 runs right here, on the recorder thread;
        // nobody waits for its outcome.
        self.dump(Trigger::Watchdog, input, Phase2On::ThisThread, |_| {
            Box::new(|_, _| {})
        });
        // Not written (cap, cooldown, closed): withdraw the request nobody waits for.
        if let Some(t) = self.stack_ticket.lock().take() {
            t.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{validate, RawOptions, RawValue};
    use crate::report::{AtTrigger, NumberMap};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct FakeClock(Arc<AtomicU64>);
    impl Clock for FakeClock {
        fn now_ms(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn dir(tag: &str) -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let d = std::env::temp_dir().join(format!(
            "mdd-dumper-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn dumper(d: &std::path::Path, max: f64, cooldown: f64, clock: FakeClock) -> Dumper {
        let (config, sid) = validate(&RawOptions {
            directory: RawValue::Text(d.display().to_string()),
            session_id: RawValue::Text("sess-1234-5678".into()),
            max_dumps_per_session: RawValue::Number(max),
            cooldown_ms: RawValue::Number(cooldown),
            max_files: RawValue::Number(2.0),
            ..Default::default()
        })
        .unwrap();
        Dumper::with_parts(
            config,
            &sid,
            RuntimeInfo::new("20.0.0".into(), Some(9), Some("app 1".into())),
            ProbeRoots::default(),
            Box::new(clock),
        )
    }

    fn input(rss: f64) -> TriggerInput {
        TriggerInput {
            at_trigger: AtTrigger {
                memory_usage: NumberMap(vec![("rss", Some(rss))]),
                ..Default::default()
            },
            session: vec![],
            warnings: vec!["w".into()],
            samples: None,
            watchdog: None,
        }
    }

    fn read(p: &std::path::Path) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }

    #[test]
    fn phase1_then_phase2_replace() {
        let d = dir("phases");
        let clock = FakeClock::default();
        let dm = dumper(&d, 3.0, 1000.0, clock.clone());
        let DumpStart::Written { meta, plan } = dm.begin(Trigger::Hard, input(123.0)) else {
            panic!("expected a write")
        };
        assert_eq!(meta.dump_number, 1);
        let name = meta
            .file_path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(name.starts_with("memory-sess1234-"), "{name}");
        let p1 = read(&meta.file_path);
        assert_eq!(p1["collectionComplete"], false);
        assert_eq!(p1["sessionId"], "sess1234");
        assert_eq!(p1["atTrigger"]["memoryUsage"]["rss"], 123);
        assert_eq!(p1["inputWarnings"][0], "w");
        assert_eq!(p1["runtime"]["appVersion"], "app 1");
        assert!(p1.get("process").is_none());
        let out = phase2::run_phase2(*plan);
        assert!(out.complete, "{out:?}");
        let p2 = read(&meta.file_path);
        assert_eq!(p2["collectionComplete"], true);
        assert_eq!(
            p2["atTrigger"], p1["atTrigger"],
            "phase 2 keeps the crisis figures"
        );
        assert_eq!(p2["timestamp"], p1["timestamp"]);
        #[cfg(target_os = "linux")]
        {
            assert!(p2["process"]["status"]["vmRss"].as_u64().unwrap() > 0);
            let split = &p2["process"]["rssSplit"];
            assert!(split["anon"]["bytes"].as_u64().unwrap() > 0, "{split}");
            assert_eq!(split["anon"]["source"], "status:RssAnon");
            assert_eq!(split["swap"]["source"], "status:VmSwap");
            // A test binary is far below the default threshold: smaps_rollup is read.
            assert!(p2["process"]["smapsRollup"]["rss"].as_u64().unwrap() > 0);
            assert_eq!(split["pss"]["source"], "smaps_rollup:Pss");
            assert!(p2["process"]["openFds"].as_u64().unwrap() > 0);
            assert_eq!(
                p2["collection"]["failedProbes"].as_array().unwrap().len(),
                0,
                "{p2}"
            );
        }
        assert!(p2["system"]["totalMemory"].as_u64().unwrap() > 0);
        assert!(p2["collection"]["phase2Millis"].as_f64().unwrap() >= 0.0);
    }

    #[test]
    fn cap_cooldown_and_reset() {
        let d = dir("limits");
        let clock = FakeClock::default();
        let dm = dumper(&d, 2.0, 1000.0, clock.clone());
        assert!(matches!(
            dm.begin(Trigger::Hard, input(1.0)),
            DumpStart::Written { .. }
        ));
        assert!(matches!(
            dm.begin(Trigger::Critical, input(1.0)),
            DumpStart::Skipped(Admission::CoolingDown { remaining_ms: 1000 })
        ));
        clock.0.store(1000, Ordering::SeqCst);
        assert!(matches!(
            dm.begin(Trigger::Critical, input(1.0)),
            DumpStart::Written { .. }
        ));
        clock.0.store(5000, Ordering::SeqCst);
        assert!(matches!(
            dm.begin(Trigger::Hard, input(1.0)),
            DumpStart::Skipped(Admission::CapReached)
        ));
        assert_eq!(dm.dump_count(), 2);
        dm.reset_for_new_session(Some("next/../session"));
        assert_eq!(dm.dump_count(), 0);
        assert_eq!(dm.session_short_id(), "nextsess");
        let DumpStart::Written { meta, .. } = dm.begin(Trigger::Manual, input(1.0)) else {
            panic!()
        };
        assert!(meta
            .file_path
            .to_str()
            .unwrap()
            .contains("memory-nextsess-"));
        assert_eq!(read(&meta.file_path)["suggestion"], serde_json::Value::Null);
    }

    #[test]
    fn failed_write_keeps_the_slot() {
        let parent = dir("failed");
        std::fs::write(&parent, b"a file, not a directory").unwrap();
        let dm = dumper(&parent.join("diag"), 3.0, 0.0, FakeClock::default());
        match dm.begin(Trigger::Hard, input(1.0)) {
            DumpStart::Failed { meta, error } => {
                assert_eq!(meta.dump_number, 1);
                assert!(
                    error.starts_with("phase 1: could not create diagnostics directory"),
                    "{error}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(dm.dump_count(), 1);
    }

    #[test]
    fn unusable_directory_refuses_every_dump_without_a_slot() {
        let parent = dir("problem");
        std::fs::write(&parent, b"a file, not a directory").unwrap();
        let dm = dumper(&parent, 3.0, 0.0, FakeClock::default());
        dm.prepare_directory();
        let problem = dm.problem().unwrap().to_string();
        assert!(problem.contains("not a directory"), "{problem}");
        for _ in 0..5 {
            match dm.begin(Trigger::Hard, input(1.0)) {
                DumpStart::Refused { error } => assert_eq!(error, problem),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(dm.dump_count(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn loose_directory_is_tightened_and_the_first_dump_says_so() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("loose");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o775)).unwrap();
        let dm = dumper(&d, 3.0, 0.0, FakeClock::default());
        dm.prepare_directory();
        assert_eq!(dm.problem(), None);
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700);
        let DumpStart::Written { meta, .. } = dm.begin(Trigger::Hard, input(1.0)) else {
            panic!()
        };
        assert_eq!(read(&meta.file_path)["directory"]["tightenedFrom"], "775");
        let DumpStart::Written { meta, .. } = dm.begin(Trigger::Hard, input(1.0)) else {
            panic!()
        };
        assert!(read(&meta.file_path).get("directory").is_none());
    }

    #[test]
    fn closed_dumper_skips() {
        let d = dir("closed");
        let dm = dumper(&d, 3.0, 0.0, FakeClock::default());
        dm.close("close");
        assert!(matches!(
            dm.begin(Trigger::Hard, input(1.0)),
            DumpStart::Skipped(Admission::Closed)
        ));
        assert_eq!(dm.dump_count(), 0);
    }

    #[test]
    fn retention_keeps_max_files() {
        let d = dir("retention");
        let clock = FakeClock::default();
        let dm = dumper(&d, 10.0, 0.0, clock.clone());
        for i in 0..5 {
            clock.0.store(i * 10, Ordering::SeqCst);
            let (_, out) = dm.dump_blocking(Trigger::Hard, input(1.0));
            assert!(out.unwrap().complete);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let n = std::fs::read_dir(&d).unwrap().count();
        assert_eq!(n, 2);
    }
}
