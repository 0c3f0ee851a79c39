//! What the promises resolve to: `DumpResult` (a dump, written or skipped, and its
//! phase-2 outcome) and `HeapSnapshotResult` (the heap snapshot that followed it), built
//! from the core's plain values and converted to JS objects whose fields appear only
//! where they apply, as typings/header.d.ts documents them.

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use crate::config::Trigger;
use crate::dump::admission::Admission;
use crate::dump::DumpMeta;

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
    pub(super) heap_snapshot: Option<HeapSnapshotResult>,
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
    /// Internal: `lib/dumper/heap-snapshot.js` takes a pending snapshot by this number.
    pub ticket: Option<u32>,
}

impl HeapSnapshotResult {
    pub(super) fn new(
        dir: &std::path::Path,
        s: &crate::report::HeapSnapshotSection,
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
    pub(super) fn new(
        meta: &DumpMeta,
        complete: bool,
        written: bool,
        error: Option<String>,
    ) -> Self {
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

    pub(super) fn not_written(
        trigger: Trigger,
        error: Option<String>,
        admission: Option<Admission>,
    ) -> Self {
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

/// How the process ended, as `lib/dumper/process-end.js` saw it from its `exit` event
/// (`closeForExit`): checked by `recorder::process_end`.
#[napi(object)]
pub struct ProcessEndInput {
    pub code: Option<f64>,
    pub how: Option<String>,
    pub error_class: Option<String>,
    pub function: Option<String>,
    pub script: Option<String>,
    pub line: Option<f64>,
    pub column: Option<f64>,
}

impl ProcessEndInput {
    pub fn checked(self) -> Option<crate::report::ProcessEnd> {
        let whole = |v: Option<f64>| {
            v.filter(|n| n.fract() == 0.0 && *n >= 0.0 && *n <= u32::MAX as f64)
                .map(|n| n as u32)
        };
        let frame = self.script.map(|script| crate::report::StackFrame {
            function: self.function.unwrap_or_default(),
            script,
            line: whole(self.line),
            column: whole(self.column),
        });
        let code = self
            .code
            .filter(|n| n.fract() == 0.0 && n.abs() <= i32::MAX as f64)
            .map(|n| n as i32);
        crate::recorder::process_end(
            code,
            self.how.as_deref(),
            self.error_class.as_deref(),
            frame,
        )
    }
}
