//! Bounding the dump directory, across every process that uses it: retention of dumps,
//! recorder files and heap snapshots (oldest first, future-dated names distrusted, never
//! the file just written, never a file a live writer holds locked), and the sweep of
//! temporary files whose writer is gone (by lock, or by age; never by pid).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::names::{
    is_recorder_name, parse_dump_name, parse_heap_name, parse_temp_name, DumpName, TempKind,
};
use super::write::FileId;
use crate::timefmt::UtcTime;
use crate::writer::filelock::try_lock;

/// An unlocked temporary file older than this is stale whoever wrote it: no write of
/// ours takes anywhere near this long.
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(600);
/// Retention does not trust a name (or a modification time) dated further ahead of the
/// clock than this: such files are removed first, never kept in place of fresh ones.
pub const FUTURE_TOLERANCE_MS: i64 = 60_000;

/// What a retention pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetentionReport {
    pub kept: usize,
    pub removed: Vec<String>,
    pub errors: Vec<String>,
}

/// Opens a file of ours to test its lock: never through a link, never blocking (a FIFO
/// planted at the name), only a regular file.
fn open_for_lock_test(path: &Path) -> Option<File> {
    let mut o = OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        // FILE_FLAG_OPEN_REPARSE_POINT: a link is opened as itself (and is not a file).
        o.custom_flags(0x0020_0000);
    }
    let f = o.open(path).ok()?;
    f.metadata().ok()?.is_file().then_some(f)
}

/// True if a writer holds the lock on `path` (a live recorder's file, a live writer's
/// temporary file). The test lock, if we got it, is released on return. Also how the
/// next start tells a live process's trail from a dead one's (`previousRun`).
pub fn locked_by_someone(path: &Path) -> bool {
    lock_state(path) == Some(true)
}

/// Whether a writer holds the lock on `path`: `Some(true)` held, `Some(false)` free or no
/// such file, `None` when it cannot be told (the file could not be opened for the test:
/// out of descriptors, no permission, not a regular file). `previousRun` must not take a
/// trail it cannot test for a dead one's.
pub fn lock_state(path: &Path) -> Option<bool> {
    match open_for_lock_test(path) {
        Some(f) => Some(!try_lock(&f)),
        None => match fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
            _ => None,
        },
    }
}

/// The directory's entries; a listing failure goes into `report`.
fn list_dir(dir: &Path, report: &mut RetentionReport) -> Option<Vec<fs::DirEntry>> {
    match fs::read_dir(dir) {
        Ok(e) => Some(e.filter_map(|e| e.ok()).collect()),
        Err(e) => {
            report
                .errors
                .push(format!("could not list {}: {e}", dir.display()));
            None
        }
    }
}

/// File stamps later than this are from a clock that was ahead: trusted least.
fn future_horizon(now: &UtcTime) -> String {
    UtcTime::from_epoch_ms(now.epoch_ms + FUTURE_TOLERANCE_MS).file_stamp()
}

/// The dumps among `names` that retention removes, in the order it removes them: the
/// oldest first by the time in the name (then number, copy, session), a name dated more
/// than [`FUTURE_TOLERANCE_MS`] ahead of `now` first of all (written by a clock that was
/// ahead), until at most `max_files` are left; a name in `keep` is never removed (the
/// next oldest goes in its place). Names that are not dumps are neither counted nor removed. The JS fallback's
/// twin follows `tests/fixtures/golden/retention.json`, which `cargo test retention::`
/// writes from this.
pub fn dumps_to_remove<'a, S: AsRef<str>>(
    names: &'a [S],
    max_files: usize,
    keep: &[&str],
    now: &UtcTime,
) -> Vec<&'a str> {
    let horizon = future_horizon(now);
    // (trusted, name order): untrusted (future) names sort first.
    let mut ours: Vec<((bool, DumpName), &str)> = names
        .iter()
        .filter_map(|n| {
            let parsed = parse_dump_name(n.as_ref())?;
            Some(((parsed.stamp <= horizon, parsed), n.as_ref()))
        })
        .collect();
    ours.sort();
    let excess = ours.len().saturating_sub(max_files);
    ours.into_iter()
        .map(|(_, name)| name)
        .filter(|name| !keep.contains(name))
        .take(excess)
        .collect()
}

