//! The dump document, schema version 1.
//!
//! One struct tree serves both phases: phase 1 fills what the host passed in plus
//! identity and runtime facts; phase 2 adds `process`, `system` and the collection
//! figures. Fields absent in phase 1 are omitted rather than null, so phase 2 is a strict
//! superset and `atTrigger` is never rewritten (the crisis state must survive the
//! post-cleanup numbers). `docs/schema.md` and `lib/dump.schema.json` describe it.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::probes::procfs::{Mappings, OomScore, PageFaults, ProcStatus, SmapsRollup, Statm};
use crate::probes::rss_split::RssSplit;
use crate::probes::rusage::ResourceUsage;
pub use crate::probes::system::SystemInfo as SystemInfoSection;

pub const SCHEMA_VERSION: u32 = 1;

/// Numbers above this cannot be represented exactly as integers by JSON readers that
/// use doubles; integral values below it are written without a fractional part.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Writes integral numbers as JSON integers (`1048576`, not `1048576.0`).
pub fn serialize_number<S: Serializer>(n: &f64, s: S) -> Result<S::Ok, S::Error> {
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER {
        s.serialize_i64(*n as i64)
    } else {
        s.serialize_f64(*n)
    }
}

/// `Option<f64>` with integral values written as integers.
pub fn serialize_opt_number<S: Serializer>(n: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    Num(*n).serialize(s)
}

struct Num(Option<f64>);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(n) => serialize_number(&n, s),
            None => s.serialize_none(),
        }
    }
}

/// An ordered set of named figures, each possibly null (malformed input).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NumberMap(pub Vec<(&'static str, Option<f64>)>);

impl NumberMap {
    pub fn get(&self, key: &str) -> Option<f64> {
        self.0.iter().find(|(k, _)| *k == key).and_then(|(_, v)| *v)
    }
}

impl Serialize for NumberMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, &Num(*v))?;
        }
        m.end()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HeapSpace {
    pub name: Option<String>,
    pub values: NumberMap,
}

impl Serialize for HeapSpace {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.values.0.len() + 1))?;
        m.serialize_entry("spaceName", &self.name)?;
        for (k, v) in &self.values.0 {
            m.serialize_entry(k, &Num(*v))?;
        }
        m.end()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SessionValue {
    Number(#[serde(serialize_with = "serialize_number")] f64),
    Text(String),
    Bool(bool),
}

struct SessionMap<'a>(&'a [(String, SessionValue)]);

impl Serialize for SessionMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

fn serialize_session<S: Serializer>(v: &[(String, SessionValue)], s: S) -> Result<S::Ok, S::Error> {
    SessionMap(v).serialize(s)
}

/// An ordered set of named finite numbers with names chosen by the host (active
/// resources by type, one of the host's own samples).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamedNumbers(pub Vec<(String, f64)>);

impl Serialize for NamedNumbers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, &Num(Some(*v)))?;
        }
        m.end()
    }
}

/// The diagnostics directory was found group- or world-writable and tightened to 0700.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DirectoryNote {
    /// The mode it had, in octal (`"775"`).
    #[cfg_attr(test, schemars(extend("pattern" = "^[0-7]{3,4}$")))]
    pub tightened_from: String,
}

/// The figures exactly as the host passed them when pressure hit.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AtTrigger {
    #[cfg_attr(test, schemars(schema_with = "crate::contract::schema::memory_usage"))]
    pub memory_usage: NumberMap,
    #[cfg_attr(test, schemars(schema_with = "crate::contract::schema::heap_stats"))]
    pub v8_heap_stats: NumberMap,
    #[cfg_attr(test, schemars(schema_with = "crate::contract::schema::heap_spaces"))]
    pub v8_heap_spaces: Option<Vec<HeapSpace>>,
    /// `process.getActiveResourcesInfo()` counted by type (handles and requests that
    /// keep the event loop alive).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        test,
        schemars(schema_with = "crate::contract::schema::active_resources")
    )]
    pub active_resources: Option<NamedNumbers>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RuntimeInfo {
    pub node_version: String,
    pub napi_version: Option<u32>,
    pub platform: &'static str,
    pub arch: &'static str,
    pub addon_version: &'static str,
    pub app_version: Option<String>,
    /// `native` for this addon; the pure-JS fallback writes `js`.
    #[cfg_attr(test, schemars(extend("enum" = ["native", "js"])))]
    pub implementation: &'static str,
    /// Written by the pure-JS fallback only: why the native addon was not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
}

