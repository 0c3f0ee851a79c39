//! The Node-API layer: converts and validates JS values and settles promises (through
//! `settler`); the dump itself, phase 2's scheduling and the directory's housekeeping are
//! the core's (`dump`). Every exported entry point is `catch_unwind`, so no panic can
//! cross into Node.
//!
//! This file holds the exported class, `MemoryDiagnosticsDumper`, and the free functions
//! of the public surface. Beside it:
//!
//! - [`outcome`]: what the promises resolve to (`DumpResult`, `HeapSnapshotResult`).
//! - [`readers`]: reading and validating JS values (options, trigger, input), with the
//!   field named in every error.
//! - `hooks` (test-hooks builds only): fault points and benchmark floors for the suite.

use std::cell::RefCell;
use std::ptr;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use crate::binding::settler::{Settler, Ticket};
use crate::config::{self, InvalidArg, RawValue};
use crate::dump::admission::HostClock;
use crate::dump::input::{InputBlock, InputChecker, HEAP_STAT_FIELDS, MEMORY_USAGE_FIELDS};
use crate::dump::phase2;
use crate::dump::{DumpMeta, Dumped, Dumper, Phase2On};
use crate::report::{AtTrigger, RuntimeInfo};

#[cfg(feature = "test-hooks")]
mod hooks;
pub mod outcome;
mod readers;
pub mod settler;
mod stack;

#[cfg(feature = "test-hooks")]
pub use hooks::*;
pub use outcome::{DumpOutcome, HeapSnapshotResult};
use readers::{expect_object, invalid, number_map, parse_trigger, raw_tree, raw_value, read_input};
pub use stack::*;

/// True while a live writer holds the file at `path` locked: a recorder's trail while its
/// process lives (the lock goes with the process, however it dies); false when it is free
/// or gone; null when it cannot be told (the file could not be opened for the test).
/// `previousRun` asks this to tell a running process's trail from a dead one's; never
/// through a link, never blocking on a FIFO.
#[napi(catch_unwind)]
pub fn held_by_live_writer(path: String) -> Option<bool> {
    crate::writer::retention::lock_state(std::path::Path::new(&path))
}

/// Writes memory diagnostics: phase 1 synchronously inside `dump()`, phase 2 on a
/// background thread of its own.
#[napi]
pub struct MemoryDiagnosticsDumper {
    inner: Arc<Dumper>,
    /// Settles every phase-2 promise; released by `close()` and when collected.
    settler: RefCell<Option<Settler>>,
    /// `options.now` and the clock it feeds, for host tests with fake timers.
    host_clock: Option<(HostClock, FunctionRef<(), f64>)>,
    /// The block `inputFigures` lends: `dumpFigures()` reads the host's figures from it.
    input_block: Arc<InputBlock>,
    /// The heap spaces' names for the block's spaces (`setHeapSpaceNames`).
    space_names: RefCell<Vec<String>>,
}

