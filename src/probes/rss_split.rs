//! What the resident set is made of (anonymous, file-backed, shared memory) and what is
//! swapped out, each figure with the source it came from.
//!
//! The split comes from counters the kernel keeps up to date and that cost nothing to
//! read: `/proc/self/status` (`VmRSS`, `RssAnon`, `RssFile`, `RssShmem`, `VmSwap`), with
//! `/proc/self/statm` where a line is missing. `/proc/self/smaps_rollup` adds the
//! proportional figures (PSS, swap PSS), but producing it makes the kernel walk every
//! page-table entry of the process while holding its memory-map lock, the lock V8's
//! garbage collector needs to map and unmap memory: its cost grows with resident memory
//! (tens of milliseconds at 4 GiB; `npm run bench` prints it). It is therefore read only
//! below a resident size (`smapsRollupMaxRssBytes`), or always when the host opts in
//! (`smapsRollup: 'always'`); a skipped read says why.

use serde::Serialize;

use super::procfs::{ProcStatus, SmapsRollup, Statm};

/// Below this resident size `smaps_rollup` costs about as much as the rest of phase 2
/// together (about 1 ms): the fastest of 15 reads took 0.5 ms at 92 MiB and 1 ms at 143 MiB;
/// 0.7 ms at 48 MiB and 4 ms at 159 MiB in a loaded benchmark run; above it the walk grows
/// to tens of milliseconds per GiB (69 ms at 1 GiB, 109 ms at 4 GiB in that run).
pub const DEFAULT_SMAPS_ROLLUP_MAX_RSS_BYTES: u64 = 128 * 1024 * 1024;

/// When phase 2 reads `/proc/self/smaps_rollup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmapsRollupPolicy {
    /// Only while the resident size is below `max_rss_bytes` (the default).
    Auto { max_rss_bytes: u64 },
    /// Always: the host accepts the page-table walk.
    Always,
    /// Never.
    Never,
}

impl Default for SmapsRollupPolicy {
    fn default() -> Self {
        SmapsRollupPolicy::Auto {
            max_rss_bytes: DEFAULT_SMAPS_ROLLUP_MAX_RSS_BYTES,
        }
    }
}

impl SmapsRollupPolicy {
    /// `Ok` to read it, or why not. `rss` is the resident size from the cheap counters.
    pub fn decide(self, rss: Option<u64>) -> Result<(), String> {
        match self {
            SmapsRollupPolicy::Always => Ok(()),
            SmapsRollupPolicy::Never => Err("not read: options.smapsRollup is 'never'".into()),
            SmapsRollupPolicy::Auto { max_rss_bytes } => match rss {
                Some(rss) if rss < max_rss_bytes => Ok(()),
                Some(rss) => Err(format!(
                    "not read: the resident size ({}) is at or above options.smapsRollupMaxRssBytes ({}); \
                     producing smaps_rollup makes the kernel walk every page-table entry of the process \
                     under the memory-map lock the garbage collector needs (smapsRollup: 'always' reads it anyway)",
                    mib(rss),
                    mib(max_rss_bytes)
                )),
                None => Err(
                    "not read: the resident size is unknown (status and statm unreadable), so the cost \
                     of the page-table walk cannot be bounded"
                        .into(),
                ),
            },
        }
    }
}

fn mib(bytes: u64) -> String {
    crate::format::mib1(bytes as f64)
}