impl RuntimeInfo {
    pub fn new(
        node_version: String,
        napi_version: Option<u32>,
        app_version: Option<String>,
    ) -> Self {
        RuntimeInfo {
            node_version,
            napi_version,
            platform: node_platform(),
            arch: node_arch(),
            addon_version: env!("CARGO_PKG_VERSION"),
            app_version,
            implementation: "native",
            fallback_reason: None,
        }
    }
}

/// `process.platform` spelling of the compile target.
pub fn node_platform() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    }
}

/// `process.arch` spelling of the compile target.
pub fn node_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        "x86" => "ia32",
        "arm" => "arm",
        other => other,
    }
}

pub use crate::probes::ProbeFailure;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Collection {
    /// Phase 1, from the call until the document was serialized (in the phase-1 file)
    /// or until the phase-1 file was in place (in the phase-2 file).
    pub phase1_micros: u64,
    /// `armed`: phase 1 wrote into the pre-armed file and linked it into place;
    /// `unarmed`: none was armed (or it could not be used), a named temporary file was.
    #[serde(skip_serializing_if = "str::is_empty")]
    #[cfg_attr(test, schemars(extend("enum" = ["armed", "unarmed"])))]
    pub phase1_path: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase2_millis: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_micros: Option<BTreeMap<&'static str, u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_probes: Option<Vec<ProbeFailure>>,
    /// Probes deliberately not run (phase 2 only), e.g. `smapsRollup` on a large process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_probes: Option<Vec<ProbeFailure>>,
}

/// What phase 2 learns about this process.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ProcessSection {
    pub status: Option<ProcStatus>,
    pub statm: Option<Statm>,
    /// Resident memory by kind, each figure with its source.
    pub rss_split: Option<RssSplit>,
    /// Null when its probe failed (`collection.failedProbes`) or was skipped
    /// (`collection.skippedProbes`).
    #[cfg_attr(test, schemars(extend("propertyNames" = {"pattern": "^[a-z][A-Za-z0-9]*$"})))]
    pub smaps_rollup: Option<SmapsRollup>,
    pub open_fds: Option<u64>,
    /// Soft `RLIMIT_NOFILE`; null when unlimited or unknown.
    pub open_fds_limit: Option<u64>,
    pub resource_usage: Option<ResourceUsage>,
    pub page_faults: Option<PageFaults>,
    pub oom_score: Option<OomScore>,
    pub mappings: Option<Mappings>,
    pub uptime_seconds: Option<f64>,
    /// The process's memory as this platform counts it, every figure with its source or
    /// why this platform has none (the same fields on Linux, Windows and macOS). Absent in
    /// documents written before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<crate::probes::platform::ProcessMemory>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Report {
    #[cfg_attr(
        test,
        schemars(schema_with = "crate::contract::schema::schema_version")
    )]
    pub schema_version: u32,
    #[cfg_attr(test, schemars(schema_with = "crate::contract::schema::trigger"))]
    pub trigger: &'static str,
    #[cfg_attr(test, schemars(extend("minimum" = 1)))]
    pub dump_number: u32,
    #[cfg_attr(test, schemars(schema_with = "crate::contract::schema::session_id"))]
    pub session_id: String,
    pub pid: u32,
    /// When the writing process started (epoch ms): with `pid`, names the process.
    pub process_start_ms: u64,
    #[cfg_attr(test, schemars(extend("pattern" = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")))]
    pub timestamp: String,
    pub collection_complete: bool,
    pub at_trigger: AtTrigger,
    #[serde(serialize_with = "serialize_session")]
    #[cfg_attr(test, schemars(schema_with = "crate::contract::schema::session"))]
    pub session: Vec<(String, SessionValue)>,
    pub suggestion: Option<String>,
    pub runtime: RuntimeInfo,
    pub input_warnings: Vec<String>,
    /// The host's own recent samples, as passed (`dump(trigger, { samples })`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, schemars(schema_with = "crate::contract::schema::samples"))]
    pub samples: Option<Vec<NamedNumbers>>,
    /// Set when the dumper tightened a loose diagnostics directory before this dump.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectoryNote>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessSection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemInfoSection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<MemoryLimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<crate::probes::cgroup::CgroupInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pressure: Option<crate::probes::pressure::Psi>,
    /// Windows: the job object this process runs in and its memory limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_object: Option<crate::probes::platform::JobObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_tree: Option<crate::probes::tree::ProcessTree>,
    /// Resident memory split into parts that add up, each with its source (phase 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_accounting: Option<crate::analysis::accounting::MemoryAccounting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<crate::analysis::Analysis>,
    /// The recorder's ring at the time of the dump: the trajectory that led to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, schemars(schema_with = "crate::contract::schema::history"))]
    pub history: Option<Vec<Sample>>,
    /// Only in dumps the watchdog wrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watchdog: Option<WatchdogInfo>,
    /// Only in dumps the pressure rule wrote (trigger `pressure`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub near_limit: Option<NearLimit>,
    /// Only in pressure dumps, when the event loop was alive to answer: the host's V8
    /// figures read on the JS thread once the dump was on disk, added by one more atomic
    /// replace (`writer::amend`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub js_figures: Option<JsFigures>,
    /// Only when `options.heapSnapshot` applies to this dump's trigger: the snapshot that
    /// followed it, or why none was taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heap_snapshot: Option<HeapSnapshotSection>,
    /// The allocation sites of the live heap (`options.allocationProfile`): added after
    /// phase 2 by one more atomic replace (the `allocation` module).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation_profile: Option<AllocationProfileSection>,
    pub collection: Collection,
}

