//! The options' rules, each limit and message, without Node.

use super::*;
use crate::probes::rss_split::{SmapsRollupPolicy, DEFAULT_SMAPS_ROLLUP_MAX_RSS_BYTES};

fn base() -> RawOptions {
    RawOptions {
        directory: RawValue::Text("/tmp/x".into()),
        ..Default::default()
    }
}

#[test]
fn defaults_apply() {
    let (c, sid) = validate(&base()).unwrap();
    assert_eq!(c.max_dumps_per_session, 3);
    assert_eq!(c.cooldown_ms, 30_000);
    assert_eq!(c.max_files, 20);
    assert_eq!(c.app_version, None);
    assert_eq!(c.suggestions.hard, DEFAULT_HARD_SUGGESTION);
    assert_eq!(c.suggestions.manual, None);
    assert_eq!(sid, "");
}

#[test]
fn smaps_rollup_policy() {
    let with = |mode: RawValue, max: RawValue| {
        validate(&RawOptions {
            smaps_rollup: mode,
            smaps_rollup_max_rss_bytes: max,
            ..base()
        })
    };
    assert_eq!(
        with(RawValue::Missing, RawValue::Missing)
            .unwrap()
            .0
            .smaps_rollup,
        SmapsRollupPolicy::Auto {
            max_rss_bytes: DEFAULT_SMAPS_ROLLUP_MAX_RSS_BYTES
        }
    );
    assert_eq!(
        with(RawValue::Text("auto".into()), RawValue::Number(1.0))
            .unwrap()
            .0
            .smaps_rollup,
        SmapsRollupPolicy::Auto { max_rss_bytes: 1 }
    );
    assert_eq!(
        with(RawValue::Text("always".into()), RawValue::Missing)
            .unwrap()
            .0
            .smaps_rollup,
        SmapsRollupPolicy::Always
    );
    assert_eq!(
        with(RawValue::Text("never".into()), RawValue::Missing)
            .unwrap()
            .0
            .smaps_rollup,
        SmapsRollupPolicy::Never
    );
    let e = with(RawValue::Text("sometimes".into()), RawValue::Missing).unwrap_err();
    assert_eq!(
        e.to_string(),
        "options.smapsRollup: expected 'auto', 'always' or 'never', got \"sometimes\""
    );
    for bad in [
        RawValue::Number(-1.0),
        RawValue::Number(1.5),
        RawValue::Bool(true),
    ] {
        let e = with(RawValue::Missing, bad).unwrap_err();
        assert_eq!(e.field, "options.smapsRollupMaxRssBytes");
        assert!(e.expected.starts_with("an integer from 0 to "), "{e}");
    }
}

#[test]
fn directory_must_be_non_empty_text() {
    for bad in [
        RawValue::Missing,
        RawValue::Text("  ".into()),
        RawValue::Number(3.0),
        RawValue::Text("a\0b".into()),
    ] {
        let e = validate(&RawOptions {
            directory: bad,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.field, "options.directory");
        assert!(
            e.to_string().contains("expected a non-empty path string"),
            "{e}"
        );
    }
}

#[test]
fn counts_are_range_checked() {
    for (bad, field) in [
        (
            RawOptions {
                max_dumps_per_session: RawValue::Number(0.0),
                ..base()
            },
            "options.maxDumpsPerSession",
        ),
        (
            RawOptions {
                max_dumps_per_session: RawValue::Number(2.5),
                ..base()
            },
            "options.maxDumpsPerSession",
        ),
        (
            RawOptions {
                max_dumps_per_session: RawValue::Text("3".into()),
                ..base()
            },
            "options.maxDumpsPerSession",
        ),
        (
            RawOptions {
                cooldown_ms: RawValue::Number(-1.0),
                ..base()
            },
            "options.cooldownMs",
        ),
        (
            RawOptions {
                cooldown_ms: RawValue::Number(f64::NAN),
                ..base()
            },
            "options.cooldownMs",
        ),
        (
            RawOptions {
                max_files: RawValue::Number(0.0),
                ..base()
            },
            "options.maxFiles",
        ),
        (
            RawOptions {
                max_files: RawValue::Number(1e9),
                ..base()
            },
            "options.maxFiles",
        ),
    ] {
        let e = validate(&bad).unwrap_err();
        assert_eq!(e.field, field);
        assert!(e.expected.starts_with("an integer from"), "{e}");
    }
    let (c, _) = validate(&RawOptions {
        cooldown_ms: RawValue::Number(0.0),
        max_files: RawValue::Number(1.0),
        ..base()
    })
    .unwrap();
    assert_eq!((c.cooldown_ms, c.max_files), (0, 1));
}

#[test]
fn text_options() {
    let e = validate(&RawOptions {
        app_version: RawValue::Number(1.0),
        ..base()
    })
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "options.appVersion: expected a string, got 1"
    );
    let e = validate(&RawOptions {
        suggestion_hard: RawValue::Text("x".repeat(2000)),
        ..base()
    })
    .unwrap_err();
    assert_eq!(e.field, "options.suggestions.hard");
    let (c, _) = validate(&RawOptions {
        suggestion_critical: RawValue::Text("restart".into()),
        app_version: RawValue::Other("null"),
        ..base()
    })
    .unwrap();
    assert_eq!(c.suggestions.critical, "restart");
    assert_eq!(c.app_version, None);
}

