//! The file V8 writes the raw (unredacted) snapshot into, and its removal when the
//! process exits.

use std::path::PathBuf;

use parking_lot::Mutex;

use crate::writer::{self, LockedTemp};

/// The file V8 writes the raw (unredacted) snapshot into.
///
/// Where the platform allows (Linux, a file system with `O_TMPFILE`) it has no name at
/// all: V8 opens it through `/proc/self/fd/<fd>`, the redacting copy reads it the same
/// way, and whatever ends the process (`process.exit()`, a signal, the OOM killer) the
/// kernel frees it with the process. Elsewhere it is a locked temporary file, listed in
/// [`NAMED_RAW`] so that the `exit` handler of `lib/dumper/heap-snapshot.js` can remove it
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
