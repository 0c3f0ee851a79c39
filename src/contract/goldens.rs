//! The golden files both implementations are checked against (test builds only), each
//! written here from the crate's own rules and run against the JS twins by
//! `__test__/contract.spec.ts`: analysis (facts → risks), options (→ first error), growth
//! (points → growth) and names (→ what the crate takes each file for). `format::` and
//! `facts::` write theirs beside their code. A golden that changed fails the test once,
//! regenerated, so that it is reviewed and committed like code.

use serde_json::Value;

/// Writes `value` to the golden file `rel` (under the crate) when it differs, and fails:
/// a golden that changed must be reviewed and committed like code (test builds only).
pub(crate) fn check_golden(rel: &str, value: &Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let mut fresh = serde_json::to_string_pretty(value).unwrap();
    fresh.push('\n');
    if std::fs::read_to_string(&path).unwrap_or_default() != fresh {
        std::fs::write(&path, &fresh).unwrap();
        panic!("{rel} was stale and has been regenerated: review the change and commit it");
    }
}

/// Golden cases run by both implementations: `tests/fixtures/golden/analysis.json`.
mod golden {
    use crate::analysis::{analyze, Facts};
    use serde_json::Value;
    use std::path::Path;

    fn facts(v: &Value) -> Facts {
        let n = |k: &str| v.get(k).and_then(Value::as_f64);
        let known = [
            "heapUsed",
            "heapLimit",
            "heapAvailable",
            "heapTotal",
            "detachedContexts",
            "malloced",
            "external",
            "rss",
            "effectiveLimit",
            "usageAgainstLimit",
            "cgroupOomKills",
            "cgroupMaxEvents",
            "psiSomeAvg10",
            "psiFullAvg10",
            "swapBytes",
            "threads",
            "openFds",
            "openFdsLimit",
            "childrenRss",
            "trigger",
        ];
        for k in v.as_object().unwrap().keys() {
            assert!(known.contains(&k.as_str()), "unknown fact {k}");
        }
        Facts {
            heap_used: n("heapUsed"),
            heap_limit: n("heapLimit"),
            heap_available: n("heapAvailable"),
            heap_total: n("heapTotal"),
            detached_contexts: n("detachedContexts"),
            malloced: n("malloced"),
            external: n("external"),
            rss: n("rss"),
            effective_limit: n("effectiveLimit"),
            usage_against_limit: n("usageAgainstLimit"),
            cgroup_oom_kills: n("cgroupOomKills"),
            cgroup_max_events: n("cgroupMaxEvents"),
            psi_some_avg10: n("psiSomeAvg10"),
            psi_full_avg10: n("psiFullAvg10"),
            swap_bytes: n("swapBytes"),
            threads: n("threads"),
            open_fds: n("openFds"),
            open_fds_limit: n("openFdsLimit"),
            children_rss: n("childrenRss"),
            // Growth across points has its own tests (analysis, the leak programs).
            growth_points: vec![],
            trigger: v.get("trigger").and_then(Value::as_str).map(|t| {
                ["hard", "critical", "manual", "watchdog", "pressure"]
                    .into_iter()
                    .find(|x| *x == t)
                    .expect("a known trigger")
            }),
            // The job, commit and handle facts are read natively on Windows only.
            ..Default::default()
        }
    }

    #[test]
    fn the_native_analysis_gives_the_golden_risks() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden/analysis.json");
        let mut file: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let bless = std::env::var_os("GOLDEN_BLESS").is_some();
        let mut wrong = Vec::new();
        for case in file["cases"].as_array_mut().unwrap() {
            let got = serde_json::to_value(analyze(&facts(&case["facts"]))).unwrap();
            if bless {
                case["expect"] = got;
            } else if case["expect"] != got {
                wrong.push(format!(
                    "{}: expected {}\n got {}",
                    case["name"], case["expect"], got
                ));
            }
        }
        if bless {
            let mut text = serde_json::to_string_pretty(&file).unwrap();
            text.push('\n');
            std::fs::write(&path, text).unwrap();
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}

/// The options golden: options objects and the first error each gives (or `null`),
/// `tests/fixtures/golden/options.json`, written here from `config::from_tree` and
/// `config::validate` and run against `lib/fallback/config.js` by `__test__/contract.spec.ts`.
mod options_golden {
    use crate::config::{from_tree, validate, RawValue};
    use serde_json::{json, Value};

