//! The write path: a named temporary file (`.<final>.L<token>.tmp`, mode 0600, created
//! exclusively, never through a link) locked for as long as its writer needs it, written
//! and, for phase 2, fsync'd; then landed under the first free name without replacing
//! another file (`renameat2(RENAME_NOREPLACE)`, `MoveFileExW`, or `link` + `unlink`), or,
//! for phase 2, renamed over its own phase-1 file only. File identities (`FileId`) let
//! phase 2 and the sweep tell our file from one that took its name.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::directory::sync_dir;
use super::names::{candidate_name, temp_name};
use super::{err, WriteError};

/// How many names past a taken one phase 1 tries before giving up.
pub const MAX_NAME_ATTEMPTS: u32 = 1000;

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
    pub(super) fn of(meta: &fs::Metadata) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        Some(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
    #[cfg(not(unix))]
    pub(super) fn of(_meta: &fs::Metadata) -> Option<FileId> {
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
        if crate::writer::filelock::lock_new(&f, &path) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::test_support::*;
    use crate::writer::*;

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
}
