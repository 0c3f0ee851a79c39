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
//!   the process) and hands back what it saw with [`deliver`];
//! - the helper says it runs ([`helper_started`]); its end is known on its own thread
//!   ([`helper_ended`], with why if it said so: [`helper_ending`]), so a capture under way
//!   says why at once even while the main thread is blocked; the main thread says why none
//!   runs ([`helper_absent`]) until it has started another.
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

/// One capture serves every dumper whose watchdog sees the stall: its watchdog thread
/// asks while a capture is waiting for the helper or under way, so it joins that capture
/// instead of asking anew (a newer request used to supersede an older one's answer: with 20
/// dumpers, 19 stall dumps had no stack). Generations only grow, so an answer of generation
/// `g` was captured after every request of a generation `<= g` was made.
struct State {
    /// The last generation made.
    made: u64,
    /// The generation waiting for the helper to take it (0: none), and how many tickets
    /// wait for it (a request is withdrawn when none does).
    pending: u64,
    waiting: u32,
    /// The last generation the helper took (polled), and when.
    taken: u64,
    taken_at: Option<Instant>,
    /// The last answer, kept for every ticket it serves.
    answer: Option<(u64, Result<Vec<StackFrame>, String>)>,
    /// The running helper thread ([`helper_started`]; 0: none), the last one's number, and
    /// why it is ending when it said so ([`helper_ending`]).
    helper: u64,
    helpers: u64,
    last_words: Option<String>,
    /// Why no helper runs ([`helper_absent`], [`helper_ended`]); none: it had not started.
    helper_problem: Option<String>,
}

impl State {
    /// The taken generation has no answer yet: a capture is under way. The helper gives up
    /// on one before [`BUDGET_MS`]; one older than that will not be answered (its helper
    /// went away), and a new request asks anew.
    fn in_flight(&self) -> Option<u64> {
        let answered = self.answer.as_ref().map_or(0, |(g, _)| *g);
        let recent = self
            .taken_at
            .is_some_and(|t| t.elapsed() < Duration::from_millis(BUDGET_MS));
        (self.taken > answered && recent).then_some(self.taken)
    }