#[napi]
impl MemoryDiagnosticsDumper {
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, #[napi(ts_arg_type = "DumperOptions")] options: Unknown) -> Result<Self> {
        // The options are read whole into a plain tree; `config::from_tree` and
        // `config::validate` check it, in the order the JS fallback follows too.
        let tree = raw_tree(&options, 2)?;
        let raw = config::from_tree(&tree).map_err(invalid)?;
        let (config, session_id) = config::validate(&raw).map_err(invalid)?;
        let node_version = env
            .get_node_version()
            .map(|v| format!("{}.{}.{}", v.major, v.minor, v.patch))
            .unwrap_or_else(|_| "unknown".to_string());
        let napi_version = env.get_napi_version().ok();
        let runtime = RuntimeInfo::new(node_version, napi_version, config.app_version.clone());
        let host_clock = if config.host_clock {
            // `validate` accepted only a function for `now`.
            // SAFETY: `options` was read as an object by `raw_tree` (else `from_tree` failed).
            let obj = unsafe { options.cast::<Object>() }?;
            let now = obj.get_named_property::<Unknown>("now")?;
            if now.get_type()? != ValueType::Function {
                return Err(Error::new(
                    Status::InvalidArg,
                    "options.now: expected a function, got a value that changed while it was read",
                ));
            }
            // SAFETY: the value's type was checked to be a function just above.
            let f = unsafe { now.cast::<Function<(), f64>>() }?;
            Some((HostClock::default(), f.create_ref()?))
        } else {
            None
        };
        let inner = Arc::new(match &host_clock {
            Some((clock, _)) => {
                Dumper::with_clock(config, &session_id, runtime, Box::new(clock.clone()))
            }
            None => Dumper::new(config, &session_id, runtime),
        });
        inner
            .start()
            .map_err(|e| Error::from_reason(format!("could not start the recorder thread: {e}")))?;
        Ok(MemoryDiagnosticsDumper {
            inner,
            settler: RefCell::new(Some(Settler::new(&env)?)),
            host_clock,
            input_block: Arc::new(InputBlock::default()),
            space_names: RefCell::new(Vec::new()),
        })
    }

    /// Writes a complete phase-1 document before returning, then enriches it off the JS
    /// thread. A skipped dump resolves `{ written: false, skipped, retryAfterMs }`; an
    /// unusable directory resolves `{ written: false, error }` without using a slot.
    /// Bad arguments throw `InvalidArg` here: the public class (`lib/dumper/public-class.js`) turns them into
    /// a resolved `{ written: false, error }`.
    #[napi(catch_unwind, ts_return_type = "Promise<DumpResult>")]
    pub fn dump<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "Trigger")] trigger: Unknown<'env>,
        #[napi(
            ts_arg_type = "DumpInput & Required<Pick<DumpInput, 'heapStatistics' | 'memoryUsage'>>"
        )]
        input: Unknown<'env>,
        // The public class's lines on reads of the input that threw (its guarded second
        // try), recorded first among the input's warnings.
        guard_warnings: Option<Vec<String>>,
    ) -> Result<PromiseRaw<'env, DumpOutcome>> {
        use crate::dump::input::{MAX_GUARD_WARNINGS, MAX_GUARD_WARNING_CHARS};
        let trigger = parse_trigger(&trigger)?;
        let mut input = read_input(&input)?;
        if let Some(lines) = guard_warnings {
            let lines = lines
                .iter()
                .take(MAX_GUARD_WARNINGS + 1)
                .map(|l| crate::config::truncate_chars(l, MAX_GUARD_WARNING_CHARS).0);
            input.warnings.splice(0..0, lines);
        }
        self.dump_input(env, trigger, input)
    }

    /// `dump()` with heapStatistics and memoryUsage already written into `inputFigures`
    /// (the fast path, `lib/dumper/fast-path.js`: the figures cross Node-API once, as one block);
    /// the rest of the input as separate arguments, each undefined when not given
    /// (`activeResources` may also be the array `process.getActiveResourcesInfo()` returned,
    /// counted here).
    #[napi(catch_unwind, ts_return_type = "Promise<DumpResult>")]
    pub fn dump_figures<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "Trigger")] trigger: Unknown<'env>,
        #[napi(ts_arg_type = "DumpInput['heapSpaces'] | true")] heap_spaces: Unknown<'env>,
        #[napi(ts_arg_type = "DumpInput['activeResources'] | string[]")] active_resources: Unknown<
            'env,
        >,
        #[napi(ts_arg_type = "DumpInput['session']")] session: Unknown<'env>,
        #[napi(ts_arg_type = "DumpInput['samples']")] samples: Unknown<'env>,
    ) -> Result<PromiseRaw<'env, DumpOutcome>> {
        let trigger = parse_trigger(&trigger)?;
        let mut checker = InputChecker::new();
        let (heap, usage) = self.input_block.read(&mut checker);
        // `true`: the heap spaces are in the block too, named by `setHeapSpaceNames`.
        let in_block = heap_spaces.get_type()? == ValueType::Boolean
            && heap_spaces.coerce_to_bool().is_ok_and(|b| b);
        let spaces = in_block.then(|| {
            self.input_block
                .read_spaces(&mut checker, &self.space_names.borrow())
        });
        let mut input = readers::read_rest(
            checker,
            heap,
            usage,
            (!in_block).then_some(&heap_spaces),
            &session,
            readers::Resources::RecordOrTypes(&active_resources),
            &samples,
        )?;
        if let Some(spaces) = spaces {
            input.at_trigger.v8_heap_spaces = Some(spaces);
        }
        self.dump_input(env, trigger, input)
    }

    /// The names of the heap spaces the fast path (`lib/dumper/fast-path.js`) writes into `inputFigures` (they
    /// change only with V8, so they are handed over once, not at every dump).
    #[napi(catch_unwind)]
    pub fn set_heap_space_names(&self, names: Vec<String>) {
        *self.space_names.borrow_mut() = names
            .into_iter()
            .take(crate::dump::input::MAX_HEAP_SPACES)
            .map(|n| crate::config::truncate_chars(&n, crate::dump::input::MAX_SPACE_NAME_CHARS).0)
            .collect();
    }

    /// The block `dumpFigures()` reads: a `Float64Array` whose element 0 is the mask of the
    /// fields left out (bit i: field i) and elements 1.. the fields named by
    /// contract.json's `dumpInput.slots`. `null` where external buffers are not allowed.
    #[napi(getter, catch_unwind, ts_return_type = "Float64Array | null")]
    pub fn input_figures<'env>(&self, env: &'env Env) -> Result<Unknown<'env>> {
        let block = self.input_block.clone();
        let (data, len) = block.raw();
        lend_float64(
            env,
            data,
            len,
            Arc::into_raw(block) as *mut std::ffi::c_void,
            release_input,
        )
    }
}

