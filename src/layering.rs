//! The module graph has no cycles (test builds only): each module's non-test code may
//! name another module only if that one does not, directly or through others, name it
//! back. Types shared by several modules live in the module that owns them (the
//! document's in `report`, file names in `writer`, configuration in `options`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module → the crate modules its non-test code names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = Vec::new();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            for f in std::fs::read_dir(&p).unwrap() {
                files.push(f.unwrap().path());
            }
        } else {
            files.push(p);
        }
    }
    // Test-only modules and the crate root are not part of the layering.
    let skip = [
        "lib",
        "schema",
        "contract",
        "goldens",
        "layering",
        "test_hooks",
    ];
    for f in files
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
    {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .iter()
            .next()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if skip.contains(&top.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        let names = g.entry(top.clone()).or_default();
        for part in code.split("crate::").skip(1) {
            let m: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if m != top && !skip.contains(&m.as_str()) {
                names.insert(m);
            }
        }
    }
    g
}

#[test]
fn no_module_cycles() {
    let g = graph();
    assert!(
        g.contains_key("report") && g.contains_key("binding"),
        "{g:?}"
    );
    // Depth-first search for a path back to the start from each module.
    let mut cycles = Vec::new();
    for start in g.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((m, path)) = stack.pop() {
            for n in g.get(&m).into_iter().flatten() {
                if n == start {
                    cycles.push(format!("{} -> {start}", path.join(" -> ")));
                } else if seen.insert(n.clone()) {
                    let mut p = path.clone();
                    p.push(n.clone());
                    stack.push((n.clone(), p));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "module cycles: {cycles:#?}");
}

#[test]
fn the_binding_is_the_only_module_that_names_node_api() {
    let g = graph();
    for (m, names) in &g {
        if m != "binding" && m != "settler" {
            assert!(!names.contains("binding"), "{m} names the binding");
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for m in [
        "dumper",
        "collector",
        "writer",
        "report",
        "options",
        "input",
        "analysis",
        "recorder",
    ] {
        for f in module_files(&src, m) {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(!text.contains("napi::"), "{} uses Node-API", f.display());
        }
    }
}

/// The files of module `m`: `src/<m>.rs`, or every `.rs` file in `src/<m>/`.
fn module_files(src: &Path, m: &str) -> Vec<std::path::PathBuf> {
    let file = src.join(format!("{m}.rs"));
    if file.is_file() {
        return vec![file];
    }
    let files: Vec<_> = std::fs::read_dir(src.join(m))
        .unwrap_or_else(|e| panic!("module {m}: neither {m}.rs nor {m}/: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
        .collect();
    assert!(!files.is_empty(), "module {m}: no files in {m}/");
    files
}
