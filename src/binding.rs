//! The Node-API layer: converts and validates JS values and settles promises (through
//! `settler`); the dump itself, phase 2's scheduling and the directory's housekeeping are
//! the core's (`dumper`). Every exported entry point is `catch_unwind`, so no panic can
//! cross into Node.

use std::cell::RefCell;
use std::ffi::c_char;
use std::ptr;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::{sys, KeyCollectionMode, KeyConversion, KeyFilter};
use napi_derive::napi;

use crate::collector;
use crate::dumper::{DumpMeta, Dumped, Dumper, Phase2On};
use crate::input::{
    InputChecker, TriggerInput, HEAP_STAT_FIELDS, MAX_HEAP_SPACES, MAX_RESOURCE_TYPES, MAX_SAMPLES,
    MAX_SAMPLE_KEYS, MAX_SESSION_KEYS, MAX_SESSION_KEY_CHARS, MAX_STRING_READ_BYTES,
    MEMORY_USAGE_FIELDS,
};
use crate::limits::{Admission, HostClock};
use crate::options::{self, InvalidArg, RawValue, Trigger};
use crate::report::{AtTrigger, NamedNumbers, RuntimeInfo};
use crate::settler::{self, Settler, Ticket};

/// What a dump's promise resolves to: `DumpResult` in typings/header.d.ts. Fields that
/// do not apply are left out, so each shape reads as documented.
pub struct DumpOutcome {
    trigger: &'static str,
    /// The slot used: where the dump is (or would have been) and its number.
    slot: Option<(String, u32)>,
    complete: bool,
    written: bool,
    error: Option<String>,
    /// `cap`, `cooldown` or `closed`, with the wait before a dump can be admitted
    /// (null: not in this session).
    skipped: Option<(&'static str, Option<f64>)>,
    /// Only when `options.heapSnapshot` applies to the trigger: the snapshot, or why none.
    heap_snapshot: Option<HeapSnapshotResult>,
}

/// The heap snapshot that followed a dump (the dump document's `heapSnapshot` section).
#[napi(object)]
pub struct HeapSnapshotResult {
    /// `written`, `skipped` or `failed` (`pending` only inside the package).
    pub status: String,
    pub skipped: Option<String>,
    pub error: Option<String>,
    pub needed_bytes: Option<f64>,
    pub headroom_bytes: Option<f64>,
    /// The snapshot's path.
    pub file_path: Option<String>,
    pub bytes: Option<f64>,
    /// How long V8 blocked the JS thread writing it.
    pub millis: Option<f64>,
    /// How long the redacting copy took, off the JS thread.
    pub copy_millis: Option<f64>,
    pub redacted: Option<bool>,
    pub peak_extra_bytes: Option<f64>,
    /// Internal: the package's entry takes a pending snapshot by this number.
    pub ticket: Option<u32>,
}

impl HeapSnapshotResult {
    fn new(
        dir: &std::path::Path,
        s: &crate::heapdump::HeapSnapshotSection,
        ticket: Option<u32>,
    ) -> Self {
        let f = |v: Option<u64>| v.map(|b| b as f64);
        HeapSnapshotResult {
            status: s.status.to_string(),
            skipped: s.skipped.clone(),
            error: s.error.clone(),
            needed_bytes: f(s.needed_bytes),
            headroom_bytes: f(s.headroom_bytes),
            file_path: s
                .file
                .as_ref()
                .filter(|_| s.status == "written")
                .map(|n| dir.join(n).to_string_lossy().into_owned()),
            bytes: f(s.bytes),
            millis: s.millis,
            copy_millis: s.copy_millis,
            redacted: s.redacted,
            peak_extra_bytes: f(s.peak_extra_bytes),
            ticket,
        }
    }
}

impl DumpOutcome {
    fn new(meta: &DumpMeta, complete: bool, written: bool, error: Option<String>) -> Self {
        DumpOutcome {
            trigger: meta.trigger,
            slot: Some((
                meta.file_path.to_string_lossy().into_owned(),
                meta.dump_number,
            )),
            complete,
            written,
            error,
            skipped: None,
            heap_snapshot: None,
        }
    }

