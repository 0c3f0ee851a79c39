//! The recorder, its trail and the watchdog, without Node.

use std::fs;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dump::input::HEAP_STAT_FIELDS;
use crate::report::StackFrame;

use super::block::{seqlock_read, seqlock_write};
#[cfg(unix)]
use super::trail::open_exclusive;
use super::*;

#[test]
fn ring_keeps_the_last_samples() {
    let s = Shared::new(3);
    for i in 0..5 {
        s.push(Sample {
            kind: "sample",
            t: String::new(),
            epoch_ms: i,
            ..Default::default()
        });
    }
    let h: Vec<i64> = s.history().iter().map(|x| x.epoch_ms).collect();
    assert_eq!(h, vec![2, 3, 4]);
}

#[test]
fn thresholds() {
    let w = |r: Option<f64>, b: Option<u64>| WatchdogConfig {
        rss_ratio: r,
        rss_bytes: b,
        stall_ms: 1,
        capture_stack: false,
    };
    assert_eq!(
        watchdog_threshold(&w(Some(0.5), None), Some(1000)),
        Some(500)
    );
    assert_eq!(
        watchdog_threshold(&w(Some(0.5), Some(300)), Some(1000)),
        Some(300)
    );
    assert_eq!(watchdog_threshold(&w(None, Some(300)), None), Some(300));
    assert_eq!(watchdog_threshold(&w(Some(0.5), None), None), None);
}

#[test]
fn seqlock_no_torn_reads() {
    // A writer stores the same value in every figure of a write, as fast as it can;
    // a reader polls all the while. A torn copy would mix two writes' values.
    use std::sync::atomic::AtomicBool;
    let s = Arc::new(Shared::new(2));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (s, stop) = (s.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut k = 0.0;
            while !stop.load(Ordering::Relaxed) {
                k += 1.0;
                seqlock_write(&s.figures, &[k; OBSERVED_LEN]);
            }
            k
        })
    };
    let (mut reads, mut last) = (0u32, None);
    let deadline = Instant::now() + Duration::from_millis(300);
    while Instant::now() < deadline || reads < 1000 {
        if let Some((g, values)) = seqlock_read(&s.figures, last) {
            assert_eq!(f64::from_bits(g) % 2.0, 0.0, "kept a copy taken mid-write");
            assert!(
                values.iter().all(|v| *v == values[0]),
                "torn read: {values:?}"
            );
            // Generation 2k belongs to the k-th write.
            assert_eq!(values[0] * 2.0, f64::from_bits(g));
            last = Some(g);
            reads += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0.0);
}

#[test]
fn seqlock_half_written_block_keeps_the_last_figures() {
    // A writer that stopped halfway (generation left odd) is never read as finished.
    let s = Shared::new(2);
    s.observe_values(&[1.0; OBSERVED_LEN]);
    assert_eq!(s.observed().unwrap().0.heap_used, Some(1.0));
    let odd = f64::from_bits(s.figures[0].load(Ordering::Relaxed)) + 1.0;
    s.figures[0].store(odd.to_bits(), Ordering::Relaxed);
    s.figures[5].store(9.0f64.to_bits(), Ordering::Relaxed);
    assert_eq!(s.observed().unwrap().0.heap_used, Some(1.0));
    s.figures[0].store((odd + 1.0).to_bits(), Ordering::Release);
    assert_eq!(s.observed().unwrap().0.heap_used, Some(9.0));
}