impl MemoryDiagnosticsDumper {
    fn dump_input<'env>(
        &self,
        env: &'env Env,
        trigger: crate::config::Trigger,
        mut input: crate::dump::input::TriggerInput,
    ) -> Result<PromiseRaw<'env, DumpOutcome>> {
        if let Some((clock, now)) = &self.host_clock {
            match now.borrow_back(env).and_then(|f| f.call(())) {
                Ok(ms) if ms.is_finite() => clock.set(ms),
                _ => input.warnings.push(
                    "options.now: threw or did not return a number; the cooldown used its previous value"
                        .to_string(),
                ),
            }
        }
        self.inner.touch();
        let resolved = |r: DumpOutcome| {
            // SAFETY: the settler calls this with the live env of this call on the JS thread; `r` is an owned plain value.
            settler::resolved(env, move |raw| unsafe {
                DumpOutcome::to_napi_value(raw, r)
            })
        };
        // The promise of a written dump, settled when its phase 2 is done.
        let mut pending = None;
        let dumped = self
            .inner
            .dump(trigger, input, Phase2On::Background, |meta| {
                let meta = meta.clone();
                match self.settler(env) {
                    Ok((ticket, promise)) => {
                        pending = Some(Ok(promise));
                        Box::new(move |dir, out| settle_phase2(&meta, dir, out, ticket))
                    }
                    Err(e) => {
                        pending = Some(Err(e));
                        Box::new(|_, _| {})
                    }
                }
            });
        let promise = match dumped {
            Dumped::Skipped(a) => resolved(DumpOutcome::not_written(trigger, None, Some(a)))?,
            Dumped::Refused { error } => {
                resolved(DumpOutcome::not_written(trigger, Some(error), None))?
            }
            Dumped::Failed { meta, error } => {
                resolved(DumpOutcome::new(&meta, false, false, Some(error)))?
            }
            Dumped::Written { .. } => match pending {
                Some(p) => p?,
                None => return Err(Error::from_reason("no promise for a written dump")),
            },
        };
        Ok(PromiseRaw::new(env.raw(), promise))
    }
}