    fn not_written(trigger: Trigger, error: Option<String>, admission: Option<Admission>) -> Self {
        DumpOutcome {
            trigger: trigger.as_str(),
            slot: None,
            complete: false,
            written: false,
            error,
            skipped: admission.map(|a| match a {
                Admission::CoolingDown { remaining_ms } => ("cooldown", Some(remaining_ms as f64)),
                Admission::Closed => ("closed", None),
                Admission::CapReached | Admission::Granted(_) => ("cap", None),
            }),
            heap_snapshot: None,
        }
    }
}

impl ToNapiValue for DumpOutcome {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let env = Env::from_raw(env);
        let mut o = Object::new(&env)?;
        if let Some((path, number)) = val.slot {
            o.set("filePath", path)?;
            o.set("trigger", val.trigger)?;
            o.set("dumpNumber", number)?;
        } else {
            o.set("trigger", val.trigger)?;
        }
        o.set("complete", val.complete)?;
        o.set("written", val.written)?;
        if let Some(e) = val.error {
            o.set("error", e)?;
        }
        if let Some((reason, retry)) = val.skipped {
            o.set("skipped", reason)?;
            match retry {
                Some(ms) => o.set("retryAfterMs", ms)?,
                None => o.set("retryAfterMs", Null)?,
            }
        }
        if let Some(h) = val.heap_snapshot {
            o.set("heapSnapshot", h)?;
        }
        Object::to_napi_value(env.raw(), o)
    }
}

fn invalid(e: InvalidArg) -> Error {
    Error::new(Status::InvalidArg, e.to_string())
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
}

