//! The module graph has no cycles (test builds only), seen file by file (`probes::platform`,
//! a `mod.rs` as its folder's module) through `crate::` and `super::` paths, brace groups
//! included: each module file's non-test code may
//! name another module only if that one does not, directly or through others, name it
//! back. Types shared by several modules live in the module that owns them (the
//! document's in `report`, file names in `writer`, configuration in `config`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Test-only modules and the crate root are not part of the layering.
const SKIP: [&str; 3] = ["lib", "contract", "test_hooks"];

/// Every module file under `src/` by its path (`probes::platform`; a `mod.rs` is its folder's
/// module, `probes`), with its file.
fn module_files_by_path() -> BTreeMap<String, std::path::PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            if p.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = p.strip_prefix(&src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|l| l == "mod") {
                parts.pop();
            }
            if SKIP.contains(&parts[0].as_str()) {
                continue;
            }
            out.insert(parts.join("::"), p);
        }
    }
    out
}

/// The module a path names: the longest prefix of it that is a module file.
fn resolve(files: &BTreeMap<String, std::path::PathBuf>, parts: &[&str]) -> Option<String> {
    (1..=parts.len())
        .rev()
        .map(|k| parts[..k].join("::"))
        .find(|m| files.contains_key(m))
}

/// The paths a `crate::` or `super::` reference names, at `text`'s start (after the prefix):
/// one path, or each of a `{…}` group's.
fn paths_at(text: &str) -> Vec<Vec<&str>> {
    fn ident(t: &str) -> Vec<&str> {
        let n = t
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(t.len());
        t[..n]
            .trim_end_matches(':')
            .split("::")
            .filter(|p| !p.is_empty())
            .collect()
    }
    match text.strip_prefix('{') {
        Some(group) => group[..group.find('}').unwrap_or(group.len())]
            .split(',')
            .map(|item| ident(item.trim()))
            .filter(|p| !p.is_empty())
            .collect(),
        None => vec![ident(text)],
    }
}

/// Module file → the module files its non-test code names, through `crate::` and `super::`
/// paths (a folder's `mod.rs` naming its own children by plain paths is its structure, not
/// a dependency).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = module_files_by_path();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, path) in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let code = text.split("#[cfg(test)]\nmod ").next().unwrap();
        // `super::` is the enclosing module: `probes` from `probes/platform.rs`, the crate
        // root from `probes/mod.rs` (module `probes`) and from a top-level file.
        let own: Vec<&str> = m.split("::").collect();
        let names = g.entry(m.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            for p in paths_at(&code[i + 7..]) {
                if let Some(r) = resolve(&files, &p).filter(|r| r != m) {
                    names.insert(r);
                }
            }
        }
        let mut from = 0;
        while let Some(k) = code[from..].find("super::") {
            let at = from + k;
            // A `super::super::` chain is read once, from its first `super::`.
            if code[..at].ends_with("super::") {
                from = at + 7;
                continue;
            }
            let mut up = 0;
            let mut rest = &code[at..];
            while let Some(r) = rest.strip_prefix("super::") {
                up += 1;
                rest = r;
            }
            from = at + 7 * up;
            let base = &own[..own.len().saturating_sub(up)];
            for p in paths_at(rest) {
                let full: Vec<&str> = base.iter().copied().chain(p).collect();
                if let Some(r) = resolve(&files, &full).filter(|r| r != m) {
                    names.insert(r);
                }
            }
        }
    }
    g
}

#[test]
fn no_module_cycles() {
    let g = graph();
    // File level: the probes are files of their own, and `super::` paths count.
    assert!(
        g.contains_key("report") && g.contains_key("binding") && g.contains_key("probes::platform"),
        "{g:?}"
    );
    assert!(g["probes::limit"].contains("probes::system"), "{g:?}");
    assert!(g["probes::procfs"].contains("probes"), "{g:?}");
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
        if m != "binding" && !m.starts_with("binding::") {
            assert!(
                !names
                    .iter()
                    .any(|n| n == "binding" || n.starts_with("binding::")),
                "{m} names the binding"
            );
        }
    }
    let files = module_files_by_path();
    assert!(files.len() > 20, "{files:?}");
    for (m, f) in files {
        if m != "binding" && !m.starts_with("binding::") {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(!text.contains("napi::"), "{} uses Node-API", f.display());
        }
    }
}