#[napi]
impl MemoryDiagnosticsDumper {
    /// Pushes the latest V8 figures to the recorder and watchdog (cheap: no I/O, nothing
    /// allocated on the JS heap). Call it on every check of the host's monitor: it also
    /// tells the watchdog that the event loop is alive.
    #[napi(catch_unwind)]
    pub fn observe(
        &self,
        #[napi(ts_arg_type = "HeapStatisticsInput")] heap_statistics: Unknown,
        #[napi(ts_arg_type = "MemoryUsageInput")] memory_usage: Unknown,
    ) -> Result<()> {
        let heap = expect_object(&heap_statistics, "heapStatistics")?;
        let usage = expect_object(&memory_usage, "memoryUsage")?;
        let mut checker = InputChecker::new();
        let v8_heap_stats = number_map(&mut checker, "heapStatistics", &heap, HEAP_STAT_FIELDS)?;
        let memory_usage = number_map(&mut checker, "memoryUsage", &usage, MEMORY_USAGE_FIELDS)?;
        self.inner.observe(AtTrigger {
            memory_usage,
            v8_heap_stats,
            ..Default::default()
        });
        Ok(())
    }

    /// The event loop is alive. The public class (`lib/dumper/public-class.js`) calls this from an unref'd timer while
    /// the watchdog is on (every `heartbeatIntervalMs`), so the watchdog judges the loop
    /// by the loop, not by whether the host calls `observe()`.
    #[napi(catch_unwind)]
    pub fn heartbeat(&self) {
        self.inner.touch();
    }

    /// How often the public class (`lib/dumper/public-class.js`) should call `heartbeat()`: a quarter of the watchdog's
    /// `stallMs` (10 ms to 1 s), or null without a watchdog.
    #[napi(getter, catch_unwind)]
    pub fn heartbeat_interval_ms(&self) -> Option<u32> {
        self.inner
            .config()
            .watchdog
            .map(|w| crate::recorder::heartbeat_interval_ms(w.stall_ms))
    }

