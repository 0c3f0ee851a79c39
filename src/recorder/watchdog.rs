//! The watchdog's rule: when RSS is over its threshold and the event loop has given no
//! sign of life for `stallMs`, the recorder thread writes a dump itself (once per stall).

use crate::config::WatchdogConfig;

/// A stall over the threshold: what the watchdog's dump is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fire {
    /// How long JS has given no sign of life.
    pub stalled_ms: u64,
    pub rss: u64,
    pub threshold: u64,
}

/// The watchdog across the recorder's samples: it fires once per stall, and again only
/// after JS has come back (the dumper's cap and cooldown still apply to each dump).
#[derive(Debug, Clone, Copy)]
pub struct Watchdog {
    config: WatchdogConfig,
    fired: bool,
}

impl Watchdog {
    pub fn new(config: WatchdogConfig) -> Watchdog {
        Watchdog {
            config,
            fired: false,
        }
    }

    /// After a sample of `rss`: whether to dump now.
    pub fn after_sample(
        &mut self,
        rss: u64,
        stalled_ms: u64,
        effective_limit: Option<u64>,
    ) -> Option<Fire> {
        let threshold = watchdog_threshold(&self.config, effective_limit)?;
        if rss >= threshold && stalled_ms >= self.config.stall_ms {
            if self.fired {
                return None;
            }
            self.fired = true;
            return Some(Fire {
                stalled_ms,
                rss,
                threshold,
            });
        }
        if stalled_ms < self.config.stall_ms {
            // JS came back: a later stall may fire again.
            self.fired = false;
        }
        None
    }
}

/// How often the JS side proves the event loop alive while the watchdog is on: a quarter
/// of `stallMs`, so a live loop is never silent for more than about a quarter of it,
/// between 10 ms (a timer per tick is no cheaper to miss) and 1 s.
pub fn heartbeat_interval_ms(stall_ms: u64) -> u32 {
    (stall_ms / 4).clamp(10, 1000) as u32
}

/// The RSS at which the watchdog fires: the smaller of `rssBytes` and `rssRatio` of the
/// effective limit.
pub fn watchdog_threshold(w: &WatchdogConfig, effective_limit: Option<u64>) -> Option<u64> {
    let by_ratio = w
        .rss_ratio
        .zip(effective_limit)
        .map(|(r, l)| (r * l as f64) as u64);
    match (by_ratio, w.rss_bytes) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> WatchdogConfig {
        WatchdogConfig {
            rss_ratio: Some(0.5),
            rss_bytes: None,
            stall_ms: 100,
            capture_stack: false,
        }
    }

    #[test]
    fn fires_once_per_stall_and_again_after_js_came_back() {
        let mut w = Watchdog::new(config());
        let limit = Some(1000);
        // Over the threshold but JS alive; stalled but under the threshold; no limit known.
        assert_eq!(w.after_sample(600, 50, limit), None);
        assert_eq!(w.after_sample(400, 500, limit), None);
        assert_eq!(w.after_sample(600, 500, None), None);
        let fire = w.after_sample(600, 150, limit);
        assert_eq!(
            fire,
            Some(Fire {
                stalled_ms: 150,
                rss: 600,
                threshold: 500
            })
        );
        // The same stall goes on, and memory dips under the threshold and back: once.
        assert_eq!(w.after_sample(700, 300, limit), None);
        assert_eq!(w.after_sample(400, 400, limit), None);
        assert_eq!(w.after_sample(700, 500, limit), None);
        // JS came back, then a new stall: it fires again.
        assert_eq!(w.after_sample(700, 10, limit), None);
        assert!(w.after_sample(700, 120, limit).is_some());
    }
}
