//! The safe writer: file naming, directory preparation, atomic replace, retention and
//! the sweep of stale temporary files.
//!
//! Every document is written to a fresh temporary file in the same directory (created
//! exclusively, never following a link, mode 0600) and renamed over its final name, so
//! the final name only ever holds a complete document. Phase 1 skips fsync: it guards
//! against the process dying, which the page cache survives, and it runs on the JS
//! thread. Phase 2 fsyncs the file before the rename and the directory after it.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::timefmt::UtcTime;

pub const DUMP_PREFIX: &str = "memory-";
pub const DUMP_SUFFIX: &str = ".json";
pub const TEMP_SUFFIX: &str = ".tmp";
/// Length of `UtcTime::file_stamp()`: `2026-11-24T12-07-55-123Z`.
const STAMP_LEN: usize = 24;
/// A temporary file older than this is stale whoever owns it: no write of ours takes
/// anywhere near this long.
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(600);

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// An I/O failure with what we were doing and where.
#[derive(Debug)]
pub struct WriteError {
    pub action: &'static str,
    pub path: PathBuf,
    pub source: io::Error,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not {} {}: {}",
            self.action,
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for WriteError {}

fn err(action: &'static str, path: &Path, source: io::Error) -> WriteError {
    WriteError {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// `memory-<session8>-<stamp>-<n>.json`
pub fn dump_file_name(session_short: &str, at: &UtcTime, dump_number: u32) -> String {
    format!(
        "{DUMP_PREFIX}{session_short}-{}-{dump_number}{DUMP_SUFFIX}",
        at.file_stamp()
    )
}

/// A parsed dump file name, ordered by time, then number, then session.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DumpName {
    pub stamp: String,
    pub dump_number: u32,
    pub session_short: String,
}

/// Parses exactly our own dump names; anything else is `None` and is never touched.
pub fn parse_dump_name(name: &str) -> Option<DumpName> {
    let body = name.strip_prefix(DUMP_PREFIX)?.strip_suffix(DUMP_SUFFIX)?;
    let (rest, number) = body.rsplit_once('-')?;
    if number.is_empty() || number.len() > 10 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let dump_number: u32 = number.parse().ok()?;
    if rest.len() < STAMP_LEN + 2 {
        return None;
    }
    let (session_dash, stamp) = rest.split_at(rest.len() - STAMP_LEN);
    let session_short = session_dash.strip_suffix('-')?;
    if session_short.is_empty()
        || session_short.len() > 8
        || !session_short
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        || !is_stamp(stamp)
    {
        return None;
    }
    Some(DumpName {
        stamp: stamp.to_string(),
        dump_number,
        session_short: session_short.to_string(),
    })
}

fn is_stamp(s: &str) -> bool {
    // 2026-11-24T12-07-55-123Z
    const SHAPE: &[u8; STAMP_LEN] = b"dddd-dd-ddTdd-dd-dd-dddZ";
    s.len() == STAMP_LEN
        && s.bytes().zip(SHAPE.iter()).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            other => c == *other,
        })
}

/// `.<final>.<pid>-<seq>.tmp`: hidden, ours by shape, and carrying the writer's pid so a
/// later sweep can tell a dead writer's leftovers from a live writer's file.
fn temp_name(final_name: &str) -> String {
    let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
    format!(".{final_name}.{}-{seq}{TEMP_SUFFIX}", std::process::id())
}

/// Parses our temporary names; returns the writer's pid.
pub fn parse_temp_name(name: &str) -> Option<u32> {
    let inner = name.strip_prefix('.')?.strip_suffix(TEMP_SUFFIX)?;
    let (final_name, tag) = inner.rsplit_once('.')?;
    let (pid, seq) = tag.split_once('-')?;
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    parse_dump_name(final_name)?;
    pid.parse().ok()
}

/// Creates the directory if missing (0700 for every level we create) and checks that
/// it is a directory we alone can write to.
pub fn prepare_dir(dir: &Path) -> Result<(), WriteError> {
    // The usual case, the directory exists: one stat, no mkdir.
    if fs::metadata(dir).is_ok() {
        return check_dir_safety(dir);
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| err("create diagnostics directory", dir, e))?;
    check_dir_safety(dir)
}