#[napi]
impl MemoryDiagnosticsDumper {
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, #[napi(ts_arg_type = "DumperOptions")] options: Unknown) -> Result<Self> {
        // The options are read whole into a plain tree; `options::from_tree` and
        // `options::validate` check it, in the order the JS fallback follows too.
        let tree = raw_tree(&options, 2)?;
        let raw = options::from_tree(&tree).map_err(invalid)?;
        let (config, session_id) = options::validate(&raw).map_err(invalid)?;
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
        })
    }

    /// Writes a complete phase-1 document before returning, then enriches it off the JS
    /// thread. A skipped dump resolves `{ written: false, skipped, retryAfterMs }`; an
    /// unusable directory resolves `{ written: false, error }` without using a slot.
    /// Bad arguments throw `InvalidArg` here: the package's entry point turns them into
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
    ) -> Result<PromiseRaw<'env, DumpOutcome>> {
        let trigger = parse_trigger(&trigger)?;
        let mut input = read_input(&input)?;
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

    /// The event loop is alive. The package entry calls this from an unref'd timer while
    /// the watchdog is on (every `heartbeatIntervalMs`), so the watchdog judges the loop
    /// by the loop, not by whether the host calls `observe()`.
    #[napi(catch_unwind)]
    pub fn heartbeat(&self) {
        self.inner.touch();
    }

    /// How often the package entry should call `heartbeat()`: a quarter of the watchdog's
    /// `stallMs` (10 ms to 1 s), or null without a watchdog.
    #[napi(getter, catch_unwind)]
    pub fn heartbeat_interval_ms(&self) -> Option<u32> {
        self.inner
            .config()
            .watchdog
            .map(|w| crate::recorder::heartbeat_interval_ms(w.stall_ms))
    }

    /// The memory the package entry's `observe()` writes the figures into, without a
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
        let hint = Arc::into_raw(shared) as *mut std::ffi::c_void;
        let mut buffer = ptr::null_mut();
        // SAFETY: `data`/`len` describe the recorder's figures block, which lives as long as `Shared`; the `Arc` leaked into `hint` keeps it alive until V8 calls `release_figures`, which reclaims it exactly once.
        let status = unsafe {
            sys::napi_create_external_arraybuffer(
                raw,
                data.cast(),
                len,
                Some(release_figures),
                hint,
                &mut buffer,
            )
        };
        if status != sys::Status::napi_ok {
            // Runtimes that forbid external buffers: `observe()` takes the checked path.
            // SAFETY: creation failed, so V8 never took `hint`: reclaim the `Arc` leaked just above, once.
            drop(unsafe { Arc::from_raw(hint as *const crate::recorder::Shared) });
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

    /// Stops the recorder (which appends an `exit` record, so readers can tell a clean
    /// exit from a crash). Later dumps resolve `{ written: false, skipped: 'closed' }`.
    /// Idempotent.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.inner.close("close");
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

    /// Internal (the package's entry calls it): starts measuring memory for the pending
    /// heap snapshot `ticket` and returns the temporary path V8 is to write it to, or
    /// null for an unknown ticket.
    #[napi(catch_unwind)]
    pub fn heap_snapshot_start(&self, ticket: u32) -> Option<String> {
        self.inner
            .heap()
            .and_then(|h| h.start(ticket))
            .map(|p| p.to_string_lossy().into_owned())
    }

    /// Internal (the package's entry calls it from the process's `exit` event): closes
    /// the dumper and lets the recorder end its trail with an `exit` record (reason
    /// `exit`), waiting at most 100 ms. Returns whether the record was written.
    #[napi(catch_unwind)]
    pub fn close_for_exit(&self) -> bool {
        self.inner.close_for_exit()
    }

    /// Internal (the package's entry calls it from its `exit` handler): removes every raw,
    /// unredacted heap snapshot of this process that has a name (where the platform gives
    /// it no name, the kernel frees it with the process). Returns how many it removed.
    #[napi(catch_unwind)]
    pub fn discard_raw_snapshots() -> u32 {
        crate::heapdump::discard_named_raw_files()
    }

    /// Internal (the package's entry calls it): V8 has written the pending snapshot
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
            Some(p) => crate::heapdump::finish_off_thread(p, millis, error, move |dir, s| {
                let r = HeapSnapshotResult::new(dir, &s, None);
                deferred.resolve(Box::new(move |_| Ok(Some(r))));
            }),
        }
        Ok(PromiseRaw::new(env.raw(), promise.raw()))
    }

    /// Internal (the package's entry calls it once a dump's phase 2 is on disk): adds the
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
        type Settle = Box<dyn FnOnce(Env) -> Result<Option<String>>>;
        let (deferred, promise) = env.create_deferred::<Option<String>, Settle>()?;
        let max_sites = self
            .inner
            .config()
            .allocation_profile
            .map_or(crate::allocation::DEFAULT_MAX_SITES, |c| c.max_sites);
        let dir = self.inner.config().directory.clone();
        let job = move || {
            let outcome = std::panic::catch_unwind(|| {
                crate::allocation::attach_summary(&dir, &file_path, &section, max_sites)
            })
            .unwrap_or_else(|p| {
                Err(format!(
                    "internal error (panic): {}",
                    crate::background::panic_message(p.as_ref())
                ))
            });
            let r = outcome.err();
            deferred.resolve(Box::new(move |_| Ok(r)));
        };
        if let Err(job) = crate::background::submit(Box::new(job)) {
            job();
        }
        Ok(PromiseRaw::new(env.raw(), promise.raw()))
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
    #[napi(getter, catch_unwind)]
    pub fn session_id(&self) -> String {
        self.inner.session_short_id()
    }
}

/// The figures behind `observedFigures` (from element 1), in order:
/// `heapStatistics.<key>` then `memoryUsage.<key>`.
#[napi(catch_unwind)]
pub fn observed_figure_keys() -> Vec<String> {
    crate::recorder::observed_figure_keys()
}