    /// JSON to the tree the binding reads; strings `$undefined`, `$function`, `$NaN`,
    /// `$Infinity`, `$-Infinity`, `$bigint` and `$symbol` stand for what JSON cannot hold.
    pub fn tree(v: &Value, depth: u8) -> RawValue {
        match v {
            Value::String(s) => match s.as_str() {
                "$undefined" => RawValue::Missing,
                "$function" => RawValue::Other("function"),
                "$bigint" => RawValue::Other("bigint"),
                "$symbol" => RawValue::Other("symbol"),
                "$NaN" => RawValue::Number(f64::NAN),
                "$Infinity" => RawValue::Number(f64::INFINITY),
                "$-Infinity" => RawValue::Number(f64::NEG_INFINITY),
                _ => RawValue::Text(s.clone()),
            },
            Value::Null => RawValue::Other("null"),
            Value::Bool(b) => RawValue::Bool(*b),
            Value::Number(n) => RawValue::Number(n.as_f64().unwrap()),
            Value::Array(a) if a.len() > crate::config::MAX_LIST_ITEMS => RawValue::Other("array"),
            Value::Array(a) => RawValue::List(a.iter().map(|x| tree(x, 0)).collect()),
            Value::Object(_) if depth == 0 => RawValue::Other("object"),
            Value::Object(m) => RawValue::Object(
                m.iter()
                    .map(|(k, x)| (k.clone(), tree(x, depth - 1)))
                    .collect(),
            ),
        }
    }

