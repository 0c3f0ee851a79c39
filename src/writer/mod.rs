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
//! exclusively and never through a link, locked ([`crate::writer::filelock`]) for as long as its writer
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
//!
//! The module is split along those concerns, and re-exports what other modules use, so
//! they name everything as `writer::…`:
//!
//! - [`names`]: the file names (dumps, heap snapshots, recorder files, temporary files),
//!   how they are made and parsed; whatever does not parse as ours is never touched.
//! - [`directory`]: preparing the dump directory (created 0700, refused when unsafe,
//!   tightened when loose) and the directory fsync.
//! - [`write`]: the write path: locked temporary files, fsync, no-replace landing,
//!   phase 2's replace of its own file.
//! - [`amend`]: sections the JS thread adds to a finished dump, by one more replace.
//! - [`armed`]: the pre-armed phase-1 file (Linux `O_TMPFILE`) and the dumper's slot for it.
//! - [`retention`]: bounding the directory, and the sweep of abandoned temporary files.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub mod amend;
pub mod armed;
pub mod directory;
pub mod filelock;
pub mod names;
pub mod retention;
pub mod write;

pub use armed::{ArmSlot, Armed, PHASE1_RESERVE_BYTES};
pub(crate) use directory::sync_dir;
pub use directory::{check_writable, prepare_dir, secure_dir};
pub use names::{
    candidate_name, dump_file_name, heap_file_name, is_recorder_name, name_pattern,
    parse_dump_name, parse_heap_name, parse_temp_name, random_token, recorder_file_name,
    rotated_name, DumpName, TempKind, DUMP_PREFIX, DUMP_SUFFIX, HEAP_PREFIX, HEAP_SUFFIX,
    NUMBER_PATTERN, RECORDER_PREFIX, RECORDER_SUFFIX, ROTATED_SUFFIX, TEMP_SUFFIX,
};
pub use retention::{
    apply_heap_retention, apply_retention, sweep_stale_temps, RetentionReport, FUTURE_TOLERANCE_MS,
    STALE_TEMP_AGE,
};
pub use write::{
    read_own_file, replace_own, replace_own_id, write_atomic, write_new, Durability, FileId,
    Landed, LockedTemp, MAX_NAME_ATTEMPTS,
};

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
/// Helpers the submodules' tests share: a fresh directory per test, a stamp, a mode.
#[cfg(test)]
mod test_support {
    use std::fs;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering};

    use crate::timefmt::UtcTime;

    static DIR_SEQ: AtomicU64 = AtomicU64::new(0);

    pub(super) fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "mdd-writer-{tag}-{}-{}",
            std::process::id(),
            DIR_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&d);
        d
    }

    pub(super) fn stamp(ms: i64) -> UtcTime {
        UtcTime::from_epoch_ms(ms)
    }

    #[cfg(unix)]
    pub(super) fn mode(p: &std::path::Path) -> u32 {
        use std::os::unix::fs::MetadataExt;
        fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }
}
