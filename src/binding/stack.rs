//! The stack helper's calls (`watchdog.captureStack`): lib/dumper/stack-worker.js polls for a
//! request, hands back the frames it saw and says when it starts and why it ends; the main
//! thread says why none runs. Internal to the package: the helper and `lib/dumper/stack-helper.js` are the
//! only callers. Plain values only, so none of these can fail.

use napi::Env;
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

/// The helper thread (the caller) is running. Its end is noticed on its own thread, by its
/// environment's cleanup: while the main thread is blocked, a capture under way then says
/// why instead of waiting out the budget.
#[napi(catch_unwind)]
pub fn stack_helper_started(env: Env) {
    let id = crate::recorder::stack_capture::helper_started();
    let _ = env.add_env_cleanup_hook(id, |id| {
        // Runs during the thread's teardown, outside any JS call: nothing may unwind.
        let _ = std::panic::catch_unwind(|| crate::recorder::stack_capture::helper_ended(id));
    });
}

/// Why the helper thread is ending, said before it ends (its `exit` event, or the main
/// thread ending it).
#[napi(catch_unwind)]
pub fn stack_helper_ending(why: String) {
    crate::recorder::stack_capture::helper_ending(&why);
}

/// No helper thread runs, and why (the main thread: starting, replacing, or not for now).
#[napi(catch_unwind)]
pub fn stack_helper_absent(why: String) {
    crate::recorder::stack_capture::helper_absent(&why);
}
