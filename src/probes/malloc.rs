//! The C library's malloc heap: what it hands out and what it keeps free, from glibc's
//! `mallinfo2()`.
//!
//! `mallinfo2` is looked up at run time (`dlsym`), not linked: glibc before 2.33, musl and
//! other C libraries do not have it, and the addon must load there all the same; they get
//! `null` with the reason. The call walks every arena's free lists while holding that
//! arena's lock, so a thread of the host that calls `malloc` meanwhile waits: its cost and
//! how long it holds the locks are measured by `npm run bench` (docs/benchmarks.md). It
//! runs in phase 2, off the JS thread, and never in the recorder's samples.

use serde::Serialize;

/// glibc's `struct mallinfo2` (glibc 2.33+): every field a `size_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Mallinfo2 {
    /// Non-mmapped space allocated from the system (all arenas).
    pub arena: usize,
    pub ordblks: usize,
    pub smblks: usize,
    pub hblks: usize,
    /// Bytes in chunks allocated with `mmap` (large allocations).
    pub hblkhd: usize,
    pub usmblks: usize,
    pub fsmblks: usize,
    /// Bytes in use in the arenas.
    pub uordblks: usize,
    /// Free bytes kept in the arenas.
    pub fordblks: usize,
    /// The main arena's releasable top.
    pub keepcost: usize,
}

/// `memoryAccounting.malloc`: the malloc heap as glibc counts it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct MallocStats {
    /// Allocated and not yet freed: `uordblks + hblkhd`.
    pub in_use_bytes: u64,
    /// Freed but kept by the allocator for reuse (`fordblks`): fragmentation and caches.
    pub free_retained_bytes: u64,
    /// The part of `in_use_bytes` in chunks of their own `mmap` (`hblkhd`).
    pub mmapped_bytes: u64,
    /// The arenas' size (`arena`): their in-use and free bytes together.
    pub arena_bytes: u64,
    /// The main arena's top chunk, which `malloc_trim` could return (`keepcost`).
    pub top_releasable_bytes: u64,
    /// How long the call took (it holds each arena's lock while it walks that arena).
    pub micros: u64,
}

impl MallocStats {
    pub fn from_raw(m: &Mallinfo2, micros: u64) -> Self {
        MallocStats {
            in_use_bytes: (m.uordblks as u64).saturating_add(m.hblkhd as u64),
            free_retained_bytes: m.fordblks as u64,
            mmapped_bytes: m.hblkhd as u64,
            arena_bytes: m.arena as u64,
            top_releasable_bytes: m.keepcost as u64,
            micros,
        }
    }
}

type Mallinfo2Fn = unsafe extern "C" fn() -> Mallinfo2;

/// In `'auto'` mode, phase 2 stops calling `mallinfo2` in this process once a call took
/// this long. The call's time is the time it holds the arenas' locks, and it grows with
/// the number of free blocks (docs/benchmarks.md: about 1 µs in a fresh process, a median
/// of 1.1 ms with 50,000 free blocks, 207 ms with 500,000): 2 ms is about what the rest of
/// phase 2 costs, and after such a call no later dump in the process repeats it.
pub const MALLINFO_AUTO_MAX_MICROS: u64 = 2_000;

/// When phase 2 calls `mallinfo2` (`options.mallinfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MallinfoPolicy {
    /// Until a call takes [`MALLINFO_AUTO_MAX_MICROS`] or more (the default).
    #[default]
    Auto,
    /// Every phase 2.
    Always,
    /// Never.
    Never,
}

