//! Settles `dump()` promises from the background thread through one threadsafe function
//! per dumper, created with it, instead of one per call.
//!
//! - Idle, the function is unreferenced: a dumper never keeps Node alive. While promises
//!   are pending it is referenced, so a host that does not await its dump still gets the
//!   enriched document before Node exits (phase 2 takes milliseconds).
//! - Every job in flight holds its own acquisition, so `close()` (or the dumper being
//!   garbage-collected) releases the dumper's own share without stranding a pending
//!   promise; a dump after `close()` creates a new function.
//! - When Node tears the environment down (a worker ending with phases in flight), it
//!   finalizes the function: later settles drop their result instead of touching it,
//!   and results still queued are freed. Nothing is called on a dead environment.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use napi::{check_status, sys, Env, Error, Result, Status};
use parking_lot::Mutex;

/// Makes the settled value on the JS thread.
pub type MakeValue = Box<dyn FnOnce(sys::napi_env) -> Result<sys::napi_value> + Send>;

struct RawTsfn(sys::napi_threadsafe_function);
// SAFETY: the handle is only passed to Node-API calls documented as callable from any thread
// (call, acquire, release); ref and unref happen on the JS thread.
unsafe impl Send for RawTsfn {}

struct Shared {
    /// `None` once Node has finalized the function.
    raw: Mutex<Option<RawTsfn>>,
    /// Promises handed out and not settled yet (changed on the JS thread only).
    pending: AtomicUsize,
}

/// One per dumper, on the JS thread.
pub struct Settler {
    shared: Arc<Shared>,
}

/// One pending promise; sent to the job that settles it.
pub struct Ticket {
    shared: Arc<Shared>,
    deferred: Option<Deferred>,
}

struct Deferred(sys::napi_deferred);
// SAFETY: a deferred is only used on the JS thread (in `call_js`); the job merely carries it.
unsafe impl Send for Deferred {}

struct Delivery {
    shared: Arc<Shared>,
    deferred: Deferred,
    make: Option<MakeValue>,
}

impl Settler {
    pub fn new(env: &Env) -> Result<Settler> {
        let env = env.raw();
        // The function outlives a single call into the addon: keep the image mapped
        // for as long as the process lives (as napi-rs does for its own).
        napi::bindgen_prelude::retain_current_module_for_unload_safety();
        let shared = Arc::new(Shared {
            raw: Mutex::new(None),
            pending: AtomicUsize::new(0),
        });
        let name = "memoryDiagnosticsDump";
        let mut js_name = ptr::null_mut();
        // SAFETY: `name` outlives the call and its length is passed; `js_name` is a valid out-parameter; `env` is the live env of the calling JS thread.
        check_status!(unsafe {
            sys::napi_create_string_utf8(
                env,
                name.as_ptr().cast(),
                name.len() as isize,
                &mut js_name,
            )
        })?;
        let finalize_data = Arc::into_raw(shared.clone()) as *mut c_void;
        let mut raw = ptr::null_mut();
        // SAFETY: `env` is live on the JS thread; `finalize_data` is an `Arc` leaked for `finalize`, which Node calls once; `call_js` matches the expected signature.
        let status = unsafe {
            sys::napi_create_threadsafe_function(
                env,
                ptr::null_mut(),
                ptr::null_mut(),
                js_name,
                0,
                1,
                finalize_data,
                Some(finalize),
                ptr::null_mut(),
                Some(call_js),
                &mut raw,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: creation failed, so Node never took `finalize_data`: reclaim the `Arc` leaked above, once.
            drop(unsafe { Arc::from_raw(finalize_data as *const Shared) });
            return Err(Error::new(
                Status::from(status),
                "could not create the threadsafe function that settles dumps",
            ));
        }
        // SAFETY: `raw` was just created in this live env, on its JS thread.
        check_status!(unsafe { sys::napi_unref_threadsafe_function(env, raw) })?;
        *shared.raw.lock() = Some(RawTsfn(raw));
        Ok(Settler { shared })
    }

    /// A new pending promise and the ticket that settles it from any thread.
    pub fn promise(&self, env: &Env) -> Result<(Ticket, sys::napi_value)> {
        let env = env.raw();
        let raw = self.shared.raw.lock();
        let Some(tsfn) = raw.as_ref() else {
            return Err(Error::new(
                Status::Closing,
                "the dump settler was finalized",
            ));
        };
        // SAFETY: `tsfn` is held under the lock, so `finalize` has not released it; acquire may be called from any thread.
        check_status!(unsafe { sys::napi_acquire_threadsafe_function(tsfn.0) })?;
        let mut deferred = ptr::null_mut();
        let mut promise = ptr::null_mut();
        // SAFETY: `env` is the live env of the calling JS thread; both out-parameters are valid.
        let created = unsafe { sys::napi_create_promise(env, &mut deferred, &mut promise) };
        if created != sys::Status::napi_ok {
            // SAFETY: undoes the acquire above on the same, still-live function.
            unsafe {
                sys::napi_release_threadsafe_function(
                    tsfn.0,
                    sys::ThreadsafeFunctionReleaseMode::release,
                )
            };
            check_status!(created)?;
        }
        if self.shared.pending.fetch_add(1, Ordering::Relaxed) == 0 {
            // SAFETY: on the JS thread with a live env; the function is live (held under the lock).
            unsafe { sys::napi_ref_threadsafe_function(env, tsfn.0) };
        }
        Ok((
            Ticket {
                shared: self.shared.clone(),
                deferred: Some(Deferred(deferred)),
            },
            promise,
        ))
    }

    /// Gives up the dumper's share; pending promises still settle.
    pub fn release(self) {
        if let Some(tsfn) = self.shared.raw.lock().as_ref() {
            // SAFETY: the function is live (held under the lock); release may be called from any thread and balances the acquire of `promise`.
            unsafe {
                sys::napi_release_threadsafe_function(
                    tsfn.0,
                    sys::ThreadsafeFunctionReleaseMode::release,
                )
            };
        }
    }
}

/// A promise already resolved with what `make` builds, on the JS thread.
pub fn resolved(
    env: &Env,
    make: impl FnOnce(sys::napi_env) -> Result<sys::napi_value>,
) -> Result<sys::napi_value> {
    let env = env.raw();
    let value = make(env)?;
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    // SAFETY: `env` is the live env of the calling JS thread; both out-parameters are valid.
    check_status!(unsafe { sys::napi_create_promise(env, &mut deferred, &mut promise) })?;
    // SAFETY: `deferred` was just created and is resolved exactly once; `value` belongs to `env`.
    check_status!(unsafe { sys::napi_resolve_deferred(env, deferred, value) })?;
    Ok(promise)
}

impl Ticket {
    /// Resolves the promise with what `make` builds on the JS thread.
    pub fn settle(mut self, make: MakeValue) {
        self.deliver(Some(make));
    }

