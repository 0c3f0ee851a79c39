//! Whether a dump may be followed by a snapshot ([`decide`]): the estimate of what a
//! snapshot needs, the headroom phase 2 measured, the disk, the session's count, and the
//! memory reserved for snapshots already in flight.

use parking_lot::Mutex;

use crate::config::HeapSnapshotConfig;
use crate::heap_snapshot::disk::DISK_PROBE;
use crate::report::Report;

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
pub(super) static IN_FLIGHT: Mutex<u64> = Mutex::new(0);

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
pub(super) fn reserve(
    pool: &'static Mutex<u64>,
    needed: u64,
    headroom: u64,
) -> Result<Reservation, u64> {
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
    pub(super) fn skipped(reason: String, needed: Option<u64>, headroom: Option<u64>) -> Self {
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

pub(super) fn mib(b: u64) -> String {
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