/// One figure and where it came from (`file:key`, e.g. `status:RssAnon`); both null when
/// no source had it. `skipped` says why a source that has it was not read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Figure {
    pub bytes: Option<u64>,
    pub source: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl Figure {
    fn first(candidates: &[(Option<u64>, &'static str)]) -> Figure {
        candidates
            .iter()
            .find_map(|(v, src)| {
                v.map(|bytes| Figure {
                    bytes: Some(bytes),
                    source: Some(*src),
                    skipped: None,
                })
            })
            .unwrap_or_default()
    }
}

/// `process.rssSplit`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RssSplit {
    pub rss: Figure,
    pub anon: Figure,
    /// With `statm` as the source this is file-backed plus shared memory.
    pub file: Figure,
    pub shmem: Figure,
    pub swap: Figure,
    pub pss: Figure,
    pub swap_pss: Figure,
}

/// Assembles the split from what was read; `smaps_skipped` is why `smaps_rollup` was not.
pub fn build(
    status: Option<&ProcStatus>,
    statm: Option<&Statm>,
    smaps: Option<&SmapsRollup>,
    smaps_skipped: Option<&str>,
) -> RssSplit {
    let st = |f: fn(&ProcStatus) -> Option<u64>| status.and_then(f);
    let sm = |k: &str| smaps.and_then(|m| m.get(k).copied());
    let from_smaps = |v: Option<u64>, src: &'static str| match smaps_skipped {
        Some(reason) if v.is_none() => Figure {
            skipped: Some(reason.to_string()),
            ..Default::default()
        },
        _ => Figure::first(&[(v, src)]),
    };
    RssSplit {
        rss: Figure::first(&[
            (st(|s| s.vm_rss), "status:VmRSS"),
            (statm.map(|m| m.resident), "statm:resident"),
        ]),
        anon: Figure::first(&[
            (st(|s| s.rss_anon), "status:RssAnon"),
            (
                statm.map(|m| m.resident.saturating_sub(m.shared)),
                "statm:resident-shared",
            ),
        ]),
        file: Figure::first(&[
            (st(|s| s.rss_file), "status:RssFile"),
            (statm.map(|m| m.shared), "statm:shared"),
        ]),
        shmem: Figure::first(&[(st(|s| s.rss_shmem), "status:RssShmem")]),
        swap: Figure::first(&[
            (st(|s| s.vm_swap), "status:VmSwap"),
            (sm("swap"), "smaps_rollup:Swap"),
        ]),
        pss: from_smaps(sm("pss"), "smaps_rollup:Pss"),
        swap_pss: from_smaps(sm("swapPss"), "smaps_rollup:SwapPss"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::procfs::{parse_smaps_rollup, parse_status};

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn policy_reads_below_the_threshold_only() {
        let p = SmapsRollupPolicy::Auto {
            max_rss_bytes: 100 * MIB,
        };
        assert_eq!(p.decide(Some(99 * MIB)), Ok(()));
        let e = p.decide(Some(4096 * MIB)).unwrap_err();
        assert!(
            e.contains("(4096.0 MiB)") && e.contains("smapsRollupMaxRssBytes (100.0 MiB)"),
            "{e}"
        );
        assert!(p.decide(Some(100 * MIB)).is_err());
        assert!(p.decide(None).unwrap_err().contains("unknown"));
        assert_eq!(SmapsRollupPolicy::Always.decide(Some(u64::MAX)), Ok(()));
        assert!(SmapsRollupPolicy::Never
            .decide(Some(1))
            .unwrap_err()
            .contains("'never'"));
        assert_eq!(
            SmapsRollupPolicy::default(),
            SmapsRollupPolicy::Auto {
                max_rss_bytes: DEFAULT_SMAPS_ROLLUP_MAX_RSS_BYTES
            }
        );
    }

    #[test]
    fn status_figures_come_first_and_name_their_source() {
        let status = parse_status(
            "VmRSS:\t4194304 kB\nRssAnon:\t4000000 kB\nRssFile:\t190000 kB\nRssShmem:\t4304 kB\nVmSwap:\t512 kB\n",
        );
        let statm = Statm {
            size: 1,
            resident: 2,
            shared: 3,
        };
        let s = build(Some(&status), Some(&statm), None, Some("too big"));
        assert_eq!(s.rss.bytes, Some(4194304 * 1024));
        assert_eq!(s.rss.source, Some("status:VmRSS"));
        assert_eq!(
            (s.anon.bytes, s.anon.source),
            (Some(4000000 * 1024), Some("status:RssAnon"))
        );
        assert_eq!(
            (s.file.bytes, s.file.source),
            (Some(190000 * 1024), Some("status:RssFile"))
        );
        assert_eq!(
            (s.shmem.bytes, s.shmem.source),
            (Some(4304 * 1024), Some("status:RssShmem"))
        );
        assert_eq!(
            (s.swap.bytes, s.swap.source),
            (Some(512 * 1024), Some("status:VmSwap"))
        );
        assert_eq!(
            s.pss,
            Figure {
                bytes: None,
                source: None,
                skipped: Some("too big".into())
            }
        );
        assert_eq!(s.swap_pss.skipped.as_deref(), Some("too big"));
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["swapPss"]["skipped"], "too big");
        assert!(v["anon"].get("skipped").is_none());
    }

    #[test]
    fn statm_and_smaps_fill_what_status_lacks() {
        // Kernels before 4.5 have no RssAnon/RssFile/RssShmem lines.
        let status = parse_status("VmRSS:\t1000 kB\n");
        let statm = Statm {
            size: 9000 * 1024,
            resident: 1000 * 1024,
            shared: 300 * 1024,
        };
        let smaps =
            parse_smaps_rollup("Rss: 1000 kB\nPss: 800 kB\nSwap: 64 kB\nSwapPss: 32 kB\n").unwrap();
        let s = build(Some(&status), Some(&statm), Some(&smaps), None);
        assert_eq!(s.rss.source, Some("status:VmRSS"));
        assert_eq!(
            (s.anon.bytes, s.anon.source),
            (Some(700 * 1024), Some("statm:resident-shared"))
        );
        assert_eq!(
            (s.file.bytes, s.file.source),
            (Some(300 * 1024), Some("statm:shared"))
        );
        assert_eq!(s.shmem, Figure::default());
        assert_eq!(
            (s.swap.bytes, s.swap.source),
            (Some(64 * 1024), Some("smaps_rollup:Swap"))
        );
        assert_eq!(
            (s.pss.bytes, s.pss.source),
            (Some(800 * 1024), Some("smaps_rollup:Pss"))
        );
        assert_eq!(s.swap_pss.bytes, Some(32 * 1024));
        let none = build(None, None, None, None);
        assert_eq!(none.rss, Figure::default());
        assert_eq!(none.pss, Figure::default());
    }
}
