//! A heap snapshot's life after phase 2 allowed it: the session's counts and the pending
//! snapshots ([`HeapState`]), and the landing ([`finish`]).
//!
//! Order of events: phase 1 and phase 2 are on disk first. Phase 2 then decides, from
//! what it measured, whether a snapshot may be taken ([`decide`]): only when the
//! effective headroom (the smallest of the cgroup's limit minus its usage, the system's
//! available memory and the headroom against the effective limit) exceeds the estimated
//! need. A skip is recorded in the phase-2 document. A snapshot to be taken gets a locked
//! temporary file in the dump directory and the document says `pending`, so a process
//! that dies during the snapshot leaves that evidence. `lib/dumper/heap-snapshot.js` has
//! V8 write the snapshot into the temporary file (the API is only reachable from JS),
//! then [`finish`] runs off the JS thread: the redacting copy into a second locked
//! temporary file, a no-replace rename to `heap-<session8>-<time>-<n>.heapsnapshot`,
//! retention with its own byte budget, and one more atomic replace of the dump with the
//! outcome.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::config::HeapSnapshotConfig;
use crate::heap_snapshot::decide::{
    decide, mib, reserve, Decision, Reservation, ESTIMATE, IN_FLIGHT,
};
use crate::heap_snapshot::disk::disk_free;
use crate::heap_snapshot::raw_file::RawFile;
use crate::heap_snapshot::redact;
use crate::heap_snapshot::sampler::Sampler;
use crate::report::HeapSnapshotSection;
use crate::report::Report;
use crate::timefmt::UtcTime;
use crate::writer::{self, FileId, LockedTemp};

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
    use crate::heap_snapshot::decide::{estimated_need, NEED_MARGIN_BYTES};
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
