//! Windows: the process's memory counters, handles and CPU times, the system's memory
//! status and the job object's limits, through `windows-sys`. Only reads raw numbers;
//! `probes::platform` turns them into the document's figures.

use super::platform::{RawJobLimits, WinMemoryCounters, WinMemoryStatus};
use std::io;
use windows_sys::Win32::Foundation::FILETIME;
use windows_sys::Win32::System::JobObjects::{
    IsProcessInJob, JobObjectExtendedLimitInformation, QueryInformationJobObject,
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
};
use windows_sys::Win32::System::Memory::{
    VirtualQuery, MEMORY_BASIC_INFORMATION, MEM_COMMIT, MEM_IMAGE, MEM_MAPPED,
};
use windows_sys::Win32::System::ProcessStatus::{
    K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS, PROCESS_MEMORY_COUNTERS_EX,
};
use windows_sys::Win32::System::SystemInformation::{GlobalMemoryStatusEx, MEMORYSTATUSEX};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetProcessHandleCount, GetProcessTimes,
};

fn err(call: &str) -> String {
    format!("{call}: {}", io::Error::last_os_error())
}

/// `GetProcessMemoryInfo` with `PROCESS_MEMORY_COUNTERS_EX` for this process.
pub fn memory_counters() -> Result<WinMemoryCounters, String> {
    // SAFETY: plain old data; all-zero bytes are a valid value that the call overwrites.
    let mut c: PROCESS_MEMORY_COUNTERS_EX = unsafe { std::mem::zeroed() };
    c.cb = std::mem::size_of::<PROCESS_MEMORY_COUNTERS_EX>() as u32;
    // SAFETY: the pseudo-handle of this process needs no closing; `c` is a valid,
    // exclusively borrowed struct of the size passed in `cb` (the EX form is accepted
    // through the base type's pointer, as documented).
    let ok = unsafe {
        K32GetProcessMemoryInfo(
            GetCurrentProcess(),
            &mut c as *mut PROCESS_MEMORY_COUNTERS_EX as *mut PROCESS_MEMORY_COUNTERS,
            c.cb,
        )
    };
    if ok == 0 {
        return Err(err("GetProcessMemoryInfo"));
    }
    Ok(WinMemoryCounters {
        page_faults: c.PageFaultCount as u64,
        working_set: c.WorkingSetSize as u64,
        peak_working_set: c.PeakWorkingSetSize as u64,
        pagefile: c.PagefileUsage as u64,
        peak_pagefile: c.PeakPagefileUsage as u64,
        private_bytes: c.PrivateUsage as u64,
    })
}

/// Why a handle count of 0 is not recorded.
pub const ZERO_HANDLES: &str =
    "GetProcessHandleCount reported 0 open handles, which no running process has: this system does not count them (Wine 8 does not)";

/// `GetProcessHandleCount`: handles this process has open.
pub fn handle_count() -> Result<u64, String> {
    let mut n = 0u32;
    // SAFETY: pseudo-handle of this process; `n` is a valid out-parameter.
    if unsafe { GetProcessHandleCount(GetCurrentProcess(), &mut n) } == 0 {
        return Err(err("GetProcessHandleCount"));
    }
    // A running process holds handles (to its executable, its threads' events...): a
    // count of 0 is a system that does not count them (Wine 8's stub), not a figure.
    if n == 0 {
        return Err(ZERO_HANDLES.to_string());
    }
    Ok(n as u64)
}

/// 100-ns ticks between 1601-01-01 and 1970-01-01.
const EPOCH_DIFF_TICKS: u64 = 116_444_736_000_000_000;

fn ticks(f: FILETIME) -> u64 {
    ((f.dwHighDateTime as u64) << 32) | f.dwLowDateTime as u64
}

/// `GetProcessTimes`: user and kernel CPU time in microseconds, and the creation time in
/// epoch milliseconds.
pub fn process_times() -> Result<(u64, u64, u64), String> {
    let z = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (z, z, z, z);
    // SAFETY: pseudo-handle of this process; four valid, exclusively borrowed out-parameters.
    let ok = unsafe {
        GetProcessTimes(
            GetCurrentProcess(),
            &mut created,
            &mut exited,
            &mut kernel,
            &mut user,
        )
    };
    if ok == 0 {
        return Err(err("GetProcessTimes"));
    }
    Ok((
        ticks(user) / 10,
        ticks(kernel) / 10,
        ticks(created).saturating_sub(EPOCH_DIFF_TICKS) / 10_000,
    ))
}

