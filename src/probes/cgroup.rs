//! The process's own memory cgroup: its limit, usage, OOM events and pressure.
//!
//! The limit that kills a containerised process is usually the cgroup's, not the
//! machine's, and it lives in the process's own cgroup directory (or an ancestor's),
//! not at the hierarchy root. So: find our cgroup in `/proc/self/cgroup`, find where
//! its hierarchy is mounted in `/proc/self/mountinfo` (stripping the mount's own root,
//! as containers mount a sub-tree), then read that directory. cgroup v2 (unified) and
//! v1 (the `memory` controller) are both read; hybrid systems list both, and the one
//! whose directory has the memory files wins, v2 first.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::pressure::{self, Psi};
use super::read_bounded;

/// cgroup v1 has no "max": an unlimited cgroup reports `PAGE_COUNTER_MAX` in bytes
/// (9223372036854771712 on 4 KiB pages, other values on other page sizes). Anything
/// at or above 2^62 is "no limit".
pub const V1_UNLIMITED_FLOOR: u64 = 1 << 62;

/// How deep we follow v2 ancestors looking for a tighter limit.
const MAX_ANCESTORS: usize = 32;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CgroupEvents {
    /// v2 `memory.events` `low`: reclaimed despite being under `memory.low`.
    pub low: Option<u64>,
    /// v2 `high`: throttled for exceeding `memory.high`.
    pub high: Option<u64>,
    /// v2 `max`: hit `memory.max`; v1: `memory.failcnt` (allocations that hit the limit).
    pub max: Option<u64>,
    /// v2 `oom`: the OOM killer was invoked for this cgroup.
    pub oom: Option<u64>,
    /// v2 `oom_kill`; v1 `memory.oom_control` `oom_kill`: processes the kernel killed.
    pub oom_kill: Option<u64>,
}

/// Memory by kind, bytes. v2 `memory.stat` keys of the same names; v1 `rss` → `anon`,
/// `cache` → `file`, `shmem`, `mapped_file` → `fileMapped`, and `kernel` from
/// `memory.kmem.usage_in_bytes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CgroupMemStat {
    pub anon: Option<u64>,
    pub file: Option<u64>,
    pub kernel: Option<u64>,
    pub sock: Option<u64>,
    pub shmem: Option<u64>,
    pub file_mapped: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CgroupInfo {
    /// `"v2"` or `"v1"`: the hierarchy read.
    #[cfg_attr(test, schemars(extend("enum" = ["v1", "v2"])))]
    pub version: &'static str,
    /// Both a v2 and a v1 memory line were present in `/proc/self/cgroup`.
    pub hybrid: bool,
    /// The cgroup path as `/proc/self/cgroup` gives it.
    pub path: String,
    /// The directory read.
    pub directory: String,
    /// `memory.max` / `memory.limit_in_bytes`; null means no limit (or unreadable: see `missing`).
    pub limit: Option<u64>,
    /// The tightest limit of this cgroup and its ancestors (v2: walked up; v1: the
    /// kernel's `hierarchical_memory_limit`).
    pub effective_limit: Option<u64>,
    /// v2 `memory.high`, the throttling threshold.
    pub high: Option<u64>,
    /// `memory.current` / `memory.usage_in_bytes`.
    pub usage: Option<u64>,
    /// `memory.peak` / `memory.max_usage_in_bytes`.
    pub peak: Option<u64>,
    /// v2 `memory.swap.current`; v1 memsw usage minus memory usage.
    pub swap_usage: Option<u64>,
    /// v2 `memory.swap.max`; v1 memsw limit minus memory limit, when both are set.
    pub swap_limit: Option<u64>,
    pub events: Option<CgroupEvents>,
    /// v1 `memory.oom_control` `under_oom`: the cgroup is in OOM right now.
    pub under_oom: Option<bool>,
    pub stat: Option<CgroupMemStat>,
    /// v2 `memory.pressure`.
    pub pressure: Option<Psi>,
    /// Files that do not exist here (so their fields are null for that reason).
    pub missing: Vec<String>,
    /// Files whose content could not be parsed.
    pub malformed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Membership {
    v2: Option<String>,
    v1_memory: Option<String>,
}

fn parse_membership(text: &str) -> Membership {
    let mut m = Membership {
        v2: None,
        v1_memory: None,
    };
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            m.v2 = Some(path.to_string());
        } else if controllers.split(',').any(|c| c == "memory") {
            m.v1_memory = Some(path.to_string());
        }
    }
    m
}