/// Test builds only: makes the code panic at a named point (`phase1`, `phase2`, or a
/// probe name such as `status`) to prove that panics never reach Node.
#[cfg(feature = "test-hooks")]
#[napi(catch_unwind)]
pub fn test_arm_panic(point: String, on: bool) {
    crate::test_hooks::arm(&point, on);
}

impl Drop for MemoryDiagnosticsDumper {
    /// A dumper collected by the GC (or a worker shutting down) stops its recorder.
    fn drop(&mut self) {
        self.inner.close("released");
        if let Some(s) = self.settler.get_mut().take() {
            s.release();
        }
    }
}

/// Benchmark builds only: `mallinfo2`'s cost with `fragment` small blocks allocated and
/// every other one freed, and the slowest `malloc` of another thread without and with it.
#[cfg(feature = "test-hooks")]
#[napi(object)]
pub struct MallinfoBench {
    pub call_nanos: Vec<f64>,
    pub malloc_max_nanos_idle: f64,
    pub malloc_max_nanos_during: f64,
    pub free_retained_bytes: f64,
    pub in_use_bytes: f64,
}

#[cfg(feature = "test-hooks")]
#[napi(catch_unwind)]
pub fn bench_mallinfo2(fragment: u32, calls: u32) -> Result<MallinfoBench> {
    let b = crate::probes::malloc::bench::run(fragment as usize, calls as usize)
        .map_err(Error::from_reason)?;
    Ok(MallinfoBench {
        call_nanos: b.call_nanos.iter().map(|n| *n as f64).collect(),
        malloc_max_nanos_idle: b.malloc_max_nanos_idle as f64,
        malloc_max_nanos_during: b.malloc_max_nanos_during as f64,
        free_retained_bytes: b.free_retained_bytes as f64,
        in_use_bytes: b.in_use_bytes as f64,
    })
}

/// Test and benchmark builds only: the unarmed phase 1's own work (exclusive create,
/// write, no-replace rename) for `bytes`, with no serialization.
#[cfg(feature = "test-hooks")]
#[napi(catch_unwind)]
pub fn bench_write_floor(dir: String, name: String, bytes: Buffer) -> Result<()> {
    crate::writer::write_new(
        std::path::Path::new(&dir),
        &name,
        &bytes,
        crate::writer::Durability::ProcessCrash,
    )
    .map(|_| ())
    .map_err(|e| Error::from_reason(e.to_string()))
}

#[cfg(feature = "test-hooks")]
static FLOOR_ARMED: parking_lot::Mutex<Option<crate::writer::Armed>> =
    parking_lot::Mutex::new(None);

/// Test and benchmark builds only: opens (untimed) the pre-opened file for
/// [`bench_link_floor`].
#[cfg(feature = "test-hooks")]
#[napi(catch_unwind)]
pub fn bench_link_floor_arm(dir: String) -> Result<()> {
    let a = crate::writer::Armed::arm(std::path::Path::new(&dir), 64 * 1024)
        .map_err(|e| Error::from_reason(e.to_string()))?;
    *FLOOR_ARMED.lock() = Some(a);
    Ok(())
}

/// Test and benchmark builds only: the physical floor of armed phase 1, one write of
/// `bytes` into the pre-opened file and one link to `name`.
#[cfg(feature = "test-hooks")]
#[napi(catch_unwind)]
pub fn bench_link_floor(name: String, bytes: Buffer) -> Result<()> {
    let mut a = FLOOR_ARMED
        .lock()
        .take()
        .ok_or_else(|| Error::from_reason("benchLinkFloorArm() first"))?;
    a.land_bytes(&name, &bytes)
        .map(|_| ())
        .map_err(|e| Error::from_reason(e.to_string()))
}

