//! `getrusage(RUSAGE_SELF)`: CPU time, peak RSS, page faults, context switches.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ResourceUsage {
    pub user_cpu_micros: u64,
    pub system_cpu_micros: u64,
    /// Peak resident set size in bytes.
    pub max_rss_bytes: u64,
    /// Null on Windows, which counts faults only as one figure (`process.memory.pageFaults`)
    /// and reports no context switches.
    pub minor_page_faults: Option<u64>,
    pub major_page_faults: Option<u64>,
    pub voluntary_context_switches: Option<u64>,
    pub involuntary_context_switches: Option<u64>,
}

#[cfg(unix)]
pub fn read() -> Result<ResourceUsage, String> {
    // SAFETY: `rusage` is plain old data; all-zero bytes are a valid value that the call overwrites.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, exclusively borrowed out-parameter.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Err(format!("getrusage: {}", std::io::Error::last_os_error()));
    }
    let micros = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
    // Linux reports ru_maxrss in KiB, macOS in bytes.
    let maxrss_unit = if cfg!(target_os = "macos") { 1 } else { 1024 };
    Ok(ResourceUsage {
        user_cpu_micros: micros(ru.ru_utime),
        system_cpu_micros: micros(ru.ru_stime),
        max_rss_bytes: ru.ru_maxrss.max(0) as u64 * maxrss_unit,
        minor_page_faults: Some(ru.ru_minflt.max(0) as u64),
        major_page_faults: Some(ru.ru_majflt.max(0) as u64),
        voluntary_context_switches: Some(ru.ru_nvcsw.max(0) as u64),
        involuntary_context_switches: Some(ru.ru_nivcsw.max(0) as u64),
    })
}

/// `GetProcessTimes` for CPU time and the peak working set for peak resident size.
#[cfg(windows)]
pub fn read() -> Result<ResourceUsage, String> {
    let (user, system, _) = super::windows::process_times()?;
    let c = super::windows::memory_counters()?;
    Ok(ResourceUsage {
        user_cpu_micros: user,
        system_cpu_micros: system,
        max_rss_bytes: c.peak_working_set,
        ..Default::default()
    })
}

#[cfg(not(any(unix, windows)))]
pub fn read() -> Result<ResourceUsage, String> {
    Err("unavailable: getrusage is not provided on this platform".to_string())
}

#[cfg(all(test, unix))]
mod tests {
    #[test]
    fn reports_this_process() {
        let a = super::read().unwrap();
        // Burn a little CPU and fault in some pages.
        let v: Vec<u8> = vec![1; 8 << 20];
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(i ^ v[(i as usize) % v.len()] as u64);
        }
        std::hint::black_box(x);
        let b = super::read().unwrap();
        assert!(b.max_rss_bytes >= 8 << 20);
        assert!(b.minor_page_faults >= a.minor_page_faults && b.minor_page_faults.is_some());
        assert!(b.user_cpu_micros + b.system_cpu_micros >= a.user_cpu_micros + a.system_cpu_micros);
    }
}

/// The soft limit on open file descriptors (`RLIMIT_NOFILE`); `None` when unlimited.
#[cfg(unix)]
pub fn open_files_limit() -> Result<Option<u64>, String> {
    // SAFETY: `rlimit` is plain old data; all-zero bytes are a valid value that the call overwrites.
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `rl` is a valid, exclusively borrowed out-parameter.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
    }
    Ok((rl.rlim_cur != libc::RLIM_INFINITY).then_some(rl.rlim_cur as u64))
}

/// Windows has no descriptor limit to set: a process may hold at most 2^24 handles.
#[cfg(windows)]
pub const WINDOWS_MAX_HANDLES: u64 = 1 << 24;

#[cfg(windows)]
pub fn open_files_limit() -> Result<Option<u64>, String> {
    Ok(Some(WINDOWS_MAX_HANDLES))
}

#[cfg(not(any(unix, windows)))]
pub fn open_files_limit() -> Result<Option<u64>, String> {
    Err("unavailable: getrlimit is not provided on this platform".to_string())
}