    fn deliver(&mut self, make: Option<MakeValue>) {
        let Some(deferred) = self.deferred.take() else {
            return;
        };
        let raw = self.shared.raw.lock();
        // Finalized: the environment is gone and so is the promise; drop the result.
        let Some(tsfn) = raw.as_ref() else {
            return;
        };
        let data = Box::into_raw(Box::new(Delivery {
            shared: self.shared.clone(),
            deferred,
            make,
        }));
        // SAFETY: the ticket holds an acquire on the function, so it is live; `data` is a leaked box that `call_js` reclaims exactly once, or we do below if the call is refused.
        let status = unsafe {
            sys::napi_call_threadsafe_function(
                tsfn.0,
                data.cast(),
                sys::ThreadsafeFunctionCallMode::nonblocking,
            )
        };
        if status != sys::Status::napi_ok {
            // Closing: the environment is being torn down.
            // SAFETY: the call was refused, so `call_js` never sees `data`: reclaim the box leaked above, once.
            drop(unsafe { Box::from_raw(data) });
        }
        // SAFETY: balances the ticket's acquire; callable from any thread.
        unsafe {
            sys::napi_release_threadsafe_function(
                tsfn.0,
                sys::ThreadsafeFunctionReleaseMode::release,
            )
        };
    }
}

impl Drop for Ticket {
    /// A ticket dropped unsettled (a job that never ran) still settles its promise,
    /// with `null`, so that no caller waits forever and the function's share is returned.
    fn drop(&mut self) {
        self.deliver(None);
    }
}

unsafe extern "C" fn call_js(
    env: sys::napi_env,
    _js_callback: sys::napi_value,
    _context: *mut c_void,
    data: *mut c_void,
) {
    if data.is_null() {
        return;
    }
    // SAFETY: `data` is the box leaked by `Ticket::settle`; Node hands each queued item to `call_js` exactly once.
    let mut delivery = unsafe { Box::from_raw(data as *mut Delivery) };
    // A null env: Node is tearing the environment down and frees what is queued.
    if env.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let value = match delivery.make.take() {
            Some(make) => make(env),
            None => {
                let mut null = ptr::null_mut();
                // SAFETY: `env` is live (checked non-null above) and this runs on its JS thread.
                check_status!(unsafe { sys::napi_get_null(env, &mut null) }).map(|_| null)
            }
        };
        match value {
            // SAFETY: the deferred was created for this delivery and is settled exactly once, here, on the JS thread.
            Ok(v) => unsafe { sys::napi_resolve_deferred(env, delivery.deferred.0, v) },
            Err(e) => {
                let mut msg = ptr::null_mut();
                let mut err = ptr::null_mut();
                let text = e.reason.clone();
                // SAFETY: `text` outlives the calls and its length is passed; the deferred is settled exactly once, here, on the JS thread.
                unsafe {
                    sys::napi_create_string_utf8(
                        env,
                        text.as_ptr().cast(),
                        text.len() as isize,
                        &mut msg,
                    );
                    sys::napi_create_error(env, ptr::null_mut(), msg, &mut err);
                    sys::napi_reject_deferred(env, delivery.deferred.0, err)
                }
            }
        };
    }));
    if delivery.shared.pending.fetch_sub(1, Ordering::Relaxed) == 1 {
        if let Some(tsfn) = delivery.shared.raw.lock().as_ref() {
            // SAFETY: on the JS thread with a live env; the function is live (held under the lock).
            unsafe { sys::napi_unref_threadsafe_function(env, tsfn.0) };
        }
    }
}

unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the `Arc` leaked at creation for this finalizer, which Node calls once.
    let shared = unsafe { Arc::from_raw(data as *const Shared) };
    *shared.raw.lock() = None;
}
