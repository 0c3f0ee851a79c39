//! `analysis.growth`: which kind of memory grew across the points a dump knows (this
//! process's first dump, the recorder's samples, this dump), by how much, and where to look
//! next for that kind. The points come from dumps and recorder samples alike, so the
//! trend is computed apart from the risk rules, which only read its result.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{mib, GROWTH_MIN_BYTES};

/// One moment's figures, from a dump (its accounting) or a recorder sample. Bytes; each
/// may be unknown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GrowthPoint {
    pub epoch_ms: i64,
    pub rss: Option<f64>,
    pub anon: Option<f64>,
    pub file: Option<f64>,
    pub shmem: Option<f64>,
    /// The V8 heap's resident size (`totalPhysicalSize`, code included; else `heapTotal`).
    pub v8_heap: Option<f64>,
    pub heap_used: Option<f64>,
    /// All external memory, ArrayBuffers included (`memoryUsage().external`).
    pub external: Option<f64>,
    pub array_buffers: Option<f64>,
    pub malloc_in_use: Option<f64>,
    pub malloc_free: Option<f64>,
    pub children: Option<f64>,
    /// Open handles (Windows) or descriptors; not part of the memory kinds.
    pub handles: Option<f64>,
}

/// The kinds growth is attributed to: together (without children) they are RSS.
pub const GROWTH_KINDS: [(&str, &str); 6] = [
    ("jsHeap", "JS heap"),
    ("external", "ArrayBuffers and external"),
    ("native", "native"),
    ("fileBacked", "file-backed"),
    ("sharedMemory", "shared memory"),
    ("children", "child processes"),
];

impl GrowthPoint {
    /// Anonymous memory: `RssAnon`, else RSS less what is file-backed and shared.
    fn anon_bytes(&self) -> Option<f64> {
        self.anon.or(match (self.rss, self.file) {
            (Some(r), Some(f)) => Some(r - f - self.shmem.unwrap_or(0.0)),
            _ => None,
        })
    }

    pub fn kind_bytes(&self, kind: &str) -> Option<f64> {
        match kind {
            "jsHeap" => self.v8_heap,
            "external" => self.external.or(self.array_buffers),
            // What is anonymous and neither V8's heap nor external memory: malloc, stacks,
            // addons' own mappings.
            "native" => Some(
                self.anon_bytes().or(self.rss)?
                    - self.v8_heap?
                    - self.external.or(self.array_buffers).unwrap_or(0.0),
            ),
            "fileBacked" => self.file,
            "sharedMemory" => self.shmem,
            "children" => self.children,
            _ => None,
        }
    }
}

/// `analysis.growth`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Growth {
    /// The kind that grew most, at least [`GROWTH_MIN_BYTES`]: a key of [`GROWTH_KINDS`].
    #[cfg_attr(test, schemars(schema_with = "crate::contract::schema::growth_kind"))]
    pub kind: Option<&'static str>,
    pub label: Option<&'static str>,
    pub bytes: Option<f64>,
    pub seconds: Option<f64>,
    pub points: usize,
    /// Each kind's growth from the first to the last point that has it.
    #[cfg_attr(
        test,
        schemars(schema_with = "crate::contract::schema::growth_by_kind")
    )]
    pub by_kind: BTreeMap<&'static str, f64>,
    pub min_bytes: f64,
    pub evidence: String,
    /// What to look at for that kind.
    pub advice: Option<&'static str>,
}

/// What to look at when a kind grows.
pub fn growth_advice(kind: &str) -> &'static str {
    match kind {
        "jsHeap" => "JS objects are kept alive: the allocation sites name the code that allocated them (options.allocationProfile, in allocationProfile.sites of every dump; about 1 MiB of RSS; docs/allocation-profiles.md); two heap snapshots some minutes apart (options.heapSnapshot, or --heapsnapshot-near-heap-limit) show what retains them (caches, histories, listeners, closures).",
        "external" => "ArrayBuffers and external memory grew: look at Buffers, streams and fetch bodies that are kept or never consumed, and typed arrays in caches; a heap snapshot shows the JS objects that hold them (their backing stores are not in the JS heap).",
        "native" => "Native memory grew outside the JS heap and ArrayBuffers: look at native addons, zlib streams and compressors that are never closed, Intl (ICU) objects created per call, and worker threads; heap snapshots do not show it. Malloc's free-but-retained part is fragmentation (MALLOC_ARENA_MAX=2 or jemalloc help).",
        "fileBacked" => "File-backed memory grew: memory-mapped files (databases, large modules, caches read through mmap); the kernel can drop these pages under pressure, so this is rarely the cause of an OOM.",
        "sharedMemory" => "Shared memory grew: tmpfs, memfd or SysV segments this process maps (browsers, GPU drivers, databases).",
        "children" => "Child processes grew: see processTree for which ones (tools, language servers, shells started by the process) and end or limit them.",
        _ => "",
    }
}

