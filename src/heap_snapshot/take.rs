//! The opt-in heap snapshot that follows a dump (`options.heapSnapshot`).
//!
//! Order of events: phase 1 and phase 2 are on disk first. Phase 2 then decides, from
//! what it measured, whether a snapshot may be taken ([`decide`]): only when the
//! effective headroom (the smallest of the cgroup's limit minus its usage, the system's
//! available memory and the headroom against the effective limit) exceeds the estimated
//! need. A skip is recorded in the phase-2 document. A snapshot to be taken gets a locked
//! temporary file in the dump directory and the document says `pending`, so a process
//! that dies during the snapshot leaves that evidence. The package's entry wrapper has
//! V8 write the snapshot into the temporary file (the API is only reachable from JS),
//! then [`finish`] runs off the JS thread: the redacting copy into a second locked
//! temporary file, a no-replace rename to `heap-<session8>-<time>-<n>.heapsnapshot`,
//! retention with its own byte budget, and one more atomic replace of the dump with the
//! outcome.
//!
//! Length: about 740 lines of code; the unit tests beside it take the file past 800.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::config::HeapSnapshotConfig;
use crate::heap_snapshot::redact;
use crate::report::Report;
use crate::timefmt::UtcTime;
use crate::writer::{self, FileId, LockedTemp};

/// The estimate of the extra memory a snapshot needs: V8 builds the whole snapshot graph
/// and its string table in native memory before writing it, and what that costs depends
/// on the heap's shape, which nothing cheap can tell. Measured (`bench/snapshot-peak.mjs`,
/// fresh processes, Node 20.20, 22.23, 24.22 and 26.12, heaps of 4 to 70 MiB): an empty
/// heap (4-6 MiB used) added 51-62 MiB to the peak resident set size, and every further
/// byte of `usedHeapSize` added 44-46 bytes for short unique strings, 28-30 for small
/// objects and boxed doubles, 17-18 for closures and 9-10 for a realistic mix of records.
/// The estimate covers the worst of them, the strings of Node 20 (46.3), with a margin:
/// 50 bytes for each byte above the empty heap's 4 MiB, plus 64 MiB for the empty heap's
/// own graph and the writer's buffers. It overestimates every other shape (a realistic
/// mix by about five times): a snapshot the guard skips may well have fitted, one it
/// allows fits whatever the heap holds.
pub const NEED_FACTOR: u64 = 50;
pub const NEED_BASE_BYTES: u64 = 4 << 20;
pub const NEED_MARGIN_BYTES: u64 = 64 << 20;
pub const ESTIMATE: &str = "50 x (usedHeapSize - 4 MiB) + 64 MiB";

/// [`ESTIMATE`] for a heap of `used` bytes.
pub fn estimated_need(used: u64) -> u64 {
    used.saturating_sub(NEED_BASE_BYTES)
        .saturating_mul(NEED_FACTOR)
        .saturating_add(NEED_MARGIN_BYTES)
}

/// The need of every snapshot in flight in this process: each dumper's, in every worker
/// thread (they share this library's statics). A snapshot reserves its need from the
/// decision until the raw file is written and copied, and a second decision sees the
/// headroom net of what is reserved.
static IN_FLIGHT: Mutex<u64> = Mutex::new(0);

/// A snapshot's share of a pool ([`IN_FLIGHT`]), given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    pool: &'static Mutex<u64>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut r = self.pool.lock();
        *r = r.saturating_sub(self.bytes);
    }
}

/// Reserves `needed` from `pool` if the headroom net of what is already reserved there
/// exceeds it; otherwise returns what is reserved.
fn reserve(pool: &'static Mutex<u64>, needed: u64, headroom: u64) -> Result<Reservation, u64> {
    let mut r = pool.lock();
    if *r > 0 && headroom.saturating_sub(*r) <= needed {
        return Err(*r);
    }
    *r = r.saturating_add(needed);
    Ok(Reservation {
        pool,
        bytes: needed,
    })
}

pub use crate::report::HeapSnapshotSection;

impl HeapSnapshotSection {
    fn skipped(reason: String, needed: Option<u64>, headroom: Option<u64>) -> Self {
        HeapSnapshotSection {
            status: "skipped",
            skipped: Some(reason),
            needed_bytes: needed,
            headroom_bytes: headroom,
            estimate: needed.map(|_| ESTIMATE),
            ..Default::default()
        }
    }
}

/// What phase 2 decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The option is off or this trigger is not one of its triggers: no section.
    NotAsked,
    Skip(Box<HeapSnapshotSection>),
    Take {
        needed: u64,
        headroom: u64,
    },
}

