//! Adds top-level sections to one of this process's dump files after phase 2, by one more
//! atomic replace: what the JS thread adds later (allocation sites, the V8 figures of a
//! pressure dump). The file is read back from disk, so that what other steps added stays,
//! and replaced only while its name still holds the file read.

use std::path::Path;

use super::{parse_dump_name, read_own_file, replace_own, FileId};

/// A dump file larger than this is not one of ours to amend.
pub const MAX_DUMP_BYTES: u64 = 8 << 20;

/// Inserts each `(key, value)` of `sections` (values as JSON text) into the dump
/// `dir/name` before its top-level `collection` key, where the report type puts them: a
/// round trip through `serde_json::Value` would sort every key of the document. Refused
/// when the file is not this process's dump, is not the file `expected` (when known: the
/// one its phase 2 landed), or already has one of the keys.
pub fn insert_sections(
    dir: &Path,
    name: &str,
    expected: Option<FileId>,
    sections: &[(&str, String)],
) -> Result<(), String> {
    if parse_dump_name(name).is_none() || name.contains(['/', '\\']) {
        return Err(format!("{name} is not a dump file name"));
    }
    let path = dir.join(name);
    let (bytes, id) = read_own_file(&path, MAX_DUMP_BYTES)
        .map_err(|e| format!("could not read {}: {e}", path.display()))?;
    if expected.is_some() && id != expected {
        return Err(format!(
            "{} is no longer the file this dump's phase 2 wrote",
            path.display()
        ));
    }
    let doc: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a dump: {e}", path.display()))?;
    let obj = doc
        .as_object()
        .ok_or_else(|| format!("{} is not a dump", path.display()))?;
    if obj.get("pid").and_then(|p| p.as_u64()) != Some(std::process::id() as u64) {
        return Err(format!("{} is another process's dump", path.display()));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| e.to_string())?;
    const AT: &str = "\n  \"collection\": ";
    let at = text
        .find(AT)
        .ok_or_else(|| format!("{} has no top-level collection section", path.display()))?;
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str(&text[..at]);
    for (key, value) in sections {
        if obj.contains_key(*key) {
            return Err(format!("{} already has {key}", path.display()));
        }
        out.push_str(&format!("\n  \"{key}\": {},", value.replace('\n', "\n  ")));
    }
    out.push_str(&text[at..]);
    if serde_json::from_str::<serde_json::Value>(&out).is_err() {
        return Err(format!("{} could not be amended as JSON", path.display()));
    }
    replace_own(dir, name, id, out.as_bytes())
        .map(|_| ())
        .map_err(|e| e.to_string())
}