#[test]
fn observe_and_stall() {
    let s = Shared::new(2);
    assert!(s.observed().is_none());
    s.observe(crate::report::AtTrigger {
        v8_heap_stats: crate::report::NumberMap(vec![("usedHeapSize", Some(1.0))]),
        ..Default::default()
    });
    let (v, age) = s.observed().unwrap();
    assert_eq!(v.heap_used, Some(1.0));
    assert!(age < 1000);
    // The raw path: one value per field, NaN and negatives count as missing.
    let mut values = [f64::NAN; OBSERVED_LEN];
    values[4] = 5.0; // usedHeapSize
    values[5] = 100.0; // heapSizeLimit
    values[HEAP_STAT_FIELDS.len()] = 7.0; // rss
    values[HEAP_STAT_FIELDS.len() + 1] = -1.0; // heapTotal
    values[HEAP_STAT_FIELDS.len() + 3] = 3.0; // external
    values[2] = 9.0; // totalPhysicalSize
    values[HEAP_STAT_FIELDS.len() + 4] = 2.0; // arrayBuffers
    s.observe_values(&values);
    let (v, _) = s.observed().unwrap();
    assert_eq!(
        v,
        V8Figures {
            heap_used: Some(5.0),
            heap_total: None,
            heap_limit: Some(100.0),
            external: Some(3.0),
            rss: Some(7.0),
            heap_physical: Some(9.0),
            array_buffers: Some(2.0),
        }
    );
    let (t, _) = s.observed_at_trigger().unwrap();
    assert_eq!(t.v8_heap_stats.get("usedHeapSize"), Some(5.0));
    assert_eq!(t.v8_heap_stats.0.len(), HEAP_STAT_FIELDS.len());
    assert_eq!(t.memory_usage.get("rss"), Some(7.0));
    assert_eq!(t.memory_usage.0[1], ("heapTotal", None));
    assert!(s.stalled_ms() < 1000);
    s.new_session();
    assert_eq!(
        s.wait(Duration::from_secs(10), 0),
        Wake::NewSession(1),
        "a new session wakes the thread at once"
    );
    assert!(s.request_stop("close"));
    assert!(!s.request_stop("released"));
    assert_eq!(
        s.wait(Duration::from_secs(10), 1),
        Wake::Stop("close"),
        "a stopped recorder does not sleep"
    );
}

