//! `memoryAccounting`: the resident set split into parts that add up, each with its source.
//!
//! The kernel splits RSS exactly into anonymous, file-backed and shared-memory pages
//! (`/proc/self/status`: `VmRSS = RssAnon + RssFile + RssShmem`). File-backed and shared
//! memory are parts as they are; the anonymous pages are attributed to what allocated
//! them, from figures that do not overlap:
//!
//! - the V8 heap (`totalPhysicalSize`; code spaces apart when the host passed heap spaces):
//!   V8 maps its pages itself, outside malloc;
//! - ArrayBuffer backing stores and other external memory (`memoryUsage()`): Node
//!   allocates them with malloc, so they are taken out of malloc's in-use figure;
//! - the rest of malloc's in-use bytes, and what malloc keeps free (glibc `mallinfo2`);
//! - the main thread's stack (`VmStk`).
//!
//! What no figure explains is `unexplained = rss - sum(parts)`, so the parts plus
//! `unexplained` equal RSS exactly; it is negative when attributions count memory that is
//! not resident (allocated but never touched). Swap and child processes are beside RSS,
//! not in it. `docs/schema.md` gives each part's known error.

use serde::Serialize;

use crate::probes::malloc::MallocStats;
use crate::probes::procfs::ProcStatus;
use crate::probes::tree::ProcessTree;

/// V8's spaces that hold compiled code.
pub const CODE_SPACES: [&str; 2] = ["code_space", "code_large_object_space"];

/// One part of RSS: its bytes and where they came from, or why it is unknown (then it
/// counts as zero and its memory is in `unexplained`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Part {
    pub bytes: Option<u64>,
    pub source: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Part {
    fn known(bytes: u64, source: &'static str) -> Part {
        Part {
            bytes: Some(bytes),
            source: Some(source),
            reason: None,
        }
    }

    fn unknown(reason: impl Into<String>) -> Part {
        Part {
            bytes: None,
            source: None,
            reason: Some(reason.into()),
        }
    }
}

/// The disjoint parts of RSS, in document order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Parts {
    pub v8_heap: Part,
    pub v8_code: Part,
    pub array_buffers: Part,
    pub external_other: Part,
    pub malloc_other: Part,
    pub malloc_free: Part,
    pub thread_stacks: Part,
    pub file_backed: Part,
    pub shared_memory: Part,
}

impl Parts {
    pub fn iter(&self) -> [(&'static str, &Part); 9] {
        [
            ("v8Heap", &self.v8_heap),
            ("v8Code", &self.v8_code),
            ("arrayBuffers", &self.array_buffers),
            ("externalOther", &self.external_other),
            ("mallocOther", &self.malloc_other),
            ("mallocFree", &self.malloc_free),
            ("threadStacks", &self.thread_stacks),
            ("fileBacked", &self.file_backed),
            ("sharedMemory", &self.shared_memory),
        ]
    }

    pub fn sum(&self) -> u64 {
        self.iter().iter().filter_map(|(_, p)| p.bytes).sum()
    }
}

/// One V8 space's resident size.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpaceBytes {
    // At most input::MAX_SPACE_NAME_CHARS.
    #[cfg_attr(test, schemars(extend("maxLength" = 64)))]
    pub name: Option<String>,
    pub physical_bytes: Option<u64>,
}

/// Child processes: beside this process's RSS, never in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Children {
    pub count: u64,
    pub rss_bytes: u64,
    #[cfg_attr(test, schemars(extend("const" = "processTree")))]
    pub source: &'static str,
}

/// The malloc heap as glibc counts it, or why it is unknown.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct MallocSection {
    #[serde(flatten)]
    pub stats: Option<MallocStats>,
    #[cfg_attr(test, schemars(extend("enum" = ["mallinfo2", null])))]
    pub source: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `memoryAccounting` (phase 2).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct MemoryAccounting {
    pub rss_bytes: Option<u64>,
    pub rss_source: Option<&'static str>,
    /// `RssAnon`: what the V8, external, malloc and stack parts divide among them.
    pub anon_bytes: Option<u64>,
    pub parts: Parts,
    /// `rss - sum(parts)`: exact by construction; negative when parts count memory that
    /// is not resident.
    pub unexplained_bytes: Option<i64>,
    pub unexplained_share: Option<f64>,
    /// Swapped out: not resident, so beside RSS.
    pub swap_bytes: Option<u64>,
    /// Each V8 space's resident size, when the host passed heap spaces.
    // At most input::MAX_HEAP_SPACES.
    #[cfg_attr(test, schemars(extend("maxItems" = 32)))]
    pub v8_spaces: Option<Vec<SpaceBytes>>,
    pub malloc: MallocSection,
    pub children: Option<Children>,
}

