//! Analysis: turns the collected figures into named risks and one recommendation, so a
//! maintainer reading a dump from a bug report sees first what most likely went wrong.
//!
//! Each rule is a pure function of [`Facts`], one per kind of risk, listed in [`RULES`];
//! every threshold is a named constant with the reason for its value, and each is
//! unit-tested on both sides.
//!
//! Which kind of memory grew across a dump's points lives in the `growth` module; the
//! risk rules here read its result.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::format::fixed;

pub mod accounting;
pub mod growth;

pub use growth::{growth, growth_advice, Growth, GrowthPoint, GROWTH_KINDS};

const MIB: f64 = 1024.0 * 1024.0;

/// `heap_size_limit` includes the young generation, so on small heaps used/limit
/// rarely passes ~0.8 before V8 aborts: 0.7 is already close to the end.
pub const HEAP_NEAR_LIMIT_WARNING: f64 = 0.70;
pub const HEAP_NEAR_LIMIT_CRITICAL: f64 = 0.85;
/// The same closeness seen from the other side: `total_available_size` (what V8 will
/// still hand out) against the limit. It counts the young generation as available, so V8
/// gives up while it still reads 25-30% (measured on a 128 MiB old space): 40% left is
/// already late, 25% is the end.
pub const HEAP_AVAILABLE_WARNING: f64 = 0.40;
pub const HEAP_AVAILABLE_CRITICAL: f64 = 0.25;
/// Any detached context is a leak candidate (an iframe, `vm` context or worker realm
/// that should have been collected); several are a leak.
pub const DETACHED_CONTEXTS_WARNING: f64 = 1.0;
/// Native memory (RSS minus the V8 heap) this many times the heap, and at least
/// [`NATIVE_MIN_BYTES`], means growth lives outside the JS heap (Buffers, addons,
/// malloc fragmentation) where heap snapshots will not show it.
pub const NATIVE_OVER_HEAP_RATIO: f64 = 2.0;
pub const NATIVE_MIN_BYTES: f64 = 512.0 * MIB;
/// RSS against the limit that actually kills the process (cgroup or physical memory).
pub const RSS_NEAR_LIMIT_WARNING: f64 = 0.80;
/// V8's heap limit above the limit that ends the process by this share or more is a risk of
/// its own: the heap alone may then fill what the kernel (or a job) allows, and V8, seeing
/// room, does not collect hard before the process is killed. Node sizes its default heap
/// from a cgroup's limit (half of it, and no less than V8's smallest default: 259 MiB on
/// Node 20, measured in cgroups of 128 MiB to 2 GiB), so a default heap sits at a 256 MiB
/// limit (101%) and is left alone; a `--max-old-space-size` set for a bigger machine (512 in
/// 256 MiB: 219%), or a container under 235 MiB, is named.
pub const HEAP_LIMIT_OVER_MEMORY_LIMIT: f64 = 1.1;
/// The `--max-old-space-size` advised, as a share of the limit that ends the process: room
/// for the young generation, Buffers, native memory and the binary beside the old space.
pub const ADVISED_OLD_SPACE_SHARE: f64 = 0.75;
pub const RSS_NEAR_LIMIT_CRITICAL: f64 = 0.90;
/// PSI `some avg10`: share of the last 10 s in which at least one task waited for
/// memory. Above 10% the machine is visibly slowed by reclaim; `full` above 5% means
/// all tasks stalled together, the step before the OOM killer.
pub const PSI_SOME_AVG10_WARNING: f64 = 10.0;
pub const PSI_FULL_AVG10_CRITICAL: f64 = 5.0;
/// Swapped-out process memory makes every GC slow (V8 touches the whole heap); a few
/// MiB is noise, 64 MiB is not.
pub const SWAP_IN_USE_BYTES: f64 = 64.0 * MIB;
/// Node runs about 10 threads (main, 4 libuv, V8 platform workers); hundreds mean
/// leaked workers or native threads, each with its own stack.
pub const MANY_THREADS: f64 = 100.0;
/// Descriptors: 80% of the soft limit, or this many when unlimited.
pub const OPEN_FDS_LIMIT_RATIO: f64 = 0.80;
pub const OPEN_FDS_HIGH: f64 = 10_000.0;
/// Windows: committed memory system-wide against the commit limit. At the limit,
/// allocations fail in every process (V8 reports it as an out-of-memory crash).
pub const COMMIT_NEAR_LIMIT_WARNING: f64 = 0.90;
pub const COMMIT_NEAR_LIMIT_CRITICAL: f64 = 0.95;
/// Windows: this process's private bytes against its job's memory limit. At the limit,
/// its next commit fails.
pub const JOB_NEAR_LIMIT_WARNING: f64 = 0.80;
pub const JOB_NEAR_LIMIT_CRITICAL: f64 = 0.90;
/// Open handles (descriptors) grew by at least this many, and at least doubled, across
/// the process's dumps: something opens files, sockets or events and never closes them.
pub const HANDLE_GROWTH_MIN: f64 = 1_000.0;
/// Growth of one kind of memory smaller than this between the first and the last point is
/// noise, not a finding. A steady Node process moves each kind by a few MiB between two
/// points: the young generation commits and releases semi-spaces (up to 16 MiB each on
/// Node 20 and 22), glibc keeps freed blocks, the kernel maps and drops pages of Node's own
/// binary. The negative control in the test suite (an idle process with the recorder on,
/// allocating and dropping garbage) moved no kind by more than 6 MiB in any run; the leaks
/// users report grow by hundreds of MiB. `inspect` uses the same figure.
pub const GROWTH_MIN_BYTES: f64 = 16.0 * MIB;
/// Triggers by which the host says it is under memory pressure, and the severity they carry.
/// The host's own measure (a lower limit, a trend) may see pressure that no threshold here
/// crosses: such a dump must not read as healthy, so the host's word becomes a risk of its
/// own when no other risk is at least that severe.
pub const PRESSURE_TRIGGERS: [(&str, Severity); 4] = [
    ("critical", Severity::Critical),
    ("hard", Severity::Warning),
    ("watchdog", Severity::Warning),
    // The recorder's own: what kills the process neared the limit that kills it.
    ("pressure", Severity::Critical),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Risk {
    #[serde(rename = "type")]
    #[cfg_attr(test, schemars(schema_with = "crate::contract::schema::risk_kind"))]
    pub kind: &'static str,
    pub severity: Severity,
    pub message: String,
    pub evidence: BTreeMap<&'static str, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Analysis {
    pub risks: Vec<Risk>,
    pub recommendation: String,
    /// Which kind of memory grew across the points this dump knows (this process's first
    /// dump, the recorder's samples, this dump); absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub growth: Option<Growth>,
}

/// The figures the rules look at; each may be unknown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub heap_used: Option<f64>,
    pub heap_limit: Option<f64>,
    /// `total_available_size`.
    pub heap_available: Option<f64>,
    pub heap_total: Option<f64>,
    pub detached_contexts: Option<f64>,
    pub malloced: Option<f64>,
    pub external: Option<f64>,
    pub rss: Option<f64>,
    /// The smallest of the cgroup limit and physical memory.
    pub effective_limit: Option<f64>,
    /// What counts against `effective_limit` (cgroup usage, or RSS).
    pub usage_against_limit: Option<f64>,
    pub cgroup_oom_kills: Option<f64>,
    pub cgroup_max_events: Option<f64>,
    pub psi_some_avg10: Option<f64>,
    pub psi_full_avg10: Option<f64>,
    pub swap_bytes: Option<f64>,
    pub threads: Option<f64>,
    pub open_fds: Option<f64>,
    pub open_fds_limit: Option<f64>,
    pub children_rss: Option<f64>,
    /// Where `effective_limit` comes from (`cgroup`, `job`, `commit`, `physical`).
    pub limit_source: Option<&'static str>,
    /// Windows: the system's commit total and limit.
    pub commit_total: Option<f64>,
    pub commit_limit: Option<f64>,
    /// Windows: the job's memory limit and this process's private bytes.
    pub job_limit: Option<f64>,
    pub job_usage: Option<f64>,
    /// The points growth is measured over, oldest first (this dump last).
    pub growth_points: Vec<GrowthPoint>,
    /// Why the dump was written (`hard`, `critical`, `manual`, `watchdog`).
    pub trigger: Option<&'static str>,
}