/// Why the pressure rule wrote a dump: the memory that counts against the effective limit,
/// as the limit's killer counts it, at the sample that fired.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct NearLimit {
    /// `share` (the counted share reached `ratio`), `stall` (PSI full past its threshold,
    /// past 75% of the limit) or `growth` (the growth would reach `ratio` within `withinMs`).
    #[cfg_attr(test, schemars(extend("enum" = ["share", "stall", "growth"])))]
    pub cause: &'static str,
    /// Whose limit: `cgroup`, `job`, `commit` or `physical`.
    #[cfg_attr(test, schemars(extend("enum" = ["cgroup", "job", "commit", "physical"])))]
    pub source: &'static str,
    pub limit_bytes: u64,
    /// What counts against it (`counts` says how it was measured).
    pub counted_bytes: u64,
    /// How `countedBytes` was measured, in words.
    pub counts: &'static str,
    /// `countedBytes / limitBytes`, to four places.
    #[cfg_attr(test, schemars(extend("minimum" = 0)))]
    pub share: f64,
    /// `options.pressure.ratio` of the limit.
    pub threshold_bytes: u64,
    /// PSI `full` avg10 of the limit's scope, percent, when read.
    #[serde(serialize_with = "serialize_opt_number")]
    pub psi_full_avg10: Option<f64>,
    /// Bytes per second over the last seconds, when known.
    #[serde(serialize_with = "serialize_opt_number")]
    pub growth_bytes_per_sec: Option<f64>,
    /// Age of the V8 figures in `atTrigger` (null: JS never pushed any).
    pub v8_figures_age_ms: Option<u64>,
}

/// The V8 figures the JS thread adds to a pressure dump (the recorder thread wrote it with
/// the figures of the last `observe()` or `dump()`, which may be old or missing).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct JsFigures {
    /// Milliseconds from the dump's phase 1 to the JS thread reading these figures: how
    /// long the event loop took to answer.
    pub delay_ms: u64,
    #[cfg_attr(test, schemars(schema_with = "crate::contract::schema::memory_usage"))]
    pub memory_usage: NumberMap,
    #[cfg_attr(test, schemars(schema_with = "crate::contract::schema::heap_stats"))]
    pub v8_heap_stats: NumberMap,
}

/// Why the watchdog wrote a dump.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct WatchdogInfo {
    /// How long neither `observe()` nor `dump()` had been called.
    pub stalled_ms: u64,
    pub rss_bytes: u64,
    pub threshold_bytes: u64,
    /// Age of the V8 figures in `atTrigger` (null: JS never pushed any).
    pub v8_figures_age_ms: Option<u64>,
    /// The main thread's JS stack while the loop was blocked (`watchdog.captureStack`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<StackCapture>,
}

