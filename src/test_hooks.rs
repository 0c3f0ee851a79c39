//! Fault points for tests: with the `test-hooks` feature, tests can make the code panic
//! at named points to prove that no panic reaches Node. Without the feature (every
//! published build), `check` compiles to nothing.

#[cfg(feature = "test-hooks")]
mod enabled {
    use parking_lot::Mutex;

    static ARMED: Mutex<Vec<String>> = Mutex::new(Vec::new());

    pub fn arm(point: &str, on: bool) {
        let mut armed = ARMED.lock();
        armed.retain(|p| p != point);
        if on {
            armed.push(point.to_string());
        }
    }

    pub fn check(point: &str) {
        if armed(point) {
            panic!("test hook: injected panic at {point}");
        }
    }

    pub fn armed(point: &str) -> bool {
        ARMED.lock().iter().any(|p| p == point)
    }
}

#[cfg(feature = "test-hooks")]
pub use enabled::{arm, armed, check};

/// Whether a test armed `point`, for hooks that switch a path rather than panic (test
/// builds only; always false otherwise).
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn armed(_point: &str) -> bool {
    false
}

/// Panics if a test armed `point` (test builds only).
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn check(_point: &str) {}