    /// The memory the fast `observe()` (`lib/dumper/fast-path.js`) writes the figures into, without a
    /// call into the addon: a `Float64Array` whose element 0 is a generation to
    /// increment after writing elements 1.. (the fields of `observedFigureKeys()`, NaN
    /// where a figure is missing). `null` without a recorder (nothing reads them).
    #[napi(getter, catch_unwind, ts_return_type = "Float64Array | null")]
    pub fn observed_figures<'env>(&self, env: &'env Env) -> Result<Unknown<'env>> {
        let raw = env.raw();
        let Some(shared) = self.inner.recorder().cloned() else {
            // SAFETY: `raw` is this call's env and the value was just created in it.
            return unsafe { Unknown::from_napi_value(raw, Null::to_napi_value(raw, Null)?) };
        };
        let (data, len) = shared.figures_block();
        // Runtimes that forbid external buffers get null: `observe()` takes the checked path.
        lend_float64(
            env,
            data,
            len,
            Arc::into_raw(shared) as *mut std::ffi::c_void,
            release_figures,
        )
    }

    /// Stops the recorder (which appends an `exit` record, so readers can tell a clean
    /// exit from a crash). Later dumps resolve `{ written: false, skipped: 'closed' }`.
    /// Idempotent.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.inner.close("close");
        self.inner.set_own_dump_listener(None);
        if let Some(s) = self.settler.borrow_mut().take() {
            s.release();
        }
    }

    /// Starts a new session: the dump count and cooldown start over; `sessionId`, if
    /// given, names the files from now on.
    #[napi(catch_unwind)]
    pub fn reset_for_new_session(
        &self,
        #[napi(ts_arg_type = "string | undefined | null")] session_id: Option<Unknown>,
    ) -> Result<()> {
        let id = match session_id
            .as_ref()
            .map(|v| raw_value(v, usize::MAX))
            .transpose()?
        {
            None | Some((RawValue::Missing | RawValue::Other("null"), _)) => None,
            Some((RawValue::Text(s), _)) => Some(s),
            Some((other, _)) => {
                return Err(invalid(InvalidArg::new(
                    "sessionId",
                    "a string, or undefined",
                    other.describe(),
                )))
            }
        };
        self.inner.reset_for_new_session(id.as_deref());
        Ok(())
    }

    /// Internal (`lib/dumper/heap-snapshot.js` calls it): starts measuring memory for the pending
    /// heap snapshot `ticket` and returns the temporary path V8 is to write it to, or
    /// null for an unknown ticket.
    #[napi(catch_unwind)]
    pub fn heap_snapshot_start(&self, ticket: u32) -> Option<String> {
        self.inner
            .heap()
            .and_then(|h| h.start(ticket))
            .map(|p| p.to_string_lossy().into_owned())
    }

    /// Internal (`lib/dumper/process-end.js` calls it from the process's `exit` event): closes
    /// the dumper and lets the recorder end its trail with an `exit` record (reason
    /// `exit`) that says how the process ended, waiting at most 100 ms. Returns whether
    /// the record was written.
    #[napi(catch_unwind)]
    pub fn close_for_exit(&self, end: Option<outcome::ProcessEndInput>) -> bool {
        self.inner
            .close_for_exit(end.and_then(outcome::ProcessEndInput::checked))
    }

    /// Internal (`lib/dumper/heap-snapshot.js` calls it from its `exit` handler): removes every raw,
    /// unredacted heap snapshot of this process that has a name (where the platform gives
    /// it no name, the kernel frees it with the process). Returns how many it removed.
    #[napi(catch_unwind)]
    pub fn discard_raw_snapshots() -> u32 {
        crate::heap_snapshot::raw_file::discard_named_raw_files()
    }

    /// Internal (`lib/dumper/heap-snapshot.js` calls it): V8 has written the pending snapshot
    /// `ticket` in `millis` (or failed with `error`). Off the JS thread: the redacting
    /// copy, the no-replace landing, retention, the dump's last replace.
    #[napi(catch_unwind, ts_return_type = "Promise<HeapSnapshotResult | null>")]
    pub fn heap_snapshot_finish<'env>(
        &self,
        env: &'env Env,
        ticket: u32,
        millis: f64,
        error: Option<String>,
    ) -> Result<PromiseRaw<'env, Option<HeapSnapshotResult>>> {
        type SettleHeap = Box<dyn FnOnce(Env) -> Result<Option<HeapSnapshotResult>>>;
        let (deferred, promise) =
            env.create_deferred::<Option<HeapSnapshotResult>, SettleHeap>()?;
        let pending = self.inner.heap().and_then(|h| h.take(ticket));
        match pending {
            None => deferred.resolve(Box::new(|_| Ok(None))),
            Some(p) => {
                crate::heap_snapshot::take::finish_off_thread(p, millis, error, move |dir, s| {
                    let r = HeapSnapshotResult::new(dir, &s, None);
                    deferred.resolve(Box::new(move |_| Ok(Some(r))));
                })
            }
        }
        Ok(PromiseRaw::new(env.raw(), promise.raw()))
    }

    /// Internal (`lib/dumper/allocation-profile.js` calls it once a dump's phase 2 is on disk): adds the
    /// allocation profile summarized on the JS thread (`section`, JSON) to the dump
    /// `filePath` of this dumper's directory, off the JS thread. Resolves null, or why it
    /// could not.
    #[napi(catch_unwind, ts_return_type = "Promise<string | null>")]
    pub fn allocation_profile_attach<'env>(
        &self,
        env: &'env Env,
        file_path: String,
        section: String,
    ) -> Result<PromiseRaw<'env, Option<String>>> {
        let max_sites = self.max_sites();
        let dir = self.inner.config().directory.clone();
        settle_in_background(env, move || {
            crate::allocation_profile::attach_summary(&dir, &file_path, &section, max_sites)
        })
    }

    /// The most allocation sites a summary keeps: the option's, or the default.
    fn max_sites(&self) -> u32 {
        self.inner
            .config()
            .allocation_profile
            .map_or(crate::allocation_profile::DEFAULT_MAX_SITES, |c| {
                c.max_sites
            })
    }

    /// Whether the recorder thread writes dumps of its own (the pressure rule runs), which
    /// the JS thread adds to through `onOwnDump`.
    #[napi(getter, catch_unwind)]
    pub fn writes_own_dumps(&self) -> bool {
        self.inner.recorder().is_some() && self.inner.config().pressure.is_some()
    }

    /// Internal (`lib/dumper/public-class.js` calls it once, when the pressure rule runs or
    /// telemetry is on): `callback(filePath, dumpNumber, delayMs, trigger)` is called on the
    /// JS thread, when its loop is alive, after each dump the recorder thread wrote on its
    /// own, `pressure` or `watchdog` (both phases on disk already; `delayMs` since its
    /// phase 1). Only a pressure dump may be added to (`ownDumpAttach`). A weak threadsafe function: it never keeps
    /// Node alive, and the recorder thread never waits for it.
    #[napi(catch_unwind)]
    pub fn on_own_dump(
        &self,
        callback: Function<'_, FnArgs<(String, u32, f64, String)>, ()>,
    ) -> Result<()> {
        use napi::threadsafe_function::{ThreadsafeCallContext, ThreadsafeFunctionCallMode};
        let tsfn = callback
            .build_threadsafe_function::<crate::dump::OwnDump>()
            .weak::<true>()
            .callee_handled::<false>()
            .build_callback(|ctx: ThreadsafeCallContext<crate::dump::OwnDump>| {
                let d = ctx.value;
                let delay = d.written_at.elapsed().as_secs_f64() * 1000.0;
                Ok(FnArgs::from((
                    d.file_path.to_string_lossy().into_owned(),
                    d.dump_number,
                    delay,
                    d.trigger.to_string(),
                )))
            })?;
        self.inner.set_own_dump_listener(Some(Box::new(move |d| {
            let _ = tsfn.call(d, ThreadsafeFunctionCallMode::NonBlocking);
        })));
        Ok(())
    }

    /// Internal (`lib/dumper/public-class.js` calls it from the `onOwnDump` callback): adds
    /// the host's V8 figures read `delayMs` after the dump's phase 1 (and, with
    /// `allocationProfile`, the summary `allocationSection`, JSON) to the dump `filePath`,
    /// off the JS thread. Resolves null, or why it could not.
    #[napi(catch_unwind, ts_return_type = "Promise<string | null>")]
    pub fn own_dump_attach<'env>(
        &self,
        env: &'env Env,
        file_path: String,
        delay_ms: f64,
        #[napi(ts_arg_type = "HeapStatisticsInput")] heap_statistics: Unknown,
        #[napi(ts_arg_type = "MemoryUsageInput")] memory_usage: Unknown,
        allocation_section: Option<String>,
    ) -> Result<PromiseRaw<'env, Option<String>>> {
        let heap = expect_object(&heap_statistics, "heapStatistics")?;
        let usage = expect_object(&memory_usage, "memoryUsage")?;
        let mut checker = InputChecker::new();
        let figures = crate::report::JsFigures {
            delay_ms: if delay_ms.is_finite() && delay_ms > 0.0 {
                delay_ms.min(u32::MAX as f64) as u64
            } else {
                0
            },
            v8_heap_stats: number_map(&mut checker, "heapStatistics", &heap, HEAP_STAT_FIELDS)?,
            memory_usage: number_map(&mut checker, "memoryUsage", &usage, MEMORY_USAGE_FIELDS)?,
        };
        let max_sites = self.max_sites();
        let dir = self.inner.config().directory.clone();
        let Some(expected) = self
            .inner
            .take_own_pending(std::path::Path::new(&file_path))
        else {
            let why = format!("{file_path} is not a dump this dumper's recorder thread wrote, or was already added to");
            return settle_in_background(env, move || Err(why));
        };
        settle_in_background(env, move || {
            crate::dump::js_figures::attach(
                &dir,
                &file_path,
                expected,
                &figures,
                allocation_section.as_deref(),
                max_sites,
            )
        })
    }

    /// Internal (`lib/dumper/telemetry.js` reads it when the host's meter collects): the
    /// recorder's latest sample, as the trail has it, and the effective limit known then,
    /// as JSON `{ sample, limitBytes, limitSource }`; null without a recorder or before its
    /// first sample. Reads memory only: no I/O on the JS thread.
    #[napi(catch_unwind)]
    pub fn latest_sample(&self) -> Option<String> {
        let sample = self.inner.recorder()?.latest()?;
        let (limit_bytes, limit_source) = match self.inner.known_limit() {
            Some((b, s)) => (Some(b), Some(s)),
            None => (None, None),
        };
        serde_json::to_string(&serde_json::json!({
            "sample": sample,
            "limitBytes": limit_bytes,
            "limitSource": limit_source,
        }))
        .ok()
    }

    /// Dumps written (or attempted) in the current session.
    #[napi(getter, catch_unwind)]
    pub fn dump_count(&self) -> u32 {
        self.inner.dump_count()
    }

    /// The diagnostics directory as configured.
    #[napi(getter, catch_unwind)]
    pub fn directory(&self) -> String {
        self.inner.config().directory.to_string_lossy().into_owned()
    }

    /// Why no dump can be written (the directory was found unusable at construction),
    /// or null. Every dump then resolves `{ written: false, error }` without using a slot.
    #[napi(getter, catch_unwind)]
    pub fn problem(&self) -> Option<String> {
        self.inner.problem().map(str::to_string)
    }

    /// The file-name-safe short session id in use.
    /// `lib/dumper/stack-helper.js` found that no stack helper can serve this dumper
    /// (`watchdog.captureStack`): its watchdog dumps record `reason`.
    #[napi(catch_unwind)]
    pub fn stack_capture_unavailable(&self, reason: String) {
        self.inner
            .set_stack_problem(crate::config::truncate_chars(&reason, 500).0);
    }

    #[napi(getter, catch_unwind)]
    pub fn session_id(&self) -> String {
        self.inner.session_short_id()
    }
}