/// What the watchdog's dump records in `watchdog.stack`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct StackCapture {
    /// `"captured"` or `"unavailable"` (asked, no stack: the reason says why). `"skipped"`
    /// (not asked: the host's inspector was open) is only in documents of earlier builds,
    /// which paused the main thread to read its stack.
    #[cfg_attr(test, schemars(extend("enum" = ["captured", "unavailable", "skipped"])))]
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Innermost first, at most 32.
    pub frames: Vec<StackFrame>,
    /// From the request to the answer (or to giving up).
    pub capture_millis: f64,
}

/// The limit that actually kills the process, and how close it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct MemoryLimit {
    /// The smallest of the limits that apply here: the cgroup's (Linux), the job's and
    /// the commit limit (Windows), physical memory.
    pub effective_limit_bytes: u64,
    /// `"cgroup"`, `"job"`, `"commit"` or `"physical"`.
    #[cfg_attr(test, schemars(extend("enum" = ["cgroup", "job", "commit", "physical"])))]
    pub source: &'static str,
    /// What counts against it: the cgroup's usage, this process's private bytes (job),
    /// the system's commit total (commit), or memory in use machine-wide (physical).
    pub usage_bytes: Option<u64>,
    pub headroom_bytes: Option<u64>,
    /// `usage / limit`.
    #[cfg_attr(test, schemars(extend("minimum" = 0)))]
    pub usage_ratio: Option<f64>,
}

/// One line of the recorder file and one entry of a dump's `history`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    #[serde(rename = "type")]
    #[cfg_attr(test, schemars(extend("const" = "sample")))]
    pub kind: &'static str,
    pub t: String,
    pub epoch_ms: i64,
    pub rss_bytes: Option<u64>,
    /// The kernel's split of `rss_bytes` (same `status` read): anonymous, file-backed, shared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_anon_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_file_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_shmem_bytes: Option<u64>,
    pub swap_bytes: Option<u64>,
    /// The descendants' RSS (the kernel's `children` lists, at most 64 processes; 0 with
    /// none), so that growth in child processes shows in the trajectory too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub children_rss_bytes: Option<u64>,
    pub cgroup_usage_bytes: Option<u64>,
    pub cgroup_limit_bytes: Option<u64>,
    #[serde(serialize_with = "serialize_opt_number")]
    pub psi_some_avg10: Option<f64>,
    #[serde(serialize_with = "serialize_opt_number")]
    pub heap_used_bytes: Option<f64>,
    #[serde(serialize_with = "serialize_opt_number")]
    pub heap_total_bytes: Option<f64>,
    #[serde(serialize_with = "serialize_opt_number")]
    pub heap_limit_bytes: Option<f64>,
    #[serde(serialize_with = "serialize_opt_number")]
    pub external_bytes: Option<f64>,
    /// The V8 heap's resident size (`total_physical_size`) and the ArrayBuffers' bytes,
    /// from the same observed figures: with the split above, the main series of
    /// `memoryAccounting` (malloc's figures are not sampled: see `probes::malloc`).
    #[serde(
        serialize_with = "serialize_opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub heap_physical_bytes: Option<f64>,
    #[serde(
        serialize_with = "serialize_opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub array_buffers_bytes: Option<f64>,
    /// How old the V8 figures are (they come from JS, which may be stuck); null if JS
    /// never pushed any.
    pub v8_age_ms: Option<u64>,
}

/// The `allocationProfile` section of a dump document: V8's sampling heap profiler's
/// live allocations, by site. Names, script paths, lines and sizes only, never values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllocationProfileSection {
    /// `taken`, or `skipped` (with the reason).
    #[cfg_attr(test, schemars(extend("enum" = ["taken", "skipped"])))]
    pub status: String,
    /// Why no profile was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The profiler's mean sampling interval, in bytes allocated.
    pub sampling_interval_bytes: u64,
    /// The live bytes the samples stand for, all sites together.
    #[serde(default)]
    pub total_sampled_bytes: Option<u64>,
    /// How long fetching and summarizing the profile kept the JS thread, in ms.
    #[serde(default)]
    pub fetch_millis: Option<f64>,
    /// The sites with the most live bytes, most first (at most `maxSites`).
    #[serde(default)]
    pub sites: Vec<AllocationSite>,
}