/// Bounds the directory, across every process that uses it:
///
/// - at most `max_files` dumps (names that parse as ours, nothing else is ever counted or
///   removed), oldest first by the time in the name; a name dated more than
///   [`FUTURE_TOLERANCE_MS`] ahead of `now` (written by a clock that was ahead) counts as
///   the oldest, so fresh dumps are never removed in its place;
/// - at most `max_files` recorder files, oldest first by modification time (future times
///   first likewise), skipping any file a live recorder holds locked;
/// - never a name in `keep` (the file just written, this dumper's own recorder file).
///
/// `unlink` removes a link itself, never its target.
pub fn apply_retention(
    dir: &Path,
    max_files: usize,
    keep: &[&str],
    now: &UtcTime,
) -> RetentionReport {
    let mut report = RetentionReport::default();
    let Some(entries) = list_dir(dir, &mut report) else {
        return report;
    };
    let ours: Vec<String> = entries
        .iter()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let ft = e.file_type().ok()?;
            (ft.is_file() || ft.is_symlink()).then_some(name)
        })
        .filter(|name| parse_dump_name(name).is_some())
        .collect();
    for name in dumps_to_remove(&ours, max_files, keep, now) {
        match fs::remove_file(dir.join(name)) {
            Ok(()) => report.removed.push(name.to_string()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => report.errors.push(format!("could not remove {name}: {e}")),
        }
    }
    report.kept = ours.len() - report.removed.len();
    let now_sys = SystemTime::UNIX_EPOCH + Duration::from_millis(now.epoch_ms.max(0) as u64);
    let future = now_sys + Duration::from_millis(FUTURE_TOLERANCE_MS as u64);
    let mut recorders: Vec<((bool, SystemTime), String)> = entries
        .iter()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            is_recorder_name(&name).then_some(())?;
            let meta = e.metadata().ok()?;
            let m = meta.modified().ok()?;
            meta.is_file().then_some(((m <= future, m), name))
        })
        .collect();
    recorders.sort();
    let mut excess = recorders.len().saturating_sub(max_files);
    for (_, name) in recorders.iter() {
        if excess == 0 {
            break;
        }
        let path = dir.join(name);
        if keep.contains(&name.as_str()) || locked_by_someone(&path) {
            continue;
        }
        if fs::remove_file(&path).is_ok() {
            report.removed.push(name.clone());
        }
        excess -= 1;
    }
    report
}

/// Bounds the heap snapshots in the directory, across every process that uses it: at
/// most `max_files` of them and at most `max_bytes` together, oldest first by the time
/// in the name (future-dated names first, as for dumps), never a name in `keep`. Only
/// complete snapshots have these names (they land by rename), so none is being written.
pub fn apply_heap_retention(
    dir: &Path,
    max_files: usize,
    max_bytes: u64,
    keep: &[&str],
    now: &UtcTime,
) -> RetentionReport {
    let mut report = RetentionReport::default();
    let Some(entries) = list_dir(dir, &mut report) else {
        return report;
    };
    let horizon = future_horizon(now);
    let mut ours: Vec<((bool, DumpName), String, u64)> = entries
        .iter()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let parsed = parse_heap_name(&name)?;
            let meta = fs::symlink_metadata(e.path()).ok()?;
            (meta.is_file() || meta.file_type().is_symlink()).then_some((
                (parsed.stamp <= horizon, parsed),
                name,
                meta.len(),
            ))
        })
        .collect();
    ours.sort();
    let mut count = ours.len();
    let mut total: u64 = ours.iter().map(|(_, _, len)| len).sum();
    for (_, name, len) in ours.iter() {
        if count <= max_files && total <= max_bytes {
            break;
        }
        if keep.contains(&name.as_str()) {
            continue;
        }
        match fs::remove_file(dir.join(name)) {
            Ok(()) => report.removed.push(name.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                report.errors.push(format!("could not remove {name}: {e}"));
                continue;
            }
        }
        count -= 1;
        total -= len;
    }
    report.kept = count;
    report
}