/// Internal (`lib/dumper/public-class.js` calls it from the process's `exit` event): waits at
/// most `timeoutMs` for the dumps recorder threads are writing on their own, closed dumpers'
/// included. Whether none is left.
#[napi(catch_unwind)]
pub fn wait_for_own_dumps(timeout_ms: u32) -> bool {
    crate::dump::wait_for_own_dumps(std::time::Duration::from_millis(timeout_ms.min(1000) as u64))
}

/// The figures behind `observedFigures` (from element 1), in order:
/// `heapStatistics.<key>` then `memoryUsage.<key>`.
#[napi(catch_unwind)]
pub fn observed_figure_keys() -> Vec<String> {
    crate::recorder::observed_figure_keys()
}

/// The figures of `inputFigures` (from element 1), in order: `heapStatistics.<key>` then
/// `memoryUsage.<key>`. The fast path (`lib/dumper/fast-path.js`) uses the block only when this matches its layout.
#[napi(catch_unwind)]
pub fn input_figure_keys() -> Vec<String> {
    crate::dump::input::input_figure_keys()
}

/// The heap spaces' place in `inputFigures`: `"<count slot>:<field,...>:<max spaces>"`. The
/// `lib/dumper/fast-path.js` writes spaces into the block only when this matches its layout.
#[napi(catch_unwind)]
pub fn input_space_layout() -> String {
    format!(
        "{}:{}:{}",
        crate::dump::input::input_space_count_slot(),
        crate::dump::input::HEAP_SPACE_FIELDS
            .iter()
            .map(|f| f.0)
            .collect::<Vec<_>>()
            .join(","),
        crate::dump::input::MAX_HEAP_SPACES
    )
}