fn lines(p: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn recorder_file_starts_every_file_with_a_start_record_and_rotates() {
    let dir = std::env::temp_dir().join(format!("mdd-rec-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let mut f = RecorderFile::new(&dir, "abc", 1000);
    assert!(f
        .name()
        .starts_with(&format!("recorder-abc-{}-", std::process::id())));
    assert!(crate::writer::is_recorder_name(f.name()), "{}", f.name());
    f.append(&serde_json::json!({"a": 1})).unwrap();
    f.append(&serde_json::json!({"a": 2})).unwrap();
    let l = lines(&f.path());
    assert_eq!(l.len(), 3);
    assert_eq!(l[0]["type"], "start");
    assert_eq!(l[0]["pid"], std::process::id());
    assert_eq!(l[0]["processStartMs"], crate::report::process_start_ms());
    assert_eq!(l[0]["continues"], false);
    assert_eq!((l[1]["a"].as_u64(), l[2]["a"].as_u64()), (Some(1), Some(2)));
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(fs::metadata(f.path()).unwrap().mode() & 0o777, 0o600);
    }
    f.size = RECORDER_MAX_BYTES;
    f.append(&serde_json::json!({"a": 3})).unwrap();
    let l = lines(&f.path());
    assert_eq!(
        l[0]["type"], "start",
        "the new file starts with a start record"
    );
    assert_eq!(l[0]["continues"], true);
    assert_eq!(l[1]["a"], 3);
    let rotated = lines(&dir.join(format!("{}.1", f.name())));
    assert_eq!(rotated[0]["type"], "start");
    assert_eq!(rotated.last().unwrap()["a"], 2);
    // Closed first: a file still open is only marked for deletion on some Windows file
    // systems (and under Wine), and its directory is not yet empty.
    drop(f);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_trails_never_share_a_file() {
    let dir = std::env::temp_dir().join(format!("mdd-rec-two-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let mut a = RecorderFile::new(&dir, "same", 1000);
    let mut b = RecorderFile::new(&dir, "same", 1000);
    a.ensure_open().unwrap();
    b.ensure_open().unwrap();
    assert_ne!(a.path(), b.path());
    drop((a, b));
    fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_fifo_at_the_name_is_refused_without_blocking() {
    let dir = std::env::temp_dir().join(format!("mdd-rec-fifo-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    crate::writer::prepare_dir(&dir).unwrap();
    let fifo = dir.join("recorder-x.jsonl");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let t = Instant::now();
    assert!(open_exclusive(&fifo).is_err());
    // A recorder whose chosen name is taken picks another one.
    let mut f = RecorderFile::new(&dir, "x", 1000);
    f.name = "recorder-x.jsonl".into();
    f.append(&serde_json::json!({"a": 1})).unwrap();
    assert_ne!(f.name(), "recorder-x.jsonl");
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(lines(&f.path())[0]["type"], "start");
    fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn recorder_file_never_follows_a_planted_link() {
    let dir = std::env::temp_dir().join(format!("mdd-rec-link-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    crate::writer::prepare_dir(&dir).unwrap();
    let target = dir.with_extension("target");
    fs::write(&target, b"precious").unwrap();
    std::os::unix::fs::symlink(&target, dir.join("recorder-x.jsonl")).unwrap();
    assert!(open_exclusive(&dir.join("recorder-x.jsonl")).is_err());
    assert_eq!(fs::read(&target).unwrap(), b"precious");
    fs::remove_dir_all(&dir).unwrap();
    fs::remove_file(&target).unwrap();
}

#[test]
fn process_end_keeps_names_and_places_only() {
    let frame = |script: &str| StackFrame {
        function: "parseReply".into(),
        script: script.into(),
        line: Some(88),
        column: Some(3),
    };
    let e = process_end(
        Some(1),
        Some("uncaughtException"),
        Some("TypeError".repeat(20).as_str()),
        Some(frame(
            "https://u:PASSWORD@cdn.example/client.js?sig=SECRET#x",
        )),
    )
    .unwrap();
    assert_eq!(e.how, "uncaughtException");
    assert_eq!(e.code, Some(1));
    let class = e.error_class.as_deref().unwrap();
    assert!(class.starts_with("TypeErrorTypeError"), "{class}");
    assert_eq!(class.chars().count(), MAX_ERROR_CLASS_CHARS);
    assert_eq!(
        e.thrown_at.as_ref().unwrap().script,
        "https://cdn.example/client.js"
    );
    // A class name that is no identifier is not kept (its parts would join).
    for bad in ["https://u:SECRET@h/x?k=Q", "Type Error", "a<b>"] {
        let e = process_end(Some(1), Some("uncaughtException"), Some(bad), None).unwrap();
        assert_eq!(e.error_class, None, "{bad}");
    }
    // An unknown way of ending is no end; a plain exit keeps no error or frame.
    assert!(process_end(Some(0), Some("sideways"), None, None).is_none());
    assert!(process_end(Some(0), None, None, None).is_none());
    let plain = process_end(
        Some(3),
        Some("processExit"),
        Some("TypeError"),
        Some(frame("/x.js")),
    )
    .unwrap();
    assert_eq!((&plain.error_class, &plain.thrown_at), (&None, &None));
    let text = serde_json::to_string(&ExitRecord {
        kind: "exit",
        t: "t".into(),
        epoch_ms: 1,
        reason: "exit",
        end: Some(&plain),
    })
    .unwrap();
    assert_eq!(
        text,
        r#"{"type":"exit","t":"t","epochMs":1,"reason":"exit","code":3,"how":"processExit"}"#
    );
    let none = ExitRecord {
        kind: "exit",
        t: "t".into(),
        epoch_ms: 1,
        reason: "close",
        end: None,
    };
    assert_eq!(
        serde_json::to_string(&none).unwrap(),
        r#"{"type":"exit","t":"t","epochMs":1,"reason":"close"}"#
    );
}

#[cfg(unix)]
#[test]
fn a_trail_whose_directory_was_removed_starts_again_in_a_new_one() {
    // Outside pass: with the directory deleted after the dumper started, the recorder kept
    // appending to its unlinked file and the trail was lost.
    let dir = std::env::temp_dir().join(format!("mdd-trail-gone-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let mut f = trail::RecorderFile::new(&dir, "gone", 100);
    let sample = |t: i64| Sample {
        kind: "sample",
        t: String::new(),
        epoch_ms: t,
        ..Default::default()
    };
    f.append(&sample(1)).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    f.append(&sample(2)).unwrap();
    let text = fs::read_to_string(f.path()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "start");
    assert_eq!(lines[0]["continues"], true);
    assert_eq!(lines[1]["epochMs"], 2);
    let _ = fs::remove_dir_all(&dir);
}
