//! A whole dump without Node: both phases, the cap and cooldown, a failed write, an
//! unusable directory.
use super::*;
use crate::config::{validate, RawOptions, RawValue};
use crate::report::{AtTrigger, NumberMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Clone, Default)]
struct FakeClock(Arc<AtomicU64>);
impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn dir(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "mdd-dumper-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn dumper(d: &std::path::Path, max: f64, cooldown: f64, clock: FakeClock) -> Dumper {
    let (config, sid) = validate(&RawOptions {
        directory: RawValue::Text(d.display().to_string()),
        session_id: RawValue::Text("sess-1234-5678".into()),
        max_dumps_per_session: RawValue::Number(max),
        cooldown_ms: RawValue::Number(cooldown),
        max_files: RawValue::Number(2.0),
        ..Default::default()
    })
    .unwrap();
    Dumper::with_parts(
        config,
        &sid,
        RuntimeInfo::new("20.0.0".into(), Some(9), Some("app 1".into())),
        ProbeRoots::default(),
        Box::new(clock),
    )
}

fn input(rss: f64) -> TriggerInput {
    TriggerInput {
        at_trigger: AtTrigger {
            memory_usage: NumberMap(vec![("rss", Some(rss))]),
            ..Default::default()
        },
        session: vec![],
        warnings: vec!["w".into()],
        samples: None,
        watchdog: None,
        near_limit: None,
    }
}