impl Drop for MemoryDiagnosticsDumper {
    /// A dumper collected by the GC (or a worker shutting down) stops its recorder.
    fn drop(&mut self) {
        self.inner.close("released");
        self.inner.set_own_dump_listener(None);
        if let Some(s) = self.settler.get_mut().take() {
            s.release();
        }
    }
}

impl MemoryDiagnosticsDumper {
    /// A pending promise from this dumper's settler (a new one after `close()`).
    fn settler(&self, env: &Env) -> Result<(Ticket, sys::napi_value)> {
        let mut slot = self.settler.borrow_mut();
        if slot.is_none() {
            *slot = Some(Settler::new(env)?);
        }
        match slot.as_ref() {
            Some(s) => s.promise(env),
            None => Err(Error::from_reason("no settler")),
        }
    }
}

/// The external buffer over a dumper's input block was collected.
unsafe extern "C" fn release_input(
    _env: sys::napi_env,
    _data: *mut std::ffi::c_void,
    hint: *mut std::ffi::c_void,
) {
    // SAFETY: `hint` is the `Arc` leaked by `input_figures` for this buffer; V8 calls this finalizer once.
    drop(unsafe { Arc::from_raw(hint as *const InputBlock) });
}

/// A `Float64Array` over `len` bytes at `data`, kept alive by `hint` until V8 calls
/// `release` (which must reclaim it); `null` where external buffers are not allowed
/// (then `release` is called here, once).
fn lend_float64<'env>(
    env: &'env Env,
    data: *mut u8,
    len: usize,
    hint: *mut std::ffi::c_void,
    release: unsafe extern "C" fn(sys::napi_env, *mut std::ffi::c_void, *mut std::ffi::c_void),
) -> Result<Unknown<'env>> {
    let raw = env.raw();
    let mut buffer = ptr::null_mut();
    // SAFETY: `data`/`len` describe memory that `hint` keeps alive until V8 calls `release`, which reclaims it exactly once.
    let status = unsafe {
        sys::napi_create_external_arraybuffer(
            raw,
            data.cast(),
            len,
            Some(release),
            hint,
            &mut buffer,
        )
    };
    if status != sys::Status::napi_ok {
        // SAFETY: creation failed, so V8 never took `hint`: `release` reclaims it here, once.
        unsafe { release(raw, data.cast(), hint) };
        // SAFETY: `raw` is this call's env and the value was just created in it.
        return unsafe { Unknown::from_napi_value(raw, Null::to_napi_value(raw, Null)?) };
    }
    let mut array = ptr::null_mut();
    // SAFETY: `buffer` is the array buffer just created in `raw`; `len / 8` Float64 elements fit inside it (the block is a whole number of f64).
    check_status!(unsafe {
        sys::napi_create_typedarray(
            raw,
            sys::TypedarrayType::float64_array,
            len / 8,
            buffer,
            0,
            &mut array,
        )
    })?;
    // SAFETY: `array` was just created in `raw` by the call above.
    unsafe { Unknown::from_napi_value(raw, array) }
}

