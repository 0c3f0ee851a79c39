//! Dump admission: whether a dump may be taken now, under the per-session cap and the
//! cooldown.
//!
//! A slot is reserved (count and time) before any I/O happens, so a re-entrant call, a
//! second call from the same tick, or the native watchdog racing the JS monitor can never
//! pass the guards twice. A failed write keeps its slot: a disk that errors once will
//! most likely error again, and retrying on every pressure check would turn a full disk
//! into a tight loop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A monotonic millisecond clock; injected so tests can move time by hand.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> u64;
}

/// The real clock: monotonic, unaffected by wall-clock changes.
pub struct MonotonicClock {
    start: Instant,
}

impl MonotonicClock {
    pub fn new() -> Self {
        MonotonicClock {
            start: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// The host's own clock (`options.now`, for host tests with fake timers): the binding
/// stores the value the host's function returned just before each dump. The watchdog,
/// which runs while JS is silent, sees the last stored value.
#[derive(Clone, Default)]
pub struct HostClock(Arc<AtomicU64>);

impl HostClock {
    pub fn set(&self, now_ms: f64) {
        let ms = if now_ms.is_finite() && now_ms > 0.0 {
            now_ms.min(u64::MAX as f64) as u64
        } else {
            0
        };
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for HostClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The answer to "may I dump now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead; this is the session's dump number `n` (1-based).
    Granted(u32),
    /// The session already has its `maxDumpsPerSession` dumps.
    CapReached,
    /// The previous dump was less than `cooldownMs` ago.
    CoolingDown { remaining_ms: u64 },
    /// The dumper was closed (`close()`); never returned by `SessionLimits`.
    Closed,
}

#[derive(Debug, Clone)]
pub struct SessionLimits {
    max_dumps: u32,
    cooldown_ms: u64,
    count: u32,
    last_ms: Option<u64>,
}

impl SessionLimits {
    pub fn new(max_dumps: u32, cooldown_ms: u64) -> Self {
        SessionLimits {
            max_dumps,
            cooldown_ms,
            count: 0,
            last_ms: None,
        }
    }

    /// Checks the guards and, if they pass, consumes the slot at once.
    pub fn try_reserve(&mut self, now_ms: u64) -> Admission {
        if self.count >= self.max_dumps {
            return Admission::CapReached;
        }
        if let Some(last) = self.last_ms {
            let elapsed = now_ms.saturating_sub(last);
            if elapsed < self.cooldown_ms {
                return Admission::CoolingDown {
                    remaining_ms: self.cooldown_ms - elapsed,
                };
            }
        }
        self.count += 1;
        self.last_ms = Some(now_ms);
        Admission::Granted(self.count)
    }

    /// A new session: the count and the cooldown start over.
    pub fn reset(&mut self) {
        self.count = 0;
        self.last_ms = None;
    }

    pub fn count(&self) -> u32 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_is_enforced() {
        let mut l = SessionLimits::new(3, 0);
        assert_eq!(l.try_reserve(0), Admission::Granted(1));
        assert_eq!(l.try_reserve(0), Admission::Granted(2));
        assert_eq!(l.try_reserve(0), Admission::Granted(3));
        assert_eq!(l.try_reserve(1_000_000), Admission::CapReached);
        assert_eq!(l.count(), 3);
    }

    #[test]
    fn cooldown_is_enforced_and_measured_from_the_reservation() {
        let mut l = SessionLimits::new(10, 30_000);
        assert_eq!(l.try_reserve(1_000), Admission::Granted(1));
        assert_eq!(
            l.try_reserve(1_001),
            Admission::CoolingDown {
                remaining_ms: 29_999
            }
        );
        assert_eq!(
            l.try_reserve(30_999),
            Admission::CoolingDown { remaining_ms: 1 }
        );
        assert_eq!(l.try_reserve(31_000), Admission::Granted(2));
        assert_eq!(l.count(), 2);
    }

    #[test]
    fn refused_attempts_consume_nothing() {
        let mut l = SessionLimits::new(1, 100);
        assert_eq!(l.try_reserve(0), Admission::Granted(1));
        for t in 0..50 {
            assert_ne!(l.try_reserve(t), Admission::Granted(2));
        }
        assert_eq!(l.count(), 1);
    }

    #[test]
    fn reset_starts_a_new_session() {
        let mut l = SessionLimits::new(1, 60_000);
        assert_eq!(l.try_reserve(5), Admission::Granted(1));
        assert_eq!(l.try_reserve(6), Admission::CapReached);
        l.reset();
        assert_eq!(l.count(), 0);
        assert_eq!(l.try_reserve(7), Admission::Granted(1));
    }

    #[test]
    fn clock_going_backwards_does_not_underflow() {
        let mut l = SessionLimits::new(5, 10);
        assert_eq!(l.try_reserve(100), Admission::Granted(1));
        assert_eq!(
            l.try_reserve(50),
            Admission::CoolingDown { remaining_ms: 10 }
        );
    }

    #[test]
    fn host_clock_drives_the_cooldown() {
        let c = HostClock::default();
        let mut l = SessionLimits::new(5, 30_000);
        c.set(1_700_000_000_000.0);
        assert_eq!(l.try_reserve(c.now_ms()), Admission::Granted(1));
        c.set(1_700_000_029_999.0);
        assert_eq!(
            l.try_reserve(c.now_ms()),
            Admission::CoolingDown { remaining_ms: 1 }
        );
        c.set(1_700_000_030_000.0);
        assert_eq!(l.try_reserve(c.now_ms()), Admission::Granted(2));
        c.set(f64::NAN);
        assert_eq!(c.now_ms(), 0);
        c.set(-5.0);
        assert_eq!(c.now_ms(), 0);
    }

    #[test]
    fn monotonic_clock_does_not_go_back() {
        let c = MonotonicClock::new();
        let a = c.now_ms();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(c.now_ms() >= a + 5);
    }
}