fn bytes(v: Option<f64>) -> Option<u64> {
    v.filter(|v| v.is_finite() && *v >= 0.0).map(|v| v as u64)
}

/// The host's figures the accounting uses (phase 2 takes them from `atTrigger`: `dump::enrich::host_figures`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostFigures {
    pub total_physical_size: Option<f64>,
    pub heap_total: Option<f64>,
    pub rss: Option<f64>,
    pub array_buffers: Option<f64>,
    pub external: Option<f64>,
    /// `heapStatistics.externalMemory`, where `memoryUsage().external` is missing.
    pub external_memory: Option<f64>,
    /// Each heap space's name and `physicalSpaceSize`, when the host passed heap spaces.
    pub spaces: Option<Vec<(Option<String>, Option<f64>)>>,
}

/// Builds the accounting from what phase 2 read and what the host passed.
pub fn build(
    status: Option<&ProcStatus>,
    host: &HostFigures,
    malloc: Result<MallocStats, String>,
    tree: Option<&ProcessTree>,
) -> MemoryAccounting {
    build_on(status, None, host, malloc, tree)
}

/// What is split where there is no `/proc/self/status`: on Windows the private bytes
/// (what the commit limit and a job's limit count), on macOS the physical footprint (what
/// memory pressure and jetsam judge), with their sources. The V8, ArrayBuffer and external
/// parts are divided out of it as on Linux; what no figure explains stays `unexplained`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Basis {
    pub bytes: u64,
    pub source: &'static str,
    /// Why the Linux-only parts (stack, file-backed, shared) are not measured here.
    pub why_not_split: &'static str,
}