/// Removes our temporary files whose writer is gone: a locked kind whose lock no one
/// holds, any other kind once older than [`STALE_TEMP_AGE`]. Pids are never consulted:
/// a writer in another PID namespace or on another host would look dead. Returns the
/// names removed.
pub fn sweep_stale_temps(dir: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return removed;
    };
    let now = SystemTime::now();
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(kind) = parse_temp_name(name) else {
            continue;
        };
        let path = dir.join(name);
        let old = || {
            fs::symlink_metadata(&path)
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > STALE_TEMP_AGE)
        };
        let stale = match kind {
            TempKind::Aged => old(),
            TempKind::Locked => match open_for_lock_test(&path) {
                // We hold its lock now: no writer does. Remove it while holding the lock,
                // and only if the name still is that file.
                Some(f) if try_lock(&f) => {
                    let same = f.metadata().ok().as_ref().and_then(FileId::of)
                        == fs::symlink_metadata(&path)
                            .ok()
                            .as_ref()
                            .and_then(FileId::of);
                    let gone = same && fs::remove_file(&path).is_ok();
                    if gone {
                        removed.push(name.to_string());
                    }
                    continue;
                }
                Some(_) => false,
                // Not a regular file we can open (a link planted at the name): by age.
                None => old(),
            },
        };
        if stale && fs::remove_file(&path).is_ok() {
            removed.push(name.to_string());
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::test_support::*;
    use crate::writer::*;

    /// The retention order on both sides: `tests/fixtures/golden/retention.json` holds
    /// directories of names (shuffled, with names that are not ours, future-dated ones,
    /// numbers and copies that sort differently as text) and what each removes, in order.
    #[test]
    fn the_retention_golden_is_current() {
        let now = 1_800_000_000_000i64;
        let at = |ms: i64| UtcTime::from_epoch_ms(ms);
        let dump = |s: &str, ms: i64, n: u32| dump_file_name(s, &at(ms), n);
        let names: Vec<String> = vec![
            dump("aaaa", now - 5_000, 2),
            dump("aaaa", now - 5_000, 10),
            candidate_name(&dump("aaaa", now - 5_000, 2), 3),
            candidate_name(&dump("aaaa", now - 5_000, 2), 12),
            dump("bbbb", now - 5_000, 2),
            dump("Zed_1", now - 5_000, 2),
            dump("aaaa", now - 86_400_000, 1),
            dump("cccc", now + FUTURE_TOLERANCE_MS - 1, 1),
            dump("cccc", now + FUTURE_TOLERANCE_MS + 1_000, 1),
            dump("dddd", now + 10 * 86_400_000, 7),
            dump("eeee", now - 1, 0),
            "memory-aaaa-2026-13-01T00-00-00-000Z-1.json".into(),
            "memory-aaaa-2027-01-01T00-00-00-000Z-01.json".into(),
            "memory-aaaa-2027-01-01T00-00-00-000Z-1.1.json".into(),
            "heap-aaaa-2027-01-01T00-00-00-000Z-1.heapsnapshot".into(),
            "recorder-aaaa-1-abcdef12.jsonl".into(),
            "notes.txt".into(),
        ];
        // A fixed shuffle, so that the order comes from the rule and not from the list.
        let mut shuffled = names.clone();
        shuffled.reverse();
        shuffled.swap(0, 7);
        shuffled.swap(3, 11);
        let cases: Vec<(usize, Vec<&str>)> = vec![
            (0, vec![]),
            (3, vec![]),
            (9, vec![]),
            (20, vec![]),
            (5, vec![names[8].as_str(), names[6].as_str()]),
            (1, vec![names[10].as_str()]),
        ];
        let out: Vec<serde_json::Value> = cases
            .iter()
            .map(|(max, keep)| {
                serde_json::json!({
                    "names": shuffled,
                    "maxFiles": max,
                    "keep": keep,
                    "remove": dumps_to_remove(&shuffled, *max, keep, &at(now)),
                })
            })
            .collect();
        // The rule itself, apart from the file: the twelve names of dumps count (month 13 has
        // the shape of one), nothing else.
        assert_eq!(dumps_to_remove(&shuffled, 0, &[], &at(now)).len(), 12);
        assert_eq!(
            dumps_to_remove(&shuffled, 11, &[], &at(now)),
            vec![names[8].as_str()]
        );
        crate::contract::goldens::check_golden(
            "tests/fixtures/golden/retention.json",
            &serde_json::json!({
                "about": "Generated by `cargo test retention::` from src/writer/retention.rs (dumps_to_remove); do not edit. Directories of names, now, maxFiles and keep, and the dumps retention removes, in order.",
                "nowEpochMs": now,
                "cases": out,
            }),
        );
    }

    /// Sweeps running beside writers (other dumpers' phase 2 in the same directory) take
    /// the lock of a temporary file created an instant before its writer locks it, and
    /// remove it: the writer must notice and use a fresh file, so no write is ever lost.
    /// Before the check, about 1 in 1,000 phase-2 replaces under load failed this way.
    #[cfg(unix)]
    #[test]
    fn writes_survive_sweeps_racing_their_temporary_files() {
        let d = tempdir("sweeprace");
        prepare_dir(&d).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sweeper = {
            let (d, stop) = (d.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut swept = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    swept += sweep_stale_temps(&d).len();
                }
                swept
            })
        };
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let d = d.clone();
                std::thread::spawn(move || {
                    let mut failures = Vec::new();
                    for i in 0..250 {
                        let base =
                            dump_file_name(&format!("w{w}"), &stamp(1_700_000_000_000 + i), 1);
                        match write_new(&d, &base, b"{}", Durability::ProcessCrash) {
                            Ok(l) => {
                                if let Err(e) = replace_own(&d, &l.name, l.id, b"{\"ok\":1}") {
                                    failures.push(format!("replace: {e}"));
                                }
                            }
                            Err(e) => failures.push(format!("write: {e}")),
                        }
                    }
                    failures
                })
            })
            .collect();
        let failures: Vec<String> = writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let swept = sweeper.join().unwrap();
        assert!(
            failures.is_empty(),
            "{} failures, first: {:?}",
            failures.len(),
            failures.first()
        );
        eprintln!("the sweeper removed {swept} temporary files before their writer locked them");
        let temps = fs::read_dir(&d)
            .unwrap()
            .filter(|e| {
                parse_temp_name(e.as_ref().unwrap().file_name().to_str().unwrap()).is_some()
            })
            .count();
        assert_eq!(temps, 0);
    }

    #[test]
    fn heap_retention_holds_count_and_bytes() {
        let d = tempdir("heapret");
        prepare_dir(&d).unwrap();
        let names: Vec<String> = (0..5)
            .map(|i| heap_file_name("s", &stamp(1_700_000_000_000 + i * 1000), 1))
            .collect();
        for n in &names {
            fs::write(d.join(n), vec![b'x'; 100]).unwrap();
        }
        fs::write(d.join("heap-notes.heapsnapshot"), vec![b'x'; 1000]).unwrap();
        let now = UtcTime::now();
        let r = apply_heap_retention(&d, 10, 250, &[], &now);
        assert_eq!(r.removed, names[..3].to_vec(), "{r:?}");
        assert_eq!(r.kept, 2);
        let r = apply_heap_retention(&d, 1, u64::MAX, &[names[3].as_str()], &now);
        assert_eq!(r.removed, vec![names[4].clone()], "{r:?}");
        assert!(d.join("heap-notes.heapsnapshot").exists(), "not ours");
        // The file just written stays even when it alone is over the budget.
        let r = apply_heap_retention(&d, 1, 10, &[names[3].as_str()], &now);
        assert!(r.removed.is_empty() && d.join(&names[3]).exists(), "{r:?}");
    }

    #[test]
    fn retention_removes_only_our_oldest() {
        let d = tempdir("ret");
        prepare_dir(&d).unwrap();
        for i in 0..6 {
            let n = dump_file_name("s", &stamp(1_700_000_000_000 + i * 1000), 1);
            fs::write(d.join(n), b"{}").unwrap();
        }
        fs::write(d.join("notes.json"), b"mine").unwrap();
        fs::write(d.join("memory-notes.json"), b"mine").unwrap();
        let now = UtcTime::now();
        let r = apply_retention(&d, 4, &[], &now);
        assert_eq!(r.removed.len(), 2, "{r:?}");
        assert_eq!(r.kept, 4);
        assert!(r.removed[0].contains("2023-11-14T22-13-20-000Z"), "{r:?}");
        assert!(d.join("notes.json").exists());
        assert!(d.join("memory-notes.json").exists());
        assert_eq!(apply_retention(&d, 4, &[], &now).removed.len(), 0);
    }

    #[test]
    fn retention_distrusts_future_names_and_keeps_the_file_just_written() {
        let d = tempdir("future");
        prepare_dir(&d).unwrap();
        let now = UtcTime::now();
        let day = 86_400_000;
        // Three dumps written by a clock a day ahead, then two fresh ones.
        let ahead: Vec<String> = (0..3)
            .map(|i| dump_file_name("s", &stamp(now.epoch_ms + day + i), 1))
            .collect();
        let fresh: Vec<String> = (0..2)
            .map(|i| dump_file_name("s", &stamp(now.epoch_ms - 1000 + i), 1))
            .collect();
        for n in ahead.iter().chain(&fresh) {
            fs::write(d.join(n), b"{}").unwrap();
        }
        let r = apply_retention(&d, 3, &[fresh[1].as_str()], &now);
        assert_eq!(r.removed.len(), 2, "{r:?}");
        assert!(r.removed.iter().all(|n| ahead.contains(n)), "{r:?}");
        for n in &fresh {
            assert!(d.join(n).exists(), "{n} was removed");
        }
        // The file just written is never removed, even when it is the oldest.
        let old = dump_file_name("s", &stamp(1_000), 1);
        fs::write(d.join(&old), b"{}").unwrap();
        let r = apply_retention(&d, 1, &[old.as_str()], &now);
        assert!(d.join(&old).exists(), "{r:?}");
        assert_eq!(r.kept, 1, "{r:?}");
    }

    #[cfg(unix)]
    #[test]
    fn retention_never_removes_a_locked_recorder_file() {
        let d = tempdir("recret");
        prepare_dir(&d).unwrap();
        let live = File::create(d.join("recorder-a-1-x.jsonl")).unwrap();
        assert!(try_lock(&live));
        std::thread::sleep(Duration::from_millis(20));
        for n in ["recorder-b-2-y.jsonl", "recorder-c-3-z.jsonl"] {
            fs::write(d.join(n), b"{}\n").unwrap();
        }
        let r = apply_retention(&d, 1, &[], &UtcTime::now());
        assert!(d.join("recorder-a-1-x.jsonl").exists(), "{r:?}");
        assert_eq!(
            fs::read_dir(&d).unwrap().count(),
            1,
            "the unlocked ones are removed, the live one counts: {r:?}"
        );
        drop(live);
    }

    #[cfg(unix)]
    #[test]
    fn lock_state_tells_held_free_gone_and_cannot_tell() {
        let d = tempdir("lockstate");
        prepare_dir(&d).unwrap();
        let path = d.join("recorder-a-1-x.jsonl");
        let live = File::create(&path).unwrap();
        assert!(try_lock(&live));
        assert_eq!(lock_state(&path), Some(true));
        drop(live);
        assert_eq!(lock_state(&path), Some(false));
        assert_eq!(lock_state(&d.join("gone.jsonl")), Some(false));
        // A directory in its place cannot be opened for the test: it cannot be told.
        let odd = d.join("recorder-b-2-y.jsonl");
        fs::create_dir(&odd).unwrap();
        assert_eq!(lock_state(&odd), None);
        assert!(!locked_by_someone(&odd));
    }

    #[cfg(unix)]
    #[test]
    fn sweep_removes_unlocked_and_old_temps_only() {
        use std::os::unix::fs::OpenOptionsExt;
        let d = tempdir("sweep");
        prepare_dir(&d).unwrap();
        let final_name = "memory-a-2026-11-18T12-07-55-123Z-1.json";
        let abandoned = format!(".{final_name}.L00000000000000aa.tmp");
        let live = format!(".{final_name}.L00000000000000bb.tmp");
        let js_fresh = format!(".{final_name}.A00000000000000cc.tmp");
        let js_old = format!(".{final_name}.A00000000000000dd.tmp");
        let legacy_dead_pid = format!(".{final_name}.0-1.tmp");
        for n in [&abandoned, &live, &js_fresh, &js_old, &legacy_dead_pid] {
            fs::write(d.join(n), b"x").unwrap();
        }
        let holder = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(d.join(&live))
            .unwrap();
        assert!(try_lock(&holder));
        let old = SystemTime::now() - STALE_TEMP_AGE - Duration::from_secs(5);
        File::options()
            .write(true)
            .open(d.join(&js_old))
            .unwrap()
            .set_modified(old)
            .unwrap();
        fs::write(d.join(".other.tmp"), b"x").unwrap();
        let mut removed = sweep_stale_temps(&d);
        removed.sort();
        let mut want = vec![abandoned.clone(), js_old.clone()];
        want.sort();
        assert_eq!(removed, want);
        for n in [&live, &js_fresh, &legacy_dead_pid] {
            assert!(d.join(n).exists(), "{n}");
        }
        drop(holder);
        assert_eq!(sweep_stale_temps(&d), vec![live.clone()]);
    }
}
