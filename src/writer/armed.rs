//! The pre-armed phase-1 file (Linux): an unnamed `O_TMPFILE` file in the dump directory
//! with its space allocated and a serialization buffer reserved, so phase 1 is one write
//! and one `linkat` with nothing to open or allocate under pressure; and `ArmSlot`, the
//! dumper's one armed file, taken by a phase 1 and re-armed off the JS thread. Elsewhere
//! arming fails and phase 1 takes the write path in `write`.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::write::Landed;
use super::{err, WriteError};

/// Space reserved for one phase-1 document when arming (grown to fit larger ones).
pub const PHASE1_RESERVE_BYTES: usize = 64 * 1024;

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
        Self::arm_reusing(dir, reserve, Vec::new())
    }

    /// [`Armed::arm`] with the buffer of a file already landed, so that nothing of that
    /// size is freed or allocated again.
    #[cfg(target_os = "linux")]
    pub fn arm_reusing(dir: &Path, reserve: usize, mut buf: Vec<u8>) -> io::Result<Armed> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::io::AsRawFd;
        let file = std::fs::OpenOptions::new()
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
            buf: {
                buf.clear();
                buf.reserve(reserve);
                buf
            },
            dir: dir.to_path_buf(),
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub fn arm_reusing(dir: &Path, reserve: usize, _buf: Vec<u8>) -> io::Result<Armed> {
        Self::arm(dir, reserve)
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
        use super::names::candidate_name;
        use super::write::{FileId, MAX_NAME_ATTEMPTS};
        use std::io::Write;
        use std::os::unix::ffi::OsStrExt;
        // Named only in an error: built only when there is one.
        let tmp_path = || self.dir.join(format!(".{base} (unnamed)"));
        self.file
            .write_all(bytes)
            .map_err(|e| err("write the armed file", &tmp_path(), e))?;
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
            &last.unwrap_or_else(tmp_path),
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

/// The dumper's pre-armed phase-1 file (see [`Armed`]): at most one, taken by a
/// phase 1, re-armed off the JS thread.
pub struct ArmSlot {
    dir: PathBuf,
    slot: parking_lot::Mutex<Option<Armed>>,
    /// The file phase 1 last landed, kept for the next [`ArmSlot::rearm`]: closing it and
    /// freeing its buffer (which makes malloc consolidate) cost the JS thread more than a
    /// tenth of phase 1; off it, its buffer is reused.
    spent: parking_lot::Mutex<Option<Armed>>,
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
            spent: parking_lot::Mutex::new(None),
            reserve: std::sync::atomic::AtomicUsize::new(PHASE1_RESERVE_BYTES),
            disabled: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Arms if nothing is armed and the directory exists; true if a file is armed after.
    pub fn rearm(&self) -> bool {
        let spent = self.spent.lock().take();
        let mut slot = self.slot.lock();
        if slot.is_none() && !self.disabled.load(Ordering::Relaxed) && self.dir.is_dir() {
            let buf = spent.map(|a| a.buf).unwrap_or_default();
            *slot = Armed::arm_reusing(&self.dir, self.reserve.load(Ordering::Relaxed), buf).ok();
        }
        slot.is_some()
    }

    /// Switches arming off (and drops the armed file) or back on.
    pub fn set_disabled(&self, off: bool) {
        self.disabled.store(off, Ordering::Relaxed);
        if off {
            self.slot.lock().take();
            self.spent.lock().take();
        }
    }

    pub(crate) fn take(&self) -> Option<Armed> {
        self.slot.lock().take()
    }

    /// Keeps a landed file for the next [`ArmSlot::rearm`] (which runs off the JS thread)
    /// to close and reuse. One is kept: an older one not yet reused is dropped here.
    pub(crate) fn retire(&self, landed: Armed) {
        let older = self.spent.lock().replace(landed);
        drop(older);
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

#[cfg(target_os = "linux")]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::test_support::*;
    use crate::writer::*;
    use std::fs;

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

    /// The file phase 1 landed is closed, and its buffer reused, by the next re-arming
    /// (off the JS thread), never by the dump that landed it.
    #[test]
    fn a_landed_file_is_closed_and_its_buffer_reused_by_the_next_rearm() {
        use std::os::unix::io::AsRawFd;
        let d = tempdir("armed-retire");
        prepare_dir(&d).unwrap();
        let slot = ArmSlot::new(&d);
        assert!(slot.rearm());
        let mut a = slot.take().unwrap();
        a.buf.extend_from_slice(b"landed");
        let buf_at = a.buf.as_ptr();
        let fd = a.file.as_raw_fd();
        a.land("memory-a-2026-11-18T12-07-55-123Z-1.json").unwrap();
        slot.retire(a);
        // Still open: retiring closed nothing on the dump's thread.
        assert!(fs::metadata(format!("/proc/self/fd/{fd}")).is_ok());
        assert!(slot.rearm());
        let b = slot.take().unwrap();
        assert_eq!(b.buf.as_ptr(), buf_at, "the landed file's buffer is reused");
        assert!(b.buf.is_empty());
        assert!(slot.spent.lock().is_none(), "the landed file was let go");
        assert_eq!(
            fs::read(d.join("memory-a-2026-11-18T12-07-55-123Z-1.json")).unwrap(),
            b"landed"
        );
    }
}