/// One allocation site: the function that allocated, where, and the call path to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllocationSite {
    #[serde(flatten)]
    pub frame: StackFrame,
    /// Live bytes sampled at this site (by this call path).
    pub live_bytes: u64,
    /// `liveBytes` over `totalSampledBytes`.
    pub share: f64,
    /// The callers, nearest first (at most 8).
    #[serde(default)]
    pub path: Vec<StackFrame>,
}

/// A JS stack frame: names and places only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StackFrame {
    /// The function's name, `(anonymous)` when it has none.
    pub function: String,
    /// The script's path or URL through the place rule (`places`: no query, fragment,
    /// credentials or `data:` content; the home directory as `~`), or `node:…` for Node's own.
    pub script: String,
    /// 1-based; null when V8 does not know it.
    pub line: Option<u32>,
    pub column: Option<u32>,
}

/// How a Node process ended, as its `exit` event saw it: the recorder's last `exit` record
/// carries it (`docs/schema.md`). Names and places only: never an error's message, which
/// may hold data.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessEnd {
    /// The exit code Node exited with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// `uncaughtException`, `unhandledRejection` (either one that nothing handled),
    /// `processExit` (`process.exit()` was called) or `loopEnded` (the event loop emptied;
    /// the code is `process.exitCode`'s).
    pub how: &'static str,
    /// The uncaught value's class name (`TypeError`), or its type when it is not an object
    /// (`string`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    /// The innermost frame of the host's own code where it was thrown (the place rule
    /// applied: `places`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thrown_at: Option<StackFrame>,
}

/// The `heapSnapshot` section of a dump document.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct HeapSnapshotSection {
    /// `pending` (phase 2 is on disk, the snapshot is being taken), `written`, `skipped`
    /// or `failed`.
    #[cfg_attr(test, schemars(extend("enum" = ["pending", "written", "skipped", "failed"])))]
    pub status: &'static str,
    /// Why no snapshot was taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, schemars(extend("maxLength" = 1000)))]
    pub skipped: Option<String>,
    /// What went wrong while taking or copying it (nothing is left under its name).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, schemars(extend("maxLength" = 2000)))]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needed_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headroom_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, schemars(extend("maxLength" = 200)))]
    pub estimate: Option<&'static str>,
    /// The snapshot's file name, in the dump's directory (the intended one while pending).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, schemars(schema_with = "crate::contract::schema::heap_file"))]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// How long V8 took to write it (the JS thread was blocked for this long).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub millis: Option<f64>,
    /// How long the redacting copy took (off the JS thread).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_millis: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redacted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strings_redacted: Option<u64>,
    /// The highest resident set size seen while the snapshot was taken, minus the one
    /// before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_extra_bytes: Option<u64>,
}

impl Report {
    pub fn to_json(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(8192);
        self.write_json_as(&mut buf, true);
        buf
    }

    /// Phase 1: compact JSON into `buf` (appending), reusing its capacity. Phase 2's
    /// [`Report::to_json`] is indented for people; phase 1 is on the crisis path.
    pub fn write_json(&self, buf: &mut Vec<u8>) {
        self.write_json_as(buf, false)
    }

    fn write_json_as(&self, buf: &mut Vec<u8>, pretty: bool) {
        let start = buf.len();
        let r = if pretty {
            serde_json::to_writer_pretty(&mut *buf, self)
        } else {
            serde_json::to_writer(&mut *buf, self)
        };
        // Serializing plain structs into a Vec cannot fail; fall back to a minimal
        // document rather than panic if that ever changes.
        if let Err(e) = r {
            buf.truncate(start);
            buf.extend_from_slice(
                format!(
                    "{{\"schemaVersion\":{SCHEMA_VERSION},\"serializationError\":{:?}}}",
                    e.to_string()
                )
                .as_bytes(),
            );
        }
    }
}