    /// A ticket of `generation` no longer waits: the last one withdraws the request.
    fn leave(&mut self, generation: u64) {
        if self.pending == generation && self.waiting > 0 {
            self.waiting -= 1;
            if self.waiting == 0 {
                self.pending = 0;
                let _ = CHANNEL.pending.compare_exchange(
                    generation,
                    0,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
            }
        }
    }
}

struct Channel {
    state: Mutex<State>,
    cond: Condvar,
    /// The generation waiting for the helper (0: none); what [`poll`] reads.
    pending: AtomicU64,
}

static CHANNEL: Channel = Channel {
    state: Mutex::new(State {
        made: 0,
        pending: 0,
        waiting: 0,
        taken: 0,
        taken_at: None,
        answer: None,
        helper: 0,
        helpers: 0,
        last_words: None,
        helper_problem: None,
    }),
    cond: Condvar::new(),
    pending: AtomicU64::new(0),
};

/// A request in flight, or an answer known at once.
#[derive(Debug, Clone)]
pub struct Ticket {
    generation: u64,
    started: Instant,
    immediate: Option<(&'static str, String)>,
}

/// Asks the helper for the main thread's stack, without waiting: joins the capture that
/// waits for the helper or is under way, or asks for a new one.
pub fn request() -> Ticket {
    let started = Instant::now();
    let mut st = CHANNEL.state.lock();
    if st.helper == 0 {
        let reason = match &st.helper_problem {
            Some(p) => format!("the stack helper thread is not running: {p}"),
            None => "the stack helper thread had not started yet".to_string(),
        };
        return Ticket {
            generation: 0,
            started,
            immediate: Some(("unavailable", reason)),
        };
    }
    let generation = if st.pending != 0 {
        st.waiting += 1;
        st.pending
    } else if let Some(g) = st.in_flight() {
        g
    } else {
        st.made += 1;
        let g = st.made;
        st.pending = g;
        st.waiting = 1;
        CHANNEL.pending.store(g, Ordering::SeqCst);
        g
    };
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

    /// Waits for an answer of this ticket's generation or a later one, until [`BUDGET_MS`]
    /// after the request. Never longer: a loop blocked in native code runs no JS, so it
    /// cannot answer. Any number of watchdog threads wait at once.
    pub fn wait(self) -> StackCapture {
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
        let answer = loop {
            match &st.answer {
                Some((g, a)) if *g >= self.generation => break Some(a.clone()),
                _ => {}
            }
            if CHANNEL.cond.wait_until(&mut st, deadline).timed_out() {
                break None;
            }
        };
        let taken = st.taken >= self.generation;
        if answer.is_none() {
            st.leave(self.generation);
        }
        drop(st);
        let capture_millis = millis(&self.started);
        match answer {
            Some(Ok(frames)) if !frames.is_empty() => StackCapture {
                status: "captured",
                reason: None,
                frames,
                capture_millis,
            },
            Some(Ok(_)) => unavailable(
                "the main thread's stack had no frames (the loop was no longer blocked in JavaScript)",
                capture_millis,
            ),
            Some(Err(e)) => unavailable(&e, capture_millis),
            None if taken => unavailable(
                &format!(
                    "the main thread ran no JavaScript within {BUDGET_MS} ms (blocked in native code, or in garbage collection), or the inspector did not pass the request on"
                ),
                capture_millis,
            ),
            None => unavailable(
                &format!("the stack helper thread did not take the request within {BUDGET_MS} ms"),
                capture_millis,
            ),
        }
    }

    /// The dump was not written (cap, cooldown, closed): this ticket will not wait (the
    /// request is withdrawn unless another ticket waits for it).
    pub fn cancel(self) {
        if self.immediate.is_none() {
            CHANNEL.state.lock().leave(self.generation);
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

/// The helper's poll: the generation to capture (0: nothing asked). Taking it marks it
/// taken, so a timeout can say whether the helper or the main thread did not answer, and
/// later requests join it while it is under way.
pub fn poll() -> u64 {
    let g = CHANNEL.pending.swap(0, Ordering::SeqCst);
    if g != 0 {
        let mut st = CHANNEL.state.lock();
        st.taken = st.taken.max(g);
        st.taken_at = Some(Instant::now());
        if st.pending == g {
            st.pending = 0;
            st.waiting = 0;
        }
    }
    g
}

/// The helper's answer for `generation`: `{"frames":[...]}` or `{"error":"..."}`. An answer
/// for anything but the capture under way, or a malformed one, is dropped (the watchdog
/// records the timeout).
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
    if st.in_flight() == Some(generation) {
        st.answer = Some((generation, answer));
        CHANNEL.cond.notify_all();
    }
}

/// A helper thread started; returns its number, for [`helper_ended`].
pub fn helper_started() -> u64 {
    let mut st = CHANNEL.state.lock();
    st.helpers += 1;
    st.helper = st.helpers;
    st.last_words = None;
    st.helper_problem = None;
    st.helper
}

/// Why the running helper thread is ending, said before it ends: its own `exit` event
/// (`process.exit()` in it), or the main thread ending it.
pub fn helper_ending(why: &str) {
    CHANNEL.state.lock().last_words = Some(crate::config::truncate_chars(why, 300).0);
}

/// Helper thread `id` has ended (its environment's cleanup, on its own thread, so this is
/// known while the main thread is blocked). A capture it had under way is answered with
/// why, and a later request says why no helper runs, until the main thread starts another.
pub fn helper_ended(id: u64) {
    let mut st = CHANNEL.state.lock();
    if st.helper != id {
        return;
    }
    st.helper = 0;
    let why = st.last_words.take().unwrap_or_else(|| {
        "it ended without running its exit handlers (it ran out of its own heap, or it was \
         terminated)"
            .to_string()
    });
    if let Some(g) = st.in_flight() {
        st.answer = Some((
            g,
            Err(format!(
                "the stack helper thread ended during the capture: {why}"
            )),
        ));
        CHANNEL.cond.notify_all();
    }
    st.helper_problem = Some(why);
}

/// No helper thread runs, and why (the main thread: starting one, replacing one that ended,
/// or not replacing it for now). Ignored while one runs.
pub fn helper_absent(why: &str) {
    let mut st = CHANNEL.state.lock();
    if st.helper == 0 {
        st.helper_problem = Some(crate::config::truncate_chars(why, 500).0);
    }
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
        let t = request();
        let c = t.wait();
        assert_eq!(c.status, "unavailable");
        assert!(c.reason.unwrap().contains("had not started"));

        let id = helper_started();

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

        // Several dumpers' watchdogs: requests made before the helper takes one join it, a
        // request made while it is under way joins it, and its one answer serves them all.
        let frames = r#"{"frames":[{"function":"spin","script":"/x/app.js","line":2,"column":3}]}"#;
        let (a, b) = (request(), request());
        let g = poll();
        assert_ne!(g, 0);
        assert_eq!(poll(), 0, "one capture for both");
        let c = request();
        assert_eq!(poll(), 0, "joined the capture under way");
        deliver(g, frames);
        for t in [a, b, c] {
            assert_eq!(t.wait().status, "captured");
        }
        // After the answer, a request asks anew; one ticket cancelled does not withdraw a
        // request that another waits for.
        let (d, e) = (request(), request());
        d.cancel();
        let g2 = poll();
        assert!(g2 > g, "{g2} after {g}");
        deliver(g2, frames);
        assert_eq!(e.wait().status, "captured");

        // Twenty watchdog threads at once, one helper: every one gets the stack.
        let waiters: Vec<_> = (0..20)
            .map(|i| {
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(i % 5 * 10));
                    request().wait()
                })
            })
            .collect();
        let helper = std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_millis(600);
            while Instant::now() < end {
                let g = poll();
                if g != 0 {
                    deliver(g, frames);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        for w in waiters {
            let c = w.join().unwrap();
            assert_eq!(c.status, "captured", "{c:?}");
        }
        helper.join().unwrap();

        // The helper ends during a capture: its waiters learn why at once, and so do later
        // requests, until another helper starts.
        let t = request();
        let g = poll();
        assert_ne!(g, 0);
        helper_ending("it exited with code 7");
        helper_ended(id + 1); // another helper's end changes nothing
        helper_ended(id);
        let c = t.wait();
        assert_eq!(
            c.reason.as_deref(),
            Some("the stack helper thread ended during the capture: it exited with code 7")
        );
        assert!(c.capture_millis < 100.0, "{c:?}");
        assert_eq!(
            request().wait().reason.as_deref(),
            Some("the stack helper thread is not running: it exited with code 7")
        );
        helper_absent("a new one is starting");
        assert!(request()
            .wait()
            .reason
            .unwrap()
            .ends_with("not running: a new one is starting"));
        // Without last words: the runtime ended it.
        let id = helper_started();
        helper_absent("ignored while one runs");
        helper_ended(id);
        assert!(request()
            .wait()
            .reason
            .unwrap()
            .contains("without running its exit handlers"));
    }
}
