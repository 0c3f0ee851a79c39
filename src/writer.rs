//! The safe writer: file naming, directory preparation, the pre-armed phase-1 file,
//! no-replace landing, phase 2's replace of its own file, retention and the sweep of
//! stale temporary files.
//!
//! **Phase 1, armed** (Linux): when the dumper is constructed, and again off the JS thread
//! after each dump, an unnamed file is opened in the dump directory (`O_TMPFILE`), space
//! for a phase-1 document is allocated (`fallocate`, keeping the size 0) and a
//! serialization buffer is reserved. Phase 1 is then one write into that file and one
//! `linkat` to the final name: no descriptor to open, no block to allocate, nothing that
//! can be left half-written under a name (an unnamed file vanishes with the process).
//!
//! **Phase 1, unarmed** (a second dump before re-arming, a deleted directory, a platform or
//! file system without `O_TMPFILE`) and **phase 2** write a named temporary file, created
//! exclusively and never through a link, locked ([`crate::filelock`]) for as long as its writer
//! needs it. Phase 1 skips fsync (it guards against the process dying, which the page
//! cache survives); phase 2 fsyncs the file before the rename and the directory after it.
//!
//! **No dump replaces another.** Phase 1 takes its final name with no-replace semantics
//! (`linkat`, `renameat2(RENAME_NOREPLACE)`, or `link` + `unlink`); when the name is taken
//! it takes the next free one, `memory-…-<n>.<k>.json` with k = 2, 3, …. Phase 2 renames
//! over the final name only while that name still holds its own phase-1 file.
//!
//! **Liveness of temporary files** never depends on pids (writers in other PID namespaces
//! or on other hosts share directories): a native temporary file (`.<final>.L<token>.tmp`)
//! is removed by a sweep only when no one holds its lock; any other temporary file of ours
//! (the JS implementation's `.<final>.A<token>.tmp`, older versions' `.<final>.<pid>-<n>.tmp`)
//! only when it is older than [`STALE_TEMP_AGE`].

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::filelock::try_lock;
use crate::timefmt::UtcTime;

pub const DUMP_PREFIX: &str = "memory-";
pub const DUMP_SUFFIX: &str = ".json";
pub const TEMP_SUFFIX: &str = ".tmp";
pub const HEAP_PREFIX: &str = "heap-";
pub const HEAP_SUFFIX: &str = ".heapsnapshot";
pub const RECORDER_PREFIX: &str = "recorder-";
pub const RECORDER_SUFFIX: &str = ".jsonl";
/// Appended to a recorder file's name when it is rotated.
pub const ROTATED_SUFFIX: &str = ".1";
/// Length of `UtcTime::file_stamp()`: `2026-11-24T12-07-55-123Z`.
const STAMP_LEN: usize = 24;
/// An unlocked temporary file older than this is stale whoever wrote it: no write of
/// ours takes anywhere near this long.
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(600);
/// Retention does not trust a name (or a modification time) dated further ahead of the
/// clock than this: such files are removed first, never kept in place of fresh ones.
pub const FUTURE_TOLERANCE_MS: i64 = 60_000;
/// Space reserved for one phase-1 document when arming (grown to fit larger ones).
pub const PHASE1_RESERVE_BYTES: usize = 64 * 1024;
/// How many names past a taken one phase 1 tries before giving up.
pub const MAX_NAME_ATTEMPTS: u32 = 1000;

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

