//! Advisory "a writer holds this file" locks, the liveness signal for temporary and
//! recorder files (never pids: writers in other PID namespaces or on other hosts share
//! directories). A lock lasts until its handle is closed, which the kernel does when the
//! writer dies, however it dies.
//!
//! - Unix: `flock(LOCK_EX | LOCK_NB)` on the whole file.
//! - Windows: `LockFileEx(LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY)` on one
//!   byte at [`WINDOWS_LOCK_OFFSET`]. Windows byte-range locks are mandatory (reads and
//!   writes through other handles fail inside a locked range), so the lock covers a byte
//!   far past any data we write, where it only marks the file as held: V8 can still write
//!   a heap snapshot into a locked temporary file and `inspect` can read a live trail.

use std::fs::File;

/// The byte a Windows lock covers: 4 EiB, past any file we write. (Ranges above 2^63
/// are refused by some file systems.)
#[cfg(windows)]
pub const WINDOWS_LOCK_OFFSET: u64 = 1 << 62;

/// Takes an exclusive lock without waiting; true if we got it (then we hold it until the
/// file is closed). False if another handle, in any process, holds it, or locks are not
/// available here.
#[cfg(unix)]
pub fn try_lock(f: &File) -> bool {
    // std's `File::try_lock` is this `flock(LOCK_EX | LOCK_NB)` on Unix, without unsafe.
    f.try_lock().is_ok()
}

#[cfg(windows)]
pub fn try_lock(f: &File) -> bool {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Storage::FileSystem::{
        LockFileEx, LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY,
    };
    use windows_sys::Win32::System::IO::OVERLAPPED;
    // SAFETY: `OVERLAPPED` is plain old data; all-zero bytes (no event, offset 0) are valid.
    let mut ov: OVERLAPPED = unsafe { std::mem::zeroed() };
    ov.Anonymous.Anonymous.Offset = WINDOWS_LOCK_OFFSET as u32;
    ov.Anonymous.Anonymous.OffsetHigh = (WINDOWS_LOCK_OFFSET >> 32) as u32;
    // A synchronous handle with FAIL_IMMEDIATELY: returns at once, nothing pending.
    // SAFETY: the handle is `f`'s, open for the whole call; `ov` is a valid, exclusively
    // borrowed OVERLAPPED that outlives it (the call does not complete asynchronously).
    unsafe {
        LockFileEx(
            f.as_raw_handle(),
            LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY,
            0,
            1,
            0,
            &mut ov,
        ) != 0
    }
}

#[cfg(not(any(unix, windows)))]
pub fn try_lock(_f: &File) -> bool {
    false
}

/// Yields [`lock_new`] allows while another holds a new file's lock for a test.
const LOCK_NEW_RETRIES: usize = 64;

/// Takes the lock of a file just created at `path` and checks that the name still is that
/// file. A sweep removes a temporary or recorder file whose lock it can take; between our
/// exclusive creation and our lock it can take it, and remove the file under us. False
/// then: the caller creates a fresh one. Where locks do not exist, nothing sweeps by lock.
pub fn lock_new(f: &File, path: &std::path::Path) -> bool {
    if !cfg!(any(unix, windows)) {
        return true;
    }
    // A test lock (retention's, or `previousRun`'s lock test) is held for the microseconds
    // of an open and a close: a few yields outlast it, and never sleep on the JS thread.
    let mut locked = try_lock(f);
    for _ in 0..LOCK_NEW_RETRIES {
        if locked {
            break;
        }
        std::thread::yield_now();
        locked = try_lock(f);
    }
    if !locked {
        // Still ours and still empty (a tester held it, not a sweep that removes it): the
        // name is given up, so the file goes too, rather than stay as an empty trail or
        // temporary file that nobody writes.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if let (Ok(a), Ok(b)) = (f.metadata(), std::fs::symlink_metadata(path)) {
                if a.dev() == b.dev() && a.ino() == b.ino() && a.len() == 0 {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (f.metadata(), std::fs::symlink_metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        // No inode to compare here: the lock is the check.
        let _ = path;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{self, OpenOptions};
    use std::io::{Read, Write};

    #[test]
    fn a_held_lock_is_seen_through_another_handle_and_released_on_close() {
        let dir = std::env::temp_dir().join(format!("mdd-lock-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let mut writer = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        assert!(try_lock(&writer));
        // Another handle (as another process's sweep opens it) cannot take it...
        let probe = File::open(&path).unwrap();
        assert!(!try_lock(&probe));
        // ...and the lock never gets in the way of data written or read through any handle.
        writer.write_all(b"data").unwrap();
        let mut other = OpenOptions::new().append(true).open(&path).unwrap();
        other.write_all(b" more").unwrap();
        let mut s = String::new();
        File::open(&path).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "data more");
        drop(writer);
        assert!(try_lock(&File::open(&path).unwrap()));
        // Every handle closed before the directory goes (Windows deletes open files late).
        drop((probe, other));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_new_file_whose_lock_another_keeps_is_given_up_and_removed_while_empty() {
        let dir = std::env::temp_dir().join(format!("mdd-lock-new-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        // Free: taken, and the file stays.
        let path = dir.join("free");
        let f = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        assert!(lock_new(&f, &path));
        assert!(path.exists());
        // Held by another handle for longer than the yields: given up, and removed while empty.
        let path = dir.join("held");
        let f = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        let holder = File::open(&path).unwrap();
        assert!(try_lock(&holder));
        assert!(!lock_new(&f, &path));
        assert!(!path.exists(), "an empty file given up is removed");
        // Not empty: never removed (it is not only ours to judge).
        let path = dir.join("written");
        let mut f = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        f.write_all(b"x").unwrap();
        let holder2 = File::open(&path).unwrap();
        assert!(try_lock(&holder2));
        assert!(!lock_new(&f, &path));
        assert!(path.exists());
        drop((holder, holder2));
        fs::remove_dir_all(&dir).unwrap();
    }
}
