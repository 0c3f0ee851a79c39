//! The dump directory: created when missing (0700 for every level we create), refused
//! when it cannot be made safe (not a directory, another user's, a shared sticky one),
//! tightened to 0700 when it is ours but group- or world-writable; whether we may write
//! to it; and its fsync after a rename. Everything else in the writer assumes a directory
//! that passed these checks.

use std::fs;
use std::io;
use std::path::Path;

use super::{err, WriteError};

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
    // Elsewhere the first write says whether the directory takes files.
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    #[cfg(unix)]
    {
        let d = fs::File::open(dir).map_err(|e| err("open directory for fsync", dir, e))?;
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

#[cfg(unix)]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::test_support::*;

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
}