/// Test builds only: switches the dumper's arming off (forcing the unarmed phase 1) or on.
#[cfg(feature = "test-hooks")]
#[napi(catch_unwind)]
pub fn test_set_arming(dumper: &MemoryDiagnosticsDumper, on: bool) {
    dumper.inner.arm_slot().set_disabled(!on);
    if on {
        dumper.inner.arm_slot().rearm();
    }
}

/// Test builds only: bytes reserved by the dumper's armed phase-1 file, or null when
/// none is armed.
#[cfg(feature = "test-hooks")]
#[napi(catch_unwind)]
pub fn test_armed_bytes(dumper: &MemoryDiagnosticsDumper) -> Option<f64> {
    dumper.inner.arm_slot().reserved().map(|b| b as f64)
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
    out: collector::Phase2Outcome,
    ticket: Ticket,
) {
    let mut r = DumpOutcome::new(meta, out.complete, true, out.error);
    r.heap_snapshot = out.heap.map(|(s, t)| HeapSnapshotResult::new(dir, &s, t));
    // SAFETY: the settler calls this on the JS thread with a live env; `r` is an owned plain value.
    ticket.settle(Box::new(move |env| unsafe {
        DumpOutcome::to_napi_value(env, r)
    }));
}

fn parse_trigger(v: &Unknown) -> Result<Trigger> {
    let (raw, _) = raw_value(v, 64)?;
    match &raw {
        RawValue::Text(s) => Trigger::parse(s),
        _ => None,
    }
    .ok_or_else(|| {
        invalid(InvalidArg::new(
            "trigger",
            Trigger::ACCEPTED,
            raw.describe(),
        ))
    })
}

