//! The flight recorder and the watchdog: a native thread per dumper that samples memory
//! every `intervalMs` without needing the event loop.
//!
//! Each sample goes into an in-memory ring (copied into every dump as `history`) and is
//! appended as one JSON line to `recorder-<session8>.jsonl`, so the trajectory is in the
//! page cache within one interval of being measured and survives any death, even the
//! kernel OOM killer's SIGKILL. `close()` appends an `exit` record: a file without one
//! ended in a crash, at about its last sample's time.
//!
//! The watchdog runs in the same thread: when RSS crosses its threshold and the event
//! loop has given no sign of life for `stallMs` (the loop is stuck), it writes a dump
//! itself, with the last V8 figures JS pushed and their age. It is the only way a dump
//! can appear while the event loop is blocked. Signs of life are the heartbeat the
//! package entry schedules on the loop itself (an unref'd timer, every
//! [`heartbeat_interval_ms`]), `observe()` and `dump()`: a host that never calls
//! `observe()` gets no false stall.
//!
//! Length: about 730 lines of code and 240 of unit tests. The recorder and the watchdog
//! share one thread loop and its ring, so they stay in one file with their tests.

pub mod stack_capture;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde::Serialize;

use crate::dump::input::{HEAP_STAT_FIELDS, MEMORY_USAGE_FIELDS};
use crate::probes::{cgroup, pressure, procfs, ProbeRoots};
use crate::report::{AtTrigger, NumberMap, ProcessEnd, StackFrame};
use crate::timefmt::UtcTime;

/// A recorder file is rotated to `<name>.1` (replacing any older one) past this size,
/// so one session keeps at most twice this on disk: 4 MiB is about 10 hours of
/// one-second samples.
pub const RECORDER_MAX_BYTES: u64 = 4 * 1024 * 1024;
pub use crate::config::{
    RecorderConfig, WatchdogConfig, DEFAULT_INTERVAL_MS, DEFAULT_SAMPLES, DEFAULT_STALL_MS,
    MAX_INTERVAL_MS, MAX_SAMPLES, MIN_INTERVAL_MS,
};

/// The V8 figures JS last pushed through `observe()` (or `dump()`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct V8Figures {
    pub heap_used: Option<f64>,
    pub heap_total: Option<f64>,
    pub heap_limit: Option<f64>,
    pub external: Option<f64>,
    pub rss: Option<f64>,
    pub heap_physical: Option<f64>,
    pub array_buffers: Option<f64>,
}

/// How many figures `observe()` stores: the `heapStatistics` fields of
/// [`HEAP_STAT_FIELDS`] then the `memoryUsage` fields of [`MEMORY_USAGE_FIELDS`], in
/// that order; NaN stands for a missing or malformed figure.
pub const OBSERVED_LEN: usize = HEAP_STAT_FIELDS.len() + MEMORY_USAGE_FIELDS.len();
pub type ObservedValues = [f64; OBSERVED_LEN];

/// What each slot of the shared block holds after the generation in slot 0, in order:
/// `heapStatistics.<key>` then `memoryUsage.<key>` (JS keys). Emitted into
/// `lib/contract.json` (`observedFigures.slots`), from which the JS writer is generated.
pub fn observed_figure_keys() -> Vec<String> {
    // The same figures, in the same order, as a dump's input block.
    crate::dump::input::input_figure_keys()
}

/// The last figures seen in the shared block, when they were first seen, and the
/// generation they carried.
#[derive(Debug, Clone)]
struct Observed {
    at_ms: u64,
    generation: u64,
    values: ObservedValues,
}

/// How many times a reader looks again at a block a writer is changing before it keeps
/// the figures it already has (a JS write takes well under a microsecond; a writer that
/// stopped halfway, its thread gone, must not make the recorder spin).
const SEQLOCK_TRIES: usize = 1000;

/// Writes `values` into the shared block the way the package entry's `observe()` does
/// from JS (lib/figures.js): word 0, an f64 generation, is made odd before the first
/// figure is stored and even again after the last, so a reader can tell a block being
/// written from a finished one.
fn seqlock_write(block: &[AtomicU64], values: &ObservedValues) {
    let odd = f64::from_bits(block[0].load(Ordering::Relaxed)) + 1.0;
    block[0].store(odd.to_bits(), Ordering::Relaxed);
    std::sync::atomic::fence(Ordering::Release);
    for (slot, v) in block[1..].iter().zip(values) {
        slot.store(v.to_bits(), Ordering::Relaxed);
    }
    block[0].store((odd + 1.0).to_bits(), Ordering::Release);
}