    fn cases() -> Vec<(&'static str, Value)> {
        let d = "/tmp/mdd-golden";
        vec![
            (
                "valid, every option",
                json!({"directory": d, "sessionId": "s", "maxDumpsPerSession": 3, "cooldownMs": 0, "maxFiles": 5, "appVersion": "1.2", "suggestions": {"hard": "h", "critical": "c", "manual": "m"}, "recorder": {"intervalMs": 500, "samples": 10}, "watchdog": {"rssRatio": 0.5, "stallMs": 2000, "captureStack": false}, "smapsRollup": "never", "smapsRollupMaxRssBytes": 0, "mallinfo": "always", "now": "$function", "heapSnapshot": {"triggers": ["hard", "critical"], "maxPerSession": 2, "maxBytes": 1048576, "redact": true}, "allocationProfile": {"samplingIntervalBytes": 65536, "maxSites": 5}, "pressure": {"ratio": 0.85, "psiFull": 20, "withinMs": 30000}}),
            ),
            (
                "valid, pressure off, or alone",
                json!({"directory": d, "recorder": {}, "pressure": false}),
            ),
            (
                "valid, pressure alone starts the recorder",
                json!({"directory": d, "pressure": {"psiFull": null}}),
            ),
            (
                "pressure not an object",
                json!({"directory": d, "pressure": "on"}),
            ),
            (
                "pressure unknown key",
                json!({"directory": d, "pressure": {"threshold": 0.9}}),
            ),
            (
                "pressure ratio out of range",
                json!({"directory": d, "pressure": {"ratio": 0.3}}),
            ),
            (
                "pressure psiFull out of range",
                json!({"directory": d, "pressure": {"psiFull": 0}}),
            ),
            (
                "pressure withinMs too short",
                json!({"directory": d, "pressure": {"withinMs": 10}}),
            ),
            (
                "pressure after allocation profile",
                json!({"directory": d, "allocationProfile": 3, "pressure": {"ratio": 2}}),
            ),
            (
                "valid, nulls and undefined",
                json!({"directory": d, "sessionId": null, "recorder": null, "watchdog": "$undefined", "allocationProfile": true}),
            ),
            ("not an object", json!(5)),
            ("an array", json!([d])),
            ("null", Value::Null),
            (
                "a shape error before a value error",
                json!({"directory": "", "recorder": 5}),
            ),
            (
                "an unknown key before everything",
                json!({"directory": "", "recorder": 5, "cooldown": 1}),
            ),
            (
                "a nested unknown key before a top-level value",
                json!({"directory": 7, "watchdog": {"rssratio": 0.5}}),
            ),
            (
                "nested objects in their order",
                json!({"directory": d, "heapSnapshot": 1, "suggestions": "x"}),
            ),
            (
                "an array is not an options object",
                json!({"directory": d, "recorder": []}),
            ),
            (
                "a value error in validate's order",
                json!({"directory": d, "mallinfo": "sometimes", "now": 5}),
            ),
            (
                "negative tiny number",
                json!({"directory": d, "maxFiles": -1e-7}),
            ),
            ("huge number", json!({"directory": d, "maxFiles": 1e21})),
            (
                "control character",
                json!({"directory": d, "maxFiles": "\u{1}x"}),
            ),
            ("NaN", json!({"directory": d, "cooldownMs": "$NaN"})),
            (
                "Infinity",
                json!({"directory": d, "cooldownMs": "$Infinity"}),
            ),
            ("a bigint", json!({"directory": d, "cooldownMs": "$bigint"})),
            (
                "a long string",
                json!({"directory": d, "maxFiles": "x".repeat(41)}),
            ),
            (
                "fraction",
                json!({"directory": d, "maxDumpsPerSession": 2.5}),
            ),
            ("directory blank", json!({"directory": "   "})),
            ("directory missing", json!({})),
            (
                "session id not text",
                json!({"directory": d, "sessionId": true}),
            ),
            (
                "app version too long",
                json!({"directory": d, "appVersion": "v".repeat(5000)}),
            ),
            (
                "watchdog needs a threshold",
                json!({"directory": d, "watchdog": {}}),
            ),
            (
                "watchdog captureStack not a boolean",
                json!({"directory": d, "watchdog": {"rssRatio": 0.5, "captureStack": "yes"}}),
            ),
            (
                "watchdog ratio out of range",
                json!({"directory": d, "watchdog": {"rssRatio": 1.5}}),
            ),
            (
                "watchdog before recorder",
                json!({"directory": d, "recorder": {"samples": 0}, "watchdog": {"rssRatio": 0}}),
            ),
            (
                "recorder interval",
                json!({"directory": d, "recorder": {"intervalMs": 1}}),
            ),
            (
                "smaps bytes before mode",
                json!({"directory": d, "smapsRollup": "x", "smapsRollupMaxRssBytes": -1}),
            ),
            ("now not a function", json!({"directory": d, "now": 5})),
            (
                "triggers not a list",
                json!({"directory": d, "heapSnapshot": {"triggers": "hard"}}),
            ),
            (
                "triggers empty",
                json!({"directory": d, "heapSnapshot": {"triggers": []}}),
            ),
            (
                "triggers item",
                json!({"directory": d, "heapSnapshot": {"triggers": ["hard", "watchdog"]}}),
            ),
            (
                "triggers too many",
                json!({"directory": d, "heapSnapshot": {"triggers": vec!["hard"; 17]}}),
            ),
            (
                "snapshot budget",
                json!({"directory": d, "heapSnapshot": {"maxBytes": 1024}}),
            ),
            (
                "snapshot redact",
                json!({"directory": d, "heapSnapshot": {"redact": "yes"}}),
            ),
            (
                "allocation profile kind",
                json!({"directory": d, "allocationProfile": "on"}),
            ),
            (
                "allocation profile interval",
                json!({"directory": d, "allocationProfile": {"samplingIntervalBytes": 1}}),
            ),
        ]
    }