/// When this process started, in epoch milliseconds, found once: on Linux from
/// `/proc/stat`'s boot time and `/proc/self/stat`'s start time; elsewhere (or if procfs
/// cannot be read) the time now minus the process's uptime as the OS reports it.
pub fn process_start_ms() -> u64 {
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *START.get_or_init(|| {
        crate::probes::procfs::process_start_ms(&crate::probes::ProbeRoots::default())
            .unwrap_or_else(|_| {
                let now = crate::timefmt::UtcTime::now().epoch_ms.max(0) as u64;
                let pid = sysinfo::Pid::from_u32(std::process::id());
                let mut sys = sysinfo::System::new();
                sys.refresh_processes(sysinfo::ProcessesToUpdate::Some(&[pid]), false);
                match sys.process(pid) {
                    Some(p) if p.start_time() > 0 => p.start_time() * 1000,
                    _ => now,
                }
            })
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample() -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            trigger: "hard",
            dump_number: 1,
            session_id: "abc".into(),
            pid: 42,
            process_start_ms: 1_795_003_000_000,
            timestamp: "2026-11-24T12:07:55.123Z".into(),
            collection_complete: false,
            at_trigger: AtTrigger {
                memory_usage: NumberMap(vec![("rss", Some(1048576.0)), ("heapUsed", None)]),
                v8_heap_stats: NumberMap(vec![("heapSizeLimit", Some(0.5))]),
                v8_heap_spaces: Some(vec![HeapSpace {
                    name: Some("old_space".into()),
                    values: NumberMap(vec![("spaceSize", Some(10.0))]),
                }]),
                active_resources: None,
            },
            session: vec![
                ("b".into(), SessionValue::Number(2.0)),
                ("a".into(), SessionValue::Text("x".into())),
                ("c".into(), SessionValue::Bool(true)),
            ],
            suggestion: Some("save".into()),
            runtime: RuntimeInfo::new("20.0.0".into(), Some(9), None),
            input_warnings: vec![],
            samples: None,
            directory: None,
            process: None,
            system: None,
            memory_limit: None,
            cgroup: None,
            pressure: None,
            job_object: None,
            process_tree: None,
            memory_accounting: None,
            analysis: None,
            heap_snapshot: None,
            allocation_profile: None,
            js_figures: None,
            history: None,
            watchdog: None,
            near_limit: None,
            collection: Collection {
                phase1_micros: 12,
                ..Default::default()
            },
        }
    }

    #[test]
    fn serializes_camel_case_with_integers() {
        let v: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
        assert_eq!(v["schemaVersion"], 1);
        assert_eq!(v["dumpNumber"], 1);
        assert_eq!(v["collectionComplete"], false);
        assert_eq!(v["atTrigger"]["memoryUsage"]["rss"].as_u64(), Some(1048576));
        assert!(v["atTrigger"]["memoryUsage"]["heapUsed"].is_null());
        assert_eq!(
            v["atTrigger"]["v8HeapStats"]["heapSizeLimit"].as_f64(),
            Some(0.5)
        );
        assert_eq!(v["atTrigger"]["v8HeapSpaces"][0]["spaceName"], "old_space");
        assert_eq!(v["session"]["b"].as_i64(), Some(2));
        assert_eq!(v["session"]["c"], true);
        assert_eq!(v["runtime"]["implementation"], "native");
        assert_eq!(v["collection"]["phase1Micros"], 12);
        // Phase-2 sections are absent, not null, in phase 1.
        assert!(v.get("process").is_none());
        assert!(v.get("system").is_none());
        assert!(v["collection"].get("phase2Millis").is_none());
    }

    #[test]
    fn session_keeps_insertion_order() {
        let text = String::from_utf8(sample().to_json()).unwrap();
        let b = text.find("\"b\"").unwrap();
        let a = text.find("\"a\"").unwrap();
        assert!(b < a);
    }

    #[test]
    fn huge_numbers_stay_floats() {
        let mut r = sample();
        r.at_trigger.memory_usage = NumberMap(vec![("rss", Some(1e300))]);
        let v: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
        assert_eq!(v["atTrigger"]["memoryUsage"]["rss"].as_f64(), Some(1e300));
    }

    #[test]
    fn platform_names_follow_node() {
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        assert_eq!((node_platform(), node_arch()), ("linux", "x64"));
    }
}