/// Refuses a directory that another user owns, or that group or others may write to:
/// anyone who can write there could plant or remove files between our steps. A
/// symlink on the way to the directory is followed (dotfile folders often are links);
/// the names we create inside it never are.
pub fn check_dir_safety(dir: &Path) -> Result<(), WriteError> {
    let meta = fs::metadata(dir).map_err(|e| err("inspect diagnostics directory", dir, e))?;
    if !meta.is_dir() {
        return Err(err(
            "use diagnostics directory",
            dir,
            io::Error::other("the path exists and is not a directory"),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let euid = unsafe { libc::geteuid() };
        if meta.uid() != euid {
            return Err(err(
                "use diagnostics directory",
                dir,
                io::Error::other(format!(
                    "it is owned by uid {}, not by this process's uid {euid}",
                    meta.uid()
                )),
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(err(
                "use diagnostics directory",
                dir,
                io::Error::other(format!(
                    "it is writable by group or others (mode {:o}); use a directory with mode 0700",
                    meta.mode() & 0o7777
                )),
            ));
        }
    }
    Ok(())
}

/// How hard to try before the rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Survives the process dying (page cache); phase 1.
    ProcessCrash,
    /// Also survives power loss: fsync the file before the rename and the directory
    /// after it; phase 2.
    PowerLoss,
}

/// Writes `bytes` to `dir/final_name` atomically. On any failure the temporary file is
/// removed and the final name is left as it was.
pub fn write_atomic(
    dir: &Path,
    final_name: &str,
    bytes: &[u8],
    durability: Durability,
) -> Result<PathBuf, WriteError> {
    let final_path = dir.join(final_name);
    let tmp_path = dir.join(temp_name(final_name));
    let result = write_then_rename(&tmp_path, &final_path, bytes, durability);
    if result.is_err() {
        let _ = fs::remove_file(&tmp_path);
    }
    result?;
    if durability == Durability::PowerLoss {
        sync_dir(dir)?;
    }
    Ok(final_path)
}

fn write_then_rename(
    tmp: &Path,
    final_path: &Path,
    bytes: &[u8],
    durability: Durability,
) -> Result<(), WriteError> {
    let mut f = create_exclusive(tmp).map_err(|e| err("create temporary file", tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| err("write temporary file", tmp, e))?;
    if durability == Durability::PowerLoss {
        // A failed fsync means the data may not be on disk: never rename it into place.
        f.sync_all()
            .map_err(|e| err("fsync temporary file", tmp, e))?;
    }
    drop(f);
    // rename() replaces a link planted at the final name; it never writes through it.
    fs::rename(tmp, final_path).map_err(|e| err("rename into place", final_path, e))
}

fn create_exclusive(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    o.open(path)
}

fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    #[cfg(unix)]
    {
        let d = File::open(dir).map_err(|e| err("open directory for fsync", dir, e))?;
        match d.sync_all() {
            Ok(()) => Ok(()),
            // Some filesystems cannot fsync a directory; the rename is still done.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
            Err(e) => Err(err("fsync directory", dir, e)),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// What a retention pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetentionReport {
    pub kept: usize,
    pub removed: Vec<String>,
    pub errors: Vec<String>,
}

/// Removes the oldest of our dump files beyond `max_files`. Only names that parse as
/// ours are counted or removed; `unlink` removes a link itself, never its target.
pub fn apply_retention(dir: &Path, max_files: usize) -> RetentionReport {
    let mut report = RetentionReport::default();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            report
                .errors
                .push(format!("could not list {}: {e}", dir.display()));
            return report;
        }
    };
    let mut ours: Vec<(DumpName, String)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let parsed = parse_dump_name(&name)?;
            let ft = e.file_type().ok()?;
            (ft.is_file() || ft.is_symlink()).then_some((parsed, name))
        })
        .collect();
    ours.sort();
    let excess = ours.len().saturating_sub(max_files);
    for (_, name) in ours.iter().take(excess) {
        match fs::remove_file(dir.join(name)) {
            Ok(()) => report.removed.push(name.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => report.errors.push(format!("could not remove {name}: {e}")),
        }
    }
    report.kept = ours.len() - report.removed.len();
    // Recorder files (one per session, plus its rotated `.1`) are bounded the same way,
    // oldest first by modification time.
    let mut recorders: Vec<(std::time::SystemTime, String)> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    is_recorder_name(&name).then_some(())?;
                    let meta = e.metadata().ok()?;
                    (meta.is_file()).then_some((meta.modified().ok()?, name))
                })
                .collect()
        })
        .unwrap_or_default();
    recorders.sort();
    let excess = recorders.len().saturating_sub(max_files);
    for (_, name) in recorders.iter().take(excess) {
        if fs::remove_file(dir.join(name)).is_ok() {
            report.removed.push(name.clone());
        }
    }
    report
}