    fn first_error(v: &Value) -> Value {
        match from_tree(&tree(v, 2)).and_then(|raw| validate(&raw)) {
            Ok(_) => Value::Null,
            Err(e) => json!(e.to_string()),
        }
    }

    #[test]
    fn the_options_golden_is_current() {
        let file = json!({
            "about": "Generated by `cargo test contract::` from src/config/; do not edit. Each options object and the first error it gives (null: accepted). Strings \"$undefined\", \"$function\", \"$NaN\", \"$Infinity\", \"$bigint\" stand for values JSON cannot hold.",
            "cases": cases().iter().map(|(name, v)| json!({"name": name, "options": v, "expect": first_error(v)})).collect::<Vec<_>>(),
        });
        crate::contract::goldens::check_golden("tests/fixtures/golden/options.json", &file);
    }
}

/// The growth golden: growth points and the `analysis.growth` each set gives,
/// `tests/fixtures/golden/growth.json`, written here from `analysis::growth` and run
/// against `lib/rules/analysis.js` (which `inspect` uses too) by `__test__/contract.spec.ts`.
mod growth_golden {
    use crate::analysis::{growth, GrowthPoint};
    use serde_json::{json, Value};

    const M: f64 = 1024.0 * 1024.0;

    fn point(v: &Value) -> GrowthPoint {
        let n = |k: &str| v.get(k).and_then(Value::as_f64);
        GrowthPoint {
            epoch_ms: v["epochMs"].as_i64().unwrap(),
            rss: n("rss"),
            anon: n("anon"),
            file: n("file"),
            shmem: n("shmem"),
            v8_heap: n("v8Heap"),
            heap_used: n("heapUsed"),
            external: n("external"),
            array_buffers: n("arrayBuffers"),
            malloc_in_use: n("mallocInUse"),
            malloc_free: n("mallocFree"),
            children: n("children"),
            handles: None,
        }
    }

    /// A point of `rss` split into its kinds (MiB); the rest of the anonymous memory is native.
    fn p(t: i64, heap: f64, ext: f64, native: f64, file: f64, shmem: f64) -> Value {
        let anon = heap + ext + native;
        json!({"epochMs": 1_800_000_000_000i64 + t, "rss": (anon + file + shmem) * M, "anon": anon * M, "file": file * M, "shmem": shmem * M,
               "v8Heap": heap * M, "heapUsed": heap * 0.8 * M, "external": ext * M, "arrayBuffers": ext * 0.5 * M})
    }