/// `GlobalMemoryStatusEx`.
pub fn memory_status() -> Result<WinMemoryStatus, String> {
    // SAFETY: plain old data; all-zero bytes are a valid value that the call overwrites.
    let mut m: MEMORYSTATUSEX = unsafe { std::mem::zeroed() };
    m.dwLength = std::mem::size_of::<MEMORYSTATUSEX>() as u32;
    // SAFETY: `m` is a valid, exclusively borrowed struct with its length set.
    if unsafe { GlobalMemoryStatusEx(&mut m) } == 0 {
        return Err(err("GlobalMemoryStatusEx"));
    }
    Ok(WinMemoryStatus {
        memory_load_percent: m.dwMemoryLoad,
        total_phys: m.ullTotalPhys,
        avail_phys: m.ullAvailPhys,
        total_page_file: m.ullTotalPageFile,
        avail_page_file: m.ullAvailPageFile,
    })
}

/// The limits of the job this process is in (`None`: in no job).
pub fn job_limits() -> Result<Option<RawJobLimits>, String> {
    let mut in_job = 0;
    // SAFETY: pseudo-handle of this process, a null job (any job), a valid out-parameter.
    if unsafe { IsProcessInJob(GetCurrentProcess(), std::ptr::null_mut(), &mut in_job) } == 0 {
        return Err(err("IsProcessInJob"));
    }
    if in_job == 0 {
        return Ok(None);
    }
    // SAFETY: plain old data; all-zero bytes are a valid value that the call overwrites.
    let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
    let mut len = 0u32;
    // SAFETY: a null job handle means the caller's job; `info` is a valid, exclusively
    // borrowed buffer of the size passed.
    let ok = unsafe {
        QueryInformationJobObject(
            std::ptr::null_mut(),
            JobObjectExtendedLimitInformation,
            &mut info as *mut _ as *mut std::ffi::c_void,
            std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            &mut len,
        )
    };
    if ok == 0 {
        return Err(err("QueryInformationJobObject"));
    }
    Ok(Some(RawJobLimits {
        limit_flags: info.BasicLimitInformation.LimitFlags,
        process_memory_limit: info.ProcessMemoryLimit as u64,
        job_memory_limit: info.JobMemoryLimit as u64,
        peak_process_memory_used: info.PeakProcessMemoryUsed as u64,
        peak_job_memory_used: info.PeakJobMemoryUsed as u64,
    }))
}

/// Committed regions of this process's address space (`VirtualQuery` walk, at most
/// `max`), and how many of them map files or images.
pub fn count_regions(max: u64) -> Result<(u64, u64, bool), String> {
    let (mut total, mut files) = (0u64, 0u64);
    let mut addr: usize = 0;
    let mut seen = 0u64;
    loop {
        // SAFETY: plain old data; all-zero bytes are a valid value that the call overwrites.
        let mut m: MEMORY_BASIC_INFORMATION = unsafe { std::mem::zeroed() };
        // SAFETY: querying any address is allowed (it only reads the region table); `m`
        // is a valid buffer of the size passed.
        let n = unsafe {
            VirtualQuery(
                addr as *const std::ffi::c_void,
                &mut m,
                std::mem::size_of::<MEMORY_BASIC_INFORMATION>(),
            )
        };
        if n == 0 {
            break;
        }
        seen += 1;
        if m.State == MEM_COMMIT {
            total += 1;
            if m.Type == MEM_MAPPED || m.Type == MEM_IMAGE {
                files += 1;
            }
        }
        if seen >= max {
            return Ok((total, files, true));
        }
        let next = (m.BaseAddress as usize).saturating_add(m.RegionSize);
        if next <= addr {
            break;
        }
        addr = next;
    }
    if seen == 0 {
        return Err(err("VirtualQuery"));
    }
    Ok((total, files, false))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process_and_the_system() {
        let c = super::memory_counters().unwrap();
        let s = super::memory_status().unwrap();
        assert!(c.working_set > 0 && c.working_set <= s.total_phys);
        assert!(c.peak_working_set >= c.working_set);
        // The commit charge: PrivateUsage, or PagefileUsage where only the base struct is filled.
        assert!(c.private_bytes > 0 || c.pagefile > 0);
        assert!(s.avail_phys <= s.total_phys && s.avail_page_file <= s.total_page_file);
        match super::handle_count() {
            Ok(n) => assert!(n > 0),
            Err(e) => assert_eq!(e, super::ZERO_HANDLES),
        }
        let (user, _kernel, created) = super::process_times().unwrap();
        let now = crate::timefmt::UtcTime::now().epoch_ms as u64;
        assert!(
            created <= now + 1000 && created > now - 86_400_000,
            "{created} {now}"
        );
        assert!(user < 86_400_000_000);
        let (total, files, truncated) = super::count_regions(1 << 20).unwrap();
        assert!(total > 0 && files > 0 && files <= total && !truncated);
        // The test runner runs in no job unless its host put it in one.
        let _ = super::job_limits().unwrap();
    }
}