fn read_input(v: &Unknown) -> Result<TriggerInput> {
    let obj = expect_object(v, "input")?;
    let mut checker = InputChecker::new();
    let heap = expect_object(
        &obj.get_named_property::<Unknown>("heapStatistics")?,
        "input.heapStatistics",
    )?;
    let usage = expect_object(
        &obj.get_named_property::<Unknown>("memoryUsage")?,
        "input.memoryUsage",
    )?;
    let v8_heap_stats = number_map(&mut checker, "heapStatistics", &heap, HEAP_STAT_FIELDS)?;
    let memory_usage = number_map(&mut checker, "memoryUsage", &usage, MEMORY_USAGE_FIELDS)?;

    let spaces_v = obj.get_named_property::<Unknown>("heapSpaces")?;
    let v8_heap_spaces = match spaces_v.get_type()? {
        ValueType::Undefined | ValueType::Null => None,
        _ if spaces_v.is_array()? => {
            // SAFETY: the value was checked to be an array (an object) on the line above.
            let arr = unsafe { spaces_v.cast::<Object>() }?;
            let len = arr.get_array_length()? as usize;
            if len > MAX_HEAP_SPACES {
                checker.too_many_spaces(len);
            }
            let mut spaces = Vec::with_capacity(len.min(MAX_HEAP_SPACES));
            for i in 0..len.min(MAX_HEAP_SPACES) {
                let item = arr.get_element::<Unknown>(i as u32)?;
                let Ok(space) = expect_object(&item, "heapSpaces[]") else {
                    checker.warnings.push(format!(
                        "heapSpaces[{i}]: expected an object, got {}; skipped",
                        type_name(&item)?
                    ));
                    continue;
                };
                let name = raw_value(&space.get_named_property::<Unknown>("space_name")?, 256)?.0;
                let mut err = None;
                let s = checker.heap_space(i, &name, |k| {
                    read_prop(&space, k).unwrap_or_else(|e| {
                        err = Some(e);
                        RawValue::Missing
                    })
                });
                if let Some(e) = err {
                    return Err(e);
                }
                spaces.push(s);
            }
            Some(spaces)
        }
        _ => {
            return Err(invalid(InvalidArg::new(
                "input.heapSpaces",
                "an array (v8.getHeapSpaceStatistics()) or undefined",
                type_name(&spaces_v)?,
            )))
        }
    };

    let session_v = obj.get_named_property::<Unknown>("session")?;
    let mut session = Vec::new();
    match session_v.get_type()? {
        ValueType::Undefined | ValueType::Null => {}
        ValueType::Object if !session_v.is_array()? => {
            // SAFETY: the match arm checked the value is a non-array object.
            let sobj = unsafe { session_v.cast::<Object>() }?;
            let keys = sobj.get_all_property_names(
                KeyCollectionMode::OwnOnly,
                KeyFilter::Enumerable,
                KeyConversion::NumbersToStrings,
            )?;
            let n = keys.get_array_length()? as usize;
            if n > MAX_SESSION_KEYS {
                checker.too_many_session_keys(n);
            }
            for i in 0..n.min(MAX_SESSION_KEYS) {
                let key_v = keys.get_element::<Unknown>(i as u32)?;
                // The value is looked up by the key itself, not by its UTF-8 text, which
                // may be cut, hold a NUL or a replaced lone surrogate. Four bytes a
                // character: the text read holds the characters the document keeps.
                let value = sobj.get_property::<Unknown, Unknown>(key_v)?;
                let (RawValue::Text(key), key_cut) = raw_value(&key_v, MAX_SESSION_KEY_CHARS * 4)?
                else {
                    continue;
                };
                let (raw, cut) = raw_value(&value, MAX_STRING_READ_BYTES)?;
                if let Some(entry) = checker.session_entry(&key, key_cut, raw, cut, &session) {
                    session.push(entry);
                }
            }
        }
        _ => {
            return Err(invalid(InvalidArg::new(
                "input.session",
                "a flat object of numbers, strings and booleans, or undefined",
                type_name(&session_v)?,
            )))
        }
    }

    let resources_v = obj.get_named_property::<Unknown>("activeResources")?;
    let active_resources = match resources_v.get_type()? {
        ValueType::Undefined | ValueType::Null => None,
        ValueType::Object if !resources_v.is_array()? => Some(flat_numbers(
            &mut checker,
            "activeResources",
            // SAFETY: the match arm checked the value is a non-array object.
            &unsafe { resources_v.cast::<Object>() }?,
            MAX_RESOURCE_TYPES,
            true,
        )?),
        _ => {
            return Err(invalid(InvalidArg::new(
                "input.activeResources",
                "a flat object of counts by resource type, or undefined",
                type_name(&resources_v)?,
            )))
        }
    };

    let samples_v = obj.get_named_property::<Unknown>("samples")?;
    let samples = match samples_v.get_type()? {
        ValueType::Undefined | ValueType::Null => None,
        _ if samples_v.is_array()? => {
            // SAFETY: the value was checked to be an array (an object) on the line above.
            let arr = unsafe { samples_v.cast::<Object>() }?;
            let len = arr.get_array_length()? as usize;
            // The most recent samples are the ones that matter: keep the last ones.
            let first = len.saturating_sub(MAX_SAMPLES);
            if first > 0 {
                checker.cut("samples", "samples", len, "last", MAX_SAMPLES);
            }
            let mut out = Vec::with_capacity(len - first);
            for i in first..len {
                let item = arr.get_element::<Unknown>(i as u32)?;
                match item.get_type()? {
                    ValueType::Object if !item.is_array()? => {
                        // SAFETY: the match arm checked the value is a non-array object.
                        let o = unsafe { item.cast::<Object>() }?;
                        out.push(flat_numbers(
                            &mut checker,
                            &format!("samples[{i}]"),
                            &o,
                            MAX_SAMPLE_KEYS,
                            false,
                        )?);
                    }
                    _ => checker.warnings.push(format!(
                        "samples[{i}]: expected a flat object of numbers, got {}; skipped",
                        type_name(&item)?
                    )),
                }
            }
            Some(out)
        }
        _ => {
            return Err(invalid(InvalidArg::new(
                "input.samples",
                format!("an array of at most {MAX_SAMPLES} flat objects of numbers, or undefined"),
                type_name(&samples_v)?,
            )))
        }
    };

    Ok(TriggerInput {
        at_trigger: AtTrigger {
            memory_usage,
            v8_heap_stats,
            v8_heap_spaces,
            active_resources,
        },
        session,
        warnings: checker.warnings,
        samples,
        watchdog: None,
    })
}

