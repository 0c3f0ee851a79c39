//! Probes: one module per source of facts. Each reads from a root path (so tests point
//! them at fixture trees), is bounded in what it reads, and fails on its own: a failed
//! probe is listed in the dump with its reason and never stops the others.

/// A probe that failed (or was skipped), and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ProbeFailure {
    pub probe: &'static str,
    pub reason: String,
}

pub mod cgroup;
pub mod limit;
#[cfg(target_os = "macos")]
pub mod macos;
pub mod malloc;
pub mod platform;
pub mod portable;
pub mod pressure;
pub mod procfs;
pub mod rss_split;
pub mod rusage;
pub mod system;
pub mod tree;
#[cfg(windows)]
pub mod windows;

use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// No procfs or cgroup file we read is anywhere near this; a file that is has been
/// replaced by something else and is cut here rather than read whole.
pub const MAX_PROBE_FILE_BYTES: u64 = 1024 * 1024;

/// Where the probes look. Tests point these at fixture trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRoots {
    /// `/proc`
    pub proc: PathBuf,
    /// The process whose figures we read, as a directory name under `proc`.
    pub pid_dir: String,
    /// `/sys/fs/cgroup`
    pub cgroup_fs: PathBuf,
}

impl Default for ProbeRoots {
    fn default() -> Self {
        ProbeRoots {
            proc: PathBuf::from("/proc"),
            pid_dir: "self".to_string(),
            cgroup_fs: PathBuf::from("/sys/fs/cgroup"),
        }
    }
}

impl ProbeRoots {
    pub fn own(&self, file: &str) -> PathBuf {
        self.proc.join(&self.pid_dir).join(file)
    }
}

/// Reads at most [`MAX_PROBE_FILE_BYTES`] of a text file.
pub fn read_bounded(path: &Path) -> io::Result<String> {
    let mut s = String::new();
    let f = File::open(path)?;
    let mut bytes = Vec::new();
    f.take(MAX_PROBE_FILE_BYTES).read_to_end(&mut bytes)?;
    s.push_str(&String::from_utf8_lossy(&bytes));
    Ok(s)
}

/// Runs probes, timing each and turning errors and panics into recorded failures.
#[derive(Debug, Default)]
pub struct ProbeRunner {
    pub failures: Vec<ProbeFailure>,
    /// Probes deliberately not run, and why.
    pub skipped: Vec<ProbeFailure>,
    pub micros: BTreeMap<&'static str, u64>,
}

impl ProbeRunner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs a probe that reads Linux-only sources; elsewhere records it as unavailable.
    /// `cfg!` rather than `#[cfg]` keeps the probe compiled (and type-checked) everywhere.
    pub fn run_linux<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce() -> Result<T, String>,
    ) -> Option<T> {
        if cfg!(target_os = "linux") {
            self.run(name, f)
        } else {
            self.failures.push(ProbeFailure {
                probe: name,
                reason: format!(
                    "unavailable on {}: Linux only (procfs, cgroup or PSI)",
                    std::env::consts::OS
                ),
            });
            None
        }
    }

    /// Records that the Linux probe `name` was not run because, on this platform, the
    /// probe `by` reads its counterpart.
    pub fn replaced(&mut self, name: &'static str, by: &'static str) {
        self.skip(
            name,
            format!(
                "Linux only (procfs or cgroup); on {} the {by} probe reads its counterpart",
                match std::env::consts::OS {
                    "macos" => "darwin",
                    "windows" => "win32",
                    other => other,
                }
            ),
        );
    }

    /// Records that `name` was deliberately not run.
    pub fn skip(&mut self, name: &'static str, reason: String) {
        self.skipped.push(ProbeFailure {
            probe: name,
            reason,
        });
    }

    pub fn run<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce() -> Result<T, String>,
    ) -> Option<T> {
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            crate::test_hooks::check(name);
            f()
        }));
        self.micros.insert(name, start.elapsed().as_micros() as u64);
        match result {
            Ok(Ok(v)) => Some(v),
            Ok(Err(reason)) => {
                self.failures.push(ProbeFailure {
                    probe: name,
                    reason,
                });
                None
            }
            Err(panic) => {
                self.failures.push(ProbeFailure {
                    probe: name,
                    reason: format!(
                        "internal error (panic): {}",
                        crate::dump::background::panic_message(panic.as_ref())
                    ),
                });
                None
            }
        }
    }
}

/// Formats an I/O error with the path, for probe failure reasons.
pub fn io_reason(path: &Path, e: &io::Error) -> String {
    format!("{}: {e}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_records_errors_and_panics() {
        let mut r = ProbeRunner::new();
        assert_eq!(r.run("ok", || Ok::<_, String>(5)), Some(5));
        assert_eq!(r.run("bad", || Err::<u8, _>("nope".to_string())), None);
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let v: Option<u8> = r.run("boom", || panic!("kaput"));
        std::panic::set_hook(prev);
        assert_eq!(v, None);
        assert_eq!(r.failures.len(), 2);
        assert_eq!(r.failures[0].reason, "nope");
        assert_eq!(r.failures[1].probe, "boom");
        assert!(r.failures[1].reason.contains("kaput"));
        assert!(r.micros.contains_key("ok") && r.micros.contains_key("boom"));
    }

    #[test]
    fn bounded_read_stops_at_the_limit() {
        let p = std::env::temp_dir().join(format!("mdd-bounded-{}", std::process::id()));
        std::fs::write(&p, vec![b'a'; (MAX_PROBE_FILE_BYTES + 10) as usize]).unwrap();
        assert_eq!(read_bounded(&p).unwrap().len() as u64, MAX_PROBE_FILE_BYTES);
        std::fs::remove_file(&p).unwrap();
        assert!(read_bounded(&p).is_err());
    }
}
