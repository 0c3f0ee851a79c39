//! The pressure rule: the recorder thread writes a dump of its own when the memory that
//! kills the process nears the limit that kills it, whatever the V8 heap says and whether
//! or not the event loop runs. A host's monitor watches the V8 heap; the commonest death is
//! the kernel's (or a job's) kill while the heap looks fine, because Buffers, native memory
//! or child processes grew.
//!
//! What counts is what the limit's killer counts (see [`counted`]), never reclaimable page
//! cache: a cgroup full of file cache is not near its kill. The rule fires once when the
//! counted share of the limit reaches `ratio`, or when the kernel reports that every task
//! stalls on memory (PSI `full`) while the share is past [`PSI_FLOOR`], or, when asked,
//! when the growth of the last seconds would reach `ratio` within `withinMs`. It fires
//! again only after the share fell [`REARM_GAP`] under `ratio`, or under the share it fired
//! at when that was lower (a growth or stall dump fires from [`PSI_FLOOR`]), and the stall
//! eased: a process that lives near its limit gets one dump per approach, not one per
//! sample; the dumper's own admission for these dumps bounds the rest.

/// How far under `ratio` (or the share it fired at, if lower) the share must fall before the
/// rule fires again.
pub const REARM_GAP: f64 = 0.10;
/// The share of the limit below which PSI `full` alone never fires: a machine that thrashes
/// for others (or reads a large file) is not this process nearing its kill.
pub const PSI_FLOOR: f64 = 0.75;
/// Growth is judged from the oldest of the latest readings (at most this many)...
const GROWTH_WINDOW: usize = 32;
/// ...taken at most this long ago...
const GROWTH_MAX_SPAN_MS: u64 = 10_000;
/// ...and at least this long ago, so one sample's jitter is no trend.
const GROWTH_MIN_SPAN_MS: u64 = 2_000;

pub use crate::config::{
    PressureConfig, DEFAULT_PRESSURE_RATIO as DEFAULT_RATIO, DEFAULT_PSI_FULL,
};

/// One reading of the memory that counts against the limit, taken with a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub epoch_ms: u64,
    /// What counts against `limit` ([`counted`]).
    pub counted: u64,
    pub limit: u64,
    /// `cgroup`, `job`, `commit` or `physical`: whose limit.
    pub source: &'static str,
    /// PSI `full` avg10 of the limit's scope (the cgroup's, or the machine's), percent.
    pub psi_full_avg10: Option<f64>,
}

/// Why the rule fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The counted share reached `ratio`.
    Share,
    /// Every task stalled on memory (PSI `full`) past [`PSI_FLOOR`] of the limit.
    Stall,
    /// The growth of the last seconds would reach `ratio` within `withinMs`.
    Growth,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Share => "share",
            Cause::Stall => "stall",
            Cause::Growth => "growth",
        }
    }
}

/// What the pressure dump is told.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PressureFire {
    pub cause: Cause,
    pub reading: Reading,
    /// `counted / limit`.
    pub share: f64,
    /// The threshold crossed, bytes (`ratio` of the limit).
    pub threshold: u64,
    /// Bytes per second over the growth window, when known.
    pub growth_per_sec: Option<f64>,
}

/// The rule across the recorder's samples.
#[derive(Debug, Clone)]
pub struct PressureRule {
    config: PressureConfig,
    armed: bool,
    /// Once fired: the share to fall under before it is armed again.
    rearm_below: f64,
    recent: [Option<(u64, u64)>; GROWTH_WINDOW],
    next: usize,
}

impl PressureRule {
    pub fn new(config: PressureConfig) -> PressureRule {
        PressureRule {
            config,
            armed: true,
            rearm_below: 0.0,
            recent: [None; GROWTH_WINDOW],
            next: 0,
        }
    }

    /// Bytes per second from the oldest to the newest kept reading, once they span
    /// [`GROWTH_MIN_SPAN_MS`].
    fn growth_per_sec(&self, now: &Reading) -> Option<f64> {
        let oldest = self
            .recent
            .iter()
            .flatten()
            .filter(|(t, _)| *t < now.epoch_ms && now.epoch_ms - *t <= GROWTH_MAX_SPAN_MS)
            .min_by_key(|(t, _)| *t)?;
        let span = now.epoch_ms - oldest.0;
        (span >= GROWTH_MIN_SPAN_MS)
            .then(|| (now.counted as f64 - oldest.1 as f64) * 1000.0 / span as f64)
    }

