//! Whole-machine memory and load. sysinfo gives the same figures on every platform;
//! on Linux it reads `/proc/meminfo` itself.

use serde::Serialize;
use sysinfo::{MemoryRefreshKind, System};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SystemInfo {
    pub total_memory: u64,
    pub available_memory: u64,
    pub free_memory: u64,
    pub swap_total: u64,
    pub swap_free: u64,
    pub uptime_seconds: u64,
    pub load_average: [f64; 3],
    pub cpu_count: usize,
    pub kernel_version: Option<String>,
    pub os_version: Option<String>,
    /// Linux only: cache, shared memory and commit figures from `/proc/meminfo`.
    pub meminfo: Option<super::procfs::MemInfo>,
    /// Commit, memory load and page figures, each with its source or why this platform
    /// has none. Absent in documents written before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_detail: Option<super::platform::SystemMemoryDetail>,
}

pub fn read() -> Result<SystemInfo, String> {
    let mut sys = System::new();
    sys.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram().with_swap());
    let total = sys.total_memory();
    if total == 0 {
        return Err("system memory figures unavailable (total memory reads as 0)".to_string());
    }
    let load = System::load_average();
    Ok(SystemInfo {
        total_memory: total,
        available_memory: sys.available_memory(),
        free_memory: sys.free_memory(),
        swap_total: sys.total_swap(),
        swap_free: sys.free_swap(),
        uptime_seconds: System::uptime(),
        load_average: [load.one, load.five, load.fifteen],
        cpu_count: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        kernel_version: System::kernel_version(),
        os_version: System::long_os_version(),
        meminfo: None,
        memory_detail: None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_machine() {
        let s = super::read().unwrap();
        assert!(s.total_memory > 0);
        assert!(s.available_memory <= s.total_memory);
        assert!(s.free_memory <= s.total_memory);
        assert!(s.swap_free <= s.swap_total);
        assert!(s.cpu_count >= 1);
    }
}
