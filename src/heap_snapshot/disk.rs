//! The bytes free for us on a directory's file system (`statvfs`, `GetDiskFreeSpaceExW`).

/// The call [`disk_free`] makes, named in a skip reason when it fails.
pub const DISK_PROBE: &str = if cfg!(windows) {
    "GetDiskFreeSpaceExW"
} else {
    "statvfs"
};

/// Bytes available to us on the file system of `dir`.
pub fn disk_free(dir: &std::path::Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        // SAFETY: `statvfs` is plain old data; all-zero bytes are a valid value that the call overwrites.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a NUL-terminated path and `st` a valid, exclusively borrowed out-parameter.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return None;
        }
        Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
    }
    #[cfg(windows)]
    {
        use std::os::windows::ffi::OsStrExt;
        use windows_sys::Win32::Storage::FileSystem::GetDiskFreeSpaceExW;
        // A path past MAX_PATH (260) fails unless it is written in its verbatim form.
        let abs = std::path::absolute(dir).ok()?;
        let w: Vec<u16> = match abs.to_str() {
            Some(text) => verbatim(text).encode_utf16().chain([0]).collect(),
            // Not valid Unicode: tried as it is; a failure is recorded by the caller.
            None => abs.as_os_str().encode_wide().chain([0]).collect(),
        };
        let mut avail = 0u64;
        // SAFETY: `w` is a NUL-terminated wide path that outlives the call; `avail` is a
        // valid out-parameter and the two optional ones are null, which the API allows.
        let ok = unsafe {
            GetDiskFreeSpaceExW(
                w.as_ptr(),
                &mut avail,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        (ok != 0).then_some(avail)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = dir;
        None
    }
}

/// The verbatim form of an absolute Windows path, which the wide file APIs accept past
/// MAX_PATH (260 characters): `C:\a` becomes `\\?\C:\a` and `\\srv\share\a` becomes
/// `\\?\UNC\srv\share\a`; a path already verbatim, or a device path, is kept. Plain text,
/// so it is tested on every host.
pub fn verbatim(abs: &str) -> String {
    if abs.starts_with(r"\\?\") || abs.starts_with(r"\\.\") {
        abs.to_string()
    } else if let Some(unc) = abs.strip_prefix(r"\\") {
        format!(r"\\?\UNC\{unc}")
    } else {
        format!(r"\\?\{abs}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_windows_paths_are_written_verbatim() {
        let long = format!(r"C:\{}\diagnostics", "d".repeat(300));
        assert_eq!(verbatim(&long), format!(r"\\?\{long}"));
        assert_eq!(
            verbatim(r"\\server\share\diag"),
            r"\\?\UNC\server\share\diag"
        );
        assert_eq!(verbatim(r"\\?\C:\x"), r"\\?\C:\x");
        assert_eq!(verbatim(r"\\.\pipe\x"), r"\\.\pipe\x");
    }
}
