//! Allocation profiles (`options.allocationProfile`): which code holds the live heap.
//!
//! V8's sampling heap profiler is reachable only from JS (the inspector protocol), so the
//! `lib/dumper/allocation-profile.js` keeps it running and, once a dump's phase 2 is on disk, fetches the
//! profile, summarizes it into sites and hands the summary here. This module checks that
//! summary (bounds, names and places only) and adds it to the dump by one more atomic
//! replace of the file, read back from disk so that what other steps added (a heap
//! snapshot's outcome) stays. Nothing here runs on phase 1's path.

use std::path::Path;

use crate::report::AllocationProfileSection;
use crate::writer;

pub use crate::config::{
    AllocationProfileConfig, DEFAULT_MAX_SITES, DEFAULT_SAMPLING_INTERVAL_BYTES,
    MAX_FUNCTION_CHARS, MAX_PATH_FRAMES, MAX_SAMPLING_INTERVAL_BYTES, MAX_SCRIPT_CHARS, MAX_SITES,
    MIN_FREE_HEAP_BYTES, MIN_SAMPLING_INTERVAL_BYTES,
};

pub use crate::writer::amend::MAX_DUMP_BYTES;

pub use crate::places::{clean_frame, cut};

/// Bounds a summary from JS: at most `max_sites` sites of at most 8 frames, names and
/// scripts cut, the home directory shown as `~`, shares recomputed from the sizes.
pub fn sanitize(
    mut s: AllocationProfileSection,
    max_sites: u32,
    home: Option<&str>,
) -> AllocationProfileSection {
    if s.status != "taken" {
        s.status = "skipped".into();
        s.sites.clear();
        if let Some(why) = s.skipped.as_mut() {
            cut(why, 400);
        }
        return s;
    }
    s.skipped = None;
    s.sites
        .sort_by_key(|site| std::cmp::Reverse(site.live_bytes));
    s.sites.truncate(max_sites.min(MAX_SITES) as usize);
    let total = s.total_sampled_bytes.unwrap_or(0);
    for site in &mut s.sites {
        clean_frame(&mut site.frame, home);
        site.path.truncate(MAX_PATH_FRAMES);
        for f in &mut site.path {
            clean_frame(f, home);
        }
        site.share = if total > 0 {
            (site.live_bytes as f64 / total as f64 * 1e4).round() / 1e4
        } else {
            0.0
        };
    }
    s
}

/// Adds `section` to the dump `dir/name` (one of this process's dumps, with no
/// `allocationProfile` yet) by one more atomic replace ([`writer::amend`]).
pub fn attach(dir: &Path, name: &str, section: &AllocationProfileSection) -> Result<(), String> {
    let text = serde_json::to_string_pretty(section).map_err(|e| e.to_string())?;
    writer::amend::insert_sections(dir, name, None, &[("allocationProfile", text)]).map_err(|e| {
        e.replace(
            "already has allocationProfile",
            "already has an allocation profile",
        )
    })
}

/// [`attach`] for a summary as the JS side sends it: JSON, checked against the section's
/// type (unknown fields refused), bounded by [`sanitize`], for the dump at `file_path`
/// (only its name is used: the file must be in `dir`).
pub fn attach_summary(
    dir: &Path,
    file_path: &str,
    json: &str,
    max_sites: u32,
) -> Result<(), String> {
    let text = summary_text(json, max_sites)?;
    writer::amend::insert_sections(
        dir,
        &file_name(file_path),
        None,
        &[("allocationProfile", text)],
    )
    .map_err(|e| {
        e.replace(
            "already has allocationProfile",
            "already has an allocation profile",
        )
    })
}

/// A summary as the JS side sends it (JSON, checked against the section's type, unknown
/// fields refused), bounded by [`sanitize`], as the section's JSON text.
pub fn summary_text(json: &str, max_sites: u32) -> Result<String, String> {
    let parsed: AllocationProfileSection = serde_json::from_str(json)
        .map_err(|e| format!("not an allocation profile summary: {e}"))?;
    let home = crate::places::home();
    let clean = sanitize(parsed, max_sites, home.as_deref());
    serde_json::to_string_pretty(&clean).map_err(|e| e.to_string())
}