fn signed_mib(b: f64) -> String {
    if b >= 0.0 {
        format!("+{}", mib(b))
    } else {
        mib(b)
    }
}

/// Which kind of memory grew from the first point to the last (ordered by time).
pub fn growth(points: &[GrowthPoint]) -> Growth {
    let mut by_kind = BTreeMap::new();
    let mut spans = BTreeMap::new();
    for (kind, _) in GROWTH_KINDS {
        let first = points.iter().find(|p| p.kind_bytes(kind).is_some());
        let last = points.iter().rev().find(|p| p.kind_bytes(kind).is_some());
        if let (Some(a), Some(b)) = (first, last) {
            if b.epoch_ms > a.epoch_ms {
                by_kind.insert(
                    kind,
                    b.kind_bytes(kind).unwrap_or(0.0) - a.kind_bytes(kind).unwrap_or(0.0),
                );
                spans.insert(kind, (a.clone(), b.clone()));
            }
        }
    }
    let none = |evidence: String| Growth {
        kind: None,
        label: None,
        bytes: None,
        seconds: None,
        points: points.len(),
        by_kind: by_kind.clone(),
        min_bytes: GROWTH_MIN_BYTES,
        evidence,
        advice: None,
    };
    if points.len() < 2 || by_kind.is_empty() {
        return none(format!(
            "{} point(s) with figures: growth needs two",
            points.len()
        ));
    }
    let label = |k: &str| {
        GROWTH_KINDS
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, l)| *l)
            .unwrap_or("?")
    };
    let top = GROWTH_KINDS
        .iter()
        .filter_map(|(k, _)| by_kind.get(k).map(|b| (*k, *b)))
        .filter(|(_, b)| *b >= GROWTH_MIN_BYTES)
        .fold(None::<(&'static str, f64)>, |m, (k, b)| match m {
            Some((_, mb)) if mb >= b => m,
            _ => Some((k, b)),
        });
    let listing = GROWTH_KINDS
        .iter()
        .filter_map(|(k, l)| by_kind.get(k).map(|b| format!("{l} {}", signed_mib(*b))))
        .collect::<Vec<_>>()
        .join(", ");
    let Some((kind, bytes)) = top else {
        // Anonymous memory that grew, with no V8 figures to split it (a host that never
        // called observe() or dump(), and the recorder's own dumps): said, never "nothing".
        let anon_first = points.iter().find_map(GrowthPoint::anon_bytes);
        let anon_last = points.iter().rev().find_map(GrowthPoint::anon_bytes);
        if let (Some(a), Some(b)) = (anon_first, anon_last) {
            if b - a >= GROWTH_MIN_BYTES && !by_kind.contains_key("native") {
                return none(format!(
                    "anonymous memory grew {} over {} points, but no V8 figures split it into JS heap, ArrayBuffers and native memory (the host never called observe() or dump()); kinds measured: {listing}",
                    signed_mib(b - a),
                    points.len()
                ));
            }
        }
        return none(format!(
            "nothing grew by {} or more over {} points: {listing}",
            mib(GROWTH_MIN_BYTES),
            points.len()
        ));
    };
    let (a, b) = &spans[kind];
    let seconds = (b.epoch_ms - a.epoch_ms) as f64 / 1000.0;
    let d = |f: fn(&GrowthPoint) -> Option<f64>| match (f(a), f(b)) {
        (Some(x), Some(y)) => Some(y - x),
        _ => None,
    };
    let mut detail = match kind {
        "jsHeap" => format!(
            "V8 heap resident {} → {}{}",
            mib(a.v8_heap.unwrap_or(0.0)),
            mib(b.v8_heap.unwrap_or(0.0)),
            d(|p| p.heap_used)
                .map(|u| format!(", heap used {}", signed_mib(u)))
                .unwrap_or_default()
        ),
        "external" => format!(
            "external {} → {}{}",
            mib(a.kind_bytes("external").unwrap_or(0.0)),
            mib(b.kind_bytes("external").unwrap_or(0.0)),
            d(|p| p.array_buffers)
                .map(|u| format!(", of which ArrayBuffers {}", signed_mib(u)))
                .unwrap_or_default()
        ),
        "native" => {
            let mut t = format!(
                "anonymous memory {} while the V8 heap changed {} and external memory {}",
                d(|p| p.anon_bytes().or(p.rss))
                    .map(signed_mib)
                    .unwrap_or_default(),
                d(|p| p.v8_heap).map(signed_mib).unwrap_or_default(),
                d(|p| p.external.or(p.array_buffers))
                    .map(signed_mib)
                    .unwrap_or_else(|| "?".into())
            );
            match (
                d(|p| p.malloc_in_use),
                d(|p| p.external.or(p.array_buffers)),
            ) {
                (Some(m), ext) => {
                    t.push_str(&format!(
                    "; malloc in use {} beyond external memory (mallinfo2), free-but-retained {}",
                    signed_mib(m - ext.unwrap_or(0.0)),
                    d(|p| p.malloc_free).map(signed_mib).unwrap_or_else(|| "?".into())
                ))
                }
                (None, _) => t.push_str(
                    "; no malloc figures at both ends (mallinfo2 unavailable or a recorder sample)",
                ),
            }
            t
        }
        "fileBacked" => format!(
            "RssFile {} → {}",
            mib(a.file.unwrap_or(0.0)),
            mib(b.file.unwrap_or(0.0))
        ),
        "sharedMemory" => format!(
            "RssShmem {} → {}",
            mib(a.shmem.unwrap_or(0.0)),
            mib(b.shmem.unwrap_or(0.0))
        ),
        _ => format!(
            "descendants' RSS {} → {}",
            mib(a.children.unwrap_or(0.0)),
            mib(b.children.unwrap_or(0.0))
        ),
    };
    detail.push_str(&format!(" (all kinds: {listing})"));
    Growth {
        kind: Some(kind),
        label: Some(label(kind)),
        bytes: Some(bytes),
        seconds: Some(seconds),
        points: points.len(),
        by_kind,
        min_bytes: GROWTH_MIN_BYTES,
        evidence: format!(
            "{} grew {} over {} s ({} points): {detail}",
            label(kind),
            signed_mib(bytes),
            crate::format::fixed(seconds, 1),
            points.len()
        ),
        advice: Some(growth_advice(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::point;
    use super::super::MIB;
    use super::*;

    #[test]
    fn growth_names_the_kind_that_grew_most_from_the_minimum() {
        let m = MIB;
        // Native: anonymous memory +200 MiB, V8 heap and external flat, malloc +200 MiB.
        let pts = [
            point(0, 100.0 * m, 30.0 * m, 5.0 * m, Some(20.0 * m)),
            point(1_000, 150.0 * m, 31.0 * m, 5.0 * m, None),
            point(4_000, 300.0 * m, 30.0 * m, 5.0 * m, Some(220.0 * m)),
        ];
        let g = growth(&pts);
        assert_eq!(
            (g.kind, g.bytes, g.seconds),
            (Some("native"), Some(200.0 * m), Some(4.0))
        );
        assert!(
            g.evidence
                .contains("malloc in use +200 MiB beyond external memory"),
            "{}",
            g.evidence
        );
        assert!(g.advice.unwrap().contains("zlib"));
        // External: the growth of anonymous memory is all ArrayBuffers.
        let pts = [
            point(0, 100.0 * m, 30.0 * m, 5.0 * m, None),
            point(2_000, 300.0 * m, 30.0 * m, 205.0 * m, None),
        ];
        let g = growth(&pts);
        assert_eq!(g.kind, Some("external"));
        assert_eq!(g.by_kind["native"], 0.0);
        assert!(g.advice.unwrap().contains("Buffers"));
        // JS heap.
        let pts = [
            point(0, 100.0 * m, 30.0 * m, 5.0 * m, None),
            point(2_000, 300.0 * m, 230.0 * m, 5.0 * m, None),
        ];
        let g = growth(&pts);
        assert_eq!(g.kind, Some("jsHeap"));
        assert!(g.evidence.contains("heap used +160 MiB"), "{}", g.evidence);
        // Both sides of the minimum.
        let just = |b: f64| {
            growth(&[
                point(0, 100.0 * m, 30.0 * m, 5.0 * m, None),
                point(1, 100.0 * m + b, 30.0 * m, 5.0 * m, None),
            ])
        };
        assert_eq!(just(GROWTH_MIN_BYTES).kind, Some("native"));
        let g = just(GROWTH_MIN_BYTES - 1.0);
        assert_eq!(g.kind, None);
        assert!(
            g.evidence.starts_with("nothing grew by 16 MiB or more"),
            "{}",
            g.evidence
        );
        // One point is not growth; a fall is not growth.
        assert_eq!(growth(&pts[..1]).kind, None);
        assert!(growth(&pts[..1]).evidence.contains("needs two"));
        assert_eq!(
            growth(&[
                pts[1].clone(),
                GrowthPoint {
                    epoch_ms: 5_000,
                    ..pts[0].clone()
                }
            ])
            .kind,
            None
        );
    }
}
