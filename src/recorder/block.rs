//! The state the JS thread, the recorder thread and the dumper share: the block of V8
//! figures `observe()` writes straight from JS (read as a seqlock), the ring of samples,
//! and the stop, session and liveness signals.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::dump::input::{HEAP_STAT_FIELDS, MEMORY_USAGE_FIELDS};
use crate::report::{AtTrigger, NumberMap, ProcessEnd};

/// The V8 figures JS last pushed through `observe()` (or `dump()`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct V8Figures {
    pub heap_used: Option<f64>,
    pub heap_total: Option<f64>,
    pub heap_limit: Option<f64>,
    pub external: Option<f64>,
    pub rss: Option<f64>,
    pub heap_physical: Option<f64>,
    pub array_buffers: Option<f64>,
}

/// How many figures `observe()` stores: the `heapStatistics` fields of
/// [`HEAP_STAT_FIELDS`] then the `memoryUsage` fields of [`MEMORY_USAGE_FIELDS`], in
/// that order; NaN stands for a missing or malformed figure.
pub const OBSERVED_LEN: usize = HEAP_STAT_FIELDS.len() + MEMORY_USAGE_FIELDS.len();
pub type ObservedValues = [f64; OBSERVED_LEN];

/// What each slot of the shared block holds after the generation in slot 0, in order:
/// `heapStatistics.<key>` then `memoryUsage.<key>` (JS keys). Emitted into
/// `lib/contract.json` (`observedFigures.slots`), from which the JS writer is generated.
pub fn observed_figure_keys() -> Vec<String> {
    // The same figures, in the same order, as a dump's input block.
    crate::dump::input::input_figure_keys()
}

/// The last figures seen in the shared block, when they were first seen, and the
/// generation they carried.
#[derive(Debug, Clone)]
struct Observed {
    at_ms: u64,
    generation: u64,
    values: ObservedValues,
}

/// How many times a reader looks again at a block a writer is changing before it keeps
/// the figures it already has (a JS write takes well under a microsecond; a writer that
/// stopped halfway, its thread gone, must not make the recorder spin).
const SEQLOCK_TRIES: usize = 1000;

/// Writes `values` into the shared block the way the fast `observe()` (`lib/dumper/fast-path.js`) does
/// from JS (lib/dumper/figures.js): word 0, an f64 generation, is made odd before the first
/// figure is stored and even again after the last, so a reader can tell a block being
/// written from a finished one.
pub(super) fn seqlock_write(block: &[AtomicU64], values: &ObservedValues) {
    let odd = f64::from_bits(block[0].load(Ordering::Relaxed)) + 1.0;
    block[0].store(odd.to_bits(), Ordering::Relaxed);
    std::sync::atomic::fence(Ordering::Release);
    for (slot, v) in block[1..].iter().zip(values) {
        slot.store(v.to_bits(), Ordering::Relaxed);
    }
    block[0].store((odd + 1.0).to_bits(), Ordering::Release);
}

/// The figures of the last finished write, with its generation, unless it is `last`
/// (already seen) or nothing was written yet (generation 0). A generation that is odd
/// (a write under way) or that changed while the figures were copied means the copy may
/// be torn: it is thrown away and read again, at most [`SEQLOCK_TRIES`] times.
pub(super) fn seqlock_read(
    block: &[AtomicU64],
    last: Option<u64>,
) -> Option<(u64, ObservedValues)> {
    let mut values = [f64::NAN; OBSERVED_LEN];
    for _ in 0..SEQLOCK_TRIES {
        let before = block[0].load(Ordering::Acquire);
        let g = f64::from_bits(before);
        if g == 0.0 || Some(before) == last {
            return None;
        }
        if g % 2.0 != 0.0 {
            std::hint::spin_loop();
            continue;
        }
        for (v, slot) in values.iter_mut().zip(&block[1..]) {
            *v = f64::from_bits(slot.load(Ordering::Relaxed));
        }
        std::sync::atomic::fence(Ordering::Acquire);
        if block[0].load(Ordering::Relaxed) == before {
            return Some((before, values));
        }
        std::hint::spin_loop();
    }
    None
}

fn observed_value(values: &ObservedValues, heap: bool, key: &str) -> Option<f64> {
    let (offset, fields) = if heap {
        (0, HEAP_STAT_FIELDS)
    } else {
        (HEAP_STAT_FIELDS.len(), MEMORY_USAGE_FIELDS)
    };
    let i = fields.iter().position(|(_, doc, _)| *doc == key)?;
    Some(values[offset + i]).filter(|v| v.is_finite() && *v >= 0.0)
}