/// [`build`], splitting `basis` where it is given (Windows, macOS).
pub fn build_on(
    status: Option<&ProcStatus>,
    basis: Option<Basis>,
    host: &HostFigures,
    malloc: Result<MallocStats, String>,
    tree: Option<&ProcessTree>,
) -> MemoryAccounting {
    let st = |f: fn(&ProcStatus) -> Option<u64>| status.and_then(f);
    let (rss, rss_source) = match (basis, st(|s| s.vm_rss), bytes(host.rss)) {
        (Some(b), _, _) => (Some(b.bytes), Some(b.source)),
        (None, Some(r), _) => (Some(r), Some("status:VmRSS")),
        (None, None, Some(r)) => (Some(r), Some("memoryUsage.rss")),
        _ => (None, None),
    };
    let spaces: Option<Vec<SpaceBytes>> = host.spaces.as_ref().map(|v| {
        v.iter()
            .map(|(name, physical)| SpaceBytes {
                name: name.clone(),
                physical_bytes: bytes(*physical),
            })
            .collect()
    });
    let code: Option<u64> = spaces.as_ref().map(|v| {
        v.iter()
            .filter(|s| CODE_SPACES.contains(&s.name.as_deref().unwrap_or("")))
            .filter_map(|s| s.physical_bytes)
            .sum()
    });
    let physical = bytes(host.total_physical_size);
    let (v8_heap, v8_code) = match (physical, bytes(host.heap_total)) {
        (Some(p), _) => match code {
            Some(c) => (
                Part::known(p.saturating_sub(c), "heapStatistics.totalPhysicalSize-codeSpaces"),
                Part::known(c.min(p), "heapSpaces.physicalSpaceSize"),
            ),
            None => (
                Part::known(p, "heapStatistics.totalPhysicalSize"),
                Part::unknown("the host passed no heapSpaces: code is counted in v8Heap"),
            ),
        },
        (None, Some(t)) => (
            Part::known(t, "memoryUsage.heapTotal"),
            Part::unknown("no totalPhysicalSize: code is counted in v8Heap"),
        ),
        _ => (
            Part::unknown("the host passed neither heapStatistics.totalPhysicalSize nor memoryUsage.heapTotal"),
            Part::unknown("no V8 heap figures"),
        ),
    };
    let ab = bytes(host.array_buffers);
    let ext = bytes(host.external).or(bytes(host.external_memory));
    let array_buffers = match ab {
        Some(b) => Part::known(b, "memoryUsage.arrayBuffers"),
        None => Part::unknown("the host passed no memoryUsage.arrayBuffers"),
    };
    let external_other = match ext {
        Some(e) => Part::known(
            e.saturating_sub(ab.unwrap_or(0)),
            "memoryUsage.external-arrayBuffers",
        ),
        None => Part::unknown("the host passed no memoryUsage.external"),
    };
    let external_total = ab.unwrap_or(0).max(ext.unwrap_or(0));
    let (malloc_other, malloc_free, malloc_section) = match malloc {
        Ok(m) => (
            Part::known(
                m.in_use_bytes.saturating_sub(external_total),
                "mallinfo2:uordblks+hblkhd-external",
            ),
            Part::known(m.free_retained_bytes, "mallinfo2:fordblks"),
            MallocSection {
                stats: Some(m),
                source: Some("mallinfo2"),
                reason: None,
            },
        ),
        Err(reason) => (
            Part::unknown(reason.clone()),
            Part::unknown(reason.clone()),
            MallocSection {
                stats: None,
                source: None,
                reason: Some(reason),
            },
        ),
    };
    let from_status = |v: Option<u64>, src: &'static str| match (status, v) {
        (_, Some(b)) => Part::known(b, src),
        (None, None) if basis.is_some() => Part::unknown(basis.map_or("", |b| b.why_not_split)),
        (None, None) => Part::unknown("/proc/self/status was not read"),
        (Some(_), None) => Part::unknown(format!("{src} is not in /proc/self/status")),
    };
    let thread_stacks = from_status(st(|s| s.vm_stk), "status:VmStk");
    // mallinfo2 counts allocated bytes, resident or not: a large allocation barely touched
    // (zlib streams opened and barely used) counts whole, whether it is a chunk of its own
    // mmap or, once glibc's mmap threshold has grown, part of an arena. Those streams
    // claimed 145 MiB of malloc in 105 MiB of anonymous memory. Every anonymous part
    // together cannot exceed RssAnon, so malloc's part is bounded by what is left of it.
    let malloc_other = bound_by_anon(
        malloc_other,
        st(|s| s.rss_anon),
        [
            &v8_heap,
            &v8_code,
            &array_buffers,
            &external_other,
            &malloc_free,
            &thread_stacks,
        ]
        .iter()
        .filter_map(|p| p.bytes)
        .sum(),
    );
    let parts = Parts {
        v8_heap,
        v8_code,
        array_buffers,
        external_other,
        malloc_other,
        malloc_free,
        thread_stacks,
        file_backed: from_status(st(|s| s.rss_file), "status:RssFile"),
        shared_memory: from_status(st(|s| s.rss_shmem), "status:RssShmem"),
    };
    let unexplained = rss.map(|r| r as i64 - parts.sum() as i64);
    MemoryAccounting {
        rss_bytes: rss,
        rss_source,
        anon_bytes: st(|s| s.rss_anon),
        unexplained_bytes: unexplained,
        unexplained_share: match (unexplained, rss) {
            (Some(u), Some(r)) if r > 0 => Some((u as f64 / r as f64 * 1e4).round() / 1e4),
            _ => None,
        },
        parts,
        swap_bytes: st(|s| s.vm_swap),
        v8_spaces: spaces,
        malloc: malloc_section,
        children: tree.map(|t| Children {
            count: t.descendant_count as u64,
            rss_bytes: t.descendants_rss_bytes,
            source: "processTree",
        }),
    }
}