/// A flat `name -> number` object, at most `max_keys` entries (the first ones kept).
fn flat_numbers(
    checker: &mut InputChecker,
    container: &str,
    obj: &Object,
    max_keys: usize,
    counts: bool,
) -> Result<NamedNumbers> {
    let keys = own_keys(obj)?;
    if keys.len() > max_keys {
        checker.cut(container, "keys", keys.len(), "first", max_keys);
    }
    let mut out = Vec::with_capacity(keys.len().min(max_keys));
    for key in keys.iter().take(max_keys) {
        let raw = read_prop(obj, key)?;
        if let Some(entry) = checker.named_number(container, key, &raw, counts) {
            out.push(entry);
        }
    }
    Ok(NamedNumbers(out))
}

/// The own enumerable string keys of an options object.
fn own_keys(obj: &Object) -> Result<Vec<String>> {
    let keys = obj.get_all_property_names(
        KeyCollectionMode::OwnOnly,
        KeyFilter::Enumerable,
        KeyConversion::NumbersToStrings,
    )?;
    let n = keys.get_array_length()?;
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        if let (RawValue::Text(k), _) = raw_value(&keys.get_element::<Unknown>(i)?, 256)? {
            out.push(k);
        }
    }
    Ok(out)
}

fn number_map(
    checker: &mut InputChecker,
    container: &str,
    obj: &Object,
    fields: &[(&str, &'static str, bool)],
) -> Result<crate::report::NumberMap> {
    let mut err = None;
    let map = checker.number_map(container, fields, |k| {
        read_prop(obj, k).unwrap_or_else(|e| {
            err = Some(e);
            RawValue::Missing
        })
    });
    match err {
        Some(e) => Err(e),
        None => Ok(map),
    }
}

/// Reads one property for validation. The usual case, a number, costs two Node-API calls
/// (get it, read it as a double) and no allocation: the key is NUL-terminated on the stack.
fn read_prop(obj: &Object, key: &str) -> Result<RawValue> {
    let mut buf = [0u8; 64];
    let bytes = key.as_bytes();
    if bytes.len() >= buf.len() || bytes.contains(&0) {
        return raw_value(&obj.get_named_property::<Unknown>(key)?, 64).map(|v| v.0);
    }
    buf[..bytes.len()].copy_from_slice(bytes);
    let env = obj.value().env;
    let mut value = ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated (its length was checked above) and outlives the call; `obj` and `env` belong to the current call.
    check_status!(unsafe {
        sys::napi_get_named_property(env, obj.raw(), buf.as_ptr() as *const c_char, &mut value)
    })?;
    let mut n = 0f64;
    // SAFETY: `value` was just returned by `napi_get_named_property` in this env; a non-number gives an error status, not UB.
    if unsafe { sys::napi_get_value_double(env, value, &mut n) } == sys::Status::napi_ok {
        return Ok(RawValue::Number(n));
    }
    // SAFETY: `value` is a live handle in this env (see above).
    let v = unsafe { Unknown::from_napi_value(env, value) }?;
    raw_value(&v, 64).map(|v| v.0)
}

fn expect_object<'env>(v: &Unknown<'env>, field: &str) -> Result<Object<'env>> {
    match v.get_type()? {
        // SAFETY: the value's type was checked to be an object by the match.
        ValueType::Object => Ok(unsafe { v.cast::<Object>() }?),
        _ => Err(invalid(InvalidArg::new(field, "an object", type_name(v)?))),
    }
}