    /// After a reading: whether to dump now.
    pub fn after_reading(&mut self, r: Reading) -> Option<PressureFire> {
        if r.limit == 0 {
            return None;
        }
        let growth = self.growth_per_sec(&r);
        self.recent[self.next] = Some((r.epoch_ms, r.counted));
        self.next = (self.next + 1) % GROWTH_WINDOW;
        let share = r.counted as f64 / r.limit as f64;
        let ratio = self.config.ratio;
        let threshold = (ratio * r.limit as f64) as u64;
        let psi = self.config.psi_full.zip(r.psi_full_avg10);
        if !self.armed {
            let stall_eased = psi.is_none_or(|(at, now)| now < at / 2.0);
            if share < self.rearm_below && stall_eased {
                self.armed = true;
            }
            return None;
        }
        let cause = if share >= ratio {
            Cause::Share
        } else if psi.is_some_and(|(at, now)| now >= at) && share >= PSI_FLOOR {
            Cause::Stall
        } else if let Some((within, g)) = self.config.within_ms.zip(growth) {
            let ahead = r.counted as f64 + g * within as f64 / 1000.0;
            // Growth alone, from anywhere, would fire on every start-up: the share must
            // be past the stall floor too.
            if g > 0.0 && ahead >= threshold as f64 && share >= PSI_FLOOR {
                Cause::Growth
            } else {
                return None;
            }
        } else {
            return None;
        };
        self.armed = false;
        self.rearm_below = share.min(ratio) - REARM_GAP;
        Some(PressureFire {
            cause,
            reading: r,
            share,
            threshold,
            growth_per_sec: growth,
        })
    }
}

