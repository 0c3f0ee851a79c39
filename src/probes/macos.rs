//! macOS: the task's memory (`task_info(TASK_VM_INFO)`), the host's page counts
//! (`host_statistics64`), the memory pressure level (`sysctl`) and the open descriptors.
//! Only reads raw numbers; `probes::platform` turns them into the document's figures.

use super::platform::{MacPages, MacVmInfo};

/// `task_info(mach_task_self(), TASK_VM_INFO)`.
pub fn vm_info() -> Result<MacVmInfo, String> {
    use mach2::task_info::{task_vm_info, TASK_VM_INFO};
    // SAFETY: plain old data; all-zero bytes are a valid value that the call overwrites.
    let mut info: task_vm_info = unsafe { std::mem::zeroed() };
    let mut count = (std::mem::size_of::<task_vm_info>() / std::mem::size_of::<libc::natural_t>())
        as libc::mach_msg_type_number_t;
    // SAFETY: our own task port; `info` is a valid buffer of `count` natural_t words,
    // which the kernel fills up to the size it knows and writes back in `count`.
    let kr = unsafe {
        mach2::task::task_info(
            mach2::traps::mach_task_self(),
            TASK_VM_INFO,
            &mut info as *mut task_vm_info as mach2::task_info::task_info_t,
            &mut count,
        )
    };
    if kr != libc::KERN_SUCCESS {
        return Err(format!("task_info(TASK_VM_INFO): kern_return {kr}"));
    }
    Ok(MacVmInfo {
        resident: info.resident_size,
        resident_peak: info.resident_size_peak,
        internal: info.internal,
        compressed: info.compressed,
        phys_footprint: info.phys_footprint,
        phys_footprint_peak: (info.ledger_phys_footprint_peak > 0)
            .then_some(info.ledger_phys_footprint_peak as u64),
    })
}

/// `host_statistics64(HOST_VM_INFO64)` and the page size.
pub fn pages() -> Result<MacPages, String> {
    // SAFETY: plain old data; all-zero bytes are a valid value that the call overwrites.
    let mut s: libc::vm_statistics64 = unsafe { std::mem::zeroed() };
    let mut count = libc::HOST_VM_INFO64_COUNT;
    // SAFETY: the host port of this task; `s` is a valid buffer of `count` integers.
    let kr = unsafe {
        libc::host_statistics64(
            mach2::mach_init::mach_host_self(),
            libc::HOST_VM_INFO64,
            &mut s as *mut libc::vm_statistics64 as libc::host_info64_t,
            &mut count,
        )
    };
    if kr != libc::KERN_SUCCESS {
        return Err(format!(
            "host_statistics64(HOST_VM_INFO64): kern_return {kr}"
        ));
    }
    Ok(MacPages {
        page_size: super::procfs::page_size(),
        free: s.free_count as u64,
        active: s.active_count as u64,
        inactive: s.inactive_count as u64,
        wired: s.wire_count as u64,
        compressor: s.compressor_page_count as u64,
        speculative: s.speculative_count as u64,
    })
}

/// `kern.memorystatus_vm_pressure_level`: 1 normal, 2 warning, 4 critical.
pub fn pressure_level() -> Result<u64, String> {
    let mut level: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>();
    // SAFETY: a NUL-terminated name; `level` is a valid buffer of `len` bytes; no new value.
    let r = unsafe {
        libc::sysctlbyname(
            c"kern.memorystatus_vm_pressure_level".as_ptr(),
            &mut level as *mut libc::c_int as *mut libc::c_void,
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if r != 0 {
        return Err(format!(
            "sysctl kern.memorystatus_vm_pressure_level: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(level.max(0) as u64)
}

/// Open descriptors: the entries of `/dev/fd` (the listing's own descriptor excluded).
pub fn count_open_fds() -> Result<u64, String> {
    let n = std::fs::read_dir("/dev/fd")
        .map_err(|e| format!("/dev/fd: {e}"))?
        .count() as u64;
    Ok(n.saturating_sub(1))
}
