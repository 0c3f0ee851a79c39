//! The stack helper's calls (`watchdog.captureStack`): lib/dumper/stack-worker.js polls for a
//! request and hands back the frames it saw; the main thread says whether it runs. Internal to the package: the helper and `lib/dumper/stack-helper.js` are the
//! only callers. Plain values only, so none of these can fail.

use napi_derive::napi;

/// The request to answer (0: none). Never blocks: the helper's event loop stays free, so
/// the worker ends with the process.
#[napi(catch_unwind)]
pub fn stack_helper_poll() -> f64 {
    crate::recorder::stack_capture::poll() as f64
}

/// The helper's answer to request `generation`: `{"frames":[...]}` or `{"error":"..."}`.
#[napi(catch_unwind)]
pub fn stack_helper_deliver(generation: f64, answer: String) {
    if generation.is_finite() && generation >= 1.0 {
        crate::recorder::stack_capture::deliver(generation as u64, &answer);
    }
}

/// The helper is running (`true`), or is not, and why.
#[napi(catch_unwind)]
pub fn stack_helper_state(running: bool, problem: Option<String>) {
    crate::recorder::stack_capture::set_helper(running, problem);
}