/// The figures of the last finished write, with its generation, unless it is `last`
/// (already seen) or nothing was written yet (generation 0). A generation that is odd
/// (a write under way) or that changed while the figures were copied means the copy may
/// be torn: it is thrown away and read again, at most [`SEQLOCK_TRIES`] times.
fn seqlock_read(block: &[AtomicU64], last: Option<u64>) -> Option<(u64, ObservedValues)> {
    let mut values = [f64::NAN; OBSERVED_LEN];
    for _ in 0..SEQLOCK_TRIES {
        let before = block[0].load(Ordering::Acquire);
        let g = f64::from_bits(before);
        if g == 0.0 || Some(before) == last {
            return None;
        }
        if g % 2.0 != 0.0 {
            std::hint::spin_loop();
            continue;
        }
        for (v, slot) in values.iter_mut().zip(&block[1..]) {
            *v = f64::from_bits(slot.load(Ordering::Relaxed));
        }
        std::sync::atomic::fence(Ordering::Acquire);
        if block[0].load(Ordering::Relaxed) == before {
            return Some((before, values));
        }
        std::hint::spin_loop();
    }
    None
}

fn observed_value(values: &ObservedValues, heap: bool, key: &str) -> Option<f64> {
    let (offset, fields) = if heap {
        (0, HEAP_STAT_FIELDS)
    } else {
        (HEAP_STAT_FIELDS.len(), MEMORY_USAGE_FIELDS)
    };
    let i = fields.iter().position(|(_, doc, _)| *doc == key)?;
    Some(values[offset + i]).filter(|v| v.is_finite() && *v >= 0.0)
}