/// A cgroup mount: the hierarchy root it shows and where.
#[derive(Debug, Clone, PartialEq)]
struct Mount {
    root: String,
    point: String,
}

fn parse_mounts(text: &str) -> (Option<Mount>, Option<Mount>) {
    let (mut v2, mut v1) = (None, None);
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split_whitespace().collect();
        let post: Vec<&str> = post.split_whitespace().collect();
        if pre.len() < 5 || post.is_empty() {
            continue;
        }
        let mount = Mount {
            root: unescape(pre[3]),
            point: unescape(pre[4]),
        };
        match post[0] {
            "cgroup2" if v2.is_none() => v2 = Some(mount),
            "cgroup"
                if v1.is_none()
                    && post
                        .get(2)
                        .is_some_and(|o| o.split(',').any(|x| x == "memory")) =>
            {
                v1 = Some(mount)
            }
            _ => {}
        }
    }
    (v2, v1)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a hierarchy's cgroup directory is, under `cgroup_fs_root` (which stands in
/// for `/sys/fs/cgroup` in tests).
fn locate(
    mount: Option<&Mount>,
    default_rel: &str,
    cgroup_path: &str,
    cgroup_fs_root: &Path,
) -> PathBuf {
    let (point_rel, mount_root) = match mount {
        Some(m) => {
            let rel = m
                .point
                .strip_prefix("/sys/fs/cgroup")
                .unwrap_or(&m.point)
                .trim_start_matches('/')
                .to_string();
            (rel, m.root.clone())
        }
        None => (default_rel.to_string(), "/".to_string()),
    };
    // A container sees its own cgroup as "/" when the mount root is that cgroup; the
    // path is relative to the mount root.
    let rel_path = if mount_root != "/" {
        cgroup_path
            .strip_prefix(mount_root.as_str())
            .unwrap_or(cgroup_path)
    } else {
        cgroup_path
    };
    let mut dir = cgroup_fs_root.to_path_buf();
    for part in point_rel
        .split('/')
        .chain(rel_path.split('/'))
        .filter(|p| !p.is_empty() && *p != "..")
    {
        dir.push(part);
    }
    dir
}

/// Reads one cgroup file, tracking missing and malformed ones.
struct Reader<'a> {
    dir: &'a Path,
    missing: Vec<String>,
    malformed: Vec<String>,
}

enum Value {
    Bytes(u64),
    Unlimited,
}

impl Reader<'_> {
    fn text(&mut self, name: &str) -> Option<String> {
        match read_bounded(&self.dir.join(name)) {
            Ok(t) => Some(t),
            Err(_) => {
                self.missing.push(name.to_string());
                None
            }
        }
    }

    fn value(&mut self, name: &str) -> Option<Value> {
        let t = self.text(name)?;
        let t = t.trim();
        if t == "max" {
            return Some(Value::Unlimited);
        }
        match t.parse::<u64>() {
            Ok(n) if n >= V1_UNLIMITED_FLOOR => Some(Value::Unlimited),
            Ok(n) => Some(Value::Bytes(n)),
            Err(_) => {
                self.malformed.push(name.to_string());
                None
            }
        }
    }

    /// A byte count; "max" and the v1 sentinel become `None`.
    fn bytes(&mut self, name: &str) -> Option<u64> {
        match self.value(name)? {
            Value::Bytes(n) => Some(n),
            Value::Unlimited => None,
        }
    }

    /// A `key value` file such as `memory.stat` or `memory.events`.
    fn keyed(&mut self, name: &str) -> Option<Vec<(String, u64)>> {
        let t = self.text(name)?;
        let mut out = Vec::new();
        for line in t.lines() {
            let mut p = line.split_whitespace();
            if let (Some(k), Some(v), None) = (p.next(), p.next(), p.next()) {
                if let Ok(v) = v.parse() {
                    out.push((k.to_string(), v));
                }
            }
        }
        if out.is_empty() {
            self.malformed.push(name.to_string());
            return None;
        }
        Some(out)
    }
}