#[test]
fn recorder_and_watchdog_options() {
    let (c, _) = validate(&base()).unwrap();
    assert_eq!((c.recorder, c.watchdog), (None, None));
    let (c, _) = validate(&RawOptions {
        recorder: true,
        ..base()
    })
    .unwrap();
    assert_eq!(c.recorder, Some(crate::config::RecorderConfig::default()));
    // A watchdog alone starts the recorder with its defaults.
    let (c, _) = validate(&RawOptions {
        watchdog: true,
        watchdog_rss_ratio: RawValue::Number(0.8),
        ..base()
    })
    .unwrap();
    assert_eq!(c.watchdog.unwrap().stall_ms, 5000);
    assert_eq!(c.recorder.unwrap().interval_ms, 1000);
    for (bad, field) in [
        (
            RawOptions {
                watchdog: true,
                ..base()
            },
            "options.watchdog",
        ),
        (
            RawOptions {
                watchdog: true,
                watchdog_rss_ratio: RawValue::Number(1.5),
                ..base()
            },
            "options.watchdog.rssRatio",
        ),
        (
            RawOptions {
                watchdog: true,
                watchdog_rss_bytes: RawValue::Number(-1.0),
                ..base()
            },
            "options.watchdog.rssBytes",
        ),
        (
            RawOptions {
                watchdog: true,
                watchdog_rss_bytes: RawValue::Number(1e6),
                watchdog_stall_ms: RawValue::Number(1.0),
                ..base()
            },
            "options.watchdog.stallMs",
        ),
        (
            RawOptions {
                recorder: true,
                recorder_interval_ms: RawValue::Number(1.0),
                ..base()
            },
            "options.recorder.intervalMs",
        ),
        (
            RawOptions {
                recorder: true,
                recorder_samples: RawValue::Number(0.0),
                ..base()
            },
            "options.recorder.samples",
        ),
    ] {
        assert_eq!(validate(&bad).unwrap_err().field, field);
    }
}

#[test]
fn unknown_keys_name_the_closest_known_one() {
    assert!(check_keys("options", &["directory", "cooldownMs"], OPTION_KEYS).is_ok());
    let e = check_keys("options", &["directory", "cooldown"], OPTION_KEYS).unwrap_err();
    assert_eq!(e.field, "options.cooldown");
    assert_eq!(
        e.to_string(),
        "options.cooldown: expected one of the known options (did you mean options.cooldownMs?), got an unknown option"
    );
    for (typo, want) in [
        ("maxDumps", "maxDumpsPerSession"),
        ("sessionID", "sessionId"),
        ("dir", "directory"),
        ("maxfiles", "maxFiles"),
        ("suggestion", "suggestions"),
    ] {
        assert_eq!(closest(typo, OPTION_KEYS), want, "{typo}");
    }
    let e = check_keys("options.watchdog", &["stall"], WATCHDOG_KEYS).unwrap_err();
    assert!(
        e.to_string()
            .contains("did you mean options.watchdog.stallMs?"),
        "{e}"
    );
}

#[test]
fn now_must_be_a_function() {
    let (c, _) = validate(&RawOptions {
        now: RawValue::Other("function"),
        ..base()
    })
    .unwrap();
    assert!(c.host_clock);
    assert!(!validate(&base()).unwrap().0.host_clock);
    let e = validate(&RawOptions {
        now: RawValue::Number(5.0),
        ..base()
    })
    .unwrap_err();
    assert_eq!(e.field, "options.now");
}

