//! The dumper: one entry point, [`Dumper::dump`], runs a whole dump for the binding and
//! for the watchdog alike: admission (cap and cooldown), phase 1 on the caller's thread,
//! then phase 2 (the enriched replace, retention and the temp sweep) where the caller
//! asks, with its outcome handed to the caller's callback.
//!
//! - [`phase1`]: admission, then the complete phase-1 document, written before the call
//!   returns (`Dumper::begin`);
//! - [`phase2`]: the enriched replace, off the caller's thread (`run_phase2`), with the
//!   probes it reads through ([`collect`]) and what it derives from them ([`enrich`]);
//! - [`background`]: the one thread phase 2 runs on; [`admission`]: the cap and cooldown;
//!   [`input`]: what the host passes; [`facts`]: the figures the analysis reads.

pub mod admission;
pub mod background;
pub mod collect;
pub mod enrich;
pub mod facts;
pub mod input;
pub mod js_figures;
pub mod phase1;
pub mod phase2;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::config::{short_session_id, DumperConfig, Trigger};
use crate::dump::admission::{Admission, Clock, MonotonicClock, SessionLimits};
use crate::dump::input::TriggerInput;
use crate::dump::phase2::{Phase2Outcome, Phase2Plan};
use crate::heap_snapshot::take::HeapState;
use crate::probes::ProbeRoots;
use crate::recorder;
use crate::report::RuntimeInfo;
use crate::timefmt::UtcTime;
use crate::writer;

pub use crate::writer::ArmSlot;