fn read(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn phase1_then_phase2_replace() {
    let d = dir("phases");
    let clock = FakeClock::default();
    let dm = dumper(&d, 3.0, 1000.0, clock.clone());
    let DumpStart::Written { meta, plan } = dm.begin(Trigger::Hard, input(123.0)) else {
        panic!("expected a write")
    };
    assert_eq!(meta.dump_number, 1);
    let name = meta
        .file_path
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(name.starts_with("memory-sess1234-"), "{name}");
    let p1 = read(&meta.file_path);
    assert_eq!(p1["collectionComplete"], false);
    assert_eq!(p1["sessionId"], "sess1234");
    assert_eq!(p1["atTrigger"]["memoryUsage"]["rss"], 123);
    assert_eq!(p1["inputWarnings"][0], "w");
    assert_eq!(p1["runtime"]["appVersion"], "app 1");
    assert!(p1.get("process").is_none());
    let out = phase2::run_phase2(*plan);
    assert!(out.complete, "{out:?}");
    let p2 = read(&meta.file_path);
    assert_eq!(p2["collectionComplete"], true);
    assert_eq!(
        p2["atTrigger"], p1["atTrigger"],
        "phase 2 keeps the crisis figures"
    );
    assert_eq!(p2["timestamp"], p1["timestamp"]);
    #[cfg(target_os = "linux")]
    {
        assert!(p2["process"]["status"]["vmRss"].as_u64().unwrap() > 0);
        let split = &p2["process"]["rssSplit"];
        assert!(split["anon"]["bytes"].as_u64().unwrap() > 0, "{split}");
        assert_eq!(split["anon"]["source"], "status:RssAnon");
        assert_eq!(split["swap"]["source"], "status:VmSwap");
        // A test binary is far below the default threshold: smaps_rollup is read.
        assert!(p2["process"]["smapsRollup"]["rss"].as_u64().unwrap() > 0);
        assert_eq!(split["pss"]["source"], "smaps_rollup:Pss");
        assert!(p2["process"]["openFds"].as_u64().unwrap() > 0);
        assert_eq!(
            p2["collection"]["failedProbes"].as_array().unwrap().len(),
            0,
            "{p2}"
        );
    }
    assert!(p2["system"]["totalMemory"].as_u64().unwrap() > 0);
    assert!(p2["collection"]["phase2Millis"].as_f64().unwrap() >= 0.0);
}

#[test]
fn cap_cooldown_and_reset() {
    let d = dir("limits");
    let clock = FakeClock::default();
    let dm = dumper(&d, 2.0, 1000.0, clock.clone());
    assert!(matches!(
        dm.begin(Trigger::Hard, input(1.0)),
        DumpStart::Written { .. }
    ));
    assert!(matches!(
        dm.begin(Trigger::Critical, input(1.0)),
        DumpStart::Skipped(Admission::CoolingDown { remaining_ms: 1000 })
    ));
    clock.0.store(1000, Ordering::SeqCst);
    assert!(matches!(
        dm.begin(Trigger::Critical, input(1.0)),
        DumpStart::Written { .. }
    ));
    clock.0.store(5000, Ordering::SeqCst);
    assert!(matches!(
        dm.begin(Trigger::Hard, input(1.0)),
        DumpStart::Skipped(Admission::CapReached)
    ));
    assert_eq!(dm.dump_count(), 2);
    dm.reset_for_new_session(Some("next/../session"));
    assert_eq!(dm.dump_count(), 0);
    assert_eq!(dm.session_short_id(), "nextsess");
    let DumpStart::Written { meta, .. } = dm.begin(Trigger::Manual, input(1.0)) else {
        panic!()
    };
    assert!(meta
        .file_path
        .to_str()
        .unwrap()
        .contains("memory-nextsess-"));
    assert_eq!(read(&meta.file_path)["suggestion"], serde_json::Value::Null);
}

#[test]
fn failed_write_keeps_the_slot() {
    let parent = dir("failed");
    std::fs::write(&parent, b"a file, not a directory").unwrap();
    let dm = dumper(&parent.join("diag"), 3.0, 0.0, FakeClock::default());
    match dm.begin(Trigger::Hard, input(1.0)) {
        DumpStart::Failed { meta, error } => {
            assert_eq!(meta.dump_number, 1);
            assert!(
                error.starts_with("phase 1: could not create diagnostics directory"),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(dm.dump_count(), 1);
}

#[test]
fn unusable_directory_refuses_every_dump_without_a_slot() {
    let parent = dir("problem");
    std::fs::write(&parent, b"a file, not a directory").unwrap();
    let dm = dumper(&parent, 3.0, 0.0, FakeClock::default());
    dm.prepare_directory();
    let problem = dm.problem().unwrap().to_string();
    assert!(problem.contains("not a directory"), "{problem}");
    for _ in 0..5 {
        match dm.begin(Trigger::Hard, input(1.0)) {
            DumpStart::Refused { error } => assert_eq!(error, problem),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(dm.dump_count(), 0);
}

#[cfg(unix)]
#[test]
fn loose_directory_is_tightened_and_the_first_dump_says_so() {
    use std::os::unix::fs::PermissionsExt;
    let d = dir("loose");
    std::fs::create_dir(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o775)).unwrap();
    let dm = dumper(&d, 3.0, 0.0, FakeClock::default());
    dm.prepare_directory();
    assert_eq!(dm.problem(), None);
    let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700);
    let DumpStart::Written { meta, .. } = dm.begin(Trigger::Hard, input(1.0)) else {
        panic!()
    };
    assert_eq!(read(&meta.file_path)["directory"]["tightenedFrom"], "775");
    let DumpStart::Written { meta, .. } = dm.begin(Trigger::Hard, input(1.0)) else {
        panic!()
    };
    assert!(read(&meta.file_path).get("directory").is_none());
}

#[test]
fn closed_dumper_skips() {
    let d = dir("closed");
    let dm = dumper(&d, 3.0, 0.0, FakeClock::default());
    dm.close("close");
    assert!(matches!(
        dm.begin(Trigger::Hard, input(1.0)),
        DumpStart::Skipped(Admission::Closed)
    ));
    assert_eq!(dm.dump_count(), 0);
}

#[test]
fn retention_keeps_max_files() {
    let d = dir("retention");
    let clock = FakeClock::default();
    let dm = dumper(&d, 10.0, 0.0, clock.clone());
    for i in 0..5 {
        clock.0.store(i * 10, Ordering::SeqCst);
        let (_, out) = dm.dump_blocking(Trigger::Hard, input(1.0));
        assert!(out.unwrap().complete);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let n = std::fs::read_dir(&d).unwrap().count();
    assert_eq!(n, 2);
}

/// A process in a cgroup v2 of 64 MiB, as fixture files the test changes between samples.
#[cfg(unix)]
struct FixtureCgroup {
    root: PathBuf,
    group: PathBuf,
    /// The usage and inactive page cache last written.
    now: std::cell::Cell<(u64, u64)>,
}

#[cfg(unix)]
impl FixtureCgroup {
    const LIMIT: u64 = 64 << 20;

    fn new(tag: &str) -> FixtureCgroup {
        let root = dir(tag);
        let own = root.join("proc/self");
        let group = root.join("sys/fs/cgroup/app");
        std::fs::create_dir_all(&own).unwrap();
        std::fs::create_dir_all(&group).unwrap();
        std::fs::write(own.join("cgroup"), "0::/app\n").unwrap();
        std::fs::write(own.join("status"), "VmRSS:\t20480 kB\nThreads:\t7\n").unwrap();
        std::fs::write(root.join("sys/fs/cgroup/cgroup.controllers"), "memory\n").unwrap();
        std::fs::write(group.join("memory.max"), format!("{}\n", Self::LIMIT)).unwrap();
        let f = FixtureCgroup {
            root,
            group,
            now: std::cell::Cell::new((0, 0)),
        };
        f.set(10 << 20, 0);
        f
    }

    /// The cgroup's usage and its page cache (half of it active), each file written whole (a rename),
    /// in the order whose state between the two counts less: a sample between them must not
    /// see more than either state.
    fn set(&self, usage: u64, inactive_file: u64) {
        let (old_usage, old_inactive) = self.now.get();
        self.now.set((usage, inactive_file));
        let write = |name: &str, text: String| {
            let tmp = self.group.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, self.group.join(name)).unwrap();
        };
        let current = || write("memory.current", format!("{usage}\n"));
        let stat = || {
            write(
                "memory.stat",
                format!(
                    "anon {}\ninactive_file {}\nactive_file {}\n",
                    usage - inactive_file,
                    inactive_file / 2,
                    inactive_file - inactive_file / 2
                ),
            )
        };
        if usage.saturating_sub(old_inactive) <= old_usage.saturating_sub(inactive_file) {
            current();
            stat();
        } else {
            stat();
            current();
        }
    }

    fn dumper(&self, pressure: RawValue) -> Arc<Dumper> {
        let d = self.root.join("diag");
        let (config, sid) = validate(&RawOptions {
            directory: RawValue::Text(d.display().to_string()),
            session_id: RawValue::Text("press-1".into()),
            cooldown_ms: RawValue::Number(0.0),
            recorder: true,
            recorder_interval_ms: RawValue::Number(10.0),
            pressure,
            ..Default::default()
        })
        .unwrap();
        let roots = ProbeRoots {
            proc: self.root.join("proc"),
            pid_dir: "self".into(),
            cgroup_fs: self.root.join("sys/fs/cgroup"),
        };
        let dm = Arc::new(Dumper::with_parts(
            config,
            &sid,
            RuntimeInfo::new("20.0.0".into(), Some(9), None),
            roots,
            Box::new(MonotonicClock::new()),
        ));
        dm.start().unwrap();
        dm
    }

    fn pressure_dumps(&self) -> Vec<serde_json::Value> {
        let Ok(entries) = std::fs::read_dir(self.root.join("diag")) else {
            return vec![];
        };
        let mut docs: Vec<serde_json::Value> = entries
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with("memory-") && n.ends_with(".json")
            })
            .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
            .filter(|v: &serde_json::Value| v["trigger"] == "pressure")
            .collect();
        docs.sort_by_key(|v| v["dumpNumber"].as_u64());
        docs
    }

    /// Waits (bounded) until `n` pressure dumps are complete; returns them.
    fn wait_for(&self, n: usize) -> Vec<serde_json::Value> {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let docs = self.pressure_dumps();
            if docs.len() >= n && docs.iter().all(|d| d["collectionComplete"] == true) {
                return docs;
            }
            assert!(
                std::time::Instant::now() < until,
                "{} pressure dumps",
                docs.len()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

#[cfg(unix)]
#[test]
fn the_recorder_dumps_near_the_cgroup_limit_counting_what_the_kernel_cannot_reclaim() {
    let cg = FixtureCgroup::new("pressure");
    let dm = cg.dumper(RawValue::Missing);
    // 62 of 64 MiB in use, 30 MiB of it page cache (half of it active): 50% counts. A sample at the
    // recorder's pace has seen it once the trail holds more samples.
    cg.set(62 << 20, 30 << 20);
    let seen = |n: usize| samples_after(&dm, n);
    seen(5);
    assert_eq!(cg.pressure_dumps().len(), 0);
    // 59 MiB counted (92%): one dump, both phases, however long it stays there.
    cg.set(60 << 20, 1 << 20);
    let docs = cg.wait_for(1);
    let near = &docs[0]["nearLimit"];
    assert_eq!(near["cause"], "share");
    assert_eq!(near["source"], "cgroup");
    assert_eq!(near["limitBytes"], FixtureCgroup::LIMIT);
    assert_eq!(near["countedBytes"], 59u64 << 20);
    assert_eq!(
        near["thresholdBytes"],
        (0.9 * FixtureCgroup::LIMIT as f64) as u64
    );
    assert!(near["counts"]
        .as_str()
        .unwrap()
        .contains("active_file, inactive_file"));
    assert_eq!(
        docs[0]["suggestion"],
        crate::config::DEFAULT_PRESSURE_SUGGESTION
    );
    assert!(docs[0]["history"].as_array().unwrap().len() > 1);
    seen(5);
    assert_eq!(cg.pressure_dumps().len(), 1);
    // Back under 80%, then near again: a second dump. The host's own count is untouched.
    cg.set(40 << 20, 0);
    seen(3);
    cg.set(63 << 20, 0);
    let docs = cg.wait_for(2);
    assert_eq!(docs[1]["nearLimit"]["countedBytes"], 63u64 << 20);
    assert_eq!(dm.dump_count(), 0);
    dm.close("close");
}

/// Waits (bounded) until the recorder has taken `n` samples after the call.
#[cfg(unix)]
fn samples_after(dm: &Dumper, n: usize) {
    let last = |dm: &Dumper| {
        dm.recorder()
            .unwrap()
            .history()
            .last()
            .map_or(0, |s| s.epoch_ms)
    };
    let t0 = last(dm);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while dm
        .recorder()
        .unwrap()
        .history()
        .iter()
        .filter(|s| s.epoch_ms > t0)
        .count()
        < n
    {
        assert!(
            std::time::Instant::now() < until,
            "the recorder took no sample"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[cfg(unix)]
#[test]
fn pressure_false_writes_no_pressure_dump() {
    let cg = FixtureCgroup::new("pressure-off");
    let dm = cg.dumper(RawValue::Bool(false));
    cg.set(63 << 20, 0);
    samples_after(&dm, 10);
    assert_eq!(cg.pressure_dumps().len(), 0);
    dm.close("close");
}