/// What counts against a limit, from what the recorder read. Each choice follows the
/// limit's killer:
/// - `cgroup`: usage minus `inactive_file`. The kernel reclaims inactive page cache before
///   it kills in the cgroup; active cache and anonymous memory, kernel and socket memory
///   it cannot count on. This is the working set the kubelet evicts on.
/// - `physical`: total minus `MemAvailable`, the kernel's estimate of what can be had
///   without swapping, which already discounts reclaimable cache.
/// - `job` and `commit` (Windows): committed memory, which is what those limits charge;
///   nothing is reclaimable there.
pub fn counted(source: &str, usage: u64, reclaimable: Option<u64>) -> u64 {
    match source {
        "cgroup" => usage.saturating_sub(reclaimable.unwrap_or(0)),
        _ => usage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn at(t: u64, counted: u64) -> Reading {
        Reading {
            epoch_ms: t,
            counted,
            limit: 256 * MIB,
            source: "cgroup",
            psi_full_avg10: None,
        }
    }

    #[test]
    fn fires_once_per_approach_and_again_after_falling_back() {
        let mut p = PressureRule::new(PressureConfig::default());
        assert_eq!(p.after_reading(at(0, 100 * MIB)), None);
        let f = p.after_reading(at(1000, 231 * MIB)).expect("fires at 90%");
        assert_eq!(f.cause, Cause::Share);
        assert_eq!(f.threshold, (0.9 * (256 * MIB) as f64) as u64);
        assert!((f.share - 231.0 / 256.0).abs() < 1e-9);
        // Staying near the limit, or dipping a little, does not fire again.
        assert_eq!(p.after_reading(at(2000, 250 * MIB)), None);
        assert_eq!(p.after_reading(at(3000, 220 * MIB)), None);
        assert_eq!(p.after_reading(at(4000, 240 * MIB)), None);
        // Under ratio - REARM_GAP (80%), then back: once more.
        assert_eq!(p.after_reading(at(5000, 200 * MIB)), None);
        assert!(p.after_reading(at(6000, 240 * MIB)).is_some());
    }

    #[test]
    fn stall_fires_only_past_the_floor_and_rearms_when_it_eases() {
        let mut p = PressureRule::new(PressureConfig::default());
        let stalled = |t, c, psi| Reading {
            psi_full_avg10: Some(psi),
            ..at(t, c)
        };
        // Thrashing at 50% of the limit: someone else's, not ours.
        assert_eq!(p.after_reading(stalled(0, 128 * MIB, 40.0)), None);
        let f = p.after_reading(stalled(1000, 200 * MIB, 12.0)).unwrap();
        assert_eq!(f.cause, Cause::Stall);
        // Share well under, but the stall has not eased: not re-armed.
        assert_eq!(p.after_reading(stalled(2000, 100 * MIB, 9.0)), None);
        assert_eq!(p.after_reading(stalled(3000, 200 * MIB, 12.0)), None);
        assert_eq!(p.after_reading(stalled(4000, 100 * MIB, 1.0)), None);
        assert!(p.after_reading(stalled(5000, 200 * MIB, 12.0)).is_some());
        // PSI not watched: never a stall.
        let mut off = PressureRule::new(PressureConfig {
            psi_full: None,
            ..PressureConfig::default()
        });
        assert_eq!(off.after_reading(stalled(0, 220 * MIB, 90.0)), None);
    }

    #[test]
    fn growth_fires_ahead_only_when_asked_past_the_floor_over_a_real_span() {
        let config = PressureConfig {
            within_ms: Some(10_000),
            ..PressureConfig::default()
        };
        let mut p = PressureRule::new(config);
        // 10 MiB/s from 150 MiB: at 200 MiB (78%) it would reach 230.4 MiB within 10 s.
        assert_eq!(p.after_reading(at(0, 150 * MIB)), None);
        assert_eq!(p.after_reading(at(1000, 160 * MIB)), None); // span < 2 s
        assert_eq!(p.after_reading(at(2000, 170 * MIB)), None); // under the floor
        assert_eq!(p.after_reading(at(3000, 180 * MIB)), None);
        assert_eq!(p.after_reading(at(4000, 190 * MIB)), None);
        let f = p.after_reading(at(5000, 200 * MIB)).unwrap();
        assert_eq!(f.cause, Cause::Growth);
        let g = f.growth_per_sec.unwrap();
        assert!((g - (10 * MIB) as f64).abs() < 1.0, "{g}");
        // Without withinMs the same climb fires only at 90%.
        let mut q = PressureRule::new(PressureConfig {
            within_ms: None,
            ..PressureConfig::default()
        });
        for (i, c) in [150, 160, 170, 180, 190, 200, 210, 220].iter().enumerate() {
            assert_eq!(q.after_reading(at(i as u64 * 1000, c * MIB)), None);
        }
        assert!(q.after_reading(at(9000, 231 * MIB)).is_some());
    }

    #[test]
    fn a_growth_dump_below_the_ratio_is_one_per_approach_too() {
        // Outside pass: a jump to 76% (growth fires there), a plateau, then the climb to 92%
        // gave three growth dumps within 411 ms (each next reading re-armed: 76% is under
        // 90% - 10 points), spending the cap before the crossing.
        let mut p = PressureRule::new(PressureConfig::default());
        assert_eq!(p.after_reading(at(0, 60 * MIB)), None);
        assert_eq!(p.after_reading(at(1000, 60 * MIB)), None);
        let f = p
            .after_reading(at(2500, 194 * MIB))
            .expect("growth fires past 75%");
        assert_eq!(f.cause, Cause::Growth);
        let mut t = 2500;
        for c in [195, 195, 194, 196, 200, 210, 220, 236, 240, 236] {
            t += 100;
            assert_eq!(p.after_reading(at(t, c * MIB)), None, "{c} MiB at {t}");
        }
        // Only under the share it fired at less 10 points (194 MiB is 75.8%: under 65.8%).
        assert_eq!(p.after_reading(at(t + 3000, 170 * MIB)), None);
        assert_eq!(p.after_reading(at(t + 6000, 160 * MIB)), None);
        assert_eq!(
            p.after_reading(at(t + 9000, 231 * MIB)).map(|f| f.cause),
            Some(Cause::Share)
        );
    }

    #[test]
    fn growth_is_judged_over_seconds_whatever_the_interval() {
        // A sample every 100 ms, 50 MiB/s: 32 readings span 3.1 s, past the 2 s minimum.
        let mut p = PressureRule::new(PressureConfig::default());
        let mut fired = None;
        for i in 0..60u64 {
            if let Some(f) = p.after_reading(at(i * 100, (50 + 5 * i) * MIB)) {
                fired = Some((i, f));
                break;
            }
        }
        let (i, f) = fired.expect("fires");
        assert_eq!(f.cause, Cause::Growth);
        // Past the 75% floor (192 MiB: reading 29), before 90% (230.4 MiB: reading 37).
        assert!((29..37).contains(&i), "{i}");
        let g = f.growth_per_sec.unwrap();
        assert!((g - (50 * MIB) as f64).abs() < 1.0, "{g}");
    }

    #[test]
    fn counted_leaves_out_reclaimable_cache_for_a_cgroup_only() {
        assert_eq!(counted("cgroup", 200 * MIB, Some(50 * MIB)), 150 * MIB);
        assert_eq!(counted("cgroup", 10, Some(50)), 0);
        assert_eq!(counted("cgroup", 200, None), 200);
        assert_eq!(counted("physical", 200, Some(50)), 200);
        assert_eq!(counted("job", 200, Some(50)), 200);
    }

    #[test]
    fn a_zero_limit_never_fires() {
        let mut p = PressureRule::new(PressureConfig::default());
        let r = Reading {
            limit: 0,
            ..at(0, 1)
        };
        assert_eq!(p.after_reading(r), None);
    }
}