/// The external buffer over a recorder's figures was collected.
unsafe extern "C" fn release_figures(
    _env: sys::napi_env,
    _data: *mut std::ffi::c_void,
    hint: *mut std::ffi::c_void,
) {
    // SAFETY: `hint` is the `Arc` leaked by `observed_figures` for this buffer; V8 calls this finalizer once.
    drop(unsafe { Arc::from_raw(hint as *const crate::recorder::Shared) });
}

/// Settles a written dump's promise with its phase-2 outcome (on the thread that ran it).
fn settle_phase2(
    meta: &DumpMeta,
    dir: &std::path::Path,
    out: phase2::Phase2Outcome,
    ticket: Ticket,
) {
    let mut r = DumpOutcome::new(meta, out.complete, true, out.error);
    r.heap_snapshot = out.heap.map(|(s, t)| HeapSnapshotResult::new(dir, &s, t));
    // SAFETY: the settler calls this on the JS thread with a live env; `r` is an owned plain value.
    ticket.settle(Box::new(move |env| unsafe {
        DumpOutcome::to_napi_value(env, r)
    }));
}

/// A promise of `work`'s problem (`null` when it succeeded), settled after `work` ran on the
/// background thread (dump::background, never the libuv threadpool), or on this thread when
/// that thread cannot be had. A panic in `work` is its problem, never Node's.
fn settle_in_background<'env>(
    env: &'env Env,
    work: impl FnOnce() -> std::result::Result<(), String> + Send + 'static,
) -> Result<PromiseRaw<'env, Option<String>>> {
    type Settle = Box<dyn FnOnce(Env) -> Result<Option<String>>>;
    let (deferred, promise) = env.create_deferred::<Option<String>, Settle>()?;
    let job = move || {
        let problem = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .unwrap_or_else(|p| {
                Err(format!(
                    "internal error (panic): {}",
                    crate::dump::background::panic_message(p.as_ref())
                ))
            })
            .err();
        deferred.resolve(Box::new(move |_| Ok(problem)));
    };
    if let Err(job) = crate::dump::background::submit(Box::new(job)) {
        job();
    }
    Ok(PromiseRaw::new(env.raw(), promise.raw()))
}