/// The slowest call so far in this process, µs (the malloc heap is the process's).
static SLOWEST_CALL_MICROS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl MallinfoPolicy {
    /// `Ok` to call it now, or why not.
    pub fn decide(self) -> Result<(), String> {
        let slowest = SLOWEST_CALL_MICROS.load(std::sync::atomic::Ordering::Relaxed);
        match self {
            MallinfoPolicy::Always => Ok(()),
            MallinfoPolicy::Never => Err("not read: options.mallinfo is 'never'".into()),
            MallinfoPolicy::Auto if slowest >= MALLINFO_AUTO_MAX_MICROS => Err(format!(
                "not read: an earlier mallinfo2 call in this process held malloc's locks for {} ms \
                 of CPU time (it walks every free block; 'auto' stops at {} ms; mallinfo: 'always' reads it anyway)",
                crate::format::fixed(slowest as f64 / 1000.0, 1),
                MALLINFO_AUTO_MAX_MICROS / 1000
            )),
            MallinfoPolicy::Auto => Ok(()),
        }
    }
}

/// `mallinfo2` from the C library this process runs with, or why there is none.
#[cfg(all(unix, not(target_os = "macos")))]
fn lookup() -> Result<Mallinfo2Fn, String> {
    use std::sync::OnceLock;
    static FOUND: OnceLock<Result<usize, String>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads.
        let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"mallinfo2".as_ptr()) };
        if p.is_null() {
            Err("mallinfo2 is not in this process's C library (glibc 2.33 and later have it; musl and older glibc do not)".to_string())
        } else {
            Ok(p as usize)
        }
    });
    match found {
        // SAFETY: the symbol is glibc's `struct mallinfo2 mallinfo2(void)`.
        Ok(p) => Ok(unsafe { std::mem::transmute::<usize, Mallinfo2Fn>(*p) }),
        Err(e) => Err(e.clone()),
    }
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn lookup() -> Result<Mallinfo2Fn, String> {
    Err(format!(
        "unavailable on {}: mallinfo2 is glibc's (Linux)",
        std::env::consts::OS
    ))
}

/// Whether this process's C library has `mallinfo2`, or why not.
pub fn available() -> Result<(), String> {
    lookup().map(|_| ())
}

/// This thread's CPU time, ns (0 where unknown).
fn thread_cpu_nanos() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: writes into the timespec we own.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0 {
            return t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64;
        }
    }
    0
}

/// The raw counters, how long the call took and how much CPU time it used, in
/// nanoseconds (the CPU time is the walk's own cost, whatever the machine's load).
pub fn read_raw() -> Result<(Mallinfo2, u64, u64), String> {
    let f = lookup()?;
    let cpu = thread_cpu_nanos();
    let start = std::time::Instant::now();
    // SAFETY: a glibc function without arguments that only reads the allocator's state
    // under its own locks.
    let m = unsafe { f() };
    let wall = start.elapsed().as_nanos() as u64;
    Ok((m, wall, thread_cpu_nanos().saturating_sub(cpu)))
}

/// The malloc heap now, or why it cannot be read.
pub fn read() -> Result<MallocStats, String> {
    let (m, wall, cpu) = read_raw()?;
    // The guard counts the walk's CPU time: a call that was only preempted on a busy
    // machine does not switch the figure off.
    SLOWEST_CALL_MICROS.fetch_max(cpu / 1000, std::sync::atomic::Ordering::Relaxed);
    Ok(MallocStats::from_raw(&m, wall / 1000))
}

/// What `mallinfo2` costs and how long it keeps another thread's `malloc` waiting, for the
/// benchmark (test-hooks builds): `fragment` small blocks are allocated and every other
/// one freed first (so the free lists the call walks are long), then one thread calls
/// `malloc`/`free` in a loop while this one calls `mallinfo2` `calls` times.
#[cfg(feature = "test-hooks")]
pub mod bench {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    #[derive(Debug, Clone, Default)]
    pub struct MallinfoBench {
        /// Each call's duration, ns, sorted.
        pub call_nanos: Vec<u64>,
        /// The other thread's slowest `malloc`+`free`, ns, without and with the calls.
        pub malloc_max_nanos_idle: u64,
        pub malloc_max_nanos_during: u64,
        pub free_retained_bytes: u64,
        pub in_use_bytes: u64,
    }