/// The file name of `file_path` (a dump must be in the dumper's own directory).
pub fn file_name(file_path: &str) -> String {
    Path::new(file_path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{AllocationSite, StackFrame};

    fn frame(function: &str, script: &str, line: u32) -> StackFrame {
        StackFrame {
            function: function.into(),
            script: script.into(),
            line: Some(line),
            column: Some(1),
        }
    }

    fn section(n: usize) -> AllocationProfileSection {
        AllocationProfileSection {
            status: "taken".into(),
            skipped: Some("ignored".into()),
            sampling_interval_bytes: 1024,
            total_sampled_bytes: Some(1000),
            fetch_millis: Some(1.5),
            sites: (0..n)
                .map(|i| AllocationSite {
                    frame: frame(&"f".repeat(300), "/home/alice/app/x.js", i as u32 + 1),
                    live_bytes: i as u64 * 10,
                    share: 0.0,
                    path: (0..12)
                        .map(|k| frame("caller", "/home/alice/app/y.js", k))
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn sanitize_bounds_sorts_and_hides_the_home_directory() {
        let s = sanitize(section(60), 5, Some("/home/alice"));
        assert_eq!(s.sites.len(), 5);
        assert_eq!(s.skipped, None);
        assert_eq!(s.sites[0].live_bytes, 590);
        assert_eq!(s.sites[0].share, 0.59);
        assert_eq!(s.sites[0].frame.script, "~/app/x.js");
        assert_eq!(
            s.sites[0].frame.function.chars().count(),
            MAX_FUNCTION_CHARS
        );
        assert_eq!(s.sites[0].path.len(), MAX_PATH_FRAMES);
        assert_eq!(s.sites[0].path[0].script, "~/app/y.js");
        let skipped = sanitize(
            AllocationProfileSection {
                status: "weird".into(),
                ..section(3)
            },
            5,
            None,
        );
        assert_eq!(
            (skipped.status.as_str(), skipped.sites.len()),
            ("skipped", 0)
        );
    }

    #[test]
    fn attach_adds_the_section_to_our_own_dump_only() {
        let d = std::env::temp_dir().join(format!("mdd-alloc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        writer::prepare_dir(&d).unwrap();
        let name = "memory-sess-2026-11-18T12-07-55-123Z-1.json";
        let doc = format!(
            "{{\n  \"schemaVersion\": 1,\n  \"pid\": {},\n  \"heapSnapshot\": {{\n    \"status\": \"written\"\n  }},\n  \"collection\": {{}}\n}}\n",
            std::process::id()
        );
        std::fs::write(d.join(name), doc).unwrap();
        attach(&d, name, &sanitize(section(2), 10, None)).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join(name)).unwrap()).unwrap();
        assert_eq!(v["allocationProfile"]["status"], "taken");
        assert_eq!(v["allocationProfile"]["sites"][0]["liveBytes"], 10);
        assert_eq!(
            v["heapSnapshot"]["status"], "written",
            "what was there stays"
        );
        let text = std::fs::read_to_string(d.join(name)).unwrap();
        assert!(text.find("\"allocationProfile\"").unwrap() < text.find("\"collection\"").unwrap());
        assert!(
            text.find("\"heapSnapshot\"").unwrap() < text.find("\"allocationProfile\"").unwrap()
        );
        // Once per dump.
        assert!(attach(&d, name, &section(1))
            .unwrap_err()
            .contains("already has"));
        // Another process's dump, and names that are not dumps, are refused.
        let other = "memory-sess-2026-11-18T12-07-55-123Z-2.json";
        std::fs::write(d.join(other), "{\"pid\":1,\n  \"collection\": {}}").unwrap();
        assert!(attach(&d, other, &section(1))
            .unwrap_err()
            .contains("another process"));
        assert!(attach(&d, "../etc/passwd", &section(1)).is_err());
        assert!(attach(&d, "recorder-x.jsonl", &section(1)).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}
