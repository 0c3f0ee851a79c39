//! What phase 2 derives from what it read: the effective memory limit, the memory
//! accounting, the growth points across dumps, and the analysis, filled into the document.

use crate::analysis::accounting::{self, MemoryAccounting};
use crate::analysis::{self, Facts, GrowthPoint};
use crate::dump::collect::Collected;
use crate::probes::cgroup::CgroupInfo;
use crate::probes::platform;
use crate::probes::system::SystemInfo;
use crate::report::Report;

pub use crate::report::MemoryLimit;

/// The host's figures the accounting uses, from `atTrigger`.
pub fn host_figures(at: &crate::report::AtTrigger) -> accounting::HostFigures {
    let heap = &at.v8_heap_stats;
    let usage = &at.memory_usage;
    accounting::HostFigures {
        total_physical_size: heap.get("totalPhysicalSize"),
        heap_total: usage.get("heapTotal"),
        rss: usage.get("rss"),
        array_buffers: usage.get("arrayBuffers"),
        external: usage.get("external"),
        external_memory: heap.get("externalMemory"),
        spaces: at.v8_heap_spaces.as_ref().map(|v| {
            v.iter()
                .map(|s| (s.name.clone(), s.values.get("physicalSpaceSize")))
                .collect()
        }),
    }
}

/// This dump's point for growth attribution, from its accounting and `atTrigger`.
pub fn dump_point(epoch_ms: i64, a: &MemoryAccounting, report: &Report) -> GrowthPoint {
    let heap = &report.at_trigger.v8_heap_stats;
    let usage = &report.at_trigger.memory_usage;
    let m = a.malloc.stats.as_ref();
    GrowthPoint {
        epoch_ms,
        rss: a.rss_bytes.map(|v| v as f64),
        anon: a.anon_bytes.map(|v| v as f64),
        file: a.parts.file_backed.bytes.map(|v| v as f64),
        shmem: a.parts.shared_memory.bytes.map(|v| v as f64),
        v8_heap: heap.get("totalPhysicalSize").or(usage.get("heapTotal")),
        heap_used: heap.get("usedHeapSize").or(usage.get("heapUsed")),
        external: usage.get("external").or(heap.get("externalMemory")),
        array_buffers: usage.get("arrayBuffers"),
        malloc_in_use: m.map(|m| m.in_use_bytes as f64),
        malloc_free: m.map(|m| m.free_retained_bytes as f64),
        children: a.children.as_ref().map(|c| c.rss_bytes as f64),
        handles: None,
    }
}

/// A recorder sample as a growth point.
pub fn sample_point(s: &crate::recorder::Sample) -> GrowthPoint {
    GrowthPoint {
        epoch_ms: s.epoch_ms,
        rss: s.rss_bytes.map(|v| v as f64),
        anon: s.rss_anon_bytes.map(|v| v as f64),
        file: s.rss_file_bytes.map(|v| v as f64),
        shmem: s.rss_shmem_bytes.map(|v| v as f64),
        v8_heap: s.heap_physical_bytes.or(s.heap_total_bytes),
        heap_used: s.heap_used_bytes,
        external: s.external_bytes,
        array_buffers: s.array_buffers_bytes,
        children: s.children_rss_bytes.map(|v| v as f64),
        ..Default::default()
    }
}

/// The smaller of the cgroup's limit and physical memory (and, on Windows, the commit
/// limit the system reports), with usage and headroom.
pub fn memory_limit(
    cgroup: Option<&CgroupInfo>,
    system: Option<&SystemInfo>,
) -> Option<MemoryLimit> {
    memory_limit_from(cgroup, None, None, system)
}

/// The smallest of the limits that apply here (`probes::platform::limit_candidates`),
/// with what counts against it and the headroom left.
pub fn memory_limit_from(
    cgroup: Option<&CgroupInfo>,
    job: Option<&platform::JobObject>,
    process: Option<&platform::ProcessMemory>,
    system: Option<&SystemInfo>,
) -> Option<MemoryLimit> {
    let cg = cgroup.and_then(|c| c.effective_limit.map(|l| (l, c.usage)));
    let best = crate::probes::limit::effective(&crate::probes::limit::limit_candidates(
        cg, job, process, system,
    ))?;
    let (limit, usage) = (best.limit, best.usage);
    Some(MemoryLimit {
        effective_limit_bytes: limit,
        source: best.source,
        usage_bytes: usage,
        headroom_bytes: usage.map(|u| limit.saturating_sub(u)),
        usage_ratio: usage.map(|u| (u as f64 / limit as f64 * 1e4).round() / 1e4),
    })
}

