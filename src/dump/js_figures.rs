//! What the JS thread adds to a dump the recorder thread wrote on its own (the pressure
//! rule's): the host's V8 figures of the moment its loop answered, and with
//! `allocationProfile` the allocation sites, in one more atomic replace. The dump was
//! complete without them; they only make it fresher.

use std::path::Path;

use crate::report::JsFigures;
use crate::writer;

/// Adds `figures` (and the allocation profile summary `allocation`, JSON from JS) to the
/// dump `file_path` of `dir`, while it is the file `expected` (the one its phase 2 landed).
pub fn attach(
    dir: &Path,
    file_path: &str,
    expected: Option<writer::FileId>,
    figures: &JsFigures,
    allocation: Option<&str>,
    max_sites: u32,
) -> Result<(), String> {
    let mut sections = vec![(
        "jsFigures",
        serde_json::to_string_pretty(figures).map_err(|e| e.to_string())?,
    )];
    if let Some(json) = allocation {
        sections.push((
            "allocationProfile",
            crate::allocation_profile::summary_text(json, max_sites)?,
        ));
    }
    let name = crate::allocation_profile::file_name(file_path);
    writer::amend::insert_sections(dir, &name, expected, &sections)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::NumberMap;

    #[test]
    fn figures_and_sites_land_in_one_replace_once_per_dump() {
        let d = std::env::temp_dir().join(format!("mdd-jsfig-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        writer::prepare_dir(&d).unwrap();
        let name = "memory-sess-2026-12-07T12-07-55-123Z-1.json";
        let doc = format!(
            "{{\n  \"schemaVersion\": 1,\n  \"pid\": {},\n  \"nearLimit\": {{\n    \"cause\": \"share\"\n  }},\n  \"collection\": {{}}\n}}\n",
            std::process::id()
        );
        std::fs::write(d.join(name), doc).unwrap();
        let figures = JsFigures {
            delay_ms: 12,
            memory_usage: NumberMap(vec![("rss", Some(5.0))]),
            v8_heap_stats: NumberMap(vec![("usedHeapSize", Some(3.0)), ("heapSizeLimit", None)]),
        };
        let sites = r#"{"status":"taken","samplingIntervalBytes":1024,"totalSampledBytes":10,"sites":[{"function":"leak","script":"/x.js","line":1,"column":1,"liveBytes":10,"share":1}]}"#;
        let path = d.join(name).to_string_lossy().into_owned();
        attach(&d, &path, None, &figures, Some(sites), 5).unwrap();
        let text = std::fs::read_to_string(d.join(name)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["jsFigures"]["delayMs"], 12);
        assert_eq!(v["jsFigures"]["v8HeapStats"]["usedHeapSize"], 3.0);
        assert!(v["jsFigures"]["v8HeapStats"]["heapSizeLimit"].is_null());
        assert_eq!(v["allocationProfile"]["sites"][0]["function"], "leak");
        assert_eq!(v["nearLimit"]["cause"], "share", "what was there stays");
        let at = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
        assert!(at("nearLimit") < at("jsFigures"));
        assert!(at("jsFigures") < at("allocationProfile"));
        assert!(at("allocationProfile") < at("collection"));
        // Once per dump: a second answer of the JS thread is refused, the file unchanged.
        let err = attach(&d, &path, None, &figures, None, 5).unwrap_err();
        assert!(err.contains("already has jsFigures"), "{err}");
        assert_eq!(std::fs::read_to_string(d.join(name)).unwrap(), text);
        // A summary that is not one is refused before anything is written.
        let other = "memory-sess-2026-12-07T12-07-55-123Z-2.json";
        std::fs::write(
            d.join(other),
            format!(
                "{{\"pid\":{},\n  \"collection\": {{}}}}",
                std::process::id()
            ),
        )
        .unwrap();
        let before = std::fs::read_to_string(d.join(other)).unwrap();
        assert!(attach(&d, other, None, &figures, Some("{\"evil\":1}"), 5).is_err());
        assert_eq!(std::fs::read_to_string(d.join(other)).unwrap(), before);
        let _ = std::fs::remove_dir_all(&d);
    }

    // File identities are unix's here (Windows gives none: `FileId::of`).
    #[cfg(unix)]
    #[test]
    fn only_the_file_its_phase_2_landed_is_amended() {
        // Outside pass: a document of the same pid renamed over the dump (another session,
        // trigger and number) was amended as if it were the pressure dump.
        let d = std::env::temp_dir().join(format!("mdd-jsfig-id-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        writer::prepare_dir(&d).unwrap();
        let name = "memory-sess-2026-12-07T12-07-55-123Z-3.json";
        let doc = |trigger: &str| {
            format!(
                "{{\n  \"pid\": {},\n  \"trigger\": \"{trigger}\",\n  \"collection\": {{}}\n}}\n",
                std::process::id()
            )
        };
        std::fs::write(d.join(name), doc("pressure")).unwrap();
        let (_, landed) = writer::read_own_file(&d.join(name), 1 << 20).unwrap();
        let planted = d.join("planted");
        std::fs::write(&planted, doc("manual")).unwrap();
        std::fs::rename(&planted, d.join(name)).unwrap();
        let figures = JsFigures {
            delay_ms: 1,
            memory_usage: NumberMap(vec![]),
            v8_heap_stats: NumberMap(vec![]),
        };
        let err = attach(&d, name, landed, &figures, None, 5).unwrap_err();
        assert!(err.contains("no longer the file"), "{err}");
        assert_eq!(
            std::fs::read_to_string(d.join(name)).unwrap(),
            doc("manual")
        );
        // The file it landed, still there: amended.
        let (_, now) = writer::read_own_file(&d.join(name), 1 << 20).unwrap();
        attach(&d, name, now, &figures, None, 5).unwrap();
        assert!(std::fs::read_to_string(d.join(name))
            .unwrap()
            .contains("jsFigures"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