/// `recorder-<session8>.jsonl` or its rotated `recorder-<session8>.jsonl.1`.
pub fn is_recorder_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("recorder-") else {
        return false;
    };
    let session = rest
        .strip_suffix(".jsonl")
        .or_else(|| rest.strip_suffix(".jsonl.1"));
    session.is_some_and(|s| {
        !s.is_empty() && s.len() <= 8 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

/// Removes our temporary files whose writer is gone (a different pid that no longer
/// runs) or that are older than [`STALE_TEMP_AGE`]. Returns the names removed.
pub fn sweep_stale_temps(dir: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return removed;
    };
    let me = std::process::id();
    let now = SystemTime::now();
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = parse_temp_name(name) else {
            continue;
        };
        let old = e
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > STALE_TEMP_AGE);
        let stale = old || (pid != me && !process_alive(pid));
        if stale && fs::remove_file(dir.join(name)).is_ok() {
            removed.push(name.to_string());
        }
    }
    removed
}

fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        if pid == 0 || pid > i32::MAX as u32 {
            return false;
        }
        // Signal 0 checks existence; EPERM means it exists but is not ours.
        let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
        r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "mdd-writer-{tag}-{}-{}",
            std::process::id(),
            TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn stamp(ms: i64) -> UtcTime {
        UtcTime::from_epoch_ms(ms)
    }

    #[test]
    fn names_round_trip() {
        let n = dump_file_name("abc_123", &stamp(1_795_003_675_123), 7);
        assert_eq!(n, "memory-abc_123-2026-11-18T12-07-55-123Z-7.json");
        let p = parse_dump_name(&n).unwrap();
        assert_eq!((p.session_short.as_str(), p.dump_number), ("abc_123", 7));
        assert_eq!(p.stamp, "2026-11-18T12-07-55-123Z");
        let t = temp_name(&n);
        assert!(t.starts_with(".memory-abc_123-") && t.ends_with(".tmp"));
        assert_eq!(parse_temp_name(&t), Some(std::process::id()));
    }

    #[test]
    fn foreign_names_are_not_ours() {
        for n in [
            "memory-.json",
            "memory-abc-2026-11-18T12-07-55-123Z-.json",
            "memory-abc-2026-11-18T12-07-55-123Z-1.json.bak",
            "memory-abcdefghi-2026-11-18T12-07-55-123Z-1.json",
            "memory-a/b-2026-11-18T12-07-55-123Z-1.json",
            "memory-abc-2026-11-18T12:07:55.123Z-1.json",
            "notes.json",
            "memory-abc-2026-11-18T12-07-55-123Z-x1.json",
            ".memory-abc-2026-11-18T12-07-55-123Z-1.json.12.tmp",
        ] {
            assert!(parse_dump_name(n).is_none(), "{n}");
            assert!(parse_temp_name(n).is_none(), "{n}");
        }
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::MetadataExt;
        fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn atomic_write_creates_private_dir_and_file() {
        let d = tempdir("create").join("nested").join("diag");
        prepare_dir(&d).unwrap();
        let p = write_atomic(
            &d,
            "memory-a-2026-11-18T12-07-55-123Z-1.json",
            b"{}",
            Durability::ProcessCrash,
        )
        .unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"{}");
        #[cfg(unix)]
        {
            assert_eq!(mode(&d), 0o700);
            assert_eq!(mode(d.parent().unwrap()), 0o700);
            assert_eq!(mode(&p), 0o600);
        }
        // Replace keeps one file and no temporaries.
        write_atomic(
            &d,
            "memory-a-2026-11-18T12-07-55-123Z-1.json",
            b"{\"v\":2}",
            Durability::PowerLoss,
        )
        .unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"{\"v\":2}");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
    }

    #[test]
    fn failed_write_leaves_previous_file_and_no_temp() {
        let d = tempdir("fail");
        prepare_dir(&d).unwrap();
        let name = "memory-a-2026-11-18T12-07-55-123Z-1.json";
        write_atomic(&d, name, b"phase1", Durability::ProcessCrash).unwrap();
        // A directory planted at the final name makes the rename fail.
        let name2 = "memory-a-2026-11-18T12-07-55-123Z-2.json";
        fs::create_dir(d.join(name2)).unwrap();
        let e = write_atomic(&d, name2, b"x", Durability::PowerLoss).unwrap_err();
        assert!(e.to_string().contains("could not rename into place"), "{e}");
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(fs::read(d.join(name)).unwrap(), b"phase1");
    }

    #[cfg(unix)]
    #[test]
    fn symlink_at_final_name_is_replaced_not_followed() {
        let d = tempdir("link");
        prepare_dir(&d).unwrap();
        let target = d.with_extension("target");
        fs::write(&target, b"precious").unwrap();
        let name = "memory-a-2026-11-18T12-07-55-123Z-1.json";
        std::os::unix::fs::symlink(&target, d.join(name)).unwrap();
        write_atomic(&d, name, b"dump", Durability::ProcessCrash).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        assert!(!fs::symlink_metadata(d.join(name))
            .unwrap()
            .file_type()
            .is_symlink());
        fs::remove_file(&target).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn unsafe_directories_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempdir("perm");
        prepare_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        let e = prepare_dir(&d).unwrap_err();
        assert!(
            e.to_string()
                .contains("writable by group or others (mode 777)"),
            "{e}"
        );
        let f = tempdir("file");
        fs::write(&f, b"x").unwrap();
        let e = prepare_dir(&f).unwrap_err();
        assert!(e.to_string().contains(&f.display().to_string()), "{e}");
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
        let r = apply_retention(&d, 4);
        assert_eq!(r.removed.len(), 2, "{r:?}");
        assert_eq!(r.kept, 4);
        assert!(r.removed[0].contains("2023-11-14T22-13-20-000Z"), "{r:?}");
        assert!(d.join("notes.json").exists());
        assert!(d.join("memory-notes.json").exists());
        assert_eq!(apply_retention(&d, 4).removed.len(), 0);
    }

    #[test]
    fn recorder_names() {
        assert!(is_recorder_name("recorder-abc.jsonl"));
        assert!(is_recorder_name("recorder-abc_1234.jsonl.1"));
        assert!(!is_recorder_name("recorder-.jsonl"));
        assert!(!is_recorder_name("recorder-abc.jsonl.2"));
        assert!(!is_recorder_name("recorder-abcdefghi.jsonl"));
        assert!(!is_recorder_name("recorder-a.b.jsonl"));
    }

    #[test]
    fn sweep_removes_dead_writers_temps_only() {
        let d = tempdir("sweep");
        prepare_dir(&d).unwrap();
        let final_name = "memory-a-2026-11-18T12-07-55-123Z-1.json";
        // pid 0 never names a live writer; our own pid is alive.
        let dead = format!(".{final_name}.0-1.tmp");
        let live = format!(".{final_name}.{}-1.tmp", std::process::id());
        fs::write(d.join(&dead), b"x").unwrap();
        fs::write(d.join(&live), b"x").unwrap();
        fs::write(d.join(".other.tmp"), b"x").unwrap();
        assert_eq!(sweep_stale_temps(&d), vec![dead.clone()]);
        assert!(d.join(&live).exists());
        assert!(d.join(".other.tmp").exists());
    }
}