/// The figures the analysis rules look at: read from the document phase 2 has filled (the
/// one mapping, `facts::facts_from_document`, which the JS fallback's `lib/fallback/facts.js`
/// twins), with the growth points across this process's dumps.
pub fn facts(report: &Report, growth_points: Vec<GrowthPoint>) -> Facts {
    let doc = serde_json::to_value(report).unwrap_or(serde_json::Value::Null);
    let mut f = crate::dump::facts::facts_from_document(&doc);
    f.growth_points = growth_points;
    f
}

/// Fills the phase-2 sections of `report` from what was collected. `first` holds the
/// growth point of this process's first dump (filled here when empty).
pub fn enrich(
    report: &mut Report,
    c: Collected,
    first: Option<&parking_lot::Mutex<Option<GrowthPoint>>>,
) {
    let limit = memory_limit_from(
        c.cgroup.as_ref(),
        c.job_object.as_ref(),
        c.process.memory.as_ref(),
        c.system.as_ref(),
    );
    let acc = accounting::build_on(
        c.process.status.as_ref(),
        accounting_basis(c.process.memory.as_ref()),
        &host_figures(&report.at_trigger),
        c.malloc
            .clone()
            .unwrap_or_else(|| Err("the malloc probe failed".into())),
        c.tree.as_ref(),
    );
    let now = crate::timefmt::UtcTime::now().epoch_ms;
    let mut this = dump_point(now, &acc, report);
    this.handles = c.process.open_fds.map(|v| v as f64);
    let mut points: Vec<GrowthPoint> = Vec::new();
    if let Some(slot) = first {
        let mut slot = slot.lock();
        match slot.as_ref() {
            Some(p) => points.push(p.clone()),
            None => *slot = Some(this.clone()),
        }
    }
    points.extend(report.history.iter().flatten().map(sample_point));
    points.retain(|p| p.epoch_ms < now);
    points.sort_by_key(|p| p.epoch_ms);
    points.push(this);
    report.memory_accounting = Some(acc);
    report.memory_limit = limit;
    report.process = Some(c.process);
    report.system = c.system;
    report.cgroup = c.cgroup;
    report.job_object = c.job_object;
    report.pressure = c.pressure;
    report.process_tree = c.tree;
    // The analysis reads its facts from the document as written (one mapping: `facts`),
    // with the growth points beside it.
    report.analysis = Some(analysis::analyze(&facts(report, points)));
    report.collection_complete = true;
}