    fn slowest_malloc(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
        std::thread::spawn(move || {
            let mut worst = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                // SAFETY: a plain allocation, freed at once.
                unsafe {
                    let p = libc::malloc(64);
                    std::ptr::write_volatile(p as *mut u8, 1);
                    libc::free(p);
                }
                worst = worst.max(t.elapsed().as_nanos() as u64);
            }
            worst
        })
    }

    pub fn run(fragment: usize, calls: usize) -> Result<MallinfoBench, String> {
        super::available()?;
        let mut blocks: Vec<*mut libc::c_void> = (0..fragment)
            // SAFETY: allocations kept until the end of this function.
            .map(|i| unsafe { libc::malloc(32 + (i % 8) * 16) })
            .collect();
        for p in blocks.iter_mut().step_by(2) {
            // SAFETY: each pointer came from malloc above and is freed once.
            unsafe { libc::free(*p) };
            *p = std::ptr::null_mut();
        }
        let window = |with_calls: bool| -> (u64, Vec<u64>) {
            let stop = Arc::new(AtomicBool::new(false));
            let h = slowest_malloc(stop.clone());
            let mut nanos = Vec::new();
            for _ in 0..calls {
                if with_calls {
                    if let Ok((_, n, _)) = super::read_raw() {
                        nanos.push(n);
                    }
                }
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            stop.store(true, Ordering::Relaxed);
            (h.join().unwrap_or(0), nanos)
        };
        let (idle, _) = window(false);
        let (during, mut call_nanos) = window(true);
        call_nanos.sort_unstable();
        let (m, _, _) = super::read_raw()?;
        for p in blocks {
            if !p.is_null() {
                // SAFETY: the other half, freed once.
                unsafe { libc::free(p) };
            }
        }
        Ok(MallinfoBench {
            call_nanos,
            malloc_max_nanos_idle: idle,
            malloc_max_nanos_during: during,
            free_retained_bytes: m.fordblks as u64,
            in_use_bytes: (m.uordblks + m.hblkhd) as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_map_to_named_figures() {
        let raw = Mallinfo2 {
            arena: 1000,
            hblkhd: 300,
            uordblks: 700,
            fordblks: 250,
            keepcost: 40,
            ..Default::default()
        };
        let s = MallocStats::from_raw(&raw, 12);
        assert_eq!(
            (
                s.in_use_bytes,
                s.free_retained_bytes,
                s.mmapped_bytes,
                s.arena_bytes,
                s.top_releasable_bytes,
                s.micros
            ),
            (1000, 250, 300, 1000, 40, 12)
        );
    }

    #[test]
    fn policy_stops_auto_after_a_slow_call() {
        assert!(MallinfoPolicy::Never
            .decide()
            .unwrap_err()
            .contains("'never'"));
        assert_eq!(MallinfoPolicy::Always.decide(), Ok(()));
        // The guard is process-wide; only ever raised, so this test sets it last.
        SLOWEST_CALL_MICROS.fetch_max(
            MALLINFO_AUTO_MAX_MICROS,
            std::sync::atomic::Ordering::Relaxed,
        );
        let e = MallinfoPolicy::Auto.decide().unwrap_err();
        assert!(
            e.contains("held malloc's locks") && e.contains("'always'"),
            "{e}"
        );
        assert_eq!(MallinfoPolicy::Always.decide(), Ok(()));
    }

    /// On glibc the live figures move with this process's own allocations; elsewhere the
    /// reason names the C library.
    #[test]
    fn live_read_sees_an_allocation_or_says_why_not() {
        match read() {
            Ok(before) => {
                let block = vec![7u8; 8 << 20];
                let after = read().unwrap();
                // Its own mmap: other test threads can only add to this figure.
                assert!(after.mmapped_bytes >= 8 << 20, "{before:?} {after:?}");
                assert!(after.in_use_bytes >= after.mmapped_bytes);
                drop(block);
            }
            Err(e) => assert!(e.contains("mallinfo2"), "{e}"),
        }
    }
}