fn type_name(v: &Unknown) -> Result<String> {
    Ok(match v.get_type()? {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::String => "a string",
        ValueType::Symbol => "a symbol",
        ValueType::Object if v.is_array()? => "an array",
        ValueType::Object => "an object",
        ValueType::Function => "a function",
        ValueType::External => "an external",
        ValueType::BigInt => "a bigint",
        _ => "an unknown value",
    }
    .to_string())
}

/// An options value read whole for validation: objects (down to `depth` levels) as
/// their own enumerable keys and values, arrays as their items (at most
/// `options::MAX_LIST_ITEMS`: more is not
/// a list of triggers), strings whole, anything else by its kind.
fn raw_tree(v: &Unknown, depth: u8) -> Result<RawValue> {
    match v.get_type()? {
        ValueType::Object if v.is_array()? => {
            // SAFETY: the value was checked to be an array (an object) just above.
            let arr = unsafe { v.cast::<Object>() }?;
            let len = arr.get_array_length()?;
            if len as usize > options::MAX_LIST_ITEMS {
                return Ok(RawValue::Other("array"));
            }
            (0..len)
                .map(|i| raw_value(&arr.get_element::<Unknown>(i)?, 64).map(|v| v.0))
                .collect::<Result<Vec<_>>>()
                .map(RawValue::List)
        }
        ValueType::Object if depth > 0 => {
            // SAFETY: the match checked the value is an object.
            let obj = unsafe { v.cast::<Object>() }?;
            let keys = own_keys(&obj)?;
            let mut kv = Vec::with_capacity(keys.len());
            for k in keys {
                let value = obj.get_named_property::<Unknown>(&k)?;
                kv.push((k, raw_tree(&value, depth - 1)?));
            }
            Ok(RawValue::Object(kv))
        }
        _ => raw_value(v, usize::MAX).map(|v| v.0),
    }
}

/// Converts a JS value for validation, reading at most `max_bytes` of a string. The
/// flag says the string was longer than that.
fn raw_value(v: &Unknown, max_bytes: usize) -> Result<(RawValue, bool)> {
    Ok(match v.get_type()? {
        ValueType::Undefined => (RawValue::Missing, false),
        ValueType::Null => (RawValue::Other("null"), false),
        // SAFETY: the match checked the value is a number.
        ValueType::Number => (RawValue::Number(unsafe { v.cast::<f64>() }?), false),
        // SAFETY: the match checked the value is a boolean.
        ValueType::Boolean => (RawValue::Bool(unsafe { v.cast::<bool>() }?), false),
        ValueType::String => {
            let (s, cut) = read_string_bounded(v, max_bytes)?;
            (RawValue::Text(s), cut)
        }
        ValueType::Object if v.is_array()? => (RawValue::Other("array"), false),
        ValueType::Object => (RawValue::Other("object"), false),
        ValueType::Function => (RawValue::Other("function"), false),
        ValueType::BigInt => (RawValue::Other("bigint"), false),
        ValueType::Symbol => (RawValue::Other("symbol"), false),
        _ => (RawValue::Other("unknown"), false),
    })
}

fn read_string_bounded(v: &Unknown, max_bytes: usize) -> Result<(String, bool)> {
    let env = v.value().env;
    let value = v.raw();
    let mut len = 0usize;
    // SAFETY: `value` is a string handle (checked by the caller's match) in this env; a null buffer asks only for the length.
    check_status!(unsafe {
        sys::napi_get_value_string_utf8(env, value, ptr::null_mut(), 0, &mut len)
    })?;
    let want = len.min(max_bytes);
    let mut buf = vec![0u8; want + 1];
    let mut written = 0usize;
    // SAFETY: `buf` holds `buf.len()` writable bytes, room for `want` bytes and the NUL Node-API appends.
    check_status!(unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            buf.as_mut_ptr() as *mut c_char,
            buf.len(),
            &mut written,
        )
    })?;
    buf.truncate(written);
    let s = match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Ok((s, len > max_bytes))
}