/// 16 hex digits that no other writer, in any process, namespace or host, will pick:
/// std's per-process random hash keys over a counter and the time.
pub fn random_token() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u64(TEMP_SEQ.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// `memory-<session8>-<stamp>-<n>.json`
pub fn dump_file_name(session_short: &str, at: &UtcTime, dump_number: u32) -> String {
    format!(
        "{DUMP_PREFIX}{session_short}-{}-{dump_number}{DUMP_SUFFIX}",
        at.file_stamp()
    )
}

/// `heap-<session8>-<stamp>-<n>.heapsnapshot`: the heap snapshot that follows dump `n`.
pub fn heap_file_name(session_short: &str, at: &UtcTime, dump_number: u32) -> String {
    format!(
        "{HEAP_PREFIX}{session_short}-{}-{dump_number}{HEAP_SUFFIX}",
        at.file_stamp()
    )
}

/// `recorder-<session8>-<pid>-<token8>.jsonl`: one per process and session.
pub fn recorder_file_name(session_short: &str) -> String {
    format!(
        "{RECORDER_PREFIX}{session_short}-{}-{}{RECORDER_SUFFIX}",
        std::process::id(),
        &random_token()[..8]
    )
}

/// The name a recorder file takes when it is rotated.
pub fn rotated_name(name: &str) -> String {
    format!("{name}{ROTATED_SUFFIX}")
}

/// The regular expression (JavaScript and JSON Schema syntax) that matches every name
/// [`dump_file_name`] (with `DUMP_PREFIX`, `DUMP_SUFFIX`) or [`heap_file_name`] (with
/// `HEAP_PREFIX`, `HEAP_SUFFIX`) and [`candidate_name`] give. Its groups: the short
/// session id, the stamp, the dump number and the copy `k` (absent for the first name).
pub fn name_pattern(prefix: &str, suffix: &str) -> String {
    let esc = |s: &str| s.replace('.', "\\.");
    format!(
        "^{}([A-Za-z0-9_]{{1,{}}})-(\\d{{4}}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d-\\d{{3}}Z)-(0|[1-9]\\d{{0,8}})(?:\\.([2-9]|[1-9]\\d{{1,8}}))?{}$",
        esc(prefix),
        crate::options::SESSION_SHORT_LEN,
        esc(suffix)
    )
}

/// The `k`-th name to try for a file whose first choice is `base`: `base` itself for
/// k = 1, then `memory-…-<n>.<k>.json` (or `heap-…-<n>.<k>.heapsnapshot`).
pub fn candidate_name(base: &str, k: u32) -> String {
    if k <= 1 {
        return base.to_string();
    }
    for suffix in [DUMP_SUFFIX, HEAP_SUFFIX] {
        if let Some(stem) = base.strip_suffix(suffix) {
            return format!("{stem}.{k}{suffix}");
        }
    }
    format!("{base}.{k}")
}

/// Parses exactly our own heap snapshot names (the dump names' shape, `heap-` and
/// `.heapsnapshot` around it).
pub fn parse_heap_name(name: &str) -> Option<DumpName> {
    let body = name.strip_prefix(HEAP_PREFIX)?.strip_suffix(HEAP_SUFFIX)?;
    parse_dump_name(&format!("{DUMP_PREFIX}{body}{DUMP_SUFFIX}"))
}

/// A parsed dump file name, ordered by time, then number, then copy, then session.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DumpName {
    pub stamp: String,
    pub dump_number: u32,
    /// 1 for the first choice, k for `-<n>.<k>.json`.
    pub copy: u32,
    pub session_short: String,
}

/// 1 to 9 decimal digits without a leading zero (or `0` itself): [`NUMBER_PATTERN`].
fn digits(s: &str) -> Option<u32> {
    if s.is_empty()
        || s.len() > 9
        || (s.len() > 1 && s.starts_with('0'))
        || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

/// What [`digits`] accepts, as a regular expression.
pub const NUMBER_PATTERN: &str = "(?:0|[1-9]\\d{0,8})";

/// Parses exactly our own dump names; anything else is `None` and is never touched.
pub fn parse_dump_name(name: &str) -> Option<DumpName> {
    let body = name.strip_prefix(DUMP_PREFIX)?.strip_suffix(DUMP_SUFFIX)?;
    let (rest, tail) = body.rsplit_once('-')?;
    let (number, copy) = match tail.split_once('.') {
        Some((n, k)) => {
            let k = digits(k)?;
            if k < 2 {
                return None;
            }
            (n, k)
        }
        None => (tail, 1),
    };
    let dump_number = digits(number)?;
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
        copy,
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

/// How a sweep may decide that a temporary file's writer no longer needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempKind {
    /// `L<token>`: its writer holds a lock on it ([`crate::filelock`]); free of the lock means abandoned.
    Locked,
    /// `A<token>` (the JS implementation) or `<pid>-<n>` (older versions): by age only.
    Aged,
}

/// `.<final>.L<token>.tmp`: hidden, ours by shape, unique across processes and hosts.
fn temp_name(final_name: &str) -> String {
    format!(".{final_name}.L{}{TEMP_SUFFIX}", random_token())
}

/// Parses our temporary names.
pub fn parse_temp_name(name: &str) -> Option<TempKind> {
    let inner = name.strip_prefix('.')?.strip_suffix(TEMP_SUFFIX)?;
    let (final_name, tag) = inner.rsplit_once('.')?;
    parse_dump_name(final_name).or_else(|| parse_heap_name(final_name))?;
    let hex = |s: &str| s.len() >= 8 && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(t) = tag.strip_prefix('L') {
        return hex(t).then_some(TempKind::Locked);
    }
    if let Some(t) = tag.strip_prefix('A') {
        return hex(t).then_some(TempKind::Aged);
    }
    let (pid, seq) = tag.split_once('-')?;
    digits(seq)?;
    digits(pid)?;
    Some(TempKind::Aged)
}

/// Creates the directory if missing (0700 for every level we create) and makes sure it
/// is a directory we alone can write to. A directory of ours that group or others may
/// write to (what a plain `mkdir` makes under umask 002) is tightened to 0700; the old
/// mode is returned so the next dump can record it.
pub fn prepare_dir(dir: &Path) -> Result<Option<u32>, WriteError> {
    // The usual case, the directory exists: one open and one fstat, no mkdir.
    if fs::metadata(dir).is_ok() {
        return secure_dir(dir);
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
    secure_dir(dir)
}

/// Refuses what cannot be made safe: a path that is not a directory, a directory
/// another user owns, or a sticky shared directory (such as /tmp itself) that group or
/// others may write to. A directory of ours that is group- or world-writable is
/// tightened to 0700 through an open handle (so a swapped path cannot redirect the
/// chmod); anyone who could write there could otherwise plant or remove files between
/// our steps. A symlink on the way to the directory is followed (dotfile folders often
/// are links); the names we create inside it never are.
pub fn secure_dir(dir: &Path) -> Result<Option<u32>, WriteError> {
    // One stat, no descriptor: phase 1 must work when the process has none left (EMFILE).
    let meta = fs::metadata(dir).map_err(|e| err("inspect diagnostics directory", dir, e))?;
    check_owned_dir(dir, &meta)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 {
            if mode & 0o1000 != 0 {
                return Err(err(
                    "use diagnostics directory",
                    dir,
                    io::Error::other(format!(
                        "it is a shared sticky directory writable by group or others (mode {mode:o}); use a private subdirectory"
                    )),
                ));
            }
            // Tightened through an open handle checked to be the same directory, so a path
            // swapped in between cannot redirect the chmod.
            let handle =
                fs::File::open(dir).map_err(|e| err("inspect diagnostics directory", dir, e))?;
            let opened = handle
                .metadata()
                .map_err(|e| err("inspect diagnostics directory", dir, e))?;
            if (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) {
                return Err(err(
                    "use diagnostics directory",
                    dir,
                    io::Error::other("it was replaced while it was being checked"),
                ));
            }
            check_owned_dir(dir, &opened)?;
            handle
                .set_permissions(fs::Permissions::from_mode(0o700))
                .map_err(|e| err("tighten diagnostics directory to mode 0700", dir, e))?;
            return Ok(Some(opened.mode() & 0o7777));
        }
    }
    Ok(None)
}

/// A directory, owned by this process's user.
fn check_owned_dir(dir: &Path, meta: &fs::Metadata) -> Result<(), WriteError> {
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
        // SAFETY: `geteuid` has no preconditions and cannot fail.
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
    }
    Ok(())
}