    fn cases() -> Vec<(&'static str, Vec<Value>)> {
        let mut with_malloc = vec![
            p(0, 40.0, 2.0, 30.0, 20.0, 1.0),
            p(9_000, 42.0, 2.0, 230.0, 20.0, 1.0),
        ];
        with_malloc[0]["mallocInUse"] = json!(25.0 * M);
        with_malloc[1]["mallocInUse"] = json!(220.0 * M);
        with_malloc[0]["mallocFree"] = json!(3.0 * M);
        with_malloc[1]["mallocFree"] = json!(8.5 * M);
        let mut children = vec![
            p(0, 40.0, 2.0, 30.0, 20.0, 1.0),
            p(1_000, 40.0, 2.0, 30.0, 20.0, 1.0),
        ];
        children[0]["children"] = json!(10.0 * M);
        children[1]["children"] = json!(300.0 * M);
        let mut no_anon = vec![
            p(0, 40.0, 2.0, 30.0, 20.0, 1.0),
            p(5_000, 40.0, 2.0, 90.0, 20.0, 1.0),
        ];
        for x in &mut no_anon {
            x.as_object_mut().unwrap().remove("anon");
            x.as_object_mut().unwrap().remove("arrayBuffers");
        }
        // The recorder's samples of a host that never called observe(): no V8 figures.
        let mut no_v8 = vec![
            p(0, 4.0, 2.0, 0.0, 20.0, 1.0),
            p(4_000, 4.0, 2.0, 233.0, 22.0, 1.0),
        ];
        for x in &mut no_v8 {
            for k in ["v8Heap", "heapUsed", "external", "arrayBuffers"] {
                x.as_object_mut().unwrap().remove(k);
            }
        }
        vec![
            (
                "anonymous memory grew with no V8 figures to split it",
                no_v8,
            ),
            (
                "the JS heap grew",
                vec![
                    p(0, 40.0, 2.0, 30.0, 20.0, 1.0),
                    p(2_500, 240.5, 2.0, 30.0, 20.0, 1.0),
                ],
            ),
            (
                "external memory grew, ArrayBuffers half of it",
                vec![
                    p(0, 40.0, 2.0, 30.0, 20.0, 1.0),
                    p(1_250, 41.0, 102.5, 30.0, 20.0, 1.0),
                ],
            ),
            ("native memory grew, malloc at both ends", with_malloc),
            (
                "native memory grew, RSS less file and shared for anonymous",
                no_anon,
            ),
            (
                "file-backed memory grew",
                vec![
                    p(0, 40.0, 2.0, 30.0, 20.0, 1.0),
                    p(3_000, 40.0, 2.0, 30.0, 120.0, 1.0),
                ],
            ),
            (
                "shared memory grew",
                vec![
                    p(0, 40.0, 2.0, 30.0, 20.0, 1.0),
                    p(3_000, 40.0, 2.0, 30.0, 20.0, 65.0),
                ],
            ),
            ("children grew", children),
            (
                "three points, the middle one lower",
                vec![
                    p(0, 40.0, 2.0, 30.0, 20.0, 1.0),
                    p(1_000, 20.0, 2.0, 30.0, 20.0, 1.0),
                    p(2_000, 90.0, 2.0, 30.0, 20.0, 1.0),
                ],
            ),
            (
                "nothing grew enough",
                vec![
                    p(0, 40.0, 2.0, 30.0, 20.0, 1.0),
                    p(60_000, 55.5, 9.0, 20.0, 20.0, 1.0),
                ],
            ),
            (
                "shrank",
                vec![
                    p(0, 400.0, 2.0, 30.0, 20.0, 1.0),
                    p(60_000, 40.0, 2.0, 30.0, 20.0, 1.0),
                ],
            ),
            ("one point", vec![p(0, 40.0, 2.0, 30.0, 20.0, 1.0)]),
            (
                "two points at one moment",
                vec![
                    p(0, 40.0, 2.0, 30.0, 20.0, 1.0),
                    p(0, 400.0, 2.0, 30.0, 20.0, 1.0),
                ],
            ),
            (
                "exact half MiB steps round away from zero",
                vec![
                    p(0, 40.25, 2.0, 30.0, 20.0, 1.0),
                    p(1_050, 60.75, 2.0, 30.0, 20.0, 1.0),
                ],
            ),
        ]
    }

    #[test]
    fn the_growth_golden_is_current() {
        let file = json!({
            "about": "Generated by `cargo test contract::` from src/analysis/; do not edit. Growth points (bytes, epoch ms) and the analysis.growth they give.",
            "cases": cases().iter().map(|(name, pts)| {
                let points: Vec<GrowthPoint> = pts.iter().map(point).collect();
                json!({"name": name, "points": pts, "expect": growth(&points)})
            }).collect::<Vec<_>>(),
        });
        crate::contract::goldens::check_golden("tests/fixtures/golden/growth.json", &file);
    }
}

/// The names golden: file names and what the crate takes each for,
/// `tests/fixtures/golden/names.json`, written here from `writer`'s parsers and run by
/// `__test__/contract.spec.ts` against `lib/rules/names.js` (the fallback's writer, `inspect`
/// and `bundle` all classify names through it).
mod names_golden {
    use crate::writer::{self as w, TempKind};
    use serde_json::{json, Value};