fn mib(b: u64) -> String {
    crate::format::mib0(b as f64)
}

/// The effective headroom phase 2 measured: the smallest of the cgroup's limit minus its
/// usage, the system's available memory and the headroom against the effective limit.
pub fn headroom(report: &Report) -> Option<u64> {
    let cgroup = report
        .cgroup
        .as_ref()
        .and_then(|c| Some(c.effective_limit?.saturating_sub(c.usage?)));
    let available = report.system.as_ref().map(|s| s.available_memory);
    let limit = report.memory_limit.as_ref().and_then(|l| l.headroom_bytes);
    [cgroup, available, limit].into_iter().flatten().min()
}

/// Whether this dump may be followed by a snapshot. `taken`: snapshots already taken in
/// the session; `disk_free`: bytes free for us in the directory, if known.
pub fn decide(
    report: &Report,
    config: &HeapSnapshotConfig,
    taken: u32,
    disk_free: Option<u64>,
) -> Decision {
    if !config.triggers.iter().any(|t| t.as_str() == report.trigger) {
        return Decision::NotAsked;
    }
    let used = report
        .at_trigger
        .v8_heap_stats
        .get("usedHeapSize")
        .or_else(|| report.at_trigger.memory_usage.get("heapUsed"))
        .map(|u| u as u64);
    let needed = used.map(estimated_need);
    let room = headroom(report);
    if taken >= config.max_per_session {
        return Decision::Skip(Box::new(HeapSnapshotSection::skipped(
            format!(
                "this session already has {taken} heap snapshot(s) (maxPerSession = {})",
                config.max_per_session
            ),
            needed,
            room,
        )));
    }
    let Some(needed) = needed else {
        return Decision::Skip(Box::new(HeapSnapshotSection::skipped(
            "the dump's input has no usedHeapSize, so the memory a snapshot needs cannot be estimated".into(),
            None,
            room,
        )));
    };
    let Some(room) = room else {
        return Decision::Skip(Box::new(HeapSnapshotSection::skipped(
            "phase 2 could not measure the memory headroom".into(),
            Some(needed),
            None,
        )));
    };
    if room <= needed {
        return Decision::Skip(Box::new(HeapSnapshotSection::skipped(
            format!(
                "not enough memory headroom: a snapshot needs an estimated {} ({ESTIMATE}), the headroom is {}",
                mib(needed),
                mib(room)
            ),
            Some(needed),
            Some(room),
        )));
    }
    // The raw snapshot and its copy are on disk together for a moment; the raw one is
    // about twice the heap.
    let disk_need = used.unwrap_or(0).saturating_mul(4);
    let Some(free) = disk_free else {
        // A snapshot of unknown size against a disk of unknown room could fill the disk the
        // dumps live on: not started, and the document says why.
        return Decision::Skip(Box::new(HeapSnapshotSection::skipped(
            format!(
                "the free disk space of the directory could not be read ({DISK_PROBE}), so a snapshot of about {} is not started",
                mib(disk_need)
            ),
            Some(needed),
            Some(room),
        )));
    };
    if free < disk_need {
        return Decision::Skip(Box::new(HeapSnapshotSection::skipped(
            format!(
                "not enough disk space: about {} needed, {} free",
                mib(disk_need),
                mib(free)
            ),
            Some(needed),
            Some(room),
        )));
    }
    Decision::Take {
        needed,
        headroom: room,
    }
}

/// The call [`disk_free`] makes, named in a skip reason when it fails.
const DISK_PROBE: &str = if cfg!(windows) {
    "GetDiskFreeSpaceExW"
} else {
    "statvfs"
};