/// Whether this process may create files in `dir` (a read-only mount, a directory
/// without write permission). Checked once at construction, so that a configuration
/// mistake shows when the host starts rather than under pressure.
pub fn check_writable(dir: &Path) -> Result<(), WriteError> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|e| err("use diagnostics directory", dir, io::Error::other(e)))?;
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
            return Err(err(
                "write to diagnostics directory",
                dir,
                io::Error::last_os_error(),
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

/// Identity of a file on disk (device and inode), so phase 2 replaces only its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    #[cfg(unix)]
    fn of(meta: &fs::Metadata) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        Some(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
    #[cfg(not(unix))]
    fn of(_meta: &fs::Metadata) -> Option<FileId> {
        None
    }
}

/// A file that landed: where, and which file it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    pub path: PathBuf,
    pub name: String,
    pub id: Option<FileId>,
}

/// Everything phase 1 needs, reserved ahead: an open unnamed file in the dump directory,
/// its space, and the serialization buffer. A dumper holds at most one: one descriptor
/// and [`Armed::reserved`] bytes of the file system. (Linux only: elsewhere [`Armed::arm`]
/// fails and phase 1 takes the unarmed path.)
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub struct Armed {
    file: File,
    /// `/proc/self/fd/<fd>`, for `linkat(…, AT_SYMLINK_FOLLOW)` without privileges.
    proc_path: std::ffi::CString,
    reserved: u64,
    /// The serialization buffer, its capacity reserved.
    pub buf: Vec<u8>,
    dir: PathBuf,
}

impl fmt::Debug for Armed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Armed")
            .field("dir", &self.dir)
            .field("reserved", &self.reserved)
            .finish()
    }
}

impl Armed {
    /// Opens and reserves; fails where there is no `O_TMPFILE` (other platforms, some
    /// file systems), and the dump then takes the unarmed path.
    #[cfg(target_os = "linux")]
    pub fn arm(dir: &Path, reserve: usize) -> io::Result<Armed> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::io::AsRawFd;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
            .open(dir)?;
        let fd = file.as_raw_fd();
        // Allocate without growing the file: the document's write lands in blocks that
        // are already ours, so a file system that fills up later cannot refuse it.
        let r =
            // SAFETY: `fd` is the open file owned by `file`, which outlives the call.
            unsafe { libc::fallocate(fd, libc::FALLOC_FL_KEEP_SIZE, 0, reserve as libc::off_t) };
        let reserved = if r == 0 { reserve as u64 } else { 0 };
        let proc_path =
            std::ffi::CString::new(format!("/proc/self/fd/{fd}")).map_err(io::Error::other)?;
        Ok(Armed {
            file,
            proc_path,
            reserved,
            buf: Vec::with_capacity(reserve),
            dir: dir.to_path_buf(),
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub fn arm(_dir: &Path, _reserve: usize) -> io::Result<Armed> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no O_TMPFILE on this platform",
        ))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A path that opens this unnamed file (`/proc/self/fd/<fd>`): another writer in this
    /// process (V8's snapshot writer) can open and fill it by path, and it still has no
    /// name in any directory.
    pub fn reopen_path(&self) -> PathBuf {
        PathBuf::from(self.proc_path.to_string_lossy().into_owned())
    }

