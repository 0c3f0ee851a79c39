//! The one background thread that runs phase 2, retention and sweeps.
//!
//! Phase 2 must not depend on the libuv threadpool (the host may have it saturated with
//! file reads exactly when memory pressure hits), and spawning a thread per dump would
//! put thread creation on the JS thread's phase-1 path. So jobs go over a channel to a
//! long-lived thread of our own. A job that panics is caught there; the thread lives on.
//! The thread never keeps Node alive: it is a plain OS thread that Node knows nothing
//! of, and process exit ends it wherever it is (the phase-1 file is already complete).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Sender};

use parking_lot::Mutex;

pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// The message of a caught panic, for error reports.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

static QUEUE: Mutex<Option<Sender<Job>>> = Mutex::new(None);

/// Queues `job` for the background thread, starting the thread if needed. Gives the
/// job back if no thread could be started (the caller then reports the failure).
pub fn submit(job: Job) -> Result<(), Job> {
    let mut queue = QUEUE.lock();
    let job = match queue.as_ref() {
        Some(tx) => match tx.send(job) {
            Ok(()) => return Ok(()),
            // The thread is gone (it cannot normally exit); start a new one.
            Err(e) => e.0,
        },
        None => job,
    };
    let (tx, rx) = channel::<Job>();
    let spawned = std::thread::Builder::new()
        .name("mdd-collector".into())
        .stack_size(512 * 1024)
        .spawn(move || {
            while let Ok(job) = rx.recv() {
                let _ = catch_unwind(AssertUnwindSafe(job));
            }
        });
    if spawned.is_err() {
        *queue = None;
        return Err(job);
    }
    match tx.send(job) {
        Ok(()) => {
            *queue = Some(tx);
            Ok(())
        }
        Err(e) => Err(e.0),
    }
}

/// Starts the background thread now, if it is not running: a dumper calls this when it
/// is made, so that its first dump does not create the thread on the JS thread (an mmap
/// of its stack and a clone, about a tenth of a millisecond).
pub fn start() {
    let _ = submit(Box::new(|| {}));
}

/// Whether the background thread has been started (and not found gone since).
pub fn started() -> bool {
    QUEUE.lock().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;
    use std::time::Duration;

    #[test]
    fn start_leaves_the_thread_running_for_the_first_job() {
        start();
        assert!(started());
        let (tx, rx) = sync_channel(1);
        submit(Box::new(move || tx.send(()).unwrap()))
            .map_err(|_| "no thread")
            .unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }

    #[test]
    fn jobs_run_in_order_off_the_caller_thread_and_survive_panics() {
        let (tx, rx) = sync_channel(8);
        let caller = std::thread::current().id();
        let t1 = tx.clone();
        submit(Box::new(move || {
            t1.send((1, std::thread::current().id())).unwrap()
        }))
        .map_err(|_| "no thread")
        .unwrap();
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        submit(Box::new(|| panic!("job failure")))
            .map_err(|_| "no thread")
            .unwrap();
        let t2 = tx.clone();
        submit(Box::new(move || {
            t2.send((2, std::thread::current().id())).unwrap()
        }))
        .map_err(|_| "no thread")
        .unwrap();
        let a = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let b = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        std::panic::set_hook(prev);
        assert_eq!((a.0, b.0), (1, 2));
        assert_ne!(a.1, caller);
        assert_eq!(a.1, b.1, "one thread serves all jobs, even after a panic");
    }
}