/// Bytes available to us on the file system of `dir`.
pub fn disk_free(dir: &std::path::Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        // SAFETY: `statvfs` is plain old data; all-zero bytes are a valid value that the call overwrites.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a NUL-terminated path and `st` a valid, exclusively borrowed out-parameter.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return None;
        }
        Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
    }
    #[cfg(windows)]
    {
        use std::os::windows::ffi::OsStrExt;
        use windows_sys::Win32::Storage::FileSystem::GetDiskFreeSpaceExW;
        // A path past MAX_PATH (260) fails unless it is written in its verbatim form.
        let abs = std::path::absolute(dir).ok()?;
        let w: Vec<u16> = match abs.to_str() {
            Some(text) => verbatim(text).encode_utf16().chain([0]).collect(),
            // Not valid Unicode: tried as it is; a failure is recorded by the caller.
            None => abs.as_os_str().encode_wide().chain([0]).collect(),
        };
        let mut avail = 0u64;
        // SAFETY: `w` is a NUL-terminated wide path that outlives the call; `avail` is a
        // valid out-parameter and the two optional ones are null, which the API allows.
        let ok = unsafe {
            GetDiskFreeSpaceExW(
                w.as_ptr(),
                &mut avail,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        (ok != 0).then_some(avail)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = dir;
        None
    }
}

/// The verbatim form of an absolute Windows path, which the wide file APIs accept past
/// MAX_PATH (260 characters): `C:\a` becomes `\\?\C:\a` and `\\srv\share\a` becomes
/// `\\?\UNC\srv\share\a`; a path already verbatim, or a device path, is kept. Plain text,
/// so it is tested on every host.
pub fn verbatim(abs: &str) -> String {
    if abs.starts_with(r"\\?\") || abs.starts_with(r"\\.\") {
        abs.to_string()
    } else if let Some(unc) = abs.strip_prefix(r"\\") {
        format!(r"\\?\UNC\{unc}")
    } else {
        format!(r"\\?\{abs}")
    }
}

/// Samples this process's resident set size while a snapshot is taken.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<u64>>,
    before: u64,
    hwm_before: Option<u64>,
}

#[cfg(target_os = "linux")]
fn rss_now() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * crate::probes::procfs::page_size())
}

/// The working set (Windows's resident set) and its peak so far, of this process.
#[cfg(windows)]
fn working_set() -> Option<(u64, u64)> {
    let c = crate::probes::windows::memory_counters().ok()?;
    Some((c.working_set, c.peak_working_set))
}

#[cfg(windows)]
fn rss_now() -> Option<u64> {
    working_set().map(|(now, _)| now)
}

#[cfg(not(any(target_os = "linux", windows)))]
fn rss_now() -> Option<u64> {
    None
}

/// The peak working set of the process so far.
#[cfg(windows)]
fn rss_peak() -> Option<u64> {
    working_set().map(|(_, peak)| peak)
}

/// `VmHWM`: the peak resident set size of the process so far.
#[cfg(not(windows))]
fn rss_peak() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

