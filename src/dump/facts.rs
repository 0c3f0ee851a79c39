//! The figures the analysis reads, taken from a document: the one mapping, used by phase 2
//! on the document it has just filled (`enrich::facts`) and twinned by the JS
//! fallback's `lib/fallback/facts.js`. `tests/fixtures/golden/facts.json` (written by `cargo test
//! facts::`) holds documents and their facts for the twin.

use serde_json::Value;

use crate::analysis::Facts;

fn at<'a>(doc: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, k| v.get(k))
}

fn num(doc: &Value, path: &[&str]) -> Option<f64> {
    at(doc, path).and_then(Value::as_f64)
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// The limit sources a document can name, as the analysis keeps them.
const LIMIT_SOURCES: &[&str] = &["cgroup", "job", "commit", "physical"];

/// The sources of `trigger` a document can name.
const TRIGGERS: &[&str] = &["hard", "critical", "manual", "watchdog", "pressure"];

/// Facts from a document (growth points are not in it: they are the caller's).
pub fn facts_from_document(doc: &Value) -> Facts {
    let heap = |k: &str| num(doc, &["atTrigger", "v8HeapStats", k]);
    let usage = |k: &str| num(doc, &["atTrigger", "memoryUsage", k]);
    let pressure = |kind: &str| {
        max_opt(
            num(doc, &["pressure", kind, "avg10"]),
            num(doc, &["cgroup", "pressure", kind, "avg10"]),
        )
    };
    let job = |k: &str| num(doc, &["jobObject", k]);
    let commit_enforced = at(doc, &["system", "memoryDetail", "commitLimit", "source"])
        .and_then(Value::as_str)
        == Some("GlobalMemoryStatusEx:ullTotalPageFile");
    let commit = |k: &str| {
        commit_enforced
            .then(|| num(doc, &["system", "memoryDetail", k, "value"]))
            .flatten()
    };
    let (commit_total, commit_limit) = match (commit("commitTotal"), commit("commitLimit")) {
        (Some(t), Some(l)) => (Some(t), Some(l)),
        _ => (None, None),
    };
    Facts {
        heap_used: heap("usedHeapSize"),
        heap_limit: heap("heapSizeLimit"),
        heap_available: heap("totalAvailableSize"),
        heap_total: usage("heapTotal").or(heap("totalHeapSize")),
        detached_contexts: heap("numberOfDetachedContexts"),
        malloced: heap("mallocedMemory"),
        external: usage("external"),
        rss: num(doc, &["process", "status", "vmRss"])
            .or_else(|| {
                at(doc, &["processTree", "processes"])
                    .and_then(|p| p.get(0))
                    .and_then(|p| p.get("rssBytes"))
                    .and_then(Value::as_f64)
            })
            .or(usage("rss")),
        effective_limit: num(doc, &["memoryLimit", "effectiveLimitBytes"]),
        usage_against_limit: num(doc, &["memoryLimit", "usageBytes"]),
        cgroup_oom_kills: num(doc, &["cgroup", "events", "oomKill"]),
        cgroup_max_events: num(doc, &["cgroup", "events", "max"]),
        psi_some_avg10: pressure("some"),
        psi_full_avg10: pressure("full"),
        swap_bytes: num(doc, &["process", "status", "vmSwap"]),
        threads: num(doc, &["process", "status", "threads"]),
        open_fds: num(doc, &["process", "openFds"]),
        open_fds_limit: num(doc, &["process", "openFdsLimit"]),
        children_rss: num(doc, &["processTree", "descendantsRssBytes"]),
        limit_source: at(doc, &["memoryLimit", "source"])
            .and_then(Value::as_str)
            .and_then(|s| LIMIT_SOURCES.iter().copied().find(|x| *x == s)),
        commit_total,
        commit_limit,
        job_limit: match (job("processMemoryLimitBytes"), job("jobMemoryLimitBytes")) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
        job_usage: num(doc, &["process", "memory", "commit", "value"]),
        growth_points: vec![],
        trigger: at(doc, &["trigger"])
            .and_then(Value::as_str)
            .and_then(|s| TRIGGERS.iter().copied().find(|x| *x == s)),
    }
}

/// Facts as the golden file and `lib/fallback/facts.js` write them: camelCase, nulls kept.
pub fn facts_json(f: &Facts) -> Value {
    serde_json::json!({
        "heapUsed": f.heap_used,
        "heapLimit": f.heap_limit,
        "heapAvailable": f.heap_available,
        "heapTotal": f.heap_total,
        "detachedContexts": f.detached_contexts,
        "malloced": f.malloced,
        "external": f.external,
        "rss": f.rss,
        "effectiveLimit": f.effective_limit,
        "usageAgainstLimit": f.usage_against_limit,
        "cgroupOomKills": f.cgroup_oom_kills,
        "cgroupMaxEvents": f.cgroup_max_events,
        "psiSomeAvg10": f.psi_some_avg10,
        "psiFullAvg10": f.psi_full_avg10,
        "swapBytes": f.swap_bytes,
        "threads": f.threads,
        "openFds": f.open_fds,
        "openFdsLimit": f.open_fds_limit,
        "childrenRss": f.children_rss,
        "limitSource": f.limit_source,
        "commitTotal": f.commit_total,
        "commitLimit": f.commit_limit,
        "jobLimit": f.job_limit,
        "jobUsage": f.job_usage,
        "trigger": f.trigger,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::collect::Collected;
    use crate::dump::enrich::enrich;
    use crate::probes::cgroup::{CgroupEvents, CgroupInfo};
    use crate::probes::system::SystemInfo;
    use crate::probes::tree::{ProcessTree, TreeProcess};
    use crate::probes::{pressure, procfs};
    use serde_json::json;

    /// Collected phase-2 figures of several shapes: a cgroup with events and pressure, a
    /// process known only from its tree, and nothing at all.
    fn scenarios() -> Vec<(&'static str, Collected)> {
        let mut full = Collected::default();
        full.process.status = Some(procfs::ProcStatus {
            vm_rss: Some(500 << 20),
            vm_swap: Some(3 << 20),
            threads: Some(12),
            ..Default::default()
        });
        full.process.open_fds = Some(40);
        full.process.open_fds_limit = Some(1024);
        full.pressure =
            Some(pressure::parse_psi("some avg10=1.00 avg60=0 avg300=0 total=0").unwrap());
        full.cgroup = Some(CgroupInfo {
            effective_limit: Some(600 << 20),
            usage: Some(550 << 20),
            pressure: Some(
                pressure::parse_psi(
                    "some avg10=30.00 avg60=0 avg300=0 total=0\nfull avg10=7.00 avg60=0 avg300=0 total=0",
                )
                .unwrap(),
            ),
            events: Some(CgroupEvents {
                oom_kill: Some(2),
                max: Some(9),
                ..Default::default()
            }),
            ..Default::default()
        });
        full.system = Some(SystemInfo {
            total_memory: 8 << 30,
            available_memory: 6 << 30,
            ..Default::default()
        });
        let tree_only = Collected {
            tree: Some(ProcessTree {
                method: "scan",
                root_pid: 7,
                processes: vec![TreeProcess {
                    pid: 7,
                    ppid: 1,
                    name: "node".into(),
                    rss_bytes: Some(321 << 20),
                    depth: 0,
                }],
                process_count: 1,
                descendants_rss_bytes: 12 << 20,
                ..Default::default()
            }),
            system: Some(SystemInfo {
                total_memory: 4 << 30,
                available_memory: 1 << 30,
                ..Default::default()
            }),
            ..Default::default()
        };
        vec![
            ("cgroup, pressure, status", full),
            ("process tree only", tree_only),
            ("nothing collected", Collected::default()),
        ]
    }

    /// Each scenario's enriched document, and the analysis phase 2 wrote into it.
    fn documents() -> Vec<(&'static str, Value, crate::analysis::Analysis)> {
        scenarios()
            .into_iter()
            .map(|(name, c)| {
                let mut report = crate::report::tests::sample();
                enrich(&mut report, c, None);
                let analysis = report.analysis.clone().unwrap();
                (name, serde_json::to_value(&report).unwrap(), analysis)
            })
            .collect()
    }

    #[test]
    fn phase_2_analyses_the_facts_its_document_gives() {
        for (name, doc, written) in documents() {
            // A document's first dump has no growth across points: its risks and advice are
            // those of its facts alone.
            let again = crate::analysis::analyze(&facts_from_document(&doc));
            assert_eq!(again.risks, written.risks, "{name}");
            assert_eq!(again.recommendation, written.recommendation, "{name}");
        }
    }

    /// Keeps only what `facts_from_document` reads, so the golden stays small.
    fn pruned(doc: &Value) -> Value {
        let keep = [
            "trigger",
            "atTrigger",
            "process",
            "processTree",
            "memoryLimit",
            "cgroup",
            "pressure",
            "system",
            "jobObject",
        ];
        let mut out = serde_json::Map::new();
        for k in keep {
            if let Some(v) = doc.get(k) {
                let v = match k {
                    "process" => {
                        json!({"status": v.get("status"), "openFds": v.get("openFds"), "openFdsLimit": v.get("openFdsLimit"), "memory": v.get("memory")})
                    }
                    "cgroup" => json!({"events": v.get("events"), "pressure": v.get("pressure")}),
                    "system" => json!({"memoryDetail": v.get("memoryDetail")}),
                    "processTree" => {
                        json!({"processes": v.get("processes"), "descendantsRssBytes": v.get("descendantsRssBytes")})
                    }
                    _ => v.clone(),
                };
                out.insert(k.into(), v);
            }
        }
        Value::Object(out)
    }

    #[test]
    fn the_facts_golden_is_current() {
        let mut cases: Vec<Value> = documents()
            .iter()
            .map(|(name, doc, _)| {
                let doc = pruned(doc);
                json!({"name": name, "document": doc, "expect": facts_json(&facts_from_document(&doc))})
            })
            .collect();
        // What only Windows documents carry: an enforced commit limit, a job and commit.
        let windows = json!({
            "trigger": "critical",
            "atTrigger": {"v8HeapStats": {"usedHeapSize": 1.0e8, "heapSizeLimit": 4.0e9}, "memoryUsage": {"rss": 9.0e8, "heapTotal": 1.2e8, "external": 5.0e6}},
            "process": {"memory": {"commit": {"value": 7.0e8, "source": "GetProcessMemoryInfo:PrivateUsage"}}, "openFds": 900},
            "memoryLimit": {"effectiveLimitBytes": 1.0e9, "source": "job", "usageBytes": 7.0e8},
            "jobObject": {"inJob": true, "processMemoryLimitBytes": 1.0e9, "jobMemoryLimitBytes": 2.0e9, "source": "QueryInformationJobObject"},
            "system": {"memoryDetail": {"commitLimit": {"value": 3.0e10, "source": "GlobalMemoryStatusEx:ullTotalPageFile"}, "commitTotal": {"value": 2.9e10, "source": "GlobalMemoryStatusEx:ullTotalPageFile"}}},
        });
        let linux_commit = json!({
            "trigger": "watchdog",
            "atTrigger": {"v8HeapStats": {"totalHeapSize": 5.0e7}, "memoryUsage": {}},
            "memoryLimit": {"effectiveLimitBytes": 1.0e9, "source": "somewhere else"},
            "system": {"memoryDetail": {"commitLimit": {"value": 3.0e10, "source": "/proc/meminfo:CommitLimit"}, "commitTotal": {"value": 2.9e10, "source": "/proc/meminfo:Committed_AS"}}},
        });
        for (name, doc) in [
            ("a Windows document: job, commit", windows),
            (
                "a commit limit that is not enforced, an unknown source and trigger",
                linux_commit,
            ),
        ] {
            cases.push(json!({"name": name, "document": doc, "expect": facts_json(&facts_from_document(&doc))}));
        }
        let file = json!({
            "about": "Generated by `cargo test facts::` from src/dump/facts.rs; do not edit. Documents (pruned to what is read) and the analysis facts each gives.",
            "cases": cases,
        });
        crate::contract::goldens::check_golden("tests/fixtures/golden/facts.json", &file);
    }
}