fn observed_map(values: &[f64], fields: &[(&str, &'static str, bool)]) -> NumberMap {
    NumberMap(
        fields
            .iter()
            .zip(values)
            .map(|((_, doc, _), v)| (*doc, Some(*v).filter(|v| v.is_finite() && *v >= 0.0)))
            .collect(),
    )
}

/// `atTrigger` with every figure the observed block carries, all null: a watchdog dump
/// made before JS observed anything keeps the document's shape.
pub fn unobserved_at_trigger() -> AtTrigger {
    let none = [f64::NAN; OBSERVED_LEN];
    let (heap, usage) = none.split_at(HEAP_STAT_FIELDS.len());
    AtTrigger {
        v8_heap_stats: observed_map(heap, HEAP_STAT_FIELDS),
        memory_usage: observed_map(usage, MEMORY_USAGE_FIELDS),
        v8_heap_spaces: None,
        active_resources: None,
    }
}

pub use crate::report::Sample;

/// State shared by the JS thread, the recorder thread and the dumper.
pub struct Shared {
    start: Instant,
    /// Monotonic ms of the last `observe()` or `dump()`.
    last_activity_ms: AtomicU64,
    /// The block `observe()` writes: word 0 is a generation (an f64 JS makes odd before
    /// writing the figures and even after), words 1.. the [`OBSERVED_LEN`] figures as f64
    /// bits. The fast `observe()` (`lib/dumper/fast-path.js`) writes it straight from JS through a
    /// `Float64Array` over this memory (no call into the addon), so it is read as a
    /// seqlock ([`seqlock_read`]): a copy taken while the generation was odd or changed
    /// is read again, never kept.
    pub(super) figures: [AtomicU64; OBSERVED_LEN + 1],
    observed: Mutex<Option<Observed>>,
    ring: Mutex<VecDeque<Sample>>,
    capacity: usize,
    stop: Mutex<Option<&'static str>>,
    /// How the process ended, set before a stop from its `exit` event.
    pub(super) end: Mutex<Option<ProcessEnd>>,
    wake: Condvar,
    /// Set by the thread once its exit record is written (or it could not be).
    stopped: Mutex<bool>,
    stopped_cv: Condvar,
    /// Bumped by `resetForNewSession()`: the thread ends the trail and starts a new one.
    session_gen: AtomicU64,
}

/// Why [`Shared::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wake {
    Tick,
    Stop(&'static str),
    NewSession(u64),
}

impl Shared {
    pub fn new(capacity: u32) -> Arc<Shared> {
        Arc::new(Shared {
            start: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
            figures: std::array::from_fn(|_| AtomicU64::new(0)),
            observed: Mutex::new(None),
            ring: Mutex::new(VecDeque::with_capacity(capacity as usize)),
            capacity: capacity as usize,
            stop: Mutex::new(None),
            end: Mutex::new(None),
            wake: Condvar::new(),
            stopped: Mutex::new(false),
            stopped_cv: Condvar::new(),
            session_gen: AtomicU64::new(0),
        })
    }

    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// JS is alive: `observe()` or `dump()` was called.
    pub fn touch(&self) {
        self.last_activity_ms
            .store(self.now_ms(), Ordering::Relaxed);
    }

    /// Stores figures checked field by field (the validated `observe()` path).
    pub fn observe(&self, at_trigger: AtTrigger) {
        let mut values = [f64::NAN; OBSERVED_LEN];
        let h = &at_trigger.v8_heap_stats;
        let u = &at_trigger.memory_usage;
        for (i, (_, doc, _)) in HEAP_STAT_FIELDS.iter().enumerate() {
            values[i] = h.get(doc).unwrap_or(f64::NAN);
        }
        for (i, (_, doc, _)) in MEMORY_USAGE_FIELDS.iter().enumerate() {
            values[HEAP_STAT_FIELDS.len() + i] = u.get(doc).unwrap_or(f64::NAN);
        }
        self.observe_values(&values);
    }

    /// Stores raw figures (NaN, negative or infinite ones count as missing) the way the
    /// JS fast path does, on the JS thread.
    pub fn observe_values(&self, values: &ObservedValues) {
        seqlock_write(&self.figures, values);
        self.poll();
    }

    /// The shared block for the JS fast path: its address and length in bytes. It lives
    /// as long as this `Shared`.
    pub fn figures_block(&self) -> (*mut u8, usize) {
        (
            self.figures.as_ptr() as *mut u8,
            std::mem::size_of_val(&self.figures),
        )
    }

    /// Picks up figures JS wrote since the last look; their time is when first seen
    /// (within one recorder interval of the write), and it counts as JS activity.
    fn poll(&self) {
        let mut observed = self.observed.lock();
        let last = observed.as_ref().map(|o| o.generation);
        let Some((generation, values)) = seqlock_read(&self.figures, last) else {
            return;
        };
        let now = self.now_ms();
        *observed = Some(Observed {
            at_ms: now,
            generation,
            values,
        });
        self.last_activity_ms.store(now, Ordering::Relaxed);
    }

    /// The last V8 figures and their age in ms.
    pub fn observed(&self) -> Option<(V8Figures, u64)> {
        self.poll();
        let now = self.now_ms();
        let o = self.observed.lock().clone()?;
        let h = |k| observed_value(&o.values, true, k);
        let u = |k| observed_value(&o.values, false, k);
        let figures = V8Figures {
            heap_used: h("usedHeapSize").or(u("heapUsed")),
            heap_total: u("heapTotal").or(h("totalHeapSize")),
            heap_limit: h("heapSizeLimit"),
            external: u("external").or(h("externalMemory")),
            rss: u("rss"),
            heap_physical: h("totalPhysicalSize"),
            array_buffers: u("arrayBuffers"),
        };
        Some((figures, now.saturating_sub(o.at_ms)))
    }

    /// The last full figures (for a watchdog dump) and their age in ms.
    pub fn observed_at_trigger(&self) -> Option<(AtTrigger, u64)> {
        self.poll();
        let now = self.now_ms();
        let o = self.observed.lock().clone()?;
        let (heap, usage) = o.values.split_at(HEAP_STAT_FIELDS.len());
        Some((
            AtTrigger {
                v8_heap_stats: observed_map(heap, HEAP_STAT_FIELDS),
                memory_usage: observed_map(usage, MEMORY_USAGE_FIELDS),
                v8_heap_spaces: None,
                active_resources: None,
            },
            now.saturating_sub(o.at_ms),
        ))
    }

    pub fn stalled_ms(&self) -> u64 {
        self.poll();
        self.now_ms()
            .saturating_sub(self.last_activity_ms.load(Ordering::Relaxed))
    }

    pub fn history(&self) -> Vec<Sample> {
        self.ring.lock().iter().cloned().collect()
    }

    /// The newest sample of the ring, if any (telemetry's gauges read it).
    pub fn latest(&self) -> Option<Sample> {
        self.ring.lock().back().cloned()
    }

    pub(super) fn push(&self, s: Sample) {
        let mut ring = self.ring.lock();
        if ring.len() == self.capacity {
            ring.pop_front();
        }
        ring.push_back(s);
    }

    /// Asks the thread to stop, saying why (`close`: the host closed the dumper;
    /// `released`: the dumper was garbage-collected or its worker ended). Returns false
    /// if it was already asked.
    pub fn request_stop(&self, reason: &'static str) -> bool {
        let mut stop = self.stop.lock();
        let first = stop.is_none();
        if first {
            *stop = Some(reason);
        }
        self.wake.notify_all();
        first
    }

    /// [`Shared::request_stop`], then waits at most `timeout` for the thread to write its
    /// exit record: for the process's `exit` event, after which no thread gets to run.
    /// Returns whether the record was written in time.
    /// Records how the process ended, for the exit record of the next stop.
    pub fn set_end(&self, end: Option<ProcessEnd>) {
        *self.end.lock() = end;
    }

    pub fn stop_and_wait(&self, reason: &'static str, timeout: Duration) -> bool {
        self.request_stop(reason);
        let mut stopped = self.stopped.lock();
        if !*stopped {
            self.stopped_cv.wait_for(&mut stopped, timeout);
        }
        *stopped
    }

    pub(super) fn mark_stopped(&self) {
        *self.stopped.lock() = true;
        self.stopped_cv.notify_all();
    }

    /// A new session began: the thread ends the current trail with an `exit` record
    /// (reason `sessionReset`) and starts a new file, at once.
    pub fn new_session(&self) {
        let _stop = self.stop.lock();
        self.session_gen.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_all();
    }

    pub(super) fn session_gen(&self) -> u64 {
        self.session_gen.load(Ordering::SeqCst)
    }

    /// Sleeps one interval, or less if stopped or a new session began.
    pub(super) fn wait(&self, interval: Duration, gen: u64) -> Wake {
        let mut stop = self.stop.lock();
        if stop.is_none() && self.session_gen() == gen {
            self.wake.wait_for(&mut stop, interval);
        }
        if let Some(reason) = *stop {
            return Wake::Stop(reason);
        }
        match self.session_gen() {
            g if g != gen => Wake::NewSession(g),
            _ => Wake::Tick,
        }
    }
}
