//! This process's resident set size, sampled on a thread of its own while V8 writes a
//! snapshot: the peak the snapshot cost, for the document.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Samples this process's resident set size while a snapshot is taken.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<u64>>,
    before: u64,
    hwm_before: Option<u64>,
}

#[cfg(target_os = "linux")]
fn rss_now() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * crate::probes::procfs::page_size())
}

/// The working set (Windows's resident set) and its peak so far, of this process.
#[cfg(windows)]
fn working_set() -> Option<(u64, u64)> {
    let c = crate::probes::windows::memory_counters().ok()?;
    Some((c.working_set, c.peak_working_set))
}

#[cfg(windows)]
fn rss_now() -> Option<u64> {
    working_set().map(|(now, _)| now)
}

#[cfg(not(any(target_os = "linux", windows)))]
fn rss_now() -> Option<u64> {
    None
}

/// The peak working set of the process so far.
#[cfg(windows)]
fn rss_peak() -> Option<u64> {
    working_set().map(|(_, peak)| peak)
}

/// `VmHWM`: the peak resident set size of the process so far.
#[cfg(not(windows))]
fn rss_peak() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

impl Sampler {
    /// Starts sampling every 2 ms on a thread of its own; `None` where the resident
    /// set size cannot be read.
    pub fn start() -> Option<Sampler> {
        let before = rss_now()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("mdd-heap-sampler".into())
            .spawn(move || {
                let mut max = before;
                while !flag.load(Ordering::Relaxed) {
                    max = max.max(rss_now().unwrap_or(0));
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                max.max(rss_now().unwrap_or(0))
            })
            .ok()?;
        Some(Sampler {
            stop,
            handle: Some(handle),
            before,
            hwm_before: rss_peak(),
        })
    }

    /// Stops sampling; the highest resident set size seen minus the one before. A new
    /// process-wide peak (`VmHWM`) set meanwhile is exact, and used when higher.
    pub fn finish(mut self) -> Option<u64> {
        self.stop.store(true, Ordering::Relaxed);
        let mut max = self.handle.take()?.join().ok()?;
        if let (Some(a), Some(b)) = (self.hwm_before, rss_peak()) {
            if b > a {
                max = max.max(b);
            }
        }
        Some(max.saturating_sub(self.before))
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