    /// The open file itself.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Bytes of the file system reserved for the next phase-1 document.
    pub fn reserved(&self) -> u64 {
        self.reserved
    }

    /// Phase 1: one write of `buf` and one no-replace link to the first free name from
    /// `base`. Consumes the armed file whatever happens.
    /// The armed file is used up whatever happens: drop it afterwards.
    pub fn land(&mut self, base: &str) -> Result<Landed, WriteError> {
        let buf = std::mem::take(&mut self.buf);
        let r = self.land_bytes(base, &buf);
        self.buf = buf;
        r
    }

    #[cfg(target_os = "linux")]
    pub fn land_bytes(&mut self, base: &str, bytes: &[u8]) -> Result<Landed, WriteError> {
        use std::os::unix::ffi::OsStrExt;
        let tmp_path = self.dir.join(format!(".{base} (unnamed)"));
        self.file
            .write_all(bytes)
            .map_err(|e| err("write the armed file", &tmp_path, e))?;
        let mut last = None;
        for k in 1..=MAX_NAME_ATTEMPTS {
            let name = candidate_name(base, k);
            let path = self.dir.join(&name);
            let c = std::ffi::CString::new(path.as_os_str().as_bytes())
                .map_err(|e| err("link into place", &path, io::Error::other(e.to_string())))?;
            // SAFETY: both paths are NUL-terminated `CString`s that outlive the call.
            let r = unsafe {
                libc::linkat(
                    libc::AT_FDCWD,
                    self.proc_path.as_ptr(),
                    libc::AT_FDCWD,
                    c.as_ptr(),
                    libc::AT_SYMLINK_FOLLOW,
                )
            };
            if r == 0 {
                let id = self.file.metadata().ok().as_ref().and_then(FileId::of);
                return Ok(Landed { path, name, id });
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(err("link into place", &path, e));
            }
            last = Some(path);
        }
        Err(err(
            "find a free name for",
            &last.unwrap_or(tmp_path),
            io::Error::other(format!("{MAX_NAME_ATTEMPTS} names taken")),
        ))
    }

    #[cfg(not(target_os = "linux"))]
    pub fn land_bytes(&mut self, base: &str, _bytes: &[u8]) -> Result<Landed, WriteError> {
        Err(err(
            "link into place",
            &self.dir.join(base),
            io::Error::new(io::ErrorKind::Unsupported, "no O_TMPFILE"),
        ))
    }
}

/// A named temporary file, locked while we hold it, removed unless it was renamed away.
struct Temp {
    path: PathBuf,
    file: Option<File>,
    kept: bool,
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_file(&self.path);
        }
        // Closing the file releases its lock, after the rename or the removal.
        self.file.take();
    }
}

fn write_temp(
    dir: &Path,
    final_name: &str,
    bytes: &[u8],
    durability: Durability,
) -> Result<Temp, WriteError> {
    let (path, f) = create_locked_temp(dir, final_name)?;
    let mut t = Temp {
        path,
        file: Some(f),
        kept: false,
    };
    let f = t.file.as_mut().expect("just set");
    f.write_all(bytes)
        .map_err(|e| err("write temporary file", &t.path, e))?;
    if durability == Durability::PowerLoss {
        // A failed fsync means the data may not be on disk: never rename it into place.
        f.sync_all()
            .map_err(|e| err("fsync temporary file", &t.path, e))?;
    }
    Ok(t)
}

/// Renames `from` to `to` unless `to` exists (`EEXIST` then).
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let a = std::ffi::CString::new(from.as_os_str().as_bytes()).map_err(io::Error::other)?;
        let b = std::ffi::CString::new(to.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: both paths are NUL-terminated `CString`s that outlive the call; `renameat2` takes these argument types.
        let r = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        // Kernels or file systems without RENAME_NOREPLACE: link + unlink below.
        if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
            return Err(e);
        }
    }
    #[cfg(windows)]
    {
        // MoveFileExW without MOVEFILE_REPLACE_EXISTING never replaces (ERROR_ALREADY_EXISTS
        // or ERROR_FILE_EXISTS: AlreadyExists), renames a file that is still open (ours are
        // opened with delete sharing) and, unlike a hard link, works on FAT and exFAT too.
        use std::os::windows::ffi::OsStrExt;
        use windows_sys::Win32::Storage::FileSystem::MoveFileExW;
        let wide = |p: &Path| -> Vec<u16> { p.as_os_str().encode_wide().chain([0]).collect() };
        let (a, b) = (wide(&long_path(from)), wide(&long_path(to)));
        // SAFETY: both are NUL-terminated wide paths that outlive the call.
        if unsafe { MoveFileExW(a.as_ptr(), b.as_ptr(), 0) } != 0 {
            return Ok(());
        }
        Err(io::Error::last_os_error())
    }
    #[cfg(not(windows))]
    {
        // link() never replaces; the temporary name goes afterwards.
        fs::hard_link(from, to)?;
        let _ = fs::remove_file(from);
        Ok(())
    }
}