fn get(kv: &[(String, u64)], key: &str) -> Option<u64> {
    kv.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

fn has_any(dir: &Path, files: &[&str]) -> bool {
    files.iter().any(|f| dir.join(f).exists())
}

pub fn read(proc_root: &Path, pid_dir: &str, cgroup_fs_root: &Path) -> Result<CgroupInfo, String> {
    let cg_file = proc_root.join(pid_dir).join("cgroup");
    let membership = parse_membership(
        &read_bounded(&cg_file).map_err(|e| format!("{}: {e}", cg_file.display()))?,
    );
    let (m2, m1) = read_bounded(&proc_root.join(pid_dir).join("mountinfo"))
        .map(|t| parse_mounts(&t))
        .unwrap_or((None, None));
    let hybrid = membership.v2.is_some() && membership.v1_memory.is_some();
    let mut tried = Vec::new();
    if let Some(path) = &membership.v2 {
        let dir = locate(m2.as_ref(), "", path, cgroup_fs_root);
        if has_any(&dir, &["memory.max", "memory.current"]) {
            return Ok(read_v2(path, &dir, hybrid, m2.as_ref(), cgroup_fs_root));
        }
        tried.push(dir);
    }
    if let Some(path) = &membership.v1_memory {
        let dir = locate(m1.as_ref(), "memory", path, cgroup_fs_root);
        if has_any(&dir, &["memory.limit_in_bytes", "memory.usage_in_bytes"]) {
            return Ok(read_v1(path, &dir, hybrid));
        }
        tried.push(dir);
    }
    if tried.is_empty() {
        return Err(format!(
            "{}: no cgroup v2 or v1 memory controller entry",
            cg_file.display()
        ));
    }
    Err(format!(
        "no memory cgroup files in {}",
        tried
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(" or ")
    ))
}

fn read_v2(
    path: &str,
    dir: &Path,
    hybrid: bool,
    mount: Option<&Mount>,
    cgroup_fs_root: &Path,
) -> CgroupInfo {
    let mut r = Reader {
        dir,
        missing: vec![],
        malformed: vec![],
    };
    let limit = r.bytes("memory.max");
    let events = r.keyed("memory.events").map(|kv| CgroupEvents {
        low: get(&kv, "low"),
        high: get(&kv, "high"),
        max: get(&kv, "max"),
        oom: get(&kv, "oom"),
        oom_kill: get(&kv, "oom_kill"),
    });
    let stat = r.keyed("memory.stat").map(|kv| CgroupMemStat {
        anon: get(&kv, "anon"),
        file: get(&kv, "file"),
        kernel: get(&kv, "kernel"),
        sock: get(&kv, "sock"),
        shmem: get(&kv, "shmem"),
        file_mapped: get(&kv, "file_mapped"),
    });
    let pressure = match pressure::read_file(&dir.join("memory.pressure")) {
        Ok(p) => Some(p),
        Err(_) if !dir.join("memory.pressure").exists() => {
            r.missing.push("memory.pressure".into());
            None
        }
        Err(_) => {
            r.malformed.push("memory.pressure".into());
            None
        }
    };
    // Ancestors up to the mount's top can hold a tighter limit.
    let top = locate(
        mount,
        "",
        mount.map(|m| m.root.as_str()).unwrap_or("/"),
        cgroup_fs_root,
    );
    let mut effective = limit;
    let mut cur = dir.parent();
    for _ in 0..MAX_ANCESTORS {
        let Some(d) = cur else { break };
        if !d.starts_with(&top) || d.as_os_str().len() < top.as_os_str().len() {
            break;
        }
        if let Ok(t) = read_bounded(&d.join("memory.max")) {
            if let Ok(n) = t.trim().parse::<u64>() {
                effective = Some(effective.map_or(n, |e| e.min(n)));
            }
        }
        cur = d.parent();
    }
    CgroupInfo {
        version: "v2",
        hybrid,
        path: path.to_string(),
        directory: dir.display().to_string(),
        limit,
        effective_limit: effective,
        high: r.bytes("memory.high"),
        usage: r.bytes("memory.current"),
        peak: r.bytes("memory.peak"),
        swap_usage: r.bytes("memory.swap.current"),
        swap_limit: r.bytes("memory.swap.max"),
        events,
        under_oom: None,
        stat,
        pressure,
        missing: r.missing,
        malformed: r.malformed,
    }
}

fn read_v1(path: &str, dir: &Path, hybrid: bool) -> CgroupInfo {
    let mut r = Reader {
        dir,
        missing: vec![],
        malformed: vec![],
    };
    let limit = r.bytes("memory.limit_in_bytes");
    let usage = r.bytes("memory.usage_in_bytes");
    let peak = r.bytes("memory.max_usage_in_bytes");
    let failcnt = r.bytes("memory.failcnt");
    // memsw files exist only with swap accounting enabled.
    let (memsw_limit, memsw_usage) = if dir.join("memory.memsw.limit_in_bytes").exists() {
        (
            r.bytes("memory.memsw.limit_in_bytes"),
            r.bytes("memory.memsw.usage_in_bytes"),
        )
    } else {
        (None, None)
    };
    let oom = r.keyed("memory.oom_control");
    let kmem = if dir.join("memory.kmem.usage_in_bytes").exists() {
        r.bytes("memory.kmem.usage_in_bytes")
    } else {
        None
    };
    let stat_kv = r.keyed("memory.stat");
    let hierarchical = stat_kv
        .as_ref()
        .and_then(|kv| get(kv, "hierarchical_memory_limit"))
        .filter(|n| *n < V1_UNLIMITED_FLOOR);
    let stat = stat_kv.map(|kv| CgroupMemStat {
        anon: get(&kv, "rss"),
        file: get(&kv, "cache"),
        kernel: kmem,
        sock: None,
        shmem: get(&kv, "shmem"),
        file_mapped: get(&kv, "mapped_file"),
    });
    let effective_limit = match (limit, hierarchical) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    CgroupInfo {
        version: "v1",
        hybrid,
        path: path.to_string(),
        directory: dir.display().to_string(),
        limit,
        effective_limit,
        high: None,
        usage,
        peak,
        swap_usage: match (memsw_usage, usage) {
            (Some(s), Some(u)) => Some(s.saturating_sub(u)),
            _ => None,
        },
        swap_limit: match (memsw_limit, limit) {
            (Some(s), Some(l)) => Some(s.saturating_sub(l)),
            _ => None,
        },
        events: Some(CgroupEvents {
            max: failcnt,
            oom_kill: oom.as_ref().and_then(|kv| get(kv, "oom_kill")),
            ..Default::default()
        }),
        under_oom: oom
            .as_ref()
            .and_then(|kv| get(kv, "under_oom"))
            .map(|v| v != 0),
        stat,
        pressure: None,
        missing: r.missing,
        malformed: r.malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    fn read_fixture(name: &str) -> Result<CgroupInfo, String> {
        let f = fixture(name);
        read(&f.join("proc"), "self", &f.join("sys/fs/cgroup"))
    }

    #[test]
    fn v2_limited_with_oom_kills() {
        let c = read_fixture("cgroup-v2").unwrap();
        assert_eq!((c.version, c.hybrid), ("v2", false));
        assert_eq!(c.path, "/user.slice/app.scope");
        // Paths are compared with `/` whatever the separator (the suite also runs on Windows).
        assert!(
            c.directory
                .replace('\\', "/")
                .ends_with("sys/fs/cgroup/user.slice/app.scope"),
            "{}",
            c.directory
        );
        assert_eq!(c.limit, Some(536_870_912));
        assert_eq!(
            c.effective_limit,
            Some(536_870_912),
            "the parent's 1 GiB is looser"
        );
        assert_eq!(c.high, None);
        assert_eq!(c.usage, Some(500_000_000));
        assert_eq!(c.peak, Some(530_000_000));
        assert_eq!(c.swap_usage, Some(1_048_576));
        assert_eq!(c.swap_limit, None);
        let e = c.events.unwrap();
        assert_eq!(
            (e.low, e.high, e.max, e.oom, e.oom_kill),
            (Some(0), Some(0), Some(17), Some(3), Some(2))
        );
        let s = c.stat.unwrap();
        assert_eq!(
            (s.anon, s.file, s.kernel, s.sock, s.shmem, s.file_mapped),
            (
                Some(400_000_000),
                Some(80_000_000),
                Some(9_000_000),
                Some(4096),
                Some(8192),
                Some(1234)
            )
        );
        assert_eq!(c.pressure.unwrap().full.unwrap().avg10, 30.0);
        assert!(
            c.missing.is_empty() && c.malformed.is_empty(),
            "{:?} {:?}",
            c.missing,
            c.malformed
        );
    }

    #[test]
    fn v2_ancestor_limit_is_the_effective_one() {
        let c = read_fixture("cgroup-v2-nested").unwrap();
        assert_eq!(c.limit, None);
        assert_eq!(c.effective_limit, Some(268_435_456));
    }

    #[test]
    fn v2_max_means_no_limit() {
        let c = read_fixture("cgroup-v2-unlimited").unwrap();
        assert_eq!(
            (c.limit, c.high, c.swap_limit, c.effective_limit),
            (None, None, None, None)
        );
        assert_eq!(c.usage, Some(123_456));
        assert!(
            !c.missing.contains(&"memory.max".to_string()),
            "max is not missing: {:?}",
            c.missing
        );
        assert!(c.missing.contains(&"memory.peak".to_string()));
    }

    #[test]
    fn v1_limited() {
        let c = read_fixture("cgroup-v1").unwrap();
        assert_eq!(c.version, "v1");
        assert_eq!(c.path, "/process_api/abc123");
        assert!(c
            .directory
            .replace('\\', "/")
            .ends_with("sys/fs/cgroup/memory/process_api/abc123"));
        assert_eq!(c.limit, Some(268_435_456));
        assert_eq!(
            c.effective_limit,
            Some(134_217_728),
            "hierarchical limit is tighter"
        );
        assert_eq!(c.usage, Some(200_000_000));
        assert_eq!(c.peak, Some(260_000_000));
        assert_eq!(c.swap_usage, Some(10_000_000));
        assert_eq!(c.swap_limit, None, "memsw sentinel means unlimited");
        let e = c.events.unwrap();
        assert_eq!((e.max, e.oom_kill, e.oom), (Some(42), Some(3), None));
        assert_eq!(c.under_oom, Some(false));
        let s = c.stat.unwrap();
        assert_eq!(
            (s.anon, s.file, s.kernel, s.shmem, s.file_mapped),
            (
                Some(140_000_000),
                Some(50_000_000),
                Some(5_000_000),
                Some(4096),
                Some(777)
            )
        );
    }

    #[test]
    fn v1_sentinel_means_no_limit() {
        let c = read_fixture("cgroup-v1-unlimited").unwrap();
        assert_eq!((c.limit, c.effective_limit), (None, None));
        assert_eq!(c.usage, Some(1000));
        assert_eq!(c.events.unwrap().oom_kill, None);
    }

    #[test]
    fn hybrid_reads_v1_when_v2_has_no_memory_files() {
        let c = read_fixture("cgroup-hybrid").unwrap();
        assert_eq!((c.version, c.hybrid), ("v1", true));
        assert_eq!(c.limit, Some(1_073_741_824));
    }

    #[test]
    fn container_mount_root_is_stripped() {
        let c = read_fixture("cgroup-container").unwrap();
        assert_eq!(c.path, "/kubepods/pod1/ctr9");
        assert!(c.directory.ends_with("sys/fs/cgroup"), "{}", c.directory);
        assert_eq!((c.limit, c.usage), (Some(104_857_600), Some(52_428_800)));
    }

    #[test]
    fn missing_files_are_listed() {
        let c = read_fixture("cgroup-missing-files").unwrap();
        assert_eq!(c.usage, Some(4096));
        assert_eq!(c.limit, None);
        for f in [
            "memory.max",
            "memory.events",
            "memory.stat",
            "memory.pressure",
        ] {
            assert!(c.missing.contains(&f.to_string()), "{f} in {:?}", c.missing);
        }
    }

    #[test]
    fn malformed_files_are_listed_not_fatal() {
        // memory.current is malformed too, so there is no usage; the files exist.
        let c = read_fixture("cgroup-malformed").unwrap();
        assert_eq!((c.limit, c.usage, c.peak), (None, None, None));
        assert!(c.events.is_none() && c.stat.is_none() && c.pressure.is_none());
        for f in [
            "memory.max",
            "memory.current",
            "memory.events",
            "memory.stat",
            "memory.pressure",
        ] {
            assert!(
                c.malformed.contains(&f.to_string()),
                "{f} in {:?}",
                c.malformed
            );
        }
    }

    #[test]
    fn no_memory_controller_is_a_clear_error() {
        let e = read_fixture("no-cgroup").unwrap_err();
        assert!(
            e.contains("no cgroup v2 or v1 memory controller entry"),
            "{e}"
        );
        let e = read(Path::new("/nonexistent"), "self", Path::new("/nonexistent")).unwrap_err();
        assert!(
            e.replace('\\', "/").starts_with("/nonexistent/self/cgroup"),
            "{e}"
        );
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("\\"), "\\");
        assert_eq!(unescape("x\\04"), "x\\04");
    }

    /// xorshift64*: deterministic pseudo-random bytes without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    fn copy_tree(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for e in fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let t = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_tree(&e.path(), &t);
            } else {
                fs::copy(e.path(), &t).unwrap();
            }
        }
    }

    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(&p, out)
            } else {
                out.push(p)
            }
        }
    }

    #[test]
    fn random_contents_never_panic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let pieces: &[&[u8]] = &[
            b"max",
            b"-1",
            b"18446744073709551616",
            b"9223372036854771712",
            b"",
            b"\n",
            b" ",
            b"oom_kill ",
            b"some avg10=",
            b"0::",
            b":memory:",
            b"\xff\xfe",
            b"\0",
            b"12",
            b" - cgroup2 ",
            b"/../..",
        ];
        for scenario in [
            "cgroup-v2",
            "cgroup-v1",
            "cgroup-hybrid",
            "cgroup-container",
        ] {
            let dir = std::env::temp_dir()
                .join(format!("mdd-cgroup-fuzz-{}-{scenario}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            copy_tree(&fixture(scenario), &dir);
            let mut all = Vec::new();
            files(&dir, &mut all);
            for _ in 0..125 {
                for f in &all {
                    let mut bytes = Vec::new();
                    for _ in 0..(rng.next() % 8) {
                        if rng.next().is_multiple_of(3) {
                            bytes.extend((0..rng.next() % 16).map(|_| rng.next() as u8));
                        } else {
                            bytes.extend_from_slice(
                                pieces[(rng.next() % pieces.len() as u64) as usize],
                            );
                        }
                    }
                    fs::write(f, &bytes).unwrap();
                }
                let _ = read(&dir.join("proc"), "self", &dir.join("sys/fs/cgroup"));
                let _ = pressure::read_system(&dir.join("proc"));
            }
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn live_matches_the_kernel_files() {
        let c = match read(Path::new("/proc"), "self", Path::new("/sys/fs/cgroup")) {
            Ok(c) => c,
            Err(e) => {
                println!("no memory cgroup here ({e}); live check skipped");
                return;
            }
        };
        let dir = Path::new(&c.directory);
        let (limit_file, usage_file) = if c.version == "v2" {
            ("memory.max", "memory.current")
        } else {
            ("memory.limit_in_bytes", "memory.usage_in_bytes")
        };
        let raw_limit = fs::read_to_string(dir.join(limit_file)).unwrap();
        let expected = raw_limit
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n < V1_UNLIMITED_FLOOR);
        assert_eq!(c.limit, expected);
        let usage: u64 = fs::read_to_string(dir.join(usage_file))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let got = c.usage.unwrap();
        // Usage moves between the two reads; allow 64 MiB of drift.
        assert!(got.abs_diff(usage) < 64 << 20, "{got} vs {usage}");
    }
}
