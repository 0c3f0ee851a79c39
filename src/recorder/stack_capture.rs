//! The JS stack of a blocked event loop (`watchdog.captureStack`).
//!
//! When the watchdog fires, the main thread is stuck and cannot be asked anything. A
//! Node-API addon cannot reach V8's interrupt API portably, but Node's inspector can: a
//! helper worker thread (lib/dumper/stack-worker.js, started by `lib/dumper/stack-helper.js`)
//! connects a session to the main thread and has it evaluate a small stack reader, which
//! Node delivers by an interrupt while JS is running, on top of the code that blocks. It
//! pauses nothing and asks the inspector for nothing else (enabling the debugger or the
//! profiler costs a blocked main thread seconds with a large heap or large source maps:
//! docs/blocked-loop-stacks.md). This module is the rendezvous between the watchdog (the
//! recorder thread) and that helper:
//!
//! - the watchdog [`request`]s a stack before it writes phase 1, and waits for the answer
//!   ([`Ticket::wait`]) only after phase 2 has collected, so the two overlap;
//! - the helper polls [`poll`] (an atomic load; it never blocks, so the worker ends with
//!   the process) and hands back what it saw with [`deliver`].
//!
//! Only names and places cross: function name, script, line and column, and scripts go
//! through the place rule here ([`deliver`]). One channel per process: the helper connects
//! to the process's main thread, so a dumper made in a worker gets "unavailable" (decided
//! in JS).

pub use crate::report::{StackCapture, StackFrame};
use parking_lot::{Condvar, Mutex};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// At most this many frames, innermost first.
pub const MAX_FRAMES: usize = 32;
/// How long the watchdog waits for the stack, from its request. The helper polls every
/// [`POLL_MS`] and then gives the main thread the rest of this budget to run JS.
pub const BUDGET_MS: u64 = 1000;
/// How often the helper looks for a request (lib/dumper/stack-worker.js, via contract.json).
pub const POLL_MS: u64 = 50;

/// What the helper hands back, as JSON: frames, or why there are none.
#[derive(Debug, Deserialize)]
struct Delivered {
    #[serde(default)]
    frames: Option<Vec<StackFrame>>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Default)]
struct State {
    /// The last generation asked for.
    asked: u64,
    /// The generation the helper took up (it polled it).
    taken: u64,
    /// The answer to `asked`, once delivered.
    answer: Option<(u64, Result<Vec<StackFrame>, String>)>,
    /// The helper thread announced itself ([`set_helper`]) and has not gone away.
    helper: bool,
    /// Why the helper is not there, when it failed.
    helper_problem: Option<String>,
}

struct Channel {
    state: Mutex<State>,
    cond: Condvar,
    /// The generation waiting for the helper (0: none); what [`poll`] reads.
    pending: AtomicU64,
    /// One capture at a time (two dumpers' watchdogs firing together take turns).
    turn: Mutex<()>,
}

static CHANNEL: Channel = Channel {
    state: Mutex::new(State {
        asked: 0,
        taken: 0,
        answer: None,
        helper: false,
        helper_problem: None,
    }),
    cond: Condvar::new(),
    pending: AtomicU64::new(0),
    turn: Mutex::new(()),
};

/// A request in flight, or an answer known at once.
#[derive(Debug, Clone)]
pub struct Ticket {
    generation: u64,
    started: Instant,
    immediate: Option<(&'static str, String)>,
}

/// Asks the helper for the main thread's stack, without waiting.
pub fn request() -> Ticket {
    let started = Instant::now();
    let mut st = CHANNEL.state.lock();
    let immediate = if !st.helper {
        Some((
            "unavailable",
            match &st.helper_problem {
                Some(p) => format!("the stack helper thread is not running: {p}"),
                None => "the stack helper thread had not started yet".to_string(),
            },
        ))
    } else {
        None
    };
    if immediate.is_some() {
        return Ticket {
            generation: 0,
            started,
            immediate,
        };
    }
    st.asked += 1;
    st.answer = None;
    let generation = st.asked;
    CHANNEL.pending.store(generation, Ordering::SeqCst);
    Ticket {
        generation,
        started,
        immediate: None,
    }
}

impl Ticket {
    /// No request: the answer is known (`lib/dumper/stack-helper.js` said why no helper can serve
    /// this dumper, e.g. it lives in a worker thread).
    pub fn unavailable(reason: &str) -> Ticket {
        Ticket {
            generation: 0,
            started: Instant::now(),
            immediate: Some(("unavailable", reason.to_string())),
        }
    }

