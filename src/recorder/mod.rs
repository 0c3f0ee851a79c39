//! The flight recorder and the watchdog: a native thread per dumper that samples memory
//! every `intervalMs` without needing the event loop.
//!
//! Each sample goes into an in-memory ring (copied into every dump as `history`) and is
//! appended as one JSON line to `recorder-<session8>.jsonl`, so the trajectory is in the
//! page cache within one interval of being measured and survives any death, even the
//! kernel OOM killer's SIGKILL. `close()` appends an `exit` record: a file without one
//! ended in a crash, at about its last sample's time.
//!
//! The watchdog runs in the same thread: when RSS crosses its threshold and the event
//! loop has given no sign of life for `stallMs` (the loop is stuck), it writes a dump
//! itself, with the last V8 figures JS pushed and their age. It is the only way a dump
//! can appear while the event loop is blocked. Signs of life are the heartbeat the
//! `lib/dumper/public-class.js` schedules on the loop itself (an unref'd timer, every
//! [`heartbeat_interval_ms`]), `observe()` and `dump()`: a host that never calls
//! `observe()` gets no false stall.

pub mod block;
pub mod pressure;
pub mod sample;
pub mod stack_capture;
pub mod trail;
pub mod watchdog;

pub use block::*;
pub use sample::*;
pub use trail::*;
pub use watchdog::*;

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::probes::ProbeRoots;
use crate::report::ProcessEnd;
use crate::timefmt::UtcTime;

pub use crate::config::{
    RecorderConfig, WatchdogConfig, DEFAULT_INTERVAL_MS, DEFAULT_SAMPLES, DEFAULT_STALL_MS,
    MAX_INTERVAL_MS, MAX_SAMPLES, MIN_INTERVAL_MS,
};
use block::Wake;
use sample::cgroup_files;
use trail::ExitRecord;

/// How often the effective limit is found again when the membership did not change (a
/// limit written in place, a job's limit set later).
pub const LIMIT_RECHECK: Duration = Duration::from_secs(10);

/// What the thread needs from its dumper, so the recorder stays testable without it.
pub trait Host: Send + Sync + 'static {
    fn directory(&self) -> PathBuf;
    fn session_short_id(&self) -> String;
    /// Called when the watchdog fires; `stalled_ms` is how long JS has been silent.
    fn watchdog_dump(&self, stalled_ms: u64, rss: u64, threshold: u64);
    /// The memory the watchdog compares RSS against (effective limit).
    fn effective_limit(&self) -> Option<u64>;
    /// The effective limit and whose it is (`cgroup`, `job`, `commit`, `physical`).
    fn limit_watch(&self) -> Option<(u64, &'static str)>;
    /// Finds the effective limit again (the process moved to another cgroup, or a limit
    /// was changed while it ran: a container resized in place).
    fn refresh_limit(&self) {}
    /// `options.pressure`, when the rule is on.
    fn pressure_config(&self) -> Option<crate::config::PressureConfig>;
    /// Called when the pressure rule fires; `counts` says how the counted bytes were read.
    fn pressure_dump(&self, fire: &pressure::PressureFire, counts: &'static str);
    /// `maxFiles`: recorder files (and dumps) kept in the directory.
    fn max_files(&self) -> usize;
}

pub struct Recorder {
    pub shared: Arc<Shared>,
}

impl Recorder {
    /// Starts the sampling thread. It holds only what it needs (never the JS object), so
    /// it cannot keep anything alive, and it never keeps Node running.
    pub fn start(
        host: Arc<dyn Host>,
        shared: Arc<Shared>,
        config: RecorderConfig,
        watchdog: Option<WatchdogConfig>,
        roots: ProbeRoots,
    ) -> std::io::Result<Recorder> {
        let s = shared.clone();
        std::thread::Builder::new()
            .name("mdd-recorder".into())
            .stack_size(256 * 1024)
            .spawn(move || run(host, s, config, watchdog, roots))?;
        Ok(Recorder { shared })
    }
}

fn run(
    host: Arc<dyn Host>,
    shared: Arc<Shared>,
    config: RecorderConfig,
    watchdog: Option<WatchdogConfig>,
    roots: ProbeRoots,
) {
    let mut cg = cgroup_files(&roots);
    // The process's cgroup membership as last read, and when the limit was last found: a
    // process moved to another cgroup (or a limit changed in place) is watched against the
    // limit that now applies, from the next sample.
    let membership = || fs::read(roots.proc.join(&roots.pid_dir).join("cgroup")).ok();
    let mut member_of = membership();
    let mut limit_found = Instant::now();
    let mut gen = shared.session_gen();
    let mut file = RecorderFile::new(
        &host.directory(),
        &host.session_short_id(),
        config.interval_ms,
    );
    let _ = file.ensure_open();
    // With its own file open (and locked), bound the directory's recorder files.
    let _ = crate::writer::apply_retention(
        &host.directory(),
        host.max_files(),
        &[file.name()],
        &UtcTime::now(),
    );
    let interval = Duration::from_millis(config.interval_ms);
    let mut watchdog = watchdog.map(Watchdog::new);
    let mut pressure = host.pressure_config().map(pressure::PressureRule::new);
    let exit = |file: &mut RecorderFile, reason: &'static str, end: Option<&ProcessEnd>| {
        let now = UtcTime::now();
        let _ = file.append(&ExitRecord {
            kind: "exit",
            t: now.iso8601(),
            epoch_ms: now.epoch_ms,
            reason,
            end,
        });
    };
    loop {
        let now_member_of = membership();
        if now_member_of != member_of {
            member_of = now_member_of;
            cg = cgroup_files(&roots);
            host.refresh_limit();
            limit_found = Instant::now();
        } else if limit_found.elapsed() >= LIMIT_RECHECK {
            host.refresh_limit();
            limit_found = Instant::now();
        }
        let s = sample(&shared, &roots, cg.as_ref());
        let rss = s.rss_bytes;
        let counted =
            pressure
                .as_ref()
                .and_then(|_| host.limit_watch())
                .and_then(|(limit, source)| {
                    sample::counted_against(&roots, cg.as_ref(), source, limit, &s)
                });
        // A full disk must not stop the sampling (the ring still feeds dumps).
        let _ = file.append(&s);
        shared.push(s);
        if let (Some(w), Some(rss)) = (watchdog.as_mut(), rss) {
            if let Some(f) = w.after_sample(rss, shared.stalled_ms(), host.effective_limit()) {
                host.watchdog_dump(f.stalled_ms, f.rss, f.threshold);
            }
        }
        if let (Some(rule), Some((reading, counts))) = (pressure.as_mut(), counted) {
            if let Some(f) = rule.after_reading(reading) {
                host.pressure_dump(&f, counts);
            }
        }
        match shared.wait(interval, gen) {
            Wake::Tick => {}
            Wake::Stop(reason) => {
                let end = shared.end.lock().take();
                exit(&mut file, reason, end.as_ref());
                shared.mark_stopped();
                break;
            }
            Wake::NewSession(g) => {
                gen = g;
                exit(&mut file, "sessionReset", None);
                file = RecorderFile::new(
                    &host.directory(),
                    &host.session_short_id(),
                    config.interval_ms,
                );
                let _ = file.ensure_open();
            }
        }
    }
}

#[cfg(test)]
mod tests;