/// An absolute path with the `\\?\` prefix, so the wide-character calls we make ourselves
/// take paths over 260 characters (std adds it for its own calls).
#[cfg(windows)]
fn long_path(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let s = abs.as_os_str().to_string_lossy();
    if s.starts_with(r"\\?\") {
        return abs;
    }
    let out = match s.strip_prefix(r"\\") {
        // \\server\share\… becomes \\?\UNC\server\share\…
        Some(unc) => std::ffi::OsString::from(format!(r"\\?\UNC\{unc}")),
        None => {
            let mut o = std::ffi::OsString::from(r"\\?\");
            o.push(abs.as_os_str());
            o
        }
    };
    PathBuf::from(out)
}

/// The unarmed phase 1 (and any first write of a document): a locked named temporary
/// file, then a no-replace rename to the first free name from `base`. On failure
/// nothing is left behind and no existing file is touched.
pub fn write_new(
    dir: &Path,
    base: &str,
    bytes: &[u8],
    durability: Durability,
) -> Result<Landed, WriteError> {
    // The temporary file is ours once locked (see `create_locked_temp`): no sweep removes it.
    let mut t = write_temp(dir, base, bytes, durability)?;
    land_temp(&mut t, dir, base, durability)
}

/// Renames a temporary file to the first free name from `base`, never replacing one.
fn land_temp(
    t: &mut Temp,
    dir: &Path,
    base: &str,
    durability: Durability,
) -> Result<Landed, WriteError> {
    for k in 1..=MAX_NAME_ATTEMPTS {
        let name = candidate_name(base, k);
        let path = dir.join(&name);
        match rename_noreplace(&t.path, &path) {
            Ok(()) => {
                t.kept = true;
                let id = t
                    .file
                    .as_ref()
                    .and_then(|f| f.metadata().ok())
                    .as_ref()
                    .and_then(FileId::of);
                if durability == Durability::PowerLoss {
                    sync_dir(dir)?;
                }
                return Ok(Landed { path, name, id });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(err("rename into place", &path, e)),
        }
    }
    Err(err(
        "find a free name for",
        &dir.join(base),
        io::Error::other(format!("{MAX_NAME_ATTEMPTS} names taken")),
    ))
}

/// A named temporary file (`.<final>.L<token>.tmp`, mode 0600) that its writer holds
/// locked until it lands or is dropped; dropped unlanded, it is removed. A writer that
/// dies leaves it unlocked, and the next sweep removes it.
pub struct LockedTemp {
    inner: Temp,
    dir: PathBuf,
    base: String,
}

impl fmt::Debug for LockedTemp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockedTemp")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl LockedTemp {
    /// Creates (exclusively, never through a link) and locks a temporary file for `base`.
    pub fn create(dir: &Path, base: &str) -> Result<LockedTemp, WriteError> {
        let (path, f) = create_locked_temp(dir, base)?;
        Ok(LockedTemp {
            inner: Temp {
                path,
                file: Some(f),
                kept: false,
            },
            dir: dir.to_path_buf(),
            base: base.to_string(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The open file (write-only, positioned where the last write ended).
    pub fn file(&mut self) -> &mut File {
        self.inner.file.as_mut().expect("open until dropped")
    }

    /// fsyncs the file, then renames it to the first free name from `base` (never
    /// replacing a file) and fsyncs the directory.
    pub fn land(mut self) -> Result<Landed, WriteError> {
        self.file()
            .sync_all()
            .map_err(|e| err("fsync temporary file", &self.inner.path, e))?;
        let (dir, base) = (self.dir.clone(), self.base.clone());
        land_temp(&mut self.inner, &dir, &base, Durability::PowerLoss)
    }
}

/// Reads a file of at most `max` bytes (never through a link), with its identity, for a
/// later [`replace_own`] of the same file.
pub fn read_own_file(path: &Path, max: u64) -> io::Result<(Vec<u8>, Option<FileId>)> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.file_type().is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let f = File::open(path)?;
    let meta = f.metadata()?;
    if meta.len() > max {
        return Err(io::Error::other(format!("larger than {max} bytes")));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    io::Read::read_to_end(&mut io::Read::take(f, max + 1), &mut bytes)?;
    Ok((bytes, FileId::of(&meta)))
}

/// Phase 2: replaces `dir/name` with `bytes` (fsync'd), but only while that name still
/// holds the file `expected` (our phase-1 document); a file that is gone or is another
/// writer's is left alone and reported.
pub fn replace_own(
    dir: &Path,
    name: &str,
    expected: Option<FileId>,
    bytes: &[u8],
) -> Result<PathBuf, WriteError> {
    replace_own_id(dir, name, expected, bytes).map(|(p, _)| p)
}

/// [`replace_own`], also returning the identity of the file now at the name (so a
/// later replace can check it in turn).
pub fn replace_own_id(
    dir: &Path,
    name: &str,
    expected: Option<FileId>,
    bytes: &[u8],
) -> Result<(PathBuf, Option<FileId>), WriteError> {
    let final_path = dir.join(name);
    let mut t = write_temp(dir, name, bytes, Durability::PowerLoss)?;
    let current = fs::symlink_metadata(&final_path);
    match (&current, expected) {
        (Err(e), _) if e.kind() == io::ErrorKind::NotFound => {
            return Err(err(
                "replace",
                &final_path,
                io::Error::other("the phase-1 file was removed before phase 2 (retention)"),
            ));
        }
        (Ok(m), Some(id)) if FileId::of(m) != Some(id) => {
            return Err(err(
                "replace",
                &final_path,
                io::Error::other("the name no longer holds this dump's phase-1 file"),
            ));
        }
        _ => {}
    }
    let id = t
        .file
        .as_ref()
        .and_then(|f| f.metadata().ok())
        .as_ref()
        .and_then(FileId::of);
    // rename() replaces a link planted at the final name; it never writes through it.
    fs::rename(&t.path, &final_path).map_err(|e| err("rename into place", &final_path, e))?;
    t.kept = true;
    drop(t);
    sync_dir(dir)?;
    Ok((final_path, id))
}

/// Writes `bytes` to `dir/final_name` atomically, replacing whatever is there (tools and
/// benchmarks; dumps use [`write_new`] and [`replace_own`]).
pub fn write_atomic(
    dir: &Path,
    final_name: &str,
    bytes: &[u8],
    durability: Durability,
) -> Result<PathBuf, WriteError> {
    let final_path = dir.join(final_name);
    let mut t = write_temp(dir, final_name, bytes, durability)?;
    fs::rename(&t.path, &final_path).map_err(|e| err("rename into place", &final_path, e))?;
    t.kept = true;
    drop(t);
    if durability == Durability::PowerLoss {
        sync_dir(dir)?;
    }
    Ok(final_path)
}

/// Creates a temporary file for `final_name` exclusively and locks it. Another thread's or
/// process's sweep may take the lock of the new, still unlocked file and remove it before we
/// lock it; then the write would go to a file without a name. A fresh name is tried then.
fn create_locked_temp(dir: &Path, final_name: &str) -> Result<(PathBuf, File), WriteError> {
    let mut attempts = 0;
    loop {
        let path = dir.join(temp_name(final_name));
        let f = create_exclusive(&path).map_err(|e| err("create temporary file", &path, e))?;
        if crate::filelock::lock_new(&f, &path) {
            return Ok((path, f));
        }
        attempts += 1;
        if attempts == 4 {
            let e = io::Error::other("removed by a sweep before it could be locked, four times");
            return Err(err("create temporary file", &path, e));
        }
    }
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

pub(crate) fn sync_dir(dir: &Path) -> Result<(), WriteError> {
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
/// temporary file). The test lock, if we got it, is released on return.
fn locked_by_someone(path: &Path) -> bool {
    match open_for_lock_test(path) {
        Some(f) => !try_lock(&f),
        None => false,
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
    let horizon = future_horizon(now);
    // (trusted, name order): untrusted (future) names sort first.
    let mut ours: Vec<((bool, DumpName), String)> = entries
        .iter()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let parsed = parse_dump_name(&name)?;
            let ft = e.file_type().ok()?;
            (ft.is_file() || ft.is_symlink()).then_some(((parsed.stamp <= horizon, parsed), name))
        })
        .collect();
    ours.sort();
    let mut excess = ours.len().saturating_sub(max_files);
    for (_, name) in ours.iter() {
        if excess == 0 {
            break;
        }
        if keep.contains(&name.as_str()) {
            continue;
        }
        match fs::remove_file(dir.join(name)) {
            Ok(()) => report.removed.push(name.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => report.errors.push(format!("could not remove {name}: {e}")),
        }
        excess -= 1;
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

/// `recorder-<id>.jsonl` or its rotated `recorder-<id>.jsonl.1`, where `<id>` is up to 64
/// letters, digits, `_` and `-` (this version writes `<session8>-<pid>-<token>`).
pub fn is_recorder_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("recorder-") else {
        return false;
    };
    let id = rest
        .strip_suffix(".jsonl")
        .or_else(|| rest.strip_suffix(".jsonl.1"));
    id.is_some_and(|s| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
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

/// The dumper's pre-armed phase-1 file (see [`writer::Armed`]): at most one, taken by a
/// phase 1, re-armed off the JS thread.
pub struct ArmSlot {
    dir: PathBuf,
    slot: parking_lot::Mutex<Option<Armed>>,
    reserve: std::sync::atomic::AtomicUsize,
    /// Test builds: arming switched off, to force the unarmed path.
    disabled: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for ArmSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmSlot")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl ArmSlot {
    pub fn new(dir: &Path) -> Self {
        ArmSlot {
            dir: dir.to_path_buf(),
            slot: parking_lot::Mutex::new(None),
            reserve: std::sync::atomic::AtomicUsize::new(PHASE1_RESERVE_BYTES),
            disabled: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Arms if nothing is armed and the directory exists; true if a file is armed after.
    pub fn rearm(&self) -> bool {
        let mut slot = self.slot.lock();
        if slot.is_none() && !self.disabled.load(Ordering::Relaxed) && self.dir.is_dir() {
            *slot = Armed::arm(&self.dir, self.reserve.load(Ordering::Relaxed)).ok();
        }
        slot.is_some()
    }

    /// Switches arming off (and drops the armed file) or back on.
    pub fn set_disabled(&self, off: bool) {
        self.disabled.store(off, Ordering::Relaxed);
        if off {
            self.slot.lock().take();
        }
    }

    pub(crate) fn take(&self) -> Option<Armed> {
        self.slot.lock().take()
    }

    /// A document outgrew the reservation: reserve enough for it next time.
    pub(crate) fn fit(&self, len: usize) {
        if len > self.reserve.load(Ordering::Relaxed) {
            self.reserve
                .store(len.next_power_of_two().min(64 << 20), Ordering::Relaxed);
        }
    }

    /// Bytes reserved by the armed file, if one is armed.
    pub fn reserved(&self) -> Option<u64> {
        self.slot.lock().as_ref().map(|a| a.reserved())
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
        assert_eq!(parse_temp_name(&t), Some(TempKind::Locked));
        assert_eq!(
            parse_temp_name(&format!(".{n}.A0123456789abcdef.tmp")),
            Some(TempKind::Aged)
        );
        assert_eq!(
            parse_temp_name(&format!(".{n}.123-4.tmp")),
            Some(TempKind::Aged)
        );
        let c = candidate_name(&n, 3);
        assert_eq!(c, "memory-abc_123-2026-11-18T12-07-55-123Z-7.3.json");
        let p = parse_dump_name(&c).unwrap();
        assert_eq!((p.dump_number, p.copy), (7, 3));
        assert_eq!(candidate_name(&n, 1), n);
        assert!(parse_dump_name("memory-abc-2026-11-18T12-07-55-123Z-7.1.json").is_none());
        assert!(parse_dump_name("memory-abc-2026-11-18T12-07-55-123Z-7.x.json").is_none());
    }

    #[test]
    fn heap_names() {
        let n = heap_file_name("abc_123", &stamp(1_795_003_675_123), 7);
        assert_eq!(n, "heap-abc_123-2026-11-18T12-07-55-123Z-7.heapsnapshot");
        assert_eq!(parse_heap_name(&n).unwrap().dump_number, 7);
        let c = candidate_name(&n, 2);
        assert_eq!(c, "heap-abc_123-2026-11-18T12-07-55-123Z-7.2.heapsnapshot");
        assert_eq!(parse_heap_name(&c).unwrap().copy, 2);
        assert!(parse_dump_name(&n).is_none());
        assert!(parse_heap_name("memory-abc_123-2026-11-18T12-07-55-123Z-7.json").is_none());
        assert!(parse_heap_name("heap-abc-2026-11-18T12-07-55-123Z-7.heapsnapshot.bak").is_none());
        assert_eq!(parse_temp_name(&temp_name(&n)), Some(TempKind::Locked));
    }

    #[cfg(unix)]
    #[test]
    fn locked_temp_lands_without_replacing_and_is_swept_only_when_abandoned() {
        let d = tempdir("heaptemp");
        prepare_dir(&d).unwrap();
        let base = "heap-a-2026-11-18T12-07-55-123Z-1.heapsnapshot";
        fs::write(d.join(base), b"older").unwrap();
        let mut t = LockedTemp::create(&d, base).unwrap();
        t.file().write_all(b"snapshot").unwrap();
        assert!(sweep_stale_temps(&d).is_empty(), "a held temp is live");
        let l = t.land().unwrap();
        assert_eq!(l.name, "heap-a-2026-11-18T12-07-55-123Z-1.2.heapsnapshot");
        assert_eq!(fs::read(d.join(base)).unwrap(), b"older");
        assert_eq!(fs::read(&l.path).unwrap(), b"snapshot");
        assert_eq!(mode(&l.path), 0o600);
        // Dropped unlanded: gone (a writer that dies leaves it unlocked: the kill tests).
        let t = LockedTemp::create(&d, base).unwrap();
        let p = t.path().to_path_buf();
        drop(t);
        assert!(!p.exists());
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
    fn unsafe_directories_are_refused_and_loose_ones_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempdir("perm");
        assert_eq!(prepare_dir(&d).unwrap(), None);
        assert_eq!(mode(&d), 0o700);
        // Ours and group-writable (a plain mkdir under umask 002): tightened, old mode told.
        fs::set_permissions(&d, fs::Permissions::from_mode(0o775)).unwrap();
        assert_eq!(prepare_dir(&d).unwrap(), Some(0o775));
        assert_eq!(mode(&d), 0o700);
        assert_eq!(prepare_dir(&d).unwrap(), None);
        // Not group- or world-writable: left as it is.
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(prepare_dir(&d).unwrap(), None);
        assert_eq!(mode(&d), 0o755);
        // A sticky shared directory is never chmod'ed.
        fs::set_permissions(&d, fs::Permissions::from_mode(0o1777)).unwrap();
        let e = prepare_dir(&d).unwrap_err();
        assert!(
            e.to_string()
                .contains("shared sticky directory writable by group or others (mode 1777)"),
            "{e}"
        );
        assert_eq!(mode(&d), 0o1777);
        let f = tempdir("file");
        fs::write(&f, b"x").unwrap();
        let e = prepare_dir(&f).unwrap_err();
        assert!(e.to_string().contains(&f.display().to_string()), "{e}");
        assert!(e.to_string().contains("not a directory"), "{e}");
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
    fn recorder_names() {
        assert!(is_recorder_name("recorder-abc.jsonl"));
        assert!(is_recorder_name("recorder-abc_1234.jsonl.1"));
        assert!(!is_recorder_name("recorder-.jsonl"));
        assert!(!is_recorder_name("recorder-abc.jsonl.2"));
        assert!(is_recorder_name("recorder-abc_1234-4242-0a1b2c3d.jsonl"));
        assert!(is_recorder_name("recorder-abc_1234-4242-0a1b2c3d.jsonl.1"));
        assert!(!is_recorder_name(&format!(
            "recorder-{}.jsonl",
            "a".repeat(65)
        )));
        assert!(!is_recorder_name("recorder-abc.jsonl.tmp"));
        assert!(!is_recorder_name("recorder-a.b.jsonl"));
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

    #[cfg(target_os = "linux")]
    #[test]
    fn armed_phase1_lands_without_replacing_and_takes_the_next_name() {
        let d = tempdir("armed");
        prepare_dir(&d).unwrap();
        let base = "memory-a-2026-11-18T12-07-55-123Z-1.json";
        let mut a = Armed::arm(&d, PHASE1_RESERVE_BYTES).unwrap();
        assert_eq!(a.reserved(), PHASE1_RESERVE_BYTES as u64);
        assert_eq!(
            fs::read_dir(&d).unwrap().count(),
            0,
            "armed file has no name"
        );
        a.buf.extend_from_slice(b"first");
        let l1 = a.land(base).unwrap();
        assert_eq!(l1.name, base);
        let mut b = Armed::arm(&d, PHASE1_RESERVE_BYTES).unwrap();
        b.buf.extend_from_slice(b"second");
        let l2 = b.land(base).unwrap();
        assert_eq!(l2.name, "memory-a-2026-11-18T12-07-55-123Z-1.2.json");
        let l3 = write_new(&d, base, b"third", Durability::ProcessCrash).unwrap();
        assert_eq!(l3.name, "memory-a-2026-11-18T12-07-55-123Z-1.3.json");
        assert_eq!(fs::read(&l1.path).unwrap(), b"first");
        assert_eq!(fs::read(&l2.path).unwrap(), b"second");
        assert_eq!(fs::read(&l3.path).unwrap(), b"third");
        assert_eq!(fs::metadata(&l1.path).unwrap().len(), 5);
        assert_eq!(mode(&l1.path), 0o600);
        // Phase 2 replaces its own file only.
        replace_own(&d, &l1.name, l1.id, b"first, enriched").unwrap();
        assert_eq!(fs::read(&l1.path).unwrap(), b"first, enriched");
        let e = replace_own(&d, &l2.name, l1.id, b"not mine").unwrap_err();
        assert!(e.to_string().contains("no longer holds"), "{e}");
        assert_eq!(fs::read(&l2.path).unwrap(), b"second");
        fs::remove_file(&l3.path).unwrap();
        let e = replace_own(&d, &l3.name, l3.id, b"gone").unwrap_err();
        assert!(e.to_string().contains("removed before phase 2"), "{e}");
        assert!(!l3.path.exists());
        assert_eq!(
            fs::read_dir(&d).unwrap().count(),
            2,
            "no temporary file left"
        );
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