/// What the accounting splits off Linux: private bytes (Windows), the physical footprint
/// (macOS). On Linux (no basis) it splits `VmRSS`.
pub fn accounting_basis(m: Option<&platform::ProcessMemory>) -> Option<accounting::Basis> {
    let m = m?;
    if let (Some(bytes), Some(source)) = (m.commit.value, m.commit.source) {
        return Some(accounting::Basis {
            bytes,
            source,
            why_not_split:
                "not measured on win32: Windows gives no per-kind split of private bytes",
        });
    }
    if let (Some(bytes), Some(source)) = (m.footprint.value, m.footprint.source) {
        return Some(accounting::Basis {
            bytes,
            source,
            why_not_split: "not measured on darwin: macOS gives no per-kind split of the footprint",
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The accounting arithmetic of a dump on both sides: `tests/fixtures/golden/accounting.json`
    /// holds `atTrigger`s and `/proc/self/status` figures (each part present or missing,
    /// fractional bytes, code spaces larger than the heap, external below the ArrayBuffers),
    /// the accounting phase 2 builds from them and the dump's growth point. The JS
    /// fallback has no mallinfo2: the cases give the reason it records instead.
    #[test]
    fn the_accounting_golden_is_current() {
        use crate::probes::procfs::ProcStatus;
        use crate::report::{AtTrigger, HeapSpace, NumberMap};
        const NO_MALLOC: &str =
            "unavailable in the js implementation: mallinfo2 needs the native addon";
        type Figures = Vec<(&'static str, Option<f64>)>;
        let at = |heap: Figures, usage: Figures, spaces: Option<Vec<(&str, f64)>>| AtTrigger {
            v8_heap_stats: NumberMap(heap),
            memory_usage: NumberMap(usage),
            v8_heap_spaces: spaces.map(|v| {
                v.into_iter()
                    .map(|(n, p)| HeapSpace {
                        name: Some(n.to_string()),
                        values: NumberMap(vec![("physicalSpaceSize", Some(p))]),
                    })
                    .collect()
            }),
            active_resources: None,
        };
        let full_status = ProcStatus {
            vm_rss: Some(900 << 20),
            rss_anon: Some(700 << 20),
            rss_file: Some(150 << 20),
            rss_shmem: Some(50 << 20),
            vm_stk: Some(132 << 10),
            vm_swap: Some(3 << 20),
            ..Default::default()
        };
        let partial_status = ProcStatus {
            vm_rss: Some(500 << 20),
            rss_anon: Some(400 << 20),
            ..Default::default()
        };
        let heap = |phys: f64, used: f64, ext: f64| -> Figures {
            vec![
                ("totalPhysicalSize", Some(phys)),
                ("usedHeapSize", Some(used)),
                ("externalMemory", Some(ext)),
            ]
        };
        let usage = |rss: f64, total: f64, used: f64, ext: f64, ab: f64| -> Figures {
            vec![
                ("rss", Some(rss)),
                ("heapTotal", Some(total)),
                ("heapUsed", Some(used)),
                ("external", Some(ext)),
                ("arrayBuffers", Some(ab)),
            ]
        };
        let spaces = Some(vec![
            ("new_space", 8.0 * 1048576.0),
            ("old_space", 200.0 * 1048576.0),
            ("code_space", 6.0 * 1048576.0 + 0.5),
            ("code_large_object_space", 1048576.0),
        ]);
        let m = 1048576.0;
        let cases: Vec<(&str, Option<ProcStatus>, AtTrigger)> = vec![
            (
                "everything known",
                Some(full_status.clone()),
                at(
                    heap(230.0 * m, 180.0 * m, 90.0 * m),
                    usage(950.0 * m, 240.0 * m, 180.0 * m, 120.0 * m, 100.0 * m),
                    spaces.clone(),
                ),
            ),
            (
                "no status (not Linux), fractional bytes",
                None,
                at(
                    heap(230.0 * m + 0.7, 180.0 * m, 90.0 * m),
                    usage(
                        950.0 * m + 0.3,
                        240.0 * m,
                        180.0 * m,
                        120.0 * m + 0.9,
                        100.0 * m + 0.2,
                    ),
                    spaces.clone(),
                ),
            ),
            (
                "a status without the file, shared or stack lines",
                Some(partial_status.clone()),
                at(
                    heap(230.0 * m, 180.0 * m, 90.0 * m),
                    usage(450.0 * m, 240.0 * m, 180.0 * m, 20.0 * m, 30.0 * m),
                    None,
                ),
            ),
            (
                "no heap spaces: code is counted in the heap",
                Some(full_status.clone()),
                at(
                    heap(230.0 * m, 180.0 * m, 90.0 * m),
                    usage(950.0 * m, 240.0 * m, 180.0 * m, 120.0 * m, 100.0 * m),
                    None,
                ),
            ),
            (
                "code spaces larger than the heap's physical size",
                Some(full_status.clone()),
                at(
                    heap(4.0 * m, 3.0 * m, 0.0),
                    usage(950.0 * m, 5.0 * m, 3.0 * m, 0.0, 0.0),
                    spaces.clone(),
                ),
            ),
            (
                "no totalPhysicalSize: heapTotal instead; external from the heap statistics",
                Some(full_status.clone()),
                at(
                    vec![
                        ("usedHeapSize", Some(180.0 * m)),
                        ("externalMemory", Some(70.0 * m)),
                    ],
                    vec![
                        ("rss", Some(950.0 * m)),
                        ("heapTotal", Some(240.0 * m)),
                        ("heapUsed", None),
                        ("external", None),
                        ("arrayBuffers", Some(10.0 * m)),
                    ],
                    None,
                ),
            ),
            (
                "nothing passed: RSS from the status alone",
                Some(full_status.clone()),
                at(vec![], vec![], None),
            ),
            ("nothing at all", None, at(vec![], vec![], Some(vec![]))),
            (
                "parts that add up to more than RSS: a negative unexplained",
                Some(partial_status),
                at(
                    heap(600.0 * m, 500.0 * m, 0.0),
                    usage(500.0 * m, 600.0 * m, 500.0 * m, 300.0 * m, 10.0 * m),
                    spaces,
                ),
            ),
        ];
        let epoch_ms = 1_800_000_000_000i64;
        let out: Vec<serde_json::Value> = cases
            .into_iter()
            .map(|(name, status, at_trigger)| {
                let acc = accounting::build(
                    status.as_ref(),
                    &host_figures(&at_trigger),
                    Err(NO_MALLOC.to_string()),
                    None,
                );
                let mut report = crate::report::tests::sample();
                report.at_trigger = at_trigger.clone();
                let p = dump_point(epoch_ms, &acc, &report);
                serde_json::json!({
                    "name": name,
                    "status": status,
                    "atTrigger": at_trigger,
                    "accounting": acc,
                    "point": {
                        "epochMs": p.epoch_ms, "rss": p.rss, "anon": p.anon, "file": p.file,
                        "shmem": p.shmem, "v8Heap": p.v8_heap, "heapUsed": p.heap_used,
                        "external": p.external, "arrayBuffers": p.array_buffers,
                        "mallocInUse": p.malloc_in_use, "mallocFree": p.malloc_free,
                        "children": p.children,
                    },
                })
            })
            .collect();
        // The parts and what is unexplained add up to RSS exactly, in every case.
        for c in &out {
            let a = &c["accounting"];
            if let Some(rss) = a["rssBytes"].as_i64() {
                let parts: i64 = a["parts"]
                    .as_object()
                    .unwrap()
                    .values()
                    .filter_map(|p| p["bytes"].as_i64())
                    .sum();
                assert_eq!(
                    parts + a["unexplainedBytes"].as_i64().unwrap(),
                    rss,
                    "{}",
                    c["name"]
                );
            }
        }
        crate::contract::goldens::check_golden(
            "tests/fixtures/golden/accounting.json",
            &serde_json::json!({
                "about": "Generated by `cargo test accounting_golden` from src/analysis/accounting.rs (build) and src/dump/enrich.rs (host_figures, dump_point); do not edit. Each atTrigger and /proc/self/status, the memoryAccounting phase 2 builds and the dump's growth point.",
                "cases": out,
            }),
        );
    }
    #[cfg(target_os = "linux")]
    use crate::dump::collect::collect;
    use crate::probes::cgroup::CgroupEvents;
    use crate::probes::malloc::MallocStats;
    #[cfg(target_os = "linux")]
    use crate::probes::rss_split::SmapsRollupPolicy;
    use crate::probes::{pressure, procfs};
    #[cfg(target_os = "linux")]
    use crate::probes::{ProbeRoots, ProbeRunner};

    fn sys(total: u64, available: u64) -> SystemInfo {
        SystemInfo {
            total_memory: total,
            available_memory: available,
            ..Default::default()
        }
    }

    fn cg(limit: Option<u64>, usage: u64) -> CgroupInfo {
        CgroupInfo {
            effective_limit: limit,
            usage: Some(usage),
            ..Default::default()
        }
    }

    #[test]
    fn effective_limit_is_the_smaller_one() {
        let l = memory_limit(Some(&cg(Some(100), 60)), Some(&sys(1000, 900))).unwrap();
        assert_eq!(
            (
                l.effective_limit_bytes,
                l.source,
                l.usage_bytes,
                l.headroom_bytes
            ),
            (100, "cgroup", Some(60), Some(40))
        );
        assert_eq!(l.usage_ratio, Some(0.6));
        let l = memory_limit(Some(&cg(Some(5000), 60)), Some(&sys(1000, 900))).unwrap();
        assert_eq!(
            (
                l.effective_limit_bytes,
                l.source,
                l.usage_bytes,
                l.headroom_bytes
            ),
            (1000, "physical", Some(100), Some(900))
        );
        let l = memory_limit(Some(&cg(None, 60)), Some(&sys(1000, 250))).unwrap();
        assert_eq!((l.source, l.usage_bytes), ("physical", Some(750)));
        let l = memory_limit(None, Some(&sys(1000, 250))).unwrap();
        assert_eq!(l.source, "physical");
        assert_eq!(
            memory_limit(Some(&cg(Some(10), 20)), None)
                .unwrap()
                .headroom_bytes,
            Some(0)
        );
        assert_eq!(memory_limit(None, None), None);
    }

    #[test]
    fn facts_prefer_live_figures_and_the_worst_pressure() {
        let report = crate::report::tests::sample();
        let mut c = Collected::default();
        c.process.status = Some(procfs::ProcStatus {
            vm_rss: Some(5000),
            threads: Some(12),
            ..Default::default()
        });
        c.pressure = Some(pressure::parse_psi("some avg10=1.00 avg60=0 avg300=0 total=0").unwrap());
        let mut g = cg(Some(100), 90);
        g.pressure = Some(pressure::parse_psi("some avg10=30.00 avg60=0 avg300=0 total=0\nfull avg10=7.00 avg60=0 avg300=0 total=0").unwrap());
        g.events = Some(CgroupEvents {
            oom_kill: Some(2),
            ..Default::default()
        });
        c.cgroup = Some(g);
        let mut r = report.clone();
        enrich(&mut r, c, None);
        let f = facts(&r, vec![]);
        assert_eq!(f.rss, Some(5000.0));
        assert_eq!(f.psi_some_avg10, Some(30.0));
        assert_eq!(f.psi_full_avg10, Some(7.0));
        assert_eq!(f.cgroup_oom_kills, Some(2.0));
        assert_eq!(f.usage_against_limit, Some(90.0));
        let kinds: Vec<_> = r
            .analysis
            .as_ref()
            .unwrap()
            .risks
            .iter()
            .map(|r| r.kind)
            .collect();
        assert!(
            kinds.contains(&"cgroupOomKills")
                && kinds.contains(&"rssNearLimit")
                && kinds.contains(&"memoryPressureStall"),
            "{kinds:?}"
        );
        assert!(r.collection_complete);
    }

    /// A fixture process 4 GiB resident: the split comes from `status`, and
    /// `smaps_rollup` (present in the fixture) is read only when the policy allows it.
    #[cfg(target_os = "linux")]
    #[test]
    fn large_process_keeps_its_split_without_the_page_table_walk() {
        let d = std::env::temp_dir().join(format!("mdd-collector-4g-{}", std::process::id()));
        let own = d.join("self");
        std::fs::create_dir_all(&own).unwrap();
        std::fs::write(
            own.join("status"),
            "VmRSS:\t4194304 kB\nRssAnon:\t4128768 kB\nRssFile:\t61440 kB\nRssShmem:\t4096 kB\nVmSwap:\t2048 kB\nThreads:\t11\n",
        )
        .unwrap();
        std::fs::write(own.join("statm"), "2000000 1048576 16384 10 0 1000000 0\n").unwrap();
        std::fs::write(
            own.join("smaps_rollup"),
            "00400000-7fff0000 ---p 00000000 00:00 0 [rollup]\nRss: 4194304 kB\nPss: 4190000 kB\nSwapPss: 2000 kB\n",
        )
        .unwrap();
        let roots = ProbeRoots {
            proc: d.clone(),
            ..Default::default()
        };
        let mut runner = ProbeRunner::new();
        let c = collect(
            &roots,
            &mut runner,
            SmapsRollupPolicy::default(),
            Default::default(),
        );
        let split = c.process.rss_split.unwrap();
        const KIB: u64 = 1024;
        assert_eq!(split.rss.bytes, Some(4194304 * KIB));
        assert_eq!(
            (split.anon.bytes, split.anon.source),
            (Some(4128768 * KIB), Some("status:RssAnon"))
        );
        assert_eq!(split.file.source, Some("status:RssFile"));
        assert_eq!(split.shmem.bytes, Some(4096 * KIB));
        assert_eq!(
            (split.swap.bytes, split.swap.source),
            (Some(2048 * KIB), Some("status:VmSwap"))
        );
        assert_eq!(split.pss.bytes, None);
        let reason = split.pss.skipped.unwrap();
        assert!(reason.contains("(4096.0 MiB)"), "{reason}");
        assert!(c.process.smaps_rollup.is_none());
        assert_eq!(runner.skipped.len(), 1);
        assert_eq!(runner.skipped[0].probe, "smapsRollup");
        assert_eq!(runner.skipped[0].reason, reason);
        assert!(!runner.micros.contains_key("smapsRollup"), "never opened");
        assert_eq!(
            c.process.statm.unwrap().resident,
            1048576 * procfs::page_size()
        );

        // The host opted in: read, and PSS is in the split.
        let mut runner = ProbeRunner::new();
        let c = collect(
            &roots,
            &mut runner,
            SmapsRollupPolicy::Always,
            Default::default(),
        );
        let split = c.process.rss_split.unwrap();
        assert_eq!(
            (split.pss.bytes, split.pss.source),
            (Some(4190000 * KIB), Some("smaps_rollup:Pss"))
        );
        assert_eq!(split.swap_pss.bytes, Some(2000 * KIB));
        assert!(runner.skipped.is_empty());
        assert_eq!(c.process.smaps_rollup.unwrap()["rss"], 4194304 * KIB);

        // Below the threshold the default reads it.
        let mut runner = ProbeRunner::new();
        let c = collect(
            &roots,
            &mut runner,
            SmapsRollupPolicy::Auto {
                max_rss_bytes: 5 << 30,
            },
            Default::default(),
        );
        assert!(c.process.smaps_rollup.is_some() && runner.skipped.is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Two dumps of one dumper: the first stores its point, the second measures growth from
    /// it (fixture figures: the JS heap grew 100 MiB, nothing else).
    #[test]
    fn enrich_accounts_and_attributes_growth_across_dumps() {
        use crate::report::NumberMap;
        const MIB: f64 = 1024.0 * 1024.0;
        let collected = |anon_kib: u64| {
            let mut c = Collected::default();
            c.process.status = Some(procfs::parse_status(&format!(
                "VmRSS:\t{} kB\nRssAnon:\t{anon_kib} kB\nRssFile:\t40960 kB\nRssShmem:\t0 kB\nVmStk:\t132 kB\n",
                anon_kib + 40960
            )));
            c.malloc = Some(Ok(MallocStats {
                in_use_bytes: 8 << 20,
                free_retained_bytes: 1 << 20,
                ..Default::default()
            }));
            c
        };
        let report = |heap: f64| {
            let mut r = crate::report::tests::sample();
            r.at_trigger.memory_usage = NumberMap(vec![
                ("external", Some(2.0 * MIB)),
                ("arrayBuffers", Some(1.0 * MIB)),
            ]);
            r.at_trigger.v8_heap_stats = NumberMap(vec![("totalPhysicalSize", Some(heap))]);
            r.at_trigger.v8_heap_spaces = None;
            r
        };
        let first = parking_lot::Mutex::new(None);
        let mut a = report(20.0 * MIB);
        enrich(&mut a, collected(40 * 1024), Some(&first));
        let acc = a.memory_accounting.as_ref().unwrap();
        assert_eq!(acc.rss_bytes, Some(80 << 20));
        assert_eq!(
            acc.parts.sum() as i64 + acc.unexplained_bytes.unwrap(),
            80 << 20
        );
        assert_eq!(acc.parts.malloc_other.bytes, Some(6 << 20));
        let g = a.analysis.as_ref().unwrap().growth.as_ref().unwrap();
        assert_eq!((g.kind, g.points), (None, 1));
        assert!(first.lock().is_some());
        std::thread::sleep(std::time::Duration::from_millis(5));
        let mut b = report(120.0 * MIB);
        enrich(&mut b, collected(140 * 1024), Some(&first));
        let an = b.analysis.as_ref().unwrap();
        let g = an.growth.as_ref().unwrap();
        assert_eq!(
            (g.kind, g.bytes, g.points),
            (Some("jsHeap"), Some(100.0 * MIB), 2)
        );
        assert_eq!(g.by_kind["native"], 0.0);
        assert!(an.risks.iter().any(|r| r.kind == "memoryGrowth"));
        assert!(an.recommendation.contains("heap snapshots"));
    }
}