#[test]
fn heap_snapshot_options() {
    let (c, _) = validate(&base()).unwrap();
    assert_eq!(c.heap_snapshot, None, "off by default");
    let on = |f: fn(&mut RawOptions)| {
        let mut r = RawOptions {
            heap_snapshot: true,
            ..base()
        };
        f(&mut r);
        validate(&r).map(|(c, _)| c.heap_snapshot.unwrap())
    };
    let d = on(|_| {}).unwrap();
    assert_eq!(
        d,
        HeapSnapshotConfig {
            triggers: vec![Trigger::Critical],
            max_per_session: 1,
            max_bytes: DEFAULT_HEAP_SNAPSHOT_MAX_BYTES,
            redact: true,
        }
    );
    let c = on(|r| {
        r.heap_snapshot_triggers = Ok(vec![
            RawValue::Text("hard".into()),
            RawValue::Text("manual".into()),
            RawValue::Text("hard".into()),
        ]);
        r.heap_snapshot_max_per_session = RawValue::Number(2.0);
        r.heap_snapshot_max_bytes = RawValue::Number(5e6);
        r.heap_snapshot_redact = RawValue::Bool(false);
    })
    .unwrap();
    assert_eq!(c.triggers, vec![Trigger::Hard, Trigger::Manual]);
    assert_eq!(
        (c.max_per_session, c.max_bytes, c.redact),
        (2, 5_000_000, false)
    );
    type Case = (fn(&mut RawOptions), &'static str, &'static str);
    let cases: [Case; 7] = [
        (
            |r| r.heap_snapshot_triggers = Err(RawValue::Text("critical".into())),
            "options.heapSnapshot.triggers",
            "expected a non-empty array of 'hard', 'critical' and 'manual', got \"critical\"",
        ),
        (
            |r| r.heap_snapshot_triggers = Ok(vec![]),
            "options.heapSnapshot.triggers",
            "got an empty array",
        ),
        (
            |r| r.heap_snapshot_triggers = Ok(vec![RawValue::Text("watchdog".into())]),
            "options.heapSnapshot.triggers[0]",
            "got \"watchdog\"",
        ),
        (
            |r| r.heap_snapshot_max_per_session = RawValue::Number(0.0),
            "options.heapSnapshot.maxPerSession",
            "an integer from 1 to 100",
        ),
        (
            |r| r.heap_snapshot_max_bytes = RawValue::Number(1000.0),
            "options.heapSnapshot.maxBytes",
            "an integer from 1048576",
        ),
        (
            |r| r.heap_snapshot_max_bytes = RawValue::Text("1GB".into()),
            "options.heapSnapshot.maxBytes",
            "got \"1GB\"",
        ),
        (
            |r| r.heap_snapshot_redact = RawValue::Text("no".into()),
            "options.heapSnapshot.redact",
            "expected a boolean",
        ),
    ];
    for (f, field, msg) in cases {
        let e = on(f).unwrap_err();
        assert_eq!(e.field, field);
        assert!(e.to_string().contains(msg), "{e}");
    }
}

#[test]
fn triggers() {
    assert_eq!(Trigger::parse("hard"), Some(Trigger::Hard));
    assert_eq!(
        Trigger::parse("critical").map(Trigger::as_str),
        Some("critical")
    );
    assert_eq!(Trigger::parse("Hard"), None);
    assert_eq!(Trigger::parse("watchdog"), None);
}

#[test]
fn session_ids_are_shortened_safely() {
    assert_eq!(short_session_id("3f2a9c1e-77b0-4d1e"), "3f2a9c1e");
    assert_eq!(short_session_id("ab-cd-ef-gh-ij"), "abcdefgh");
    assert_eq!(short_session_id("../../etc/passwd"), "etcpassw");
    assert_eq!(short_session_id("a\0b\nc/d"), "abcd");
    assert_eq!(short_session_id("日本語"), "nosessn");
    assert_eq!(short_session_id(""), "nosessn");
    assert_eq!(short_session_id(&"z".repeat(100_000)), "zzzzzzzz");
}

#[test]
fn pressure_is_on_wherever_the_recorder_runs() {
    use crate::config::PressureConfig;
    // No recorder: no rule.
    let (c, _) = validate(&base()).unwrap();
    assert_eq!(c.pressure, None);
    // The recorder brings the rule with its defaults; `false` turns it off.
    let (c, _) = validate(&RawOptions {
        recorder: true,
        ..base()
    })
    .unwrap();
    assert_eq!(c.pressure, Some(PressureConfig::default()));
    assert_eq!(c.pressure.unwrap().within_ms, Some(5_000));
    let (c, _) = validate(&RawOptions {
        recorder: true,
        pressure: RawValue::Bool(false),
        ..base()
    })
    .unwrap();
    assert_eq!(c.pressure, None);
    assert!(c.recorder.is_some());
    // Asked for alone, it starts the recorder; psiFull null turns PSI off.
    let (c, _) = validate(&RawOptions {
        pressure: RawValue::Other("object"),
        pressure_ratio: RawValue::Number(0.8),
        pressure_psi_full: RawValue::Other("null"),
        pressure_within_ms: RawValue::Number(30_000.0),
        ..base()
    })
    .unwrap();
    assert!(c.recorder.is_some());
    assert_eq!(
        c.pressure,
        Some(PressureConfig {
            ratio: 0.8,
            psi_full: None,
            within_ms: Some(30_000)
        })
    );
    for (raw, field) in [
        (
            RawOptions {
                pressure: RawValue::Text("on".into()),
                recorder: true,
                ..base()
            },
            "options.pressure",
        ),
        (
            RawOptions {
                pressure: RawValue::Bool(true),
                pressure_ratio: RawValue::Number(1.0),
                ..base()
            },
            "options.pressure.ratio",
        ),
        (
            RawOptions {
                pressure: RawValue::Bool(true),
                pressure_psi_full: RawValue::Number(101.0),
                ..base()
            },
            "options.pressure.psiFull",
        ),
        (
            RawOptions {
                pressure: RawValue::Bool(true),
                pressure_within_ms: RawValue::Number(999.0),
                ..base()
            },
            "options.pressure.withinMs",
        ),
    ] {
        let e = validate(&raw).unwrap_err();
        assert_eq!(e.field, field, "{e:?}");
    }
}