    fn kind(name: &str) -> Value {
        if w::parse_dump_name(name).is_some() {
            json!("dump")
        } else if w::parse_heap_name(name).is_some() {
            json!("heap")
        } else if w::is_recorder_name(name) {
            json!("recorder")
        } else {
            match w::parse_temp_name(name) {
                Some(TempKind::Locked) => json!("tempLocked"),
                Some(TempKind::Aged) => json!("tempAged"),
                None => Value::Null,
            }
        }
    }

    fn names() -> Vec<String> {
        let d = "memory-abc_1-2026-11-18T12-07-55-123Z-7.json";
        let h = "heap-abc_1-2026-11-18T12-07-55-123Z-7.heapsnapshot";
        let mut v: Vec<String> = [
            d,
            "memory-abc_1-2026-11-18T12-07-55-123Z-7.2.json",
            "memory-abc_1-2026-11-18T12-07-55-123Z-7.1.json",
            "memory-abc_1-2026-11-18T12-07-55-123Z-7.0.json",
            "memory-abc_1-2026-11-18T12-07-55-123Z-7.02.json",
            "memory-abc_1-2026-11-18T12-07-55-123Z-07.json",
            "memory-abc_1-2026-11-18T12-07-55-123Z-0.json",
            "memory-abc_1-2026-11-18T12-07-55-123Z-999999999.json",
            "memory-abc_1-2026-11-18T12-07-55-123Z-9999999999.json",
            "memory-abc_1-2026-11-18T12-07-55-123Z-4294967296.json",
            "memory-nosessn-2026-11-18T12-07-55-123Z-1.json",
            "memory-abcdefghi-2026-11-18T12-07-55-123Z-1.json",
            "memory--2026-11-18T12-07-55-123Z-1.json",
            "memory-a.b-2026-11-18T12-07-55-123Z-1.json",
            "memory-abc-2026-11-18T12-07-55-12Z-1.json",
            "memory-abc-2026-11-18T12:07:55-123Z-1.json",
            "memory-abc-2026-11-18T12-07-55-123Z-1.json.bak",
            "Memory-abc-2026-11-18T12-07-55-123Z-1.json",
            "memory-abc-2026-11-18T12-07-55-123Z-.json",
            h,
            "heap-abc_1-2026-11-18T12-07-55-123Z-7.3.heapsnapshot",
            "heap-abc_1-2026-11-18T12-07-55-123Z-7.json",
            "recorder-abc_1-1234-0123abcd.jsonl",
            "recorder-abc_1-1234-0123abcd.jsonl.1",
            "recorder-abc_1-1234-0123abcd.jsonl.2",
            "recorder-.jsonl",
            "recorder-a.b.jsonl",
            "recorder-a b.jsonl",
            "recorder-ABC-xyz_9.jsonl",
            "recorder-abc.json",
            ".recorder-abc.jsonl",
            "notes.txt",
            "",
            ".",
            "..",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push(format!("recorder-{}.jsonl", "a".repeat(64)));
        v.push(format!("recorder-{}.jsonl", "a".repeat(65)));
        for f in [d, h] {
            for tag in [
                "L0123456789abcdef",
                "LABCDEF01",
                "L0123456",
                &format!("L{}", "a".repeat(32)),
                &format!("L{}", "a".repeat(33)),
                "A0123456789abcdef",
                "Axyz01234",
                "1234-5",
                "1234-05",
                "1234-",
                "-5",
                "x1234-5",
            ] {
                v.push(format!(".{f}.{tag}.tmp"));
            }
        }
        v.push(format!("{d}.L0123456789abcdef.tmp"));
        v.push(".notes.txt.L0123456789abcdef.tmp".into());
        v.push(format!(".{d}.L0123456789abcdef.tmp.1"));
        v
    }

    #[test]
    fn the_names_golden_is_current() {
        let file = json!({
            "about": "Generated by `cargo test contract::` from src/writer/names.rs; do not edit. File names and what the crate takes each for (null: not ours, never touched).",
            "cases": names().iter().map(|n| json!([n, kind(n)])).collect::<Vec<_>>(),
        });
        crate::contract::goldens::check_golden("tests/fixtures/golden/names.json", &file);
    }
}