impl Sampler {
    /// Starts sampling every 2 ms on a thread of its own; `None` where the resident
    /// set size cannot be read.
    pub fn start() -> Option<Sampler> {
        let before = rss_now()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("mdd-heap-sampler".into())
            .spawn(move || {
                let mut max = before;
                while !flag.load(Ordering::Relaxed) {
                    max = max.max(rss_now().unwrap_or(0));
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                max.max(rss_now().unwrap_or(0))
            })
            .ok()?;
        Some(Sampler {
            stop,
            handle: Some(handle),
            before,
            hwm_before: rss_peak(),
        })
    }

    /// Stops sampling; the highest resident set size seen minus the one before. A new
    /// process-wide peak (`VmHWM`) set meanwhile is exact, and used when higher.
    pub fn finish(mut self) -> Option<u64> {
        self.stop.store(true, Ordering::Relaxed);
        let mut max = self.handle.take()?.join().ok()?;
        if let (Some(a), Some(b)) = (self.hwm_before, rss_peak()) {
            if b > a {
                max = max.max(b);
            }
        }
        Some(max.saturating_sub(self.before))
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A snapshot phase 2 allowed, waiting for the JS side to have V8 write it.
pub struct Pending {
    /// V8 writes here: a locked temporary file in the dump directory.
    /// Taken only to land it unredacted; dropped (and so removed) otherwise.
    pub raw: Option<RawFile>,
    pub dir: PathBuf,
    /// The first choice of name for the snapshot.
    pub heap_name: String,
    pub dump_name: String,
    /// The phase-2 file at `dump_name`, replaced only while it is still there.
    pub dump_id: Option<FileId>,
    pub report: Report,
    pub section: HeapSnapshotSection,
    pub config: HeapSnapshotConfig,
    pub max_files: u32,
    pub sampler: Option<Sampler>,
    /// Held until the snapshot is written and copied (or abandoned).
    pub reservation: Reservation,
}

/// The dumper's heap-snapshot state: the option, the session's count, the pending ones.
pub struct HeapState {
    pub config: HeapSnapshotConfig,
    /// Snapshots taken per session, so that each counts against the session whose dump
    /// asked for it, even when its phase 2 decides after `resetForNewSession()`.
    sessions: Mutex<SessionCounts>,
    next_ticket: AtomicU32,
    pending: Mutex<Vec<(u32, Pending)>>,
}

impl std::fmt::Debug for HeapState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeapState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HeapState {
    pub fn new(config: HeapSnapshotConfig) -> Self {
        HeapState {
            config,
            sessions: Mutex::new(SessionCounts {
                current: 0,
                taken: vec![(0, 0)],
            }),
            next_ticket: AtomicU32::new(1),
            pending: Mutex::new(Vec::new()),
        }
    }

    /// A new session: its snapshots are counted from zero.
    pub fn reset(&self) {
        let mut s = self.sessions.lock();
        s.current += 1;
        let current = s.current;
        s.taken.push((current, 0));
        if s.taken.len() > KEPT_SESSIONS {
            s.taken.remove(0);
        }
    }

    /// The current session, for a dump to carry into its phase 2.
    pub fn session(&self) -> u64 {
        self.sessions.lock().current
    }

    /// Phase 2, before its document is written: decides, and for a snapshot to be taken
    /// creates its temporary file. Returns the section for the document and, when
    /// pending, the parts of [`Pending`] that exist only once the document is written.
    pub fn plan(&self, dir: &std::path::Path, report: &Report, session: u64) -> Option<Planned> {
        let free = disk_free(dir);
        // Held from the count to its increment, so two dumps of one session deciding at
        // once cannot both pass `maxPerSession`.
        let mut sessions = self.sessions.lock();
        // A session so old it is no longer kept counts as full.
        let taken = sessions
            .taken
            .iter()
            .find(|(g, _)| *g == session)
            .map_or(u32::MAX, |(_, n)| *n);
        match decide(report, &self.config, taken, free) {
            Decision::NotAsked => None,
            Decision::Skip(s) => Some(Planned {
                section: *s,
                raw: None,
            }),
            Decision::Take { needed, headroom } => {
                let reservation = match reserve(&IN_FLIGHT, needed, headroom) {
                    Ok(r) => r,
                    Err(reserved) => {
                        return Some(Planned {
                            section: HeapSnapshotSection::skipped(
                                format!(
                                    "not enough memory headroom: a snapshot needs an estimated {} ({ESTIMATE}), the headroom is {}, of which {} is reserved by heap snapshots in flight in this process",
                                    mib(needed),
                                    mib(headroom),
                                    mib(reserved)
                                ),
                                Some(needed),
                                Some(headroom),
                            ),
                            raw: None,
                        })
                    }
                };
                let heap_name =
                    writer::heap_file_name(&report.session_id, &UtcTime::now(), report.dump_number);
                let base = HeapSnapshotSection {
                    status: "pending",
                    needed_bytes: Some(needed),
                    headroom_bytes: Some(headroom),
                    estimate: Some(ESTIMATE),
                    file: Some(heap_name.clone()),
                    redacted: Some(self.config.redact),
                    ..Default::default()
                };
                match RawFile::create(dir, &heap_name) {
                    Ok(raw) => {
                        if let Some((_, n)) = sessions.taken.iter_mut().find(|(g, _)| *g == session)
                        {
                            *n += 1;
                        }
                        Some(Planned {
                            section: base,
                            raw: Some((raw, heap_name, reservation)),
                        })
                    }
                    Err(e) => Some(Planned {
                        section: HeapSnapshotSection {
                            status: "failed",
                            error: Some(e.to_string()),
                            file: None,
                            ..base
                        },
                        raw: None,
                    }),
                }
            }
        }
    }

    /// Registers a pending snapshot; its ticket goes to the JS side.
    pub fn add(&self, p: Pending) -> u32 {
        let t = self.next_ticket.fetch_add(1, Ordering::SeqCst);
        self.pending.lock().push((t, p));
        t
    }

    /// The JS side is about to have V8 write the snapshot: starts the memory sampler
    /// and returns the path to write to.
    pub fn start(&self, ticket: u32) -> Option<PathBuf> {
        let mut pending = self.pending.lock();
        let p = pending.iter_mut().find(|(t, _)| *t == ticket)?;
        p.1.sampler = Sampler::start();
        p.1.raw.as_ref().map(RawFile::path)
    }

    pub fn take(&self, ticket: u32) -> Option<Pending> {
        let mut pending = self.pending.lock();
        let i = pending.iter().position(|(t, _)| *t == ticket)?;
        Some(pending.remove(i).1)
    }
}

/// Sessions whose snapshot counts are kept: the current one and those before it whose
/// dumps may still be in phase 2.
const KEPT_SESSIONS: usize = 8;

struct SessionCounts {
    current: u64,
    /// `(session, snapshots taken)`, oldest first.
    taken: Vec<(u64, u32)>,
}

/// The file V8 writes the raw (unredacted) snapshot into.
///
/// Where the platform allows (Linux, a file system with `O_TMPFILE`) it has no name at
/// all: V8 opens it through `/proc/self/fd/<fd>`, the redacting copy reads it the same
/// way, and whatever ends the process (`process.exit()`, a signal, the OOM killer) the
/// kernel frees it with the process. Elsewhere it is a locked temporary file, listed in
/// [`NAMED_RAW`] so that the package entry's `exit` handler can remove it
/// ([`discard_named_raw_files`]); a death no handler sees leaves it to the next sweep.
/// (A named one dropped unlanded is removed by its `LockedTemp`; its stale entry names a
/// unique temporary name that nothing else takes.)
pub enum RawFile {
    Unnamed(writer::Armed),
    Named(LockedTemp),
}

/// The named raw snapshots of this process that are not yet landed or removed.
static NAMED_RAW: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

impl RawFile {
    pub fn create(dir: &std::path::Path, heap_name: &str) -> Result<RawFile, writer::WriteError> {
        let proc_fd = std::path::Path::new("/proc/self/fd");
        if !crate::test_hooks::armed("heap-raw-named") && proc_fd.is_dir() {
            if let Ok(a) = writer::Armed::arm(dir, 0) {
                return Ok(RawFile::Unnamed(a));
            }
        }
        let t = LockedTemp::create(dir, heap_name)?;
        NAMED_RAW.lock().push(t.path().to_path_buf());
        Ok(RawFile::Named(t))
    }

    /// Where V8 writes it and the copy reads it.
    pub fn path(&self) -> PathBuf {
        match self {
            RawFile::Unnamed(a) => a.reopen_path(),
            RawFile::Named(t) => t.path().to_path_buf(),
        }
    }

    pub fn is_named(&self) -> bool {
        matches!(self, RawFile::Named(_))
    }

    /// The open file (tests write a snapshot through it).
    pub fn file(&mut self) -> &mut std::fs::File {
        match self {
            RawFile::Unnamed(a) => a.file(),
            RawFile::Named(t) => t.file(),
        }
    }

    /// Lands it under the first free name from `base` (never replacing a file).
    pub fn land(
        self,
        dir: &std::path::Path,
        base: &str,
    ) -> Result<writer::Landed, writer::WriteError> {
        match self {
            RawFile::Unnamed(mut a) => {
                let _ = a.file().sync_all();
                let landed = a.land(base)?;
                let _ = writer::sync_dir(dir);
                Ok(landed)
            }
            RawFile::Named(t) => {
                let temp = t.path().to_path_buf();
                NAMED_RAW.lock().retain(|p| *p != temp);
                t.land()
            }
        }
    }
}

/// Removes every named raw snapshot of this process (the `exit` handler of the package
/// entry: no unredacted snapshot outlives its process). Returns how many were removed.
pub fn discard_named_raw_files() -> u32 {
    let paths = std::mem::take(&mut *NAMED_RAW.lock());
    paths
        .iter()
        .filter(|p| std::fs::remove_file(p).is_ok())
        .count() as u32
}

/// What [`HeapState::plan`] decided, for phase 2.
pub struct Planned {
    pub section: HeapSnapshotSection,
    /// The raw snapshot's temporary file, the snapshot's first choice of name, and its
    /// share of the memory reserved for snapshots in flight.
    pub raw: Option<(RawFile, String, Reservation)>,
}

fn round_ms(ms: f64) -> f64 {
    (ms * 1e3).round() / 1e3
}

/// [`finish`] off the JS thread, on a thread of its own (a large copy must not hold up
/// the phase 2 of the dumps that follow; snapshots are few, `maxPerSession`), or the
/// background thread, or this one when no thread can be started. `done` gets the
/// section once, a panic reported in it.
pub fn finish_off_thread(
    p: Pending,
    millis: f64,
    error: Option<String>,
    done: impl FnOnce(&std::path::Path, HeapSnapshotSection) + Send + 'static,
) {
    let dir = p.dir.clone();
    let job = move || {
        let s = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| finish(p, millis, error)))
            .unwrap_or_else(|panic| HeapSnapshotSection {
                status: "failed",
                error: Some(format!(
                    "internal error (panic): {}",
                    crate::dump::background::panic_message(panic.as_ref())
                )),
                ..Default::default()
            });
        done(&dir, s);
    };
    let job: crate::dump::background::Job = Box::new(job);
    let slot = Arc::new(parking_lot::Mutex::new(Some(job)));
    let theirs = slot.clone();
    let spawned = std::thread::Builder::new()
        .name("mdd-heap-copy".into())
        .spawn(move || {
            if let Some(job) = theirs.lock().take() {
                job();
            }
        });
    if spawned.is_err() {
        if let Some(job) = slot.lock().take() {
            if let Err(job) = crate::dump::background::submit(job) {
                job();
            }
        }
    }
}

/// After V8 wrote the raw snapshot (or failed to: `js_error`): the copy, the landing,
/// retention, and the dump's last replace. Runs off the JS thread.
pub fn finish(mut p: Pending, millis: f64, js_error: Option<String>) -> HeapSnapshotSection {
    let peak = p.sampler.take().and_then(Sampler::finish);
    let mut s = HeapSnapshotSection {
        status: "written",
        millis: Some(round_ms(millis)),
        peak_extra_bytes: peak,
        ..p.section.clone()
    };
    let outcome = match js_error {
        Some(e) => Err(format!("V8 could not write the snapshot: {e}")),
        None => land(&mut p, &mut s),
    };
    if let Err(e) = outcome {
        s.status = "failed";
        s.error = Some(e);
        s.file = None;
        s.bytes = None;
    }
    let mut report = p.report;
    report.heap_snapshot = Some(s.clone());
    if let Err(e) = writer::replace_own(&p.dir, &p.dump_name, p.dump_id, &report.to_json()) {
        // The snapshot (if written) stays; the dump keeps its `pending` section.
        let msg = format!("the dump could not be updated: {e}");
        s.error = Some(match s.error.take() {
            Some(prev) => format!("{prev}; {msg}"),
            None => msg,
        });
    }
    s
}

fn land(p: &mut Pending, s: &mut HeapSnapshotSection) -> Result<(), String> {
    let started = Instant::now();
    let raw_path = p
        .raw
        .as_ref()
        .map(RawFile::path)
        .ok_or("the raw snapshot is gone")?;
    let raw_len = std::fs::metadata(&raw_path)
        .map_err(|e| format!("could not read {}: {e}", raw_path.display()))?
        .len();
    if raw_len == 0 {
        return Err("V8 wrote an empty snapshot".into());
    }
    let landed = if p.config.redact {
        let input = std::fs::File::open(&raw_path)
            .map_err(|e| format!("could not open {}: {e}", raw_path.display()))?;
        let mut out = LockedTemp::create(&p.dir, &p.heap_name).map_err(|e| e.to_string())?;
        let stats = redact::copy_snapshot(input, out.file(), true, p.config.max_bytes)
            .map_err(|e| match e {
                redact::RedactError::TooLarge(_) => format!(
                    "the redacted snapshot is larger than heapSnapshot.maxBytes ({} bytes); it was not kept",
                    p.config.max_bytes
                ),
                other => format!("the redacting copy failed: {other}"),
            })?;
        s.strings_redacted = Some(stats.strings_redacted);
        out.land().map_err(|e| e.to_string())?
    } else {
        if raw_len > p.config.max_bytes {
            return Err(format!(
                "the snapshot ({raw_len} bytes) is larger than heapSnapshot.maxBytes ({} bytes); it was not kept",
                p.config.max_bytes
            ));
        }
        // Unredacted: the file V8 wrote lands as it is.
        p.raw
            .take()
            .ok_or("the raw snapshot is gone")?
            .land(&p.dir, &p.heap_name)
            .map_err(|e| e.to_string())?
    };
    s.copy_millis = Some(round_ms(started.elapsed().as_secs_f64() * 1e3));
    s.bytes = std::fs::metadata(&landed.path).ok().map(|m| m.len());
    s.file = Some(landed.name.clone());
    writer::apply_heap_retention(
        &p.dir,
        p.max_files as usize,
        p.config.max_bytes,
        &[landed.name.as_str()],
        &UtcTime::now(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Trigger;
    use crate::report::NumberMap;

    fn config() -> HeapSnapshotConfig {
        HeapSnapshotConfig {
            triggers: vec![Trigger::Critical],
            max_per_session: 1,
            max_bytes: 1 << 30,
            redact: true,
        }
    }

    fn report(
        trigger: &'static str,
        used: Option<f64>,
        available: u64,
        cgroup: Option<(u64, u64)>,
    ) -> Report {
        let mut r = crate::report::tests::sample();
        r.trigger = trigger;
        r.at_trigger.v8_heap_stats = NumberMap(vec![("usedHeapSize", used)]);
        r.at_trigger.memory_usage = NumberMap(vec![]);
        r.system = Some(crate::probes::system::SystemInfo {
            total_memory: 64 << 30,
            available_memory: available,
            ..Default::default()
        });
        r.cgroup = cgroup.map(|(limit, usage)| crate::probes::cgroup::CgroupInfo {
            effective_limit: Some(limit),
            usage: Some(usage),
            ..Default::default()
        });
        r.memory_limit = crate::dump::enrich::memory_limit(r.cgroup.as_ref(), r.system.as_ref());
        r
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn takes_only_with_headroom_above_the_estimate() {
        let c = config();
        // 50 MiB heap: needs 50 x 46 + 64 = 2364 MiB.
        let need = 2364 * MIB;
        assert_eq!(estimated_need(50 * MIB), need);
        // The empty heap's part is in the margin; a smaller heap needs the margin alone.
        assert_eq!(estimated_need(3 * MIB), NEED_MARGIN_BYTES);
        let r = report("critical", Some((50 * MIB) as f64), 8 << 30, None);
        assert_eq!(
            decide(&r, &c, 0, Some(1 << 40)),
            Decision::Take {
                needed: need,
                headroom: 8 << 30
            }
        );
        // A cgroup with 300 MiB left is the smallest headroom, whatever the system has.
        let r = report(
            "critical",
            Some((50 * MIB) as f64),
            8 << 30,
            Some((1 << 30, 724 * MIB)),
        );
        match decide(&r, &c, 0, Some(1 << 40)) {
            Decision::Skip(s) => {
                assert_eq!(
                    (s.needed_bytes, s.headroom_bytes),
                    (Some(need), Some(300 * MIB))
                );
                assert_eq!(s.status, "skipped");
                let why = s.skipped.unwrap();
                assert!(
                    why.contains("needs an estimated 2364 MiB")
                        && why.contains("headroom is 300 MiB"),
                    "{why}"
                );
            }
            other => panic!("{other:?}"),
        }
        // Low system memory counts as well.
        let r = report(
            "critical",
            Some((50 * MIB) as f64),
            500 * MIB,
            Some((8 << 30, MIB)),
        );
        assert!(
            matches!(decide(&r, &c, 0, Some(1 << 40)), Decision::Skip(s) if s.headroom_bytes == Some(500 * MIB))
        );
    }

    #[test]
    fn snapshots_in_flight_reserve_their_need() {
        static POOL: Mutex<u64> = Mutex::new(0);
        // Two snapshots of 300 MiB each, 500 MiB of headroom: the first reserves, the
        // second sees 200 MiB net and is refused with what is reserved.
        let first = reserve(&POOL, 300 * MIB, 500 * MIB).unwrap();
        assert_eq!(*POOL.lock(), 300 * MIB);
        assert_eq!(reserve(&POOL, 300 * MIB, 500 * MIB).unwrap_err(), 300 * MIB);
        // One that fits beside it passes, and each gives its share back when dropped.
        let small = reserve(&POOL, 100 * MIB, 500 * MIB).unwrap();
        assert_eq!(*POOL.lock(), 400 * MIB);
        drop(first);
        assert_eq!(*POOL.lock(), 100 * MIB);
        drop(small);
        assert_eq!(*POOL.lock(), 0);
        assert!(reserve(&POOL, 300 * MIB, 500 * MIB).is_ok());
    }

    #[test]
    fn a_snapshot_counts_against_the_session_that_asked_for_it() {
        let d = std::env::temp_dir().join(format!("mdd-heap-session-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let state = HeapState::new(config());
        let a = state.session();
        state.reset();
        let b = state.session();
        assert_ne!(a, b);
        // Session A's dump decides after the reset: its snapshot is A's.
        let small = report("critical", Some(MIB as f64), 64 << 30, None);
        let planned = state.plan(&d, &small, a).unwrap();
        assert_eq!(planned.section.status, "pending", "{:?}", planned.section);
        drop(planned);
        // A has used its one snapshot; B still has its own.
        let again = state.plan(&d, &small, a).unwrap();
        assert_eq!(again.section.status, "skipped");
        assert!(again
            .section
            .skipped
            .unwrap()
            .contains("already has 1 heap snapshot"));
        let planned = state.plan(&d, &small, b).unwrap();
        assert_eq!(planned.section.status, "pending", "{:?}", planned.section);
        drop(planned);
        // A session no longer kept counts as full.
        for _ in 0..KEPT_SESSIONS {
            state.reset();
        }
        assert_eq!(state.plan(&d, &small, a).unwrap().section.status, "skipped");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn long_windows_paths_are_written_verbatim() {
        let long = format!(r"C:\{}\diagnostics", "d".repeat(300));
        assert_eq!(verbatim(&long), format!(r"\\?\{long}"));
        assert_eq!(
            verbatim(r"\\server\share\diag"),
            r"\\?\UNC\server\share\diag"
        );
        assert_eq!(verbatim(r"\\?\C:\x"), r"\\?\C:\x");
        assert_eq!(verbatim(r"\\.\pipe\x"), r"\\.\pipe\x");
    }

    #[test]
    fn triggers_cap_input_and_disk() {
        let c = config();
        let r = report("hard", Some(1e6), 8 << 30, None);
        assert_eq!(decide(&r, &c, 0, None), Decision::NotAsked);
        let r = report("critical", Some(1e6), 8 << 30, None);
        match decide(&r, &c, 1, None) {
            Decision::Skip(s) => assert!(s.skipped.unwrap().contains("maxPerSession = 1")),
            other => panic!("{other:?}"),
        }
        let r = report("critical", None, 8 << 30, None);
        match decide(&r, &c, 0, None) {
            Decision::Skip(s) => assert!(s.skipped.unwrap().contains("no usedHeapSize")),
            other => panic!("{other:?}"),
        }
        let r = report("critical", Some((10 * MIB) as f64), 8 << 30, None);
        match decide(&r, &c, 0, Some(20 * MIB)) {
            Decision::Skip(s) => assert!(s.skipped.unwrap().contains("not enough disk space")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide(&r, &c, 0, Some(1 << 30)),
            Decision::Take { .. }
        ));
        // A disk whose room cannot be read: not started, and said so.
        match decide(&r, &c, 0, None) {
            Decision::Skip(s) => assert!(
                s.skipped
                    .as_deref()
                    .unwrap()
                    .contains("free disk space of the directory could not be read"),
                "{s:?}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn finish_redacts_lands_and_updates_the_dump() {
        let d = std::env::temp_dir().join(format!("mdd-snapshot-take-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        writer::prepare_dir(&d).unwrap();
        let mut r = report("critical", Some(1e6), 8 << 30, None);
        r.session_id = "sess".into();
        let dump = writer::write_new(
            &d,
            "memory-sess-2026-11-18T12-07-55-123Z-1.json",
            b"{}",
            writer::Durability::ProcessCrash,
        )
        .unwrap();
        let state = HeapState::new(config());
        let planned = state.plan(&d, &r, state.session()).unwrap();
        assert_eq!(planned.section.status, "pending");
        let (mut raw, heap_name, reservation) = planned.raw.unwrap();
        assert!(
            !cfg!(target_os = "linux") || !raw.is_named(),
            "Linux with O_TMPFILE: the raw snapshot has no name"
        );
        use std::io::Write;
        raw.file()
            .write_all(redact::tests::sample().as_bytes())
            .unwrap();
        let ticket = state.add(Pending {
            raw: Some(raw),
            dir: d.clone(),
            heap_name,
            dump_name: dump.name.clone(),
            dump_id: dump.id,
            report: r,
            section: planned.section,
            config: config(),
            max_files: 5,
            sampler: None,
            reservation,
        });
        assert!(state.start(ticket).unwrap().exists());
        // The cap counts the snapshot taken.
        assert!(matches!(
            state.plan(
                &d,
                &report("critical", Some(1e6), 8 << 30, None),
                state.session()
            ),
            Some(Planned { raw: None, .. })
        ));
        let s = finish(state.take(ticket).unwrap(), 12.5, None);
        assert_eq!(s.status, "written", "{s:?}");
        let file = s.file.clone().unwrap();
        assert!(
            file.starts_with("heap-sess-") && file.ends_with("-1.heapsnapshot"),
            "{file}"
        );
        let text = std::fs::read_to_string(d.join(&file)).unwrap();
        assert!(!text.contains("sk-CANARY-42") && text.contains("SecretHolder"));
        assert_eq!(s.bytes, Some(text.len() as u64));
        assert_eq!(s.strings_redacted, Some(4));
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&dump.path).unwrap()).unwrap();
        assert_eq!(doc["heapSnapshot"]["status"], "written");
        assert_eq!(doc["heapSnapshot"]["file"], file.as_str());
        assert_eq!(doc["heapSnapshot"]["millis"], 12.5);
        // Only the dump and the snapshot: no temporary file left.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 2);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