/// `malloc_other` less what would take the anonymous parts (`other_anon`: the rest of
/// them) past `rss_anon`: allocated bytes that cannot be resident.
fn bound_by_anon(malloc_other: Part, rss_anon: Option<u64>, other_anon: u64) -> Part {
    let (Some(bytes), Some(anon)) = (malloc_other.bytes, rss_anon) else {
        return malloc_other;
    };
    let room = anon.saturating_sub(other_anon);
    if bytes <= room {
        return malloc_other;
    }
    Part::known(
        room,
        "mallinfo2:uordblks+hblkhd-external, bounded by status:RssAnon",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::procfs::parse_status;

    const MIB: u64 = 1 << 20;

    #[test]
    fn malloc_is_bounded_by_the_anonymous_memory_left() {
        let part = |b| Part::known(b, "mallinfo2:uordblks+hblkhd-external");
        // 145 MiB claimed, 105 MiB anonymous of which 13 MiB is other parts: at most
        // 92 MiB can be malloc's.
        let b = bound_by_anon(part(145 * MIB), Some(105 * MIB), 13 * MIB);
        assert_eq!(b.bytes, Some(92 * MIB));
        assert!(b.source.unwrap().contains("bounded by status:RssAnon"));
        // Within RssAnon, or without it: unchanged.
        let same = bound_by_anon(part(50 * MIB), Some(105 * MIB), 13 * MIB);
        assert_eq!(same.bytes, Some(50 * MIB));
        assert_eq!(same.source, Some("mallinfo2:uordblks+hblkhd-external"));
        assert_eq!(
            bound_by_anon(part(145 * MIB), None, 13 * MIB).bytes,
            Some(145 * MIB)
        );
    }

    fn at(spaces: bool) -> HostFigures {
        let m = MIB as f64;
        HostFigures {
            rss: Some(500.0 * m),
            heap_total: Some(60.0 * m),
            external: Some(130.0 * m),
            array_buffers: Some(100.0 * m),
            total_physical_size: Some(50.0 * m),
            external_memory: None,
            spaces: spaces.then(|| {
                vec![
                    (Some("old_space".into()), Some(40.0 * m)),
                    (Some("code_space".into()), Some(3.0 * m)),
                    (Some("code_large_object_space".into()), Some(1.0 * m)),
                ]
            }),
        }
    }

    /// A fixture process: 400 MiB resident, of which 300 anonymous.
    fn status() -> ProcStatus {
        parse_status(
            "VmRSS:\t409600 kB\nRssAnon:\t307200 kB\nRssFile:\t81920 kB\nRssShmem:\t20480 kB\nVmStk:\t136 kB\nVmSwap:\t2048 kB\n",
        )
    }

    fn malloc() -> MallocStats {
        MallocStats {
            in_use_bytes: 200 * MIB,
            free_retained_bytes: 10 * MIB,
            ..Default::default()
        }
    }

    #[test]
    fn parts_and_unexplained_add_up_to_rss_exactly() {
        let a = build(Some(&status()), &at(true), Ok(malloc()), None);
        let p = &a.parts;
        assert_eq!(a.rss_bytes, Some(400 * MIB));
        assert_eq!(a.rss_source, Some("status:VmRSS"));
        assert_eq!(p.v8_heap.bytes, Some(46 * MIB));
        assert_eq!(p.v8_code.bytes, Some(4 * MIB));
        assert_eq!(p.array_buffers.bytes, Some(100 * MIB));
        assert_eq!(p.external_other.bytes, Some(30 * MIB));
        // malloc in use less what external memory already counts.
        assert_eq!(p.malloc_other.bytes, Some(70 * MIB));
        assert_eq!(p.malloc_free.bytes, Some(10 * MIB));
        assert_eq!(p.thread_stacks.bytes, Some(136 * 1024));
        assert_eq!(p.file_backed.bytes, Some(80 * MIB));
        assert_eq!(p.shared_memory.bytes, Some(20 * MIB));
        let sum: u64 = p.sum();
        assert_eq!(
            sum as i64 + a.unexplained_bytes.unwrap(),
            (400 * MIB) as i64
        );
        assert_eq!(a.unexplained_bytes, Some((40 * MIB - 136 * 1024) as i64));
        assert_eq!(a.unexplained_share, Some(0.0997));
        assert_eq!(a.swap_bytes, Some(2 * MIB));
        assert_eq!(a.anon_bytes, Some(300 * MIB));
        assert_eq!(a.v8_spaces.as_ref().unwrap().len(), 3);
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(
            v["parts"]["v8Heap"]["source"],
            "heapStatistics.totalPhysicalSize-codeSpaces"
        );
        assert_eq!(v["malloc"]["inUseBytes"], 200 * MIB);
        assert_eq!(v["malloc"]["source"], "mallinfo2");
        assert!(v["parts"]["v8Heap"].get("reason").is_none());
    }

    #[test]
    fn unknown_parts_say_why_and_fall_into_unexplained() {
        let a = build(
            Some(&status()),
            &at(false),
            Err("mallinfo2 is not in this process's C library".into()),
            None,
        );
        let p = &a.parts;
        assert_eq!(p.v8_heap.bytes, Some(50 * MIB));
        assert!(p.v8_code.reason.as_deref().unwrap().contains("heapSpaces"));
        assert_eq!(p.malloc_other.bytes, None);
        assert!(p
            .malloc_free
            .reason
            .as_deref()
            .unwrap()
            .contains("C library"));
        assert!(a.malloc.reason.is_some() && a.malloc.stats.is_none());
        assert_eq!(
            p.sum() as i64 + a.unexplained_bytes.unwrap(),
            a.rss_bytes.unwrap() as i64
        );
        // No status: RSS is the host's figure and the procfs parts are unknown.
        let a = build(None, &at(false), Err("x".into()), None);
        assert_eq!(a.rss_source, Some("memoryUsage.rss"));
        assert_eq!(a.rss_bytes, Some(500 * MIB));
        assert!(a
            .parts
            .file_backed
            .reason
            .as_deref()
            .unwrap()
            .contains("not read"));
        assert_eq!(
            a.unexplained_bytes,
            Some((500 - 50 - 130) as i64 * MIB as i64)
        );
    }

    /// Windows: private bytes split into the V8 heap, ArrayBuffers, other external memory
    /// and the rest, which stays unexplained (no malloc figures, no stack or file split).
    #[test]
    fn private_bytes_are_split_where_there_is_no_procfs() {
        let basis = Basis {
            bytes: 300 * MIB,
            source: "GetProcessMemoryInfo:PrivateUsage",
            why_not_split: "not measured on win32 (no per-kind split of private bytes)",
        };
        let a = build_on(
            None,
            Some(basis),
            &at(false),
            Err("no mallinfo2 on win32".into()),
            None,
        );
        let p = &a.parts;
        assert_eq!(a.rss_bytes, Some(300 * MIB));
        assert_eq!(a.rss_source, Some("GetProcessMemoryInfo:PrivateUsage"));
        assert_eq!(p.v8_heap.bytes, Some(50 * MIB));
        assert_eq!(p.array_buffers.bytes, Some(100 * MIB));
        assert_eq!(p.external_other.bytes, Some(30 * MIB));
        assert_eq!(p.malloc_other.bytes, None);
        assert_eq!(p.file_backed.reason.as_deref(), Some(basis.why_not_split));
        assert_eq!(a.unexplained_bytes, Some(120 * MIB as i64));
        assert_eq!(a.unexplained_share, Some(0.4));
        assert_eq!(
            p.sum() as i64 + a.unexplained_bytes.unwrap(),
            (300 * MIB) as i64
        );
    }

    #[test]
    fn malloc_that_overcounts_is_bounded_and_the_sum_still_adds_up() {
        let mut m = malloc();
        m.in_use_bytes = 900 * MIB;
        let a = build(Some(&status()), &at(true), Ok(m), None);
        // 900 MiB of malloc cannot be resident in this process's anonymous memory.
        assert_eq!(
            a.parts.malloc_other.source,
            Some("mallinfo2:uordblks+hblkhd-external, bounded by status:RssAnon")
        );
        assert!(a.parts.malloc_other.bytes.unwrap() < 900 * MIB);
        assert!(a.unexplained_bytes.unwrap() >= 0);
        assert_eq!(
            a.parts.sum() as i64 + a.unexplained_bytes.unwrap(),
            (400 * MIB) as i64
        );
    }

    #[test]
    fn children_are_beside_rss() {
        let tree = ProcessTree {
            method: "children",
            root_pid: 1,
            processes: vec![],
            process_count: 3,
            descendant_count: 2,
            total_rss_bytes: 700 * MIB,
            descendants_rss_bytes: 300 * MIB,
            largest_descendant: None,
            truncated: false,
            truncated_reason: None,
            vanished: 0,
        };
        let a = build(Some(&status()), &at(true), Ok(malloc()), Some(&tree));
        let c = a.children.unwrap();
        assert_eq!(
            (c.count, c.rss_bytes, c.source),
            (2, 300 * MIB, "processTree")
        );
        assert_eq!(a.rss_bytes, Some(400 * MIB));
    }
}