fn observed_map(values: &[f64], fields: &[(&str, &'static str, bool)]) -> NumberMap {
    NumberMap(
        fields
            .iter()
            .zip(values)
            .map(|((_, doc, _), v)| (*doc, Some(*v).filter(|v| v.is_finite() && *v >= 0.0)))
            .collect(),
    )
}

/// `atTrigger` with every figure the observed block carries, all null: a watchdog dump
/// made before JS observed anything keeps the document's shape.
pub fn unobserved_at_trigger() -> AtTrigger {
    let none = [f64::NAN; OBSERVED_LEN];
    let (heap, usage) = none.split_at(HEAP_STAT_FIELDS.len());
    AtTrigger {
        v8_heap_stats: observed_map(heap, HEAP_STAT_FIELDS),
        memory_usage: observed_map(usage, MEMORY_USAGE_FIELDS),
        v8_heap_spaces: None,
        active_resources: None,
    }
}

pub use crate::report::Sample;

/// State shared by the JS thread, the recorder thread and the dumper.
pub struct Shared {
    start: Instant,
    /// Monotonic ms of the last `observe()` or `dump()`.
    last_activity_ms: AtomicU64,
    /// The block `observe()` writes: word 0 is a generation (an f64 JS makes odd before
    /// writing the figures and even after), words 1.. the [`OBSERVED_LEN`] figures as f64
    /// bits. The package entry's `observe()` writes it straight from JS through a
    /// `Float64Array` over this memory (no call into the addon), so it is read as a
    /// seqlock ([`seqlock_read`]): a copy taken while the generation was odd or changed
    /// is read again, never kept.
    figures: [AtomicU64; OBSERVED_LEN + 1],
    observed: Mutex<Option<Observed>>,
    ring: Mutex<VecDeque<Sample>>,
    capacity: usize,
    stop: Mutex<Option<&'static str>>,
    /// How the process ended, set before a stop from its `exit` event.
    end: Mutex<Option<ProcessEnd>>,
    wake: Condvar,
    /// Set by the thread once its exit record is written (or it could not be).
    stopped: Mutex<bool>,
    stopped_cv: Condvar,
    /// Bumped by `resetForNewSession()`: the thread ends the trail and starts a new one.
    session_gen: AtomicU64,
}

/// Why [`Shared::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    Tick,
    Stop(&'static str),
    NewSession(u64),
}

impl Shared {
    pub fn new(capacity: u32) -> Arc<Shared> {
        Arc::new(Shared {
            start: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
            figures: std::array::from_fn(|_| AtomicU64::new(0)),
            observed: Mutex::new(None),
            ring: Mutex::new(VecDeque::with_capacity(capacity as usize)),
            capacity: capacity as usize,
            stop: Mutex::new(None),
            end: Mutex::new(None),
            wake: Condvar::new(),
            stopped: Mutex::new(false),
            stopped_cv: Condvar::new(),
            session_gen: AtomicU64::new(0),
        })
    }

    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// JS is alive: `observe()` or `dump()` was called.
    pub fn touch(&self) {
        self.last_activity_ms
            .store(self.now_ms(), Ordering::Relaxed);
    }

    /// Stores figures checked field by field (the validated `observe()` path).
    pub fn observe(&self, at_trigger: AtTrigger) {
        let mut values = [f64::NAN; OBSERVED_LEN];
        let h = &at_trigger.v8_heap_stats;
        let u = &at_trigger.memory_usage;
        for (i, (_, doc, _)) in HEAP_STAT_FIELDS.iter().enumerate() {
            values[i] = h.get(doc).unwrap_or(f64::NAN);
        }
        for (i, (_, doc, _)) in MEMORY_USAGE_FIELDS.iter().enumerate() {
            values[HEAP_STAT_FIELDS.len() + i] = u.get(doc).unwrap_or(f64::NAN);
        }
        self.observe_values(&values);
    }

    /// Stores raw figures (NaN, negative or infinite ones count as missing) the way the
    /// JS fast path does, on the JS thread.
    pub fn observe_values(&self, values: &ObservedValues) {
        seqlock_write(&self.figures, values);
        self.poll();
    }

    /// The shared block for the JS fast path: its address and length in bytes. It lives
    /// as long as this `Shared`.
    pub fn figures_block(&self) -> (*mut u8, usize) {
        (
            self.figures.as_ptr() as *mut u8,
            std::mem::size_of_val(&self.figures),
        )
    }

    /// Picks up figures JS wrote since the last look; their time is when first seen
    /// (within one recorder interval of the write), and it counts as JS activity.
    fn poll(&self) {
        let mut observed = self.observed.lock();
        let last = observed.as_ref().map(|o| o.generation);
        let Some((generation, values)) = seqlock_read(&self.figures, last) else {
            return;
        };
        let now = self.now_ms();
        *observed = Some(Observed {
            at_ms: now,
            generation,
            values,
        });
        self.last_activity_ms.store(now, Ordering::Relaxed);
    }

    /// The last V8 figures and their age in ms.
    pub fn observed(&self) -> Option<(V8Figures, u64)> {
        self.poll();
        let now = self.now_ms();
        let o = self.observed.lock().clone()?;
        let h = |k| observed_value(&o.values, true, k);
        let u = |k| observed_value(&o.values, false, k);
        let figures = V8Figures {
            heap_used: h("usedHeapSize").or(u("heapUsed")),
            heap_total: u("heapTotal").or(h("totalHeapSize")),
            heap_limit: h("heapSizeLimit"),
            external: u("external").or(h("externalMemory")),
            rss: u("rss"),
            heap_physical: h("totalPhysicalSize"),
            array_buffers: u("arrayBuffers"),
        };
        Some((figures, now.saturating_sub(o.at_ms)))
    }

    /// The last full figures (for a watchdog dump) and their age in ms.
    pub fn observed_at_trigger(&self) -> Option<(AtTrigger, u64)> {
        self.poll();
        let now = self.now_ms();
        let o = self.observed.lock().clone()?;
        let (heap, usage) = o.values.split_at(HEAP_STAT_FIELDS.len());
        Some((
            AtTrigger {
                v8_heap_stats: observed_map(heap, HEAP_STAT_FIELDS),
                memory_usage: observed_map(usage, MEMORY_USAGE_FIELDS),
                v8_heap_spaces: None,
                active_resources: None,
            },
            now.saturating_sub(o.at_ms),
        ))
    }

    pub fn stalled_ms(&self) -> u64 {
        self.poll();
        self.now_ms()
            .saturating_sub(self.last_activity_ms.load(Ordering::Relaxed))
    }

    pub fn history(&self) -> Vec<Sample> {
        self.ring.lock().iter().cloned().collect()
    }

    fn push(&self, s: Sample) {
        let mut ring = self.ring.lock();
        if ring.len() == self.capacity {
            ring.pop_front();
        }
        ring.push_back(s);
    }

    /// Asks the thread to stop, saying why (`close`: the host closed the dumper;
    /// `released`: the dumper was garbage-collected or its worker ended). Returns false
    /// if it was already asked.
    pub fn request_stop(&self, reason: &'static str) -> bool {
        let mut stop = self.stop.lock();
        let first = stop.is_none();
        if first {
            *stop = Some(reason);
        }
        self.wake.notify_all();
        first
    }

    /// [`Shared::request_stop`], then waits at most `timeout` for the thread to write its
    /// exit record: for the process's `exit` event, after which no thread gets to run.
    /// Returns whether the record was written in time.
    /// Records how the process ended, for the exit record of the next stop.
    pub fn set_end(&self, end: Option<ProcessEnd>) {
        *self.end.lock() = end;
    }

    pub fn stop_and_wait(&self, reason: &'static str, timeout: Duration) -> bool {
        self.request_stop(reason);
        let mut stopped = self.stopped.lock();
        if !*stopped {
            self.stopped_cv.wait_for(&mut stopped, timeout);
        }
        *stopped
    }

    fn mark_stopped(&self) {
        *self.stopped.lock() = true;
        self.stopped_cv.notify_all();
    }

    /// A new session began: the thread ends the current trail with an `exit` record
    /// (reason `sessionReset`) and starts a new file, at once.
    pub fn new_session(&self) {
        let _stop = self.stop.lock();
        self.session_gen.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_all();
    }

    fn session_gen(&self) -> u64 {
        self.session_gen.load(Ordering::SeqCst)
    }

    /// Sleeps one interval, or less if stopped or a new session began.
    fn wait(&self, interval: Duration, gen: u64) -> Wake {
        let mut stop = self.stop.lock();
        if stop.is_none() && self.session_gen() == gen {
            self.wake.wait_for(&mut stop, interval);
        }
        if let Some(reason) = *stop {
            return Wake::Stop(reason);
        }
        match self.session_gen() {
            g if g != gen => Wake::NewSession(g),
            _ => Wake::Tick,
        }
    }
}

/// Where the cgroup figures come from, found once.
fn cgroup_files(roots: &ProbeRoots) -> Option<(PathBuf, &'static str, &'static str)> {
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

/// The append-only recorder file of one process and session, rotated at
/// [`RECORDER_MAX_BYTES`]. Its name is this process's alone
/// (`recorder-<session8>-<pid>-<token>.jsonl`): it is created exclusively (never an
/// existing file, link or FIFO), locked ([`crate::writer::filelock`]) while open (so retention, in any
/// process, never removes it), and every file, the rotated ones included, starts with a
/// `start` record.
pub struct RecorderFile {
    dir: PathBuf,
    session: String,
    interval_ms: u64,
    name: String,
    file: Option<File>,
    size: u64,
    rotations: u32,
}

impl RecorderFile {
    pub fn file_name(session_short: &str) -> String {
        crate::writer::recorder_file_name(session_short)
    }

    pub fn new(dir: &Path, session_short: &str, interval_ms: u64) -> Self {
        RecorderFile {
            dir: dir.to_path_buf(),
            session: session_short.to_string(),
            interval_ms,
            name: Self::file_name(session_short),
            file: None,
            size: 0,
            rotations: 0,
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the file (a fresh name if ours is taken) and writes its `start` record.
    fn open(&mut self) -> std::io::Result<()> {
        crate::writer::prepare_dir(&self.dir).map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut attempts = 0;
        let f = loop {
            match open_exclusive(&self.path()) {
                Ok(f) => break f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 8 => {
                    attempts += 1;
                    self.name = Self::file_name(&self.session);
                }
                Err(e) => return Err(e),
            }
        };
        self.size = 0;
        self.file = Some(f);
        let now = UtcTime::now();
        let start = StartRecord {
            kind: "start",
            t: now.iso8601(),
            epoch_ms: now.epoch_ms,
            pid: std::process::id(),
            process_start_ms: crate::report::process_start_ms(),
            session_id: &self.session,
            interval_ms: self.interval_ms,
            schema_version: crate::report::SCHEMA_VERSION,
            continues: self.rotations > 0,
        };
        let line = json_line(&start)?;
        self.write_line(&line)
    }

    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let f = self.file.as_mut().expect("opened");
        f.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// Opens the file now (writing its `start` record) if it is not open yet.
    pub fn ensure_open(&mut self) -> std::io::Result<()> {
        if self.file.is_none() {
            self.open()?;
        }
        Ok(())
    }

    /// Appends one JSON line with a single write, rotating first if the file is full.
    pub fn append<T: Serialize>(&mut self, record: &T) -> std::io::Result<()> {
        let line = json_line(record)?;
        self.ensure_open()?;
        if self.size + line.len() as u64 > RECORDER_MAX_BYTES {
            let rotated = self.dir.join(crate::writer::rotated_name(&self.name));
            fs::rename(self.path(), rotated)?;
            // Closing releases the lock of the rotated file; the new one is locked.
            self.file = None;
            self.rotations += 1;
            self.open()?;
        }
        self.write_line(&line)
    }
}

fn json_line<T: Serialize>(record: &T) -> std::io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    line.push(b'\n');
    Ok(line)
}

/// Creates `path` exclusively for appending, mode 0600, never through a link and never
/// blocking (a FIFO planted at the name is refused, not opened), and locks it.
fn open_exclusive(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.append(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    let f = o.open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if !crate::writer::filelock::lock_new(&f, path) {
        // A retention pass took the new file's lock and removed it: a fresh name (the
        // caller retries on AlreadyExists).
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "removed by retention before it could be locked",
        ));
    }
    Ok(f)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StartRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    t: String,
    epoch_ms: i64,
    pid: u32,
    process_start_ms: u64,
    session_id: &'a str,
    interval_ms: u64,
    schema_version: u32,
    /// True in a file that continues the same trail after a rotation.
    continues: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExitRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    t: String,
    epoch_ms: i64,
    reason: &'static str,
    /// How the process ended, when the record is written from its `exit` event.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    end: Option<&'a ProcessEnd>,
}

/// The ways a process can end that the package entry tells apart ([`ProcessEnd::how`]).
pub const END_HOWS: [&str; 4] = [
    "uncaughtException",
    "unhandledRejection",
    "processExit",
    "loopEnded",
];

/// The longest error class name kept.
pub const MAX_ERROR_CLASS_CHARS: usize = 100;

/// How the process ended, from what the package entry saw (its `exit` event and Node's
/// `uncaughtExceptionMonitor`), checked here: an unknown `how` is none, a class name is kept
/// only when it is an identifier's (cut to [`MAX_ERROR_CLASS_CHARS`]), and the frame goes
/// through the place rule and the frame bounds (`places::clean_frame`).
pub fn process_end(
    code: Option<i32>,
    how: Option<&str>,
    error_class: Option<&str>,
    thrown_at: Option<StackFrame>,
) -> Option<ProcessEnd> {
    let how = END_HOWS.into_iter().find(|h| Some(*h) == how)?;
    let uncaught = how.starts_with("uncaught") || how.starts_with("unhandled");
    // A name that is not an identifier's is not kept at all: removing its other characters
    // would join what they separate (a URL's password and query) into one word.
    let error_class = error_class
        .filter(|c| {
            uncaught
                && !c.is_empty()
                && c.chars()
                    .all(|ch| ch.is_alphanumeric() || matches!(ch, '_' | '$' | '.'))
        })
        .map(|c| c.chars().take(MAX_ERROR_CLASS_CHARS).collect::<String>());
    let home = crate::places::home();
    let thrown_at = thrown_at.filter(|_| uncaught).map(|mut f| {
        crate::places::clean_frame(&mut f, home.as_deref());
        f
    });
    Some(ProcessEnd {
        code,
        how,
        error_class,
        thrown_at,
    })
}

/// What the thread needs from its dumper, so the recorder stays testable without it.
pub trait Host: Send + Sync + 'static {
    fn directory(&self) -> PathBuf;
    fn session_short_id(&self) -> String;
    /// Called when the watchdog fires; `stalled_ms` is how long JS has been silent.
    fn watchdog_dump(&self, stalled_ms: u64, rss: u64, threshold: u64);
    /// The memory the watchdog compares RSS against (effective limit).
    fn effective_limit(&self) -> Option<u64>;
    /// `maxFiles`: recorder files (and dumps) kept in the directory.
    fn max_files(&self) -> usize;
}

pub struct Recorder {
    pub shared: Arc<Shared>,
}

impl Recorder {
    /// Starts the sampling thread. It holds only what it needs (never the JS object), so
    /// it cannot keep anything alive, and it never keeps Node running.
    pub fn start(
        host: Arc<dyn Host>,
        shared: Arc<Shared>,
        config: RecorderConfig,
        watchdog: Option<WatchdogConfig>,
        roots: ProbeRoots,
    ) -> std::io::Result<Recorder> {
        let s = shared.clone();
        std::thread::Builder::new()
            .name("mdd-recorder".into())
            .stack_size(256 * 1024)
            .spawn(move || run(host, s, config, watchdog, roots))?;
        Ok(Recorder { shared })
    }
}

fn run(
    host: Arc<dyn Host>,
    shared: Arc<Shared>,
    config: RecorderConfig,
    watchdog: Option<WatchdogConfig>,
    roots: ProbeRoots,
) {
    let cg = cgroup_files(&roots);
    let mut gen = shared.session_gen();
    let mut file = RecorderFile::new(
        &host.directory(),
        &host.session_short_id(),
        config.interval_ms,
    );
    let _ = file.ensure_open();
    // With its own file open (and locked), bound the directory's recorder files.
    let _ = crate::writer::apply_retention(
        &host.directory(),
        host.max_files(),
        &[file.name()],
        &UtcTime::now(),
    );
    let interval = Duration::from_millis(config.interval_ms);
    let mut fired = false;
    let exit = |file: &mut RecorderFile, reason: &'static str, end: Option<&ProcessEnd>| {
        let now = UtcTime::now();
        let _ = file.append(&ExitRecord {
            kind: "exit",
            t: now.iso8601(),
            epoch_ms: now.epoch_ms,
            reason,
            end,
        });
    };
    loop {
        let s = sample(&shared, &roots, cg.as_ref());
        let rss = s.rss_bytes;
        // A full disk must not stop the sampling (the ring still feeds dumps).
        let _ = file.append(&s);
        shared.push(s);
        if let (Some(w), Some(rss)) = (watchdog, rss) {
            let threshold = watchdog_threshold(&w, host.effective_limit());
            let stalled = shared.stalled_ms();
            if let Some(threshold) = threshold {
                if rss >= threshold && stalled >= w.stall_ms {
                    if !fired {
                        host.watchdog_dump(stalled, rss, threshold);
                        fired = true;
                    }
                } else if stalled < w.stall_ms {
                    // JS came back: a later stall may fire again (cap and cooldown apply).
                    fired = false;
                }
            }
        }
        match shared.wait(interval, gen) {
            Wake::Tick => {}
            Wake::Stop(reason) => {
                let end = shared.end.lock().take();
                exit(&mut file, reason, end.as_ref());
                shared.mark_stopped();
                break;
            }
            Wake::NewSession(g) => {
                gen = g;
                exit(&mut file, "sessionReset", None);
                file = RecorderFile::new(
                    &host.directory(),
                    &host.session_short_id(),
                    config.interval_ms,
                );
                let _ = file.ensure_open();
            }
        }
    }
}

/// How often the JS side proves the event loop alive while the watchdog is on: a quarter
/// of `stallMs`, so a live loop is never silent for more than about a quarter of it,
/// between 10 ms (a timer per tick is no cheaper to miss) and 1 s.
pub fn heartbeat_interval_ms(stall_ms: u64) -> u32 {
    (stall_ms / 4).clamp(10, 1000) as u32
}

/// The RSS at which the watchdog fires: the smaller of `rssBytes` and `rssRatio` of the
/// effective limit.
pub fn watchdog_threshold(w: &WatchdogConfig, effective_limit: Option<u64>) -> Option<u64> {
    let by_ratio = w
        .rss_ratio
        .zip(effective_limit)
        .map(|(r, l)| (r * l as f64) as u64);
    match (by_ratio, w.rss_bytes) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_last_samples() {
        let s = Shared::new(3);
        for i in 0..5 {
            s.push(Sample {
                kind: "sample",
                t: String::new(),
                epoch_ms: i,
                ..Default::default()
            });
        }
        let h: Vec<i64> = s.history().iter().map(|x| x.epoch_ms).collect();
        assert_eq!(h, vec![2, 3, 4]);
    }

    #[test]
    fn thresholds() {
        let w = |r: Option<f64>, b: Option<u64>| WatchdogConfig {
            rss_ratio: r,
            rss_bytes: b,
            stall_ms: 1,
            capture_stack: false,
        };
        assert_eq!(
            watchdog_threshold(&w(Some(0.5), None), Some(1000)),
            Some(500)
        );
        assert_eq!(
            watchdog_threshold(&w(Some(0.5), Some(300)), Some(1000)),
            Some(300)
        );
        assert_eq!(watchdog_threshold(&w(None, Some(300)), None), Some(300));
        assert_eq!(watchdog_threshold(&w(Some(0.5), None), None), None);
    }

    #[test]
    fn seqlock_no_torn_reads() {
        // A writer stores the same value in every figure of a write, as fast as it can;
        // a reader polls all the while. A torn copy would mix two writes' values.
        use std::sync::atomic::AtomicBool;
        let s = Arc::new(Shared::new(2));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (s, stop) = (s.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut k = 0.0;
                while !stop.load(Ordering::Relaxed) {
                    k += 1.0;
                    seqlock_write(&s.figures, &[k; OBSERVED_LEN]);
                }
                k
            })
        };
        let (mut reads, mut last) = (0u32, None);
        let deadline = Instant::now() + Duration::from_millis(300);
        while Instant::now() < deadline || reads < 1000 {
            if let Some((g, values)) = seqlock_read(&s.figures, last) {
                assert_eq!(f64::from_bits(g) % 2.0, 0.0, "kept a copy taken mid-write");
                assert!(
                    values.iter().all(|v| *v == values[0]),
                    "torn read: {values:?}"
                );
                // Generation 2k belongs to the k-th write.
                assert_eq!(values[0] * 2.0, f64::from_bits(g));
                last = Some(g);
                reads += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        assert!(writer.join().unwrap() > 0.0);
    }

    #[test]
    fn seqlock_half_written_block_keeps_the_last_figures() {
        // A writer that stopped halfway (generation left odd) is never read as finished.
        let s = Shared::new(2);
        s.observe_values(&[1.0; OBSERVED_LEN]);
        assert_eq!(s.observed().unwrap().0.heap_used, Some(1.0));
        let odd = f64::from_bits(s.figures[0].load(Ordering::Relaxed)) + 1.0;
        s.figures[0].store(odd.to_bits(), Ordering::Relaxed);
        s.figures[5].store(9.0f64.to_bits(), Ordering::Relaxed);
        assert_eq!(s.observed().unwrap().0.heap_used, Some(1.0));
        s.figures[0].store((odd + 1.0).to_bits(), Ordering::Release);
        assert_eq!(s.observed().unwrap().0.heap_used, Some(9.0));
    }

    #[test]
    fn observe_and_stall() {
        let s = Shared::new(2);
        assert!(s.observed().is_none());
        s.observe(crate::report::AtTrigger {
            v8_heap_stats: crate::report::NumberMap(vec![("usedHeapSize", Some(1.0))]),
            ..Default::default()
        });
        let (v, age) = s.observed().unwrap();
        assert_eq!(v.heap_used, Some(1.0));
        assert!(age < 1000);
        // The raw path: one value per field, NaN and negatives count as missing.
        let mut values = [f64::NAN; OBSERVED_LEN];
        values[4] = 5.0; // usedHeapSize
        values[5] = 100.0; // heapSizeLimit
        values[HEAP_STAT_FIELDS.len()] = 7.0; // rss
        values[HEAP_STAT_FIELDS.len() + 1] = -1.0; // heapTotal
        values[HEAP_STAT_FIELDS.len() + 3] = 3.0; // external
        values[2] = 9.0; // totalPhysicalSize
        values[HEAP_STAT_FIELDS.len() + 4] = 2.0; // arrayBuffers
        s.observe_values(&values);
        let (v, _) = s.observed().unwrap();
        assert_eq!(
            v,
            V8Figures {
                heap_used: Some(5.0),
                heap_total: None,
                heap_limit: Some(100.0),
                external: Some(3.0),
                rss: Some(7.0),
                heap_physical: Some(9.0),
                array_buffers: Some(2.0),
            }
        );
        let (t, _) = s.observed_at_trigger().unwrap();
        assert_eq!(t.v8_heap_stats.get("usedHeapSize"), Some(5.0));
        assert_eq!(t.v8_heap_stats.0.len(), HEAP_STAT_FIELDS.len());
        assert_eq!(t.memory_usage.get("rss"), Some(7.0));
        assert_eq!(t.memory_usage.0[1], ("heapTotal", None));
        assert!(s.stalled_ms() < 1000);
        s.new_session();
        assert_eq!(
            s.wait(Duration::from_secs(10), 0),
            Wake::NewSession(1),
            "a new session wakes the thread at once"
        );
        assert!(s.request_stop("close"));
        assert!(!s.request_stop("released"));
        assert_eq!(
            s.wait(Duration::from_secs(10), 1),
            Wake::Stop("close"),
            "a stopped recorder does not sleep"
        );
    }

    fn lines(p: &Path) -> Vec<serde_json::Value> {
        fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn recorder_file_starts_every_file_with_a_start_record_and_rotates() {
        let dir = std::env::temp_dir().join(format!("mdd-rec-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut f = RecorderFile::new(&dir, "abc", 1000);
        assert!(f
            .name()
            .starts_with(&format!("recorder-abc-{}-", std::process::id())));
        assert!(crate::writer::is_recorder_name(f.name()), "{}", f.name());
        f.append(&serde_json::json!({"a": 1})).unwrap();
        f.append(&serde_json::json!({"a": 2})).unwrap();
        let l = lines(&f.path());
        assert_eq!(l.len(), 3);
        assert_eq!(l[0]["type"], "start");
        assert_eq!(l[0]["pid"], std::process::id());
        assert_eq!(l[0]["processStartMs"], crate::report::process_start_ms());
        assert_eq!(l[0]["continues"], false);
        assert_eq!((l[1]["a"].as_u64(), l[2]["a"].as_u64()), (Some(1), Some(2)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            assert_eq!(fs::metadata(f.path()).unwrap().mode() & 0o777, 0o600);
        }
        f.size = RECORDER_MAX_BYTES;
        f.append(&serde_json::json!({"a": 3})).unwrap();
        let l = lines(&f.path());
        assert_eq!(
            l[0]["type"], "start",
            "the new file starts with a start record"
        );
        assert_eq!(l[0]["continues"], true);
        assert_eq!(l[1]["a"], 3);
        let rotated = lines(&dir.join(format!("{}.1", f.name())));
        assert_eq!(rotated[0]["type"], "start");
        assert_eq!(rotated.last().unwrap()["a"], 2);
        // Closed first: a file still open is only marked for deletion on some Windows file
        // systems (and under Wine), and its directory is not yet empty.
        drop(f);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn two_trails_never_share_a_file() {
        let dir = std::env::temp_dir().join(format!("mdd-rec-two-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut a = RecorderFile::new(&dir, "same", 1000);
        let mut b = RecorderFile::new(&dir, "same", 1000);
        a.ensure_open().unwrap();
        b.ensure_open().unwrap();
        assert_ne!(a.path(), b.path());
        drop((a, b));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_at_the_name_is_refused_without_blocking() {
        let dir = std::env::temp_dir().join(format!("mdd-rec-fifo-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        crate::writer::prepare_dir(&dir).unwrap();
        let fifo = dir.join("recorder-x.jsonl");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t = Instant::now();
        assert!(open_exclusive(&fifo).is_err());
        // A recorder whose chosen name is taken picks another one.
        let mut f = RecorderFile::new(&dir, "x", 1000);
        f.name = "recorder-x.jsonl".into();
        f.append(&serde_json::json!({"a": 1})).unwrap();
        assert_ne!(f.name(), "recorder-x.jsonl");
        assert!(t.elapsed() < Duration::from_secs(2));
        assert_eq!(lines(&f.path())[0]["type"], "start");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn recorder_file_never_follows_a_planted_link() {
        let dir = std::env::temp_dir().join(format!("mdd-rec-link-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        crate::writer::prepare_dir(&dir).unwrap();
        let target = dir.with_extension("target");
        fs::write(&target, b"precious").unwrap();
        std::os::unix::fs::symlink(&target, dir.join("recorder-x.jsonl")).unwrap();
        assert!(open_exclusive(&dir.join("recorder-x.jsonl")).is_err());
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        fs::remove_dir_all(&dir).unwrap();
        fs::remove_file(&target).unwrap();
    }

    #[test]
    fn process_end_keeps_names_and_places_only() {
        let frame = |script: &str| StackFrame {
            function: "parseReply".into(),
            script: script.into(),
            line: Some(88),
            column: Some(3),
        };
        let e = process_end(
            Some(1),
            Some("uncaughtException"),
            Some("TypeError".repeat(20).as_str()),
            Some(frame(
                "https://u:PASSWORD@cdn.example/client.js?sig=SECRET#x",
            )),
        )
        .unwrap();
        assert_eq!(e.how, "uncaughtException");
        assert_eq!(e.code, Some(1));
        let class = e.error_class.as_deref().unwrap();
        assert!(class.starts_with("TypeErrorTypeError"), "{class}");
        assert_eq!(class.chars().count(), MAX_ERROR_CLASS_CHARS);
        assert_eq!(
            e.thrown_at.as_ref().unwrap().script,
            "https://cdn.example/client.js"
        );
        // A class name that is no identifier is not kept (its parts would join).
        for bad in ["https://u:SECRET@h/x?k=Q", "Type Error", "a<b>"] {
            let e = process_end(Some(1), Some("uncaughtException"), Some(bad), None).unwrap();
            assert_eq!(e.error_class, None, "{bad}");
        }
        // An unknown way of ending is no end; a plain exit keeps no error or frame.
        assert!(process_end(Some(0), Some("sideways"), None, None).is_none());
        assert!(process_end(Some(0), None, None, None).is_none());
        let plain = process_end(
            Some(3),
            Some("processExit"),
            Some("TypeError"),
            Some(frame("/x.js")),
        )
        .unwrap();
        assert_eq!((&plain.error_class, &plain.thrown_at), (&None, &None));
        let text = serde_json::to_string(&ExitRecord {
            kind: "exit",
            t: "t".into(),
            epoch_ms: 1,
            reason: "exit",
            end: Some(&plain),
        })
        .unwrap();
        assert_eq!(
            text,
            r#"{"type":"exit","t":"t","epochMs":1,"reason":"exit","code":3,"how":"processExit"}"#
        );
        let none = ExitRecord {
            kind: "exit",
            t: "t".into(),
            epoch_ms: 1,
            reason: "close",
            end: None,
        };
        assert_eq!(
            serde_json::to_string(&none).unwrap(),
            r#"{"type":"exit","t":"t","epochMs":1,"reason":"close"}"#
        );
    }
}