struct SessionState {
    short_id: String,
    /// The host's dumps (`hard`, `critical`, `manual`): `maxDumpsPerSession`, `cooldownMs`.
    limits: SessionLimits,
    /// The watchdog's own dumps, admitted apart with the same cap and cooldown, so that a
    /// watchdog dump never spends the slot or the cooldown the host's next dump needs.
    watchdog_limits: SessionLimits,
    /// The pressure rule's own dumps, admitted apart in the same way: they never spend the
    /// host's slot or cooldown, nor the watchdog's.
    pressure_limits: SessionLimits,
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
    /// The effective limit and whose it is: `None` until first asked, then found again by
    /// the recorder when the process's cgroup changes and every 10 s (`refresh_limit`).
    effective_limit: Mutex<Option<Option<(u64, &'static str)>>>,
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
    /// Why no stack helper can serve this dumper (set by `lib/dumper/stack-helper.js`).
    stack_problem: Mutex<Option<String>>,
    /// Told of each dump the recorder thread wrote on its own (the pressure rule's), once
    /// both phases are on disk: the binding's threadsafe call into the JS thread, which adds
    /// what only it can read when its loop is alive.
    own_dump_listener: Mutex<Option<OwnDumpListener>>,
    /// The recorder thread's own dumps the JS thread may still add to, with the identity of
    /// the file each phase 2 landed (the newest [`MAX_OWN_PENDING`]).
    /// (`None` where the platform gives files no identity: Windows).
    own_pending: Mutex<Vec<(PathBuf, Option<writer::FileId>)>>,
}

/// Own dumps awaiting the JS thread's additions, at most (older ones are given up).
pub const MAX_OWN_PENDING: usize = 8;

/// The dumps recorder threads are writing on their own (pressure, watchdog), process-wide:
/// the process's `exit` event waits a little for them ([`wait_for_own_dumps`]), so a host
/// that closes its dumper and exits at once does not cut a phase 2 short.
static OWN_IN_FLIGHT: Mutex<u32> = Mutex::new(0);
static OWN_DONE: parking_lot::Condvar = parking_lot::Condvar::new();

/// Counts one own dump in flight while it lives.
struct InFlight;

impl InFlight {
    fn start() -> InFlight {
        *OWN_IN_FLIGHT.lock() += 1;
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut n = OWN_IN_FLIGHT.lock();
        *n = n.saturating_sub(1);
        if *n == 0 {
            OWN_DONE.notify_all();
        }
    }
}

/// Waits at most `timeout` for the dumps recorder threads are writing on their own (any
/// dumper's, closed or not). Whether none is left.
pub fn wait_for_own_dumps(timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    let mut n = OWN_IN_FLIGHT.lock();
    while *n > 0 {
        if OWN_DONE.wait_until(&mut n, deadline).timed_out() {
            break;
        }
    }
    *n == 0
}

/// A dump the recorder thread wrote on its own, complete on disk.
#[derive(Debug, Clone)]
pub struct OwnDump {
    pub file_path: PathBuf,
    pub trigger: &'static str,
    pub dump_number: u32,
    /// When its phase 1 was written.
    pub written_at: std::time::Instant,
}

/// Called on the recorder thread; must not block.
pub type OwnDumpListener = Box<dyn Fn(OwnDump) + Send + Sync>;

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
            effective_limit: Mutex::new(None),
            first_point: Arc::new(Mutex::new(None)),
            stack_ticket: Mutex::new(None),
            stack_problem: Mutex::new(None),
            own_dump_listener: Mutex::new(None),
            own_pending: Mutex::new(Vec::new()),
            arm: Arc::new(ArmSlot::new(&config.directory)),
            state: Mutex::new(SessionState {
                short_id: short_session_id(session_id),
                watchdog_limits: limits.clone(),
                pressure_limits: limits.clone(),
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

    /// The effective limit and its source as last found, without looking again (no I/O).
    pub fn known_limit(&self) -> Option<(u64, &'static str)> {
        self.effective_limit.lock().flatten()
    }

    /// Who is told of the dumps the recorder thread writes on its own (`None`: nobody).
    pub fn set_own_dump_listener(&self, listener: Option<OwnDumpListener>) {
        *self.own_dump_listener.lock() = listener;
    }

    /// The identity of the file the recorder thread's own dump `path` landed, once: the JS
    /// thread adds to that file only, and only once. `None`: not one of them (or given up);
    /// `Some(None)`: one of them, on a platform without file identities.
    pub fn take_own_pending(&self, path: &Path) -> Option<Option<writer::FileId>> {
        let mut pending = self.own_pending.lock();
        let i = pending.iter().position(|(p, _)| p == path)?;
        Some(pending.remove(i).1)
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
            st.pressure_limits.reset();
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
        self.limit_watch().map(|(l, _)| l)
    }

    fn pressure_config(&self) -> Option<crate::config::PressureConfig> {
        self.config.pressure
    }

    fn limit_watch(&self) -> Option<(u64, &'static str)> {
        if let Some(found) = *self.effective_limit.lock() {
            return found;
        }
        self.refresh_limit();
        self.effective_limit.lock().flatten()
    }

    fn refresh_limit(&self) {
        let cg = crate::probes::cgroup::read(
            &self.roots.proc,
            &self.roots.pid_dir,
            &self.roots.cgroup_fs,
        )
        .ok();
        let sys = crate::probes::system::read().ok();
        // A Windows job's limit binds before the commit limit and physical memory.
        #[cfg(windows)]
        let job = crate::probes::windows::job_limits()
            .ok()
            .flatten()
            .map(|r| crate::probes::platform::job_object(Some(r)));
        #[cfg(not(windows))]
        let job: Option<crate::probes::platform::JobObject> = None;
        let found = enrich::memory_limit_from(cg.as_ref(), job.as_ref(), None, sys.as_ref())
            .map(|l| (l.effective_limit_bytes, l.source));
        *self.effective_limit.lock() = Some(found);
    }

    fn pressure_dump(&self, fire: &recorder::pressure::PressureFire, counts: &'static str) {
        let (at_trigger, age) = match self.recorder.as_ref().and_then(|r| r.observed_at_trigger()) {
            Some((a, age)) => (a, Some(age)),
            None => (recorder::unobserved_at_trigger(), None),
        };
        let r = &fire.reading;
        let input = TriggerInput {
            at_trigger,
            session: vec![],
            warnings: vec![match age {
                Some(ms) => format!(
                    "pressure: the V8 figures are {ms} ms old (from the last observe() or dump() call)"
                ),
                None => {
                    "pressure: no V8 figures were ever observed; atTrigger's figures are null"
                        .to_string()
                }
            }],
            samples: None,
            watchdog: None,
            near_limit: Some(crate::report::NearLimit {
                cause: fire.cause.as_str(),
                source: r.source,
                limit_bytes: r.limit,
                counted_bytes: r.counted,
                counts,
                share: (fire.share * 1e4).round() / 1e4,
                threshold_bytes: fire.threshold,
                psi_full_avg10: r.psi_full_avg10,
                growth_bytes_per_sec: fire.growth_per_sec.map(f64::round),
                v8_figures_age_ms: age,
            }),
        };
        // The JS thread may be busy or idle: phase 2 runs here, on the recorder thread.
        let _in_flight = InFlight::start();
        let written_at = std::time::Instant::now();
        let landed = Arc::new(Mutex::new(None));
        let out = landed.clone();
        let dumped = self.dump(Trigger::Pressure, input, Phase2On::ThisThread, |_| {
            Box::new(move |_, o| *out.lock() = o.complete.then_some(o.landed))
        });
        // Both phases are on disk: the JS thread adds its figures when its loop answers, to
        // the file phase 2 landed (a phase-1-only dump gets nothing more).
        let landed = *landed.lock();
        if let (Dumped::Written { meta }, Some(id)) = (dumped, landed) {
            if let Some(tell) = self.own_dump_listener.lock().as_ref() {
                let mut pending = self.own_pending.lock();
                if pending.len() >= MAX_OWN_PENDING {
                    pending.remove(0);
                }
                pending.push((meta.file_path.clone(), id));
                drop(pending);
                tell(OwnDump {
                    file_path: meta.file_path,
                    trigger: meta.trigger,
                    dump_number: meta.dump_number,
                    written_at,
                });
            }
        }
    }

    fn watchdog_dump(&self, stalled_ms: u64, rss: u64, threshold: u64) {
        let _in_flight = InFlight::start();
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
            near_limit: None,
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
        // nobody waits for its outcome. The JS thread hears of it when its loop answers
        // (telemetry's log record); nothing is added to a watchdog dump.
        let written_at = std::time::Instant::now();
        let dumped = self.dump(Trigger::Watchdog, input, Phase2On::ThisThread, |_| {
            Box::new(|_, _| {})
        });
        if let Dumped::Written { meta } = dumped {
            if let Some(tell) = self.own_dump_listener.lock().as_ref() {
                tell(OwnDump {
                    file_path: meta.file_path,
                    trigger: meta.trigger,
                    dump_number: meta.dump_number,
                    written_at,
                });
            }
        }
        // Not written (cap, cooldown, closed): withdraw the request nobody waits for.
        if let Some(t) = self.stack_ticket.lock().take() {
            t.cancel();
        }
    }
}

#[cfg(test)]
mod tests;