/// Every `risks[].type` the analysis can write.
pub const RISK_KINDS: &[&str] = &[
    "heapNearLimit",
    "detachedContexts",
    "nativeMemoryHigh",
    "rssNearLimit",
    "heapLimitAboveMemoryLimit",
    "cgroupOomKills",
    "cgroupLimitHit",
    "memoryPressureStall",
    "swapInUse",
    "manyThreads",
    "openFdsHigh",
    "childProcessesHeavy",
    "hostReportedPressure",
    "packageReportedPressure",
    "memoryGrowth",
    "commitNearLimit",
    "jobLimitNear",
    "handleGrowth",
];

/// `(value / limit, severity)` when the ratio reaches `warning` or `critical`.
fn near(value: f64, limit: f64, warning: f64, critical: f64) -> Option<(f64, Severity)> {
    if limit <= 0.0 {
        return None;
    }
    let r = value / limit;
    if r >= critical {
        Some((r, Severity::Critical))
    } else if r >= warning {
        Some((r, Severity::Warning))
    } else {
        None
    }
}

fn risk(
    kind: &'static str,
    severity: Severity,
    message: String,
    evidence: &[(&'static str, f64)],
) -> Risk {
    debug_assert!(RISK_KINDS.contains(&kind), "{kind} is not in RISK_KINDS");
    Risk {
        kind,
        severity,
        message,
        evidence: evidence.iter().copied().collect(),
    }
}

fn mib(b: f64) -> String {
    format!("{} MiB", fixed(b / MIB, 0))
}

/// One rule for each kind of risk, in the order that breaks ties between risks of one
/// severity (most specific first): each a pure function of the facts (and of the growth
/// found across the dump's points).
#[allow(clippy::type_complexity)]
const RULES: &[(&str, fn(&Facts, Option<&Growth>) -> Option<Risk>)] = &[
    ("heapNearLimit", heap_near_limit),
    ("detachedContexts", detached_contexts),
    ("nativeMemoryHigh", native_memory_high),
    ("rssNearLimit", rss_near_limit),
    ("heapLimitAboveMemoryLimit", heap_limit_above_memory_limit),
    ("jobLimitNear", job_limit_near),
    ("commitNearLimit", commit_near_limit),
    ("handleGrowth", handle_growth),
    ("cgroupOomKills", cgroup_oom_kills),
    ("cgroupLimitHit", cgroup_limit_hit),
    ("memoryPressureStall", memory_pressure_stall),
    ("swapInUse", swap_in_use),
    ("manyThreads", many_threads),
    ("openFdsHigh", open_fds_high),
    ("childProcessesHeavy", child_processes_heavy),
    ("memoryGrowth", memory_growth),
];

/// The JS heap near V8's limit, by heap used or by what is still available.
fn heap_near_limit(f: &Facts, _growth: Option<&Growth>) -> Option<Risk> {
    if let (Some(used), Some(limit)) = (f.heap_used, f.heap_limit) {
        if limit > 0.0 {
            let ratio = used / limit;
            let by_used = if ratio >= HEAP_NEAR_LIMIT_CRITICAL {
                Some(Severity::Critical)
            } else if ratio >= HEAP_NEAR_LIMIT_WARNING {
                Some(Severity::Warning)
            } else {
                None
            };
            let by_available = match f.heap_available.map(|a| a / limit) {
                Some(a) if a <= HEAP_AVAILABLE_CRITICAL => Some(Severity::Critical),
                Some(a) if a <= HEAP_AVAILABLE_WARNING => Some(Severity::Warning),
                _ => None,
            };
            if let Some(sev) = by_used.max(by_available) {
                let mut ev = vec![
                    ("usedHeapSize", used),
                    ("heapSizeLimit", limit),
                    ("ratio", ratio),
                ];
                let mut message = format!(
                    "JS heap at {}% of V8's limit ({} of {})",
                    fixed(ratio * 100.0, 0),
                    mib(used),
                    mib(limit)
                );
                if let Some(a) = f.heap_available {
                    ev.push(("totalAvailableSize", a));
                    message.push_str(&format!(", {} still available", mib(a)));
                }
                return Some(risk("heapNearLimit", sev, message, &ev));
            }
        }
    }
    None
}

/// Contexts (vm, iframes, worker realms) kept alive after their use.
fn detached_contexts(f: &Facts, _growth: Option<&Growth>) -> Option<Risk> {
    if let Some(n) = f
        .detached_contexts
        .filter(|n| *n >= DETACHED_CONTEXTS_WARNING)
    {
        return Some(risk(
            "detachedContexts",
            Severity::Warning,
            format!("{} detached V8 context(s): a context (vm, iframe, worker realm) is kept alive after its use", fixed(n, 0)),
            &[("numberOfDetachedContexts", n)],
        ));
    }
    None
}

/// Much more RSS outside the JS heap than in it.
fn native_memory_high(f: &Facts, _growth: Option<&Growth>) -> Option<Risk> {
    if let (Some(rss), Some(heap)) = (f.rss, f.heap_total) {
        let native = rss - heap;
        if native >= NATIVE_MIN_BYTES && native >= NATIVE_OVER_HEAP_RATIO * heap {
            let mut ev = vec![("rss", rss), ("heapTotal", heap), ("nativeBytes", native)];
            if let Some(m) = f.malloced {
                ev.push(("mallocedMemory", m));
            }
            if let Some(e) = f.external {
                ev.push(("external", e));
            }
            return Some(risk(
                "nativeMemoryHigh",
                Severity::Warning,
                format!(
                    "{} of RSS is outside the JS heap ({} heap): Buffers, native addons or malloc",
                    mib(native),
                    mib(heap)
                ),
                &ev,
            ));
        }
    }
    None
}

/// Memory use near the limit that kills the process (a job or commit limit has its own rule).
fn rss_near_limit(f: &Facts, _growth: Option<&Growth>) -> Option<Risk> {
    // A job or commit limit has its own rule below, with its own thresholds.
    let own_rule = matches!(f.limit_source, Some("job") | Some("commit"));
    if let (Some(used), Some(limit), false) = (f.usage_against_limit, f.effective_limit, own_rule) {
        if limit > 0.0 {
            let ratio = used / limit;
            let sev = if ratio >= RSS_NEAR_LIMIT_CRITICAL {
                Some(Severity::Critical)
            } else if ratio >= RSS_NEAR_LIMIT_WARNING {
                Some(Severity::Warning)
            } else {
                None
            };
            if let Some(sev) = sev {
                return Some(risk(
                    "rssNearLimit",
                    sev,
                    format!(
                        "memory use at {}% of the limit that kills the process ({} of {})",
                        fixed(ratio * 100.0, 0),
                        mib(used),
                        mib(limit)
                    ),
                    &[("usage", used), ("effectiveLimit", limit), ("ratio", ratio)],
                ));
            }
        }
    }
    None
}

/// V8's heap limit at or above [`HEAP_LIMIT_OVER_MEMORY_LIMIT`] times the limit that ends
/// the process, with the `--max-old-space-size` to set instead.
fn heap_limit_above_memory_limit(f: &Facts, _growth: Option<&Growth>) -> Option<Risk> {
    let (heap, limit) = (f.heap_limit?, f.effective_limit.filter(|l| *l > 0.0)?);
    let ratio = heap / limit;
    if ratio < HEAP_LIMIT_OVER_MEMORY_LIMIT {
        return None;
    }
    let advised = (limit * ADVISED_OLD_SPACE_SHARE / MIB).floor();
    let whose = f.limit_source.unwrap_or("effective");
    Some(risk(
        "heapLimitAboveMemoryLimit",
        Severity::Warning,
        format!(
            "V8's heap limit ({}) is {}% of the {} {whose} limit that ends the process: the heap alone may fill it, and V8 will not collect hard before the process is killed; run with --max-old-space-size={} ({}% of the limit)",
            mib(heap),
            fixed(ratio * 100.0, 0),
            mib(limit),
            fixed(advised, 0),
            fixed(ADVISED_OLD_SPACE_SHARE * 100.0, 0)
        ),
        &[
            ("heapSizeLimit", heap),
            ("effectiveLimit", limit),
            ("ratio", ratio),
            ("advisedMaxOldSpaceSizeMiB", advised),
        ],
    ))
}

/// A Windows job's memory limit near.
fn job_limit_near(f: &Facts, _growth: Option<&Growth>) -> Option<Risk> {
    if let (Some(used), Some(limit)) = (f.job_usage, f.job_limit) {
        if let Some((ratio, sev)) =
            near(used, limit, JOB_NEAR_LIMIT_WARNING, JOB_NEAR_LIMIT_CRITICAL)
        {
            return Some(risk(
                "jobLimitNear",
                sev,
                format!(
                    "private bytes at {}% of the job object's memory limit ({} of {}): the next commit past it fails",
                    fixed(ratio * 100.0, 0),
                    mib(used),
                    mib(limit)
                ),
                &[("privateBytes", used), ("jobMemoryLimit", limit), ("ratio", ratio)],
            ));
        }
    }
    None
}

/// The system's commit limit near (Windows).
fn commit_near_limit(f: &Facts, _growth: Option<&Growth>) -> Option<Risk> {
    if let (Some(used), Some(limit)) = (f.commit_total, f.commit_limit) {
        if let Some((ratio, sev)) = near(
            used,
            limit,
            COMMIT_NEAR_LIMIT_WARNING,
            COMMIT_NEAR_LIMIT_CRITICAL,
        ) {
            return Some(risk(
                "commitNearLimit",
                sev,
                format!(
                    "the system has committed {}% of its commit limit ({} of {}): allocations fail in every process at the limit",
                    fixed(ratio * 100.0, 0),
                    mib(used),
                    mib(limit)
                ),
                &[("commitTotal", used), ("commitLimit", limit), ("ratio", ratio)],
            ));
        }
    }
    None
}

/// Open handles doubling across the process's dumps.
fn handle_growth(f: &Facts, _growth: Option<&Growth>) -> Option<Risk> {
    if let Some((first, last)) = handle_span(&f.growth_points) {
        if last - first >= HANDLE_GROWTH_MIN && last >= 2.0 * first {
            return Some(risk(
                "handleGrowth",
                Severity::Warning,
                format!(
                    "open handles grew from {} to {} across this process's dumps",
                    fixed(first, 0),
                    fixed(last, 0)
                ),
                &[("first", first), ("last", last)],
            ));
        }
    }
    None
}

/// The kernel has already OOM-killed in this cgroup.
fn cgroup_oom_kills(f: &Facts, _growth: Option<&Growth>) -> Option<Risk> {
    if let Some(k) = f.cgroup_oom_kills.filter(|k| *k > 0.0) {
        return Some(risk(
            "cgroupOomKills",
            Severity::Critical,
            format!(
                "the kernel has already OOM-killed {} process(es) in this cgroup",
                fixed(k, 0)
            ),
            &[("oomKill", k)],
        ));
    }
    None
}

/// The cgroup hit its memory limit and had to reclaim.
fn cgroup_limit_hit(f: &Facts, _growth: Option<&Growth>) -> Option<Risk> {
    if let Some(m) = f.cgroup_max_events.filter(|m| *m > 0.0) {
        return Some(risk(
            "cgroupLimitHit",
            Severity::Warning,
            format!(
                "the cgroup hit its memory limit {} time(s) and had to reclaim",
                fixed(m, 0)
            ),
            &[("maxEvents", m)],
        ));
    }
    None
}

/// Tasks stalled waiting for memory (PSI).
fn memory_pressure_stall(f: &Facts, _growth: Option<&Growth>) -> Option<Risk> {
    let full = f.psi_full_avg10.filter(|v| *v >= PSI_FULL_AVG10_CRITICAL);
    let some = f.psi_some_avg10.filter(|v| *v >= PSI_SOME_AVG10_WARNING);
    if full.is_some() || some.is_some() {
        let mut ev = Vec::new();
        if let Some(v) = f.psi_some_avg10 {
            ev.push(("someAvg10", v));
        }
        if let Some(v) = f.psi_full_avg10 {
            ev.push(("fullAvg10", v));
        }
        return Some(risk(
            "memoryPressureStall",
            if full.is_some() {
                Severity::Critical
            } else {
                Severity::Warning
            },
            format!(
                "tasks stalled waiting for memory {}% of the last 10 s (all tasks at once: {}%)",
                fixed(f.psi_some_avg10.unwrap_or(0.0), 1),
                fixed(f.psi_full_avg10.unwrap_or(0.0), 1)
            ),
            &ev,
        ));
    }
    None
}

/// Part of the process swapped out.
fn swap_in_use(f: &Facts, _growth: Option<&Growth>) -> Option<Risk> {
    if let Some(s) = f.swap_bytes.filter(|s| *s >= SWAP_IN_USE_BYTES) {
        return Some(risk(
            "swapInUse",
            Severity::Warning,
            format!(
                "{} of the process is swapped out; garbage collection will be slow",
                mib(s)
            ),
            &[("vmSwap", s)],
        ));
    }
    None
}

/// Far more threads than Node runs.
fn many_threads(f: &Facts, _growth: Option<&Growth>) -> Option<Risk> {
    if let Some(t) = f.threads.filter(|t| *t >= MANY_THREADS) {
        return Some(risk(
            "manyThreads",
            Severity::Warning,
            format!("{} threads (Node normally runs about 10)", fixed(t, 0)),
            &[("threads", t)],
        ));
    }
    None
}

/// Open descriptors near their limit, or very many.
fn open_fds_high(f: &Facts, _growth: Option<&Growth>) -> Option<Risk> {
    if let Some(n) = f.open_fds {
        let near_limit = f
            .open_fds_limit
            .filter(|l| *l > 0.0 && n >= OPEN_FDS_LIMIT_RATIO * l);
        if near_limit.is_some() || n >= OPEN_FDS_HIGH {
            let mut ev = vec![("openFds", n)];
            if let Some(l) = f.open_fds_limit {
                ev.push(("limit", l));
            }
            return Some(risk(
                "openFdsHigh",
                Severity::Warning,
                match near_limit {
                    Some(l) => format!(
                        "{} open file descriptors, {}% of the limit",
                        fixed(n, 0),
                        fixed(n / l * 100.0, 0)
                    ),
                    None => format!("{} open file descriptors", fixed(n, 0)),
                },
                &ev,
            ));
        }
    }
    None
}

/// Child processes holding more than this process.
fn child_processes_heavy(f: &Facts, _growth: Option<&Growth>) -> Option<Risk> {
    if let (Some(children), Some(rss)) = (f.children_rss, f.rss) {
        if children > rss && children > 0.0 {
            return Some(risk(
                "childProcessesHeavy",
                Severity::Warning,
                format!(
                    "child processes hold {} against {} for this process",
                    mib(children),
                    mib(rss)
                ),
                &[("descendantsRss", children), ("rss", rss)],
            ));
        }
    }
    None
}

/// A kind of memory that grew across the dump's points.
fn memory_growth(_f: &Facts, growth: Option<&Growth>) -> Option<Risk> {
    if let Some(g) = growth.filter(|g| g.kind.is_some()) {
        let mut ev = vec![
            ("grownBytes", g.bytes.unwrap_or(0.0)),
            ("seconds", g.seconds.unwrap_or(0.0)),
        ];
        ev.extend(g.by_kind.iter().map(|(k, v)| (*k, *v)));
        return Some(risk(
            "memoryGrowth",
            Severity::Warning,
            g.evidence.clone(),
            &ev,
        ));
    }
    None
}

pub fn analyze(f: &Facts) -> Analysis {
    let growth = (!f.growth_points.is_empty()).then(|| growth(&f.growth_points));
    let mut risks: Vec<Risk> = RULES
        .iter()
        .filter_map(|(_, rule)| rule(f, growth.as_ref()))
        .collect();
    // Never rated below the word of whoever called the dump (the host's trigger, or the
    // package's own watchdog or pressure rule): a critical dump always has a critical risk.
    if let Some((trigger, sev)) = PRESSURE_TRIGGERS
        .iter()
        .find(|(t, _)| Some(*t) == f.trigger)
    {
        if !risks.iter().any(|r| r.severity >= *sev) {
            risks.push(host_reported(trigger, *sev, f));
        }
    }
    // Most severe first; the rule order above breaks ties (most specific first).
    risks.sort_by_key(|r| std::cmp::Reverse(r.severity));
    // The advice of the most severe specific risk: the host's word only when it stands alone.
    let top = risks
        .iter()
        .find(|r| !REPORTED_PRESSURE.contains(&r.kind))
        .or(risks.first());
    let recommendation = match (top.map(|r| r.kind), growth.as_ref().and_then(|g| g.advice)) {
        (Some("memoryGrowth"), Some(advice)) => advice.to_string(),
        _ => recommend(top),
    };
    Analysis {
        risks,
        recommendation,
        growth,
    }
}

/// The handle counts of the oldest and the newest point that have one.
fn handle_span(points: &[GrowthPoint]) -> Option<(f64, f64)> {
    let first = points.iter().find_map(|p| p.handles)?;
    let last = points.iter().rev().find_map(|p| p.handles)?;
    Some((first, last))
}

/// The risks that stand for the word of whoever called the dump, not for a figure.
pub const REPORTED_PRESSURE: [&str; 2] = ["hostReportedPressure", "packageReportedPressure"];
/// The triggers of the package's own dumps (the recorder thread's), whose word is the
/// package's, never the host's.
pub const PACKAGE_TRIGGERS: [&str; 2] = ["watchdog", "pressure"];

/// The verdict of whoever called the dump (the host, or the package's own rule), with the
/// nearest figures this analysis knows.
fn host_reported(trigger: &str, severity: Severity, f: &Facts) -> Risk {
    let mut ev = Vec::new();
    let mut seen = Vec::new();
    if let (Some(used), Some(limit)) = (f.heap_used, f.heap_limit.filter(|l| *l > 0.0)) {
        ev.push(("heapUsedRatio", used / limit));
        seen.push(format!(
            "JS heap at {}% of V8's limit",
            fixed(used / limit * 100.0, 0)
        ));
        if let Some(a) = f.heap_available {
            ev.push(("heapAvailableRatio", a / limit));
            seen.push(format!("{}% still available", fixed(a / limit * 100.0, 0)));
        }
    }
    if let (Some(u), Some(l)) = (
        f.usage_against_limit,
        f.effective_limit.filter(|l| *l > 0.0),
    ) {
        ev.push(("usageRatio", u / l));
        seen.push(format!(
            "memory use at {}% of the limit",
            fixed(u / l * 100.0, 0)
        ));
    }
    let seen = if seen.is_empty() {
        String::new()
    } else {
        format!(" ({})", seen.join(", "))
    };
    let level = if severity == Severity::Critical {
        "critical"
    } else {
        "warning"
    };
    if PACKAGE_TRIGGERS.contains(&trigger) {
        return risk(
            "packageReportedPressure",
            severity,
            format!(
                "the package's own {trigger} rule wrote this dump (see {}); no figure in this dump crossed a {level} threshold{seen}",
                if trigger == "pressure" { "nearLimit" } else { "watchdog" }
            ),
            &ev,
        );
    }
    risk(
        "hostReportedPressure",
        severity,
        format!(
            "the host reported {trigger} memory pressure; no figure in this dump crossed a {level} threshold{seen}"
        ),
        &ev,
    )
}

/// The recommendation for each kind of top risk (kinds absent here share no advice).
pub const ADVICE: &[(&[&str], &str)] = &[
    (&["jobLimitNear"], "The process is close to its job object's memory limit: reduce what is held in memory now or raise the limit the job (container, service manager) sets."),
    (&["commitNearLimit"], "The system is close to its commit limit: close other programs, or enlarge the pagefile; this process's private bytes show its share."),
    (&["handleGrowth"], "Open handles keep growing: look for files, sockets, timers or child processes that are opened and never closed."),
    (&["cgroupOomKills", "rssNearLimit"], "The process is close to the memory limit that kills it: reduce what is held in memory now (end the session, close large inputs) or raise the container/cgroup limit."),
    (&["heapLimitAboveMemoryLimit"], "V8's heap limit is above what the process may use: set --max-old-space-size to the value in the risk (about three quarters of the container's or machine's limit), so that V8 collects before the kernel kills the process."),
    (&["heapNearLimit"], "The JS heap is near V8's limit: shrink what the application keeps (history, caches) or raise --max-old-space-size; a heap snapshot of a smaller repro shows what grows."),
    (&["nativeMemoryHigh"], "Most memory is outside the JS heap: look at Buffers, streams and native addons; heap snapshots will not show this growth."),
    (&["childProcessesHeavy"], "Child processes hold more memory than this process: check the tools or subprocesses it started."),
    (&["memoryPressureStall", "swapInUse", "cgroupLimitHit"], "The machine is short of memory: close other programs or give the process more memory."),
    (&["detachedContexts"], "Detached V8 contexts point to a leak of vm contexts, iframes or worker realms: release references to them."),
    (&["manyThreads"], "Unusually many threads: look for workers or native threads that are started and never ended."),
    (&["openFdsHigh"], "Many open file descriptors: look for files, sockets or watchers that are opened and never closed."),
    (&["memoryGrowth"], "One kind of memory grew by the growth minimum or more: analysis.growth names it and says where to look next."),
    (&["packageReportedPressure"], "The package's own rule saw the process near its limit (a pressure dump: `nearLimit` says how; a watchdog dump: a blocked loop with high RSS) before any threshold here was crossed: find what grew (analysis.growth, the recorder trail) before the limit is reached."),
    (&["hostReportedPressure"], "The host measured memory pressure that the figures here do not explain on their own: compare with the session's other dumps and the recorder trail to see the trend, and check the host's own thresholds."),
];
/// The recommendation when no risk stands out.
pub const NO_RISK_ADVICE: &str =
    "No memory risk stood out in this dump; compare it with the session's other dumps to see the trend.";

fn recommend(top: Option<&Risk>) -> String {
    top.and_then(|r| ADVICE.iter().find(|(kinds, _)| kinds.contains(&r.kind)))
        .map_or(NO_RISK_ADVICE, |(_, text)| *text)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_per_kind_of_risk_each_giving_its_own_kind() {
        let kinds: Vec<&str> = RULES.iter().map(|(k, _)| *k).collect();
        let mut expected: Vec<&str> = RISK_KINDS
            .iter()
            .copied()
            .filter(|k| !REPORTED_PRESSURE.contains(k))
            .collect();
        let mut sorted = kinds.clone();
        sorted.sort();
        expected.sort();
        assert_eq!(sorted, expected);
        // Facts that fire every rule: each rule's risk is of the kind it is listed under.
        let points = |t: i64, heap: f64, handles: f64| GrowthPoint {
            epoch_ms: t,
            rss: Some(heap + 50.0 * MIB),
            anon: Some(heap + 10.0 * MIB),
            v8_heap: Some(heap),
            heap_used: Some(heap),
            external: Some(0.0),
            handles: Some(handles),
            ..Default::default()
        };
        let f = Facts {
            heap_used: Some(95.0),
            heap_limit: Some(120.0),
            detached_contexts: Some(2.0),
            rss: Some(4096.0 * MIB),
            heap_total: Some(100.0 * MIB),
            usage_against_limit: Some(95.0),
            effective_limit: Some(100.0),
            job_usage: Some(95.0),
            job_limit: Some(100.0),
            commit_total: Some(99.0),
            commit_limit: Some(100.0),
            cgroup_oom_kills: Some(1.0),
            cgroup_max_events: Some(1.0),
            psi_full_avg10: Some(50.0),
            swap_bytes: Some(1024.0 * MIB),
            threads: Some(500.0),
            open_fds: Some(20_000.0),
            children_rss: Some(8192.0 * MIB),
            growth_points: vec![
                points(0, 100.0 * MIB, 1_000.0),
                points(60_000, 2048.0 * MIB, 5_000.0),
            ],
            ..Default::default()
        };
        let growth = growth(&f.growth_points);
        for (kind, rule) in RULES {
            let r = rule(&f, Some(&growth));
            assert_eq!(r.map(|r| r.kind), Some(*kind), "{kind}");
        }
    }

    fn kinds(f: &Facts) -> Vec<(&'static str, Severity)> {
        analyze(f)
            .risks
            .iter()
            .map(|r| (r.kind, r.severity))
            .collect()
    }

    #[test]
    fn nothing_known_nothing_flagged() {
        let a = analyze(&Facts::default());
        assert!(a.risks.is_empty());
        assert!(a.recommendation.starts_with("No memory risk"));
    }

    #[test]
    fn heap_near_limit_both_sides() {
        let f = |used: f64| Facts {
            heap_used: Some(used),
            heap_limit: Some(100.0),
            ..Default::default()
        };
        assert_eq!(kinds(&f(69.9)), vec![]);
        assert_eq!(kinds(&f(70.0)), vec![("heapNearLimit", Severity::Warning)]);
        assert_eq!(kinds(&f(84.9)), vec![("heapNearLimit", Severity::Warning)]);
        assert_eq!(kinds(&f(85.0)), vec![("heapNearLimit", Severity::Critical)]);
        let a = analyze(&f(90.0));
        assert_eq!(a.risks[0].evidence["ratio"], 0.9);
        assert!(a.recommendation.contains("max-old-space-size"));
        // A zero limit (malformed input) is not a division.
        assert_eq!(
            kinds(&Facts {
                heap_used: Some(1.0),
                heap_limit: Some(0.0),
                ..Default::default()
            }),
            vec![]
        );
    }

    #[test]
    fn heap_available_both_sides() {
        let f = |avail: f64| Facts {
            heap_used: Some(50.0),
            heap_limit: Some(100.0),
            heap_available: Some(avail),
            ..Default::default()
        };
        assert_eq!(kinds(&f(40.1)), vec![]);
        assert_eq!(kinds(&f(40.0)), vec![("heapNearLimit", Severity::Warning)]);
        assert_eq!(kinds(&f(25.1)), vec![("heapNearLimit", Severity::Warning)]);
        assert_eq!(kinds(&f(25.0)), vec![("heapNearLimit", Severity::Critical)]);
        assert_eq!(
            analyze(&f(10.0)).risks[0].evidence["totalAvailableSize"],
            10.0
        );
    }

    #[test]
    fn detached_contexts_both_sides() {
        let f = |n: f64| Facts {
            detached_contexts: Some(n),
            ..Default::default()
        };
        assert_eq!(kinds(&f(0.0)), vec![]);
        assert_eq!(
            kinds(&f(1.0)),
            vec![("detachedContexts", Severity::Warning)]
        );
    }

    #[test]
    fn native_memory_both_sides() {
        let heap = 300.0 * MIB;
        let f = |rss: f64| Facts {
            rss: Some(rss),
            heap_total: Some(heap),
            malloced: Some(MIB),
            ..Default::default()
        };
        // Native = 2 x heap exactly, and above the floor: flagged.
        assert_eq!(
            kinds(&f(heap * 3.0)),
            vec![("nativeMemoryHigh", Severity::Warning)]
        );
        assert_eq!(kinds(&f(heap * 3.0 - 1.0)), vec![]);
        // A small heap with modest native memory stays under the absolute floor.
        let small = Facts {
            rss: Some(500.0 * MIB),
            heap_total: Some(10.0 * MIB),
            ..Default::default()
        };
        assert_eq!(kinds(&small), vec![]);
        let big = Facts {
            rss: Some(530.0 * MIB),
            heap_total: Some(10.0 * MIB),
            ..Default::default()
        };
        assert_eq!(kinds(&big), vec![("nativeMemoryHigh", Severity::Warning)]);
        assert!(analyze(&big).recommendation.contains("outside the JS heap"));
    }

    #[test]
    fn rss_near_limit_both_sides() {
        let f = |u: f64| Facts {
            usage_against_limit: Some(u),
            effective_limit: Some(1000.0),
            ..Default::default()
        };
        assert_eq!(kinds(&f(799.0)), vec![]);
        assert_eq!(kinds(&f(800.0)), vec![("rssNearLimit", Severity::Warning)]);
        assert_eq!(kinds(&f(900.0)), vec![("rssNearLimit", Severity::Critical)]);
    }

    #[test]
    fn cgroup_events_both_sides() {
        assert_eq!(
            kinds(&Facts {
                cgroup_oom_kills: Some(0.0),
                cgroup_max_events: Some(0.0),
                ..Default::default()
            }),
            vec![]
        );
        assert_eq!(
            kinds(&Facts {
                cgroup_oom_kills: Some(2.0),
                cgroup_max_events: Some(5.0),
                ..Default::default()
            }),
            vec![
                ("cgroupOomKills", Severity::Critical),
                ("cgroupLimitHit", Severity::Warning)
            ]
        );
    }

    #[test]
    fn pressure_stall_both_sides() {
        let f = |some: f64, full: f64| Facts {
            psi_some_avg10: Some(some),
            psi_full_avg10: Some(full),
            ..Default::default()
        };
        assert_eq!(kinds(&f(9.99, 4.99)), vec![]);
        assert_eq!(
            kinds(&f(10.0, 0.0)),
            vec![("memoryPressureStall", Severity::Warning)]
        );
        assert_eq!(
            kinds(&f(20.0, 5.0)),
            vec![("memoryPressureStall", Severity::Critical)]
        );
    }

    #[test]
    fn swap_threads_fds_children_both_sides() {
        assert_eq!(
            kinds(&Facts {
                swap_bytes: Some(SWAP_IN_USE_BYTES - 1.0),
                ..Default::default()
            }),
            vec![]
        );
        assert_eq!(
            kinds(&Facts {
                swap_bytes: Some(SWAP_IN_USE_BYTES),
                ..Default::default()
            }),
            vec![("swapInUse", Severity::Warning)]
        );
        assert_eq!(
            kinds(&Facts {
                threads: Some(99.0),
                ..Default::default()
            }),
            vec![]
        );
        assert_eq!(
            kinds(&Facts {
                threads: Some(100.0),
                ..Default::default()
            }),
            vec![("manyThreads", Severity::Warning)]
        );
        let fds = |n: f64, l: Option<f64>| Facts {
            open_fds: Some(n),
            open_fds_limit: l,
            ..Default::default()
        };
        assert_eq!(kinds(&fds(799.0, Some(1000.0))), vec![]);
        assert_eq!(
            kinds(&fds(800.0, Some(1000.0))),
            vec![("openFdsHigh", Severity::Warning)]
        );
        assert_eq!(kinds(&fds(9_999.0, None)), vec![]);
        assert_eq!(
            kinds(&fds(10_000.0, None)),
            vec![("openFdsHigh", Severity::Warning)]
        );
        let ch = |c: f64| Facts {
            children_rss: Some(c),
            rss: Some(100.0),
            ..Default::default()
        };
        assert_eq!(kinds(&ch(100.0)), vec![]);
        assert_eq!(
            kinds(&ch(101.0)),
            vec![("childProcessesHeavy", Severity::Warning)]
        );
    }

    #[test]
    fn job_commit_and_handle_rules_both_sides() {
        let job = |used: f64| Facts {
            job_usage: Some(used),
            job_limit: Some(1000.0),
            usage_against_limit: Some(used),
            effective_limit: Some(1000.0),
            limit_source: Some("job"),
            ..Default::default()
        };
        assert_eq!(kinds(&job(799.0)), vec![]);
        assert_eq!(
            kinds(&job(800.0)),
            vec![("jobLimitNear", Severity::Warning)]
        );
        assert_eq!(
            kinds(&job(900.0)),
            vec![("jobLimitNear", Severity::Critical)]
        );
        let a = analyze(&job(950.0));
        assert!(
            a.recommendation.contains("job object"),
            "{}",
            a.recommendation
        );
        let commit = |used: f64| Facts {
            commit_total: Some(used),
            commit_limit: Some(1000.0),
            ..Default::default()
        };
        assert_eq!(kinds(&commit(899.0)), vec![]);
        assert_eq!(
            kinds(&commit(900.0)),
            vec![("commitNearLimit", Severity::Warning)]
        );
        assert_eq!(
            kinds(&commit(950.0)),
            vec![("commitNearLimit", Severity::Critical)]
        );
        // Against physical memory the general rule speaks.
        let physical = Facts {
            limit_source: Some("physical"),
            ..job(900.0)
        };
        assert!(kinds(&physical).contains(&("rssNearLimit", Severity::Critical)));
        let handles = |a: f64, b: f64| Facts {
            growth_points: vec![
                GrowthPoint {
                    handles: Some(a),
                    ..Default::default()
                },
                GrowthPoint::default(),
                GrowthPoint {
                    handles: Some(b),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(kinds(&handles(500.0, 1499.0)), vec![]);
        assert_eq!(kinds(&handles(1500.0, 2999.0)), vec![]);
        assert_eq!(
            kinds(&handles(1000.0, 2000.0)),
            vec![("handleGrowth", Severity::Warning)]
        );
        assert_eq!(
            kinds(&handles(300.0, 2000.0)),
            vec![("handleGrowth", Severity::Warning)]
        );
    }

    #[test]
    fn a_pressure_trigger_never_reads_as_healthy() {
        // A critical dump 0.6 s before a V8 heap OOM: available/limit just above 0.40.
        let f = |trigger: &'static str| Facts {
            heap_used: Some(58.0),
            heap_limit: Some(100.0),
            heap_available: Some(40.3),
            trigger: Some(trigger),
            ..Default::default()
        };
        let a = analyze(&f("critical"));
        assert_eq!(
            kinds(&f("critical")),
            vec![("hostReportedPressure", Severity::Critical)]
        );
        assert!(!a.recommendation.starts_with("No memory risk"));
        assert!(a.risks[0].message.contains(
            "critical memory pressure; no figure in this dump crossed a critical threshold"
        ));
        assert!(a.risks[0].message.contains("40% still available"));
        assert_eq!(a.risks[0].evidence["heapUsedRatio"], 0.58);
        assert_eq!(
            kinds(&f("hard")),
            vec![("hostReportedPressure", Severity::Warning)]
        );
        // The package's own dumps are the package's word, never the host's (outside pass:
        // a growth-caused pressure dump read "the host reported pressure memory pressure").
        assert_eq!(
            kinds(&f("watchdog")),
            vec![("packageReportedPressure", Severity::Warning)]
        );
        assert_eq!(
            kinds(&f("pressure")),
            vec![("packageReportedPressure", Severity::Critical)]
        );
        let own = analyze(&f("pressure"));
        assert!(own.risks[0]
            .message
            .starts_with("the package's own pressure rule wrote this dump (see nearLimit)"));
        assert!(!own.risks[0].message.contains("host"));
        assert!(own.recommendation.starts_with("The package's own rule"));
        assert_eq!(kinds(&f("manual")), vec![]);
        assert!(analyze(&f("manual"))
            .recommendation
            .starts_with("No memory risk"));
        // A rule that fires as severely speaks for itself; a milder one gets the host's word on top.
        let mut near = f("critical");
        near.heap_available = Some(40.0);
        assert_eq!(
            kinds(&near),
            vec![
                ("hostReportedPressure", Severity::Critical),
                ("heapNearLimit", Severity::Warning)
            ]
        );
        assert!(analyze(&near).recommendation.contains("max-old-space-size"));
        near.trigger = Some("hard");
        assert_eq!(kinds(&near), vec![("heapNearLimit", Severity::Warning)]);
        near.heap_available = Some(20.0);
        near.trigger = Some("critical");
        assert_eq!(kinds(&near), vec![("heapNearLimit", Severity::Critical)]);
    }

    pub(super) fn point(
        t: i64,
        anon: f64,
        heap: f64,
        ext: f64,
        malloc: Option<f64>,
    ) -> GrowthPoint {
        GrowthPoint {
            epoch_ms: t,
            rss: Some(anon + 40.0 * MIB),
            anon: Some(anon),
            file: Some(40.0 * MIB),
            shmem: Some(0.0),
            v8_heap: Some(heap),
            heap_used: Some(heap * 0.8),
            external: Some(ext),
            array_buffers: Some(ext),
            malloc_in_use: malloc,
            malloc_free: malloc.map(|_| MIB),
            children: None,
            handles: None,
        }
    }

    #[test]
    fn growth_becomes_a_risk_and_its_advice_the_recommendation() {
        let m = MIB;
        let f = Facts {
            growth_points: vec![
                point(0, 100.0 * m, 30.0 * m, 5.0 * m, None),
                point(2_000, 300.0 * m, 230.0 * m, 5.0 * m, None),
            ],
            ..Default::default()
        };
        let a = analyze(&f);
        assert_eq!(kinds(&f), vec![("memoryGrowth", Severity::Warning)]);
        assert_eq!(a.risks[0].evidence["jsHeap"], 200.0 * m);
        assert!(
            a.recommendation.contains("heap snapshots"),
            "{}",
            a.recommendation
        );
        assert_eq!(a.growth.as_ref().unwrap().kind, Some("jsHeap"));
        // A flat trail: a growth section that says nothing grew, and no risk.
        let flat = Facts {
            growth_points: vec![
                point(0, 100.0 * m, 30.0 * m, 5.0 * m, None),
                point(2_000, 101.0 * m, 30.0 * m, 5.0 * m, None),
            ],
            ..Default::default()
        };
        assert_eq!(kinds(&flat), vec![]);
        assert_eq!(analyze(&flat).growth.unwrap().kind, None);
        assert!(analyze(&Facts::default()).growth.is_none());
    }

    #[test]
    fn most_severe_first_and_drives_the_recommendation() {
        let f = Facts {
            threads: Some(500.0),
            usage_against_limit: Some(95.0),
            effective_limit: Some(100.0),
            ..Default::default()
        };
        let a = analyze(&f);
        assert_eq!(a.risks[0].kind, "rssNearLimit");
        assert_eq!(a.risks[1].kind, "manyThreads");
        assert!(a.recommendation.contains("memory limit that kills it"));
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["risks"][0]["type"], "rssNearLimit");
        assert_eq!(json["risks"][0]["severity"], "critical");
    }
}