    /// Waits for the answer until [`BUDGET_MS`] after the request. Never longer: an idle
    /// loop or one blocked in native code runs no JS, so it cannot answer.
    pub fn wait(self) -> StackCapture {
        let _turn = CHANNEL.turn.lock();
        let millis = |t: &Instant| (t.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        if let Some((status, reason)) = self.immediate {
            return StackCapture {
                status,
                reason: Some(reason),
                frames: vec![],
                capture_millis: millis(&self.started),
            };
        }
        let deadline = self.started + Duration::from_millis(BUDGET_MS);
        let mut st = CHANNEL.state.lock();
        loop {
            if let Some((g, _)) = &st.answer {
                if *g == self.generation {
                    break;
                }
            }
            if st.asked != self.generation || CHANNEL.cond.wait_until(&mut st, deadline).timed_out()
            {
                break;
            }
        }
        let answer = match st.answer.take() {
            Some((g, a)) if g == self.generation => Some(a),
            _ => None,
        };
        let taken = st.taken == self.generation;
        drop(st);
        cancel(self.generation);
        let capture_millis = millis(&self.started);
        match answer {
            Some(Ok(frames)) if !frames.is_empty() => StackCapture {
                status: "captured",
                reason: None,
                frames,
                capture_millis,
            },
            Some(Ok(_)) => unavailable("the main thread's stack had no frames", capture_millis),
            Some(Err(e)) => unavailable(&e, capture_millis),
            None if taken => unavailable(
                &format!(
                    "the main thread ran no JavaScript within {BUDGET_MS} ms (blocked in native code, or in garbage collection)"
                ),
                capture_millis,
            ),
            None => unavailable(
                &format!("the stack helper thread did not take the request within {BUDGET_MS} ms"),
                capture_millis,
            ),
        }
    }

    /// The dump was not written (cap, cooldown, closed): nobody will wait for the answer.
    pub fn cancel(self) {
        if self.immediate.is_none() {
            cancel(self.generation);
        }
    }
}

fn unavailable(reason: &str, capture_millis: f64) -> StackCapture {
    StackCapture {
        status: "unavailable",
        reason: Some(reason.to_string()),
        frames: vec![],
        capture_millis,
    }
}

fn cancel(generation: u64) {
    let _ = CHANNEL
        .pending
        .compare_exchange(generation, 0, Ordering::SeqCst, Ordering::SeqCst);
}

/// The helper's poll: the generation to capture (0: nothing asked). Taking it marks it
/// taken, so a timeout can say whether the helper or the main thread did not answer.
pub fn poll() -> u64 {
    let g = CHANNEL.pending.swap(0, Ordering::SeqCst);
    if g != 0 {
        CHANNEL.state.lock().taken = g;
    }
    g
}

/// The helper's answer for `generation`: `{"frames":[...]}` or `{"error":"..."}`. A late
/// or malformed answer is dropped (the watchdog has moved on or records the timeout).
pub fn deliver(generation: u64, json: &str) {
    let answer = match serde_json::from_str::<Delivered>(json) {
        Ok(Delivered {
            frames: Some(mut frames),
            ..
        }) => {
            frames.truncate(MAX_FRAMES);
            let home = crate::places::home();
            for f in &mut frames {
                crate::places::clean_frame(f, home.as_deref());
            }
            Ok(frames)
        }
        Ok(Delivered { error: Some(e), .. }) => Err(crate::config::truncate_chars(&e, 500).0),
        Ok(_) => Err("the stack helper gave neither frames nor an error".to_string()),
        Err(e) => Err(format!("the stack helper's answer was not understood: {e}")),
    };
    let mut st = CHANNEL.state.lock();
    if st.asked == generation {
        st.answer = Some((generation, answer));
        CHANNEL.cond.notify_all();
    }
}

/// The helper started (`true`) or went away (`false`, with why).
pub fn set_helper(running: bool, problem: Option<String>) {
    let mut st = CHANNEL.state.lock();
    st.helper = running;
    st.helper_problem = problem;
}

/// One frame as `inspect` and the text summary print it.
pub fn frame_text(f: &StackFrame) -> String {
    match (f.line, f.column) {
        (Some(l), Some(c)) => format!("{} ({}:{l}:{c})", f.function, f.script),
        (Some(l), None) => format!("{} ({}:{l})", f.function, f.script),
        _ => format!("{} ({})", f.function, f.script),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The channel is one per process: these steps run in one test, in order.
    #[test]
    fn request_poll_deliver_wait_and_the_reasons_without_an_answer() {
        set_helper(false, None);
        let t = request();
        let c = t.wait();
        assert_eq!(c.status, "unavailable");
        assert!(c.reason.unwrap().contains("had not started"));

        set_helper(true, None);

        // A helper thread that answers.
        let t = request();
        let helper = std::thread::spawn(|| loop {
            let g = poll();
            if g != 0 {
                deliver(
                    g,
                    r#"{"frames":[{"function":"","script":"/x/app.js","line":3,"column":9},{"function":"main","script":"/x/app.js","line":10,"column":1}]}"#,
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        });
        let c = t.wait();
        helper.join().unwrap();
        assert_eq!(c.status, "captured", "{c:?}");
        assert_eq!(c.frames.len(), 2);
        assert_eq!(c.frames[0].function, "(anonymous)");
        assert_eq!(c.frames[0].line, Some(3));
        assert_eq!(frame_text(&c.frames[1]), "main (/x/app.js:10:1)");
        assert!(c.capture_millis < BUDGET_MS as f64 + 500.0);

        // Taken but never answered: the main thread ran no JS.
        let t = request();
        assert_ne!(poll(), 0);
        let c = t.wait();
        assert_eq!(c.status, "unavailable");
        assert!(
            c.reason.as_deref().unwrap().contains("ran no JavaScript"),
            "{c:?}"
        );
        assert!(c.capture_millis >= BUDGET_MS as f64 - 1.0);

        // Never taken.
        let t = request();
        let c = t.wait();
        assert!(
            c.reason.as_deref().unwrap().contains("did not take"),
            "{c:?}"
        );
        assert_eq!(poll(), 0, "a request given up is withdrawn");

        // The helper's own error, and an answer that came too late.
        let t = request();
        let g = poll();
        deliver(g, r#"{"error":"the inspector is not available"}"#);
        let c = t.wait();
        assert_eq!(c.reason.as_deref(), Some("the inspector is not available"));
        deliver(g, r#"{"frames":[]}"#);
        let t = request();
        let g2 = poll();
        deliver(g2, "not json");
        let c = t.wait();
        assert!(c.reason.unwrap().contains("not understood"));

        // Many frames are cut to 32; a cancelled request is withdrawn.
        let t = request();
        let g = poll();
        let many: Vec<String> = (0..40)
            .map(|i| format!(r#"{{"function":"f{i}","script":"a.js","line":{i},"column":1}}"#))
            .collect();
        deliver(g, &format!(r#"{{"frames":[{}]}}"#, many.join(",")));
        assert_eq!(t.wait().frames.len(), MAX_FRAMES);
        let t = request();
        t.cancel();
        assert_eq!(poll(), 0);
        set_helper(false, Some("the worker exited".into()));
        assert!(request()
            .wait()
            .reason
            .unwrap()
            .contains("the worker exited"));
    }
}
