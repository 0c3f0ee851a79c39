//! `lib/dump.schema.json` (read at run time by `inspect`), derived from the report types (test builds only: `schemars`
//! is a dev-dependency). The types carry their JSON shape through serde and their
//! constraints through `schemars` attributes; this module adds the parts no single type
//! owns (the schema's identity, the rules that tie phase 2's sections to
//! `collectionComplete`, fields older documents of the same version lack) and tightens
//! what a derived schema leaves open (no unknown properties; no `format` keywords, which
//! validators do not know).
//!
//! `cargo test schema::` regenerates the file and fails when it was stale, and checks that
//! every field the schema names is documented in `docs/schema.md`.

use schemars::generate::SchemaSettings;
use schemars::{json_schema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::config::{Trigger, SESSION_SHORT_LEN};
use crate::dump::input::{
    HEAP_SPACE_FIELDS, HEAP_STAT_FIELDS, MAX_HEAP_SPACES, MAX_SESSION_KEYS, MAX_SESSION_KEY_CHARS,
    MAX_SESSION_STRING_CHARS, MAX_SPACE_NAME_CHARS, MEMORY_USAGE_FIELDS,
};
use crate::report::{Report, SCHEMA_VERSION};

/// Top-level sections only phase 2 writes: absent while `collectionComplete` is false.
const PHASE2_SECTIONS: &[&str] = &[
    "process",
    "system",
    "memoryLimit",
    "cgroup",
    "pressure",
    "processTree",
    "memoryAccounting",
    "analysis",
];
/// Sections every phase-2 document has.
const PHASE2_REQUIRED: &[&str] = &["process", "analysis"];
/// `collection` figures only phase 2 writes, and those it always writes.
const PHASE2_COLLECTION: &[&str] = &["phase2Millis", "failedProbes"];
const PHASE2_COLLECTION_REQUIRED: &[&str] = &[
    "phase1Micros",
    "phase2Millis",
    "probeMicros",
    "failedProbes",
];
/// Fields added after the first documents of schema version 1: optional, so those
/// documents still validate. (JSON pointer of the object, field.)
const ADDED_LATER: &[(&str, &str)] = &[
    ("", "processStartMs"),
    ("/$defs/ProcessSection", "statm"),
    ("/$defs/ProcessSection", "rssSplit"),
    ("", "memoryAccounting"),
    ("/$defs/Analysis", "growth"),
];

// ---- schemas of fields whose serialization is hand-written ----------------------------

fn figures(fields: &[(&str, &str, bool)]) -> Schema {
    let props: Map<String, Value> = fields
        .iter()
        .map(|(_, name, _)| (name.to_string(), json!({"$ref": "#/$defs/bytesOrNull"})))
        .collect();
    let required: Vec<&str> = fields.iter().map(|(_, name, _)| *name).collect();
    json_schema!({"type": "object", "properties": props, "required": required})
}

pub fn memory_usage(_: &mut SchemaGenerator) -> Schema {
    let mut s = figures(MEMORY_USAGE_FIELDS);
    s.insert(
        "description".into(),
        "process.memoryUsage() as passed; null where the host passed a malformed value".into(),
    );
    s
}

pub fn heap_stats(_: &mut SchemaGenerator) -> Schema {
    let mut s = figures(HEAP_STAT_FIELDS);
    s.insert(
        "description".into(),
        "v8.getHeapStatistics() as passed, keys in camelCase".into(),
    );
    s
}

pub fn heap_spaces(_: &mut SchemaGenerator) -> Schema {
    let mut space = figures(HEAP_SPACE_FIELDS);
    let props = space
        .get_mut("properties")
        .unwrap()
        .as_object_mut()
        .unwrap();
    props.insert(
        "spaceName".into(),
        json!({"type": ["string", "null"], "maxLength": MAX_SPACE_NAME_CHARS}),
    );
    space
        .get_mut("required")
        .unwrap()
        .as_array_mut()
        .unwrap()
        .insert(0, "spaceName".into());
    json_schema!({"type": ["array", "null"], "maxItems": MAX_HEAP_SPACES, "items": space})
}

pub fn session(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": MAX_SESSION_KEYS,
        "propertyNames": {"maxLength": MAX_SESSION_KEY_CHARS},
        "additionalProperties": {"oneOf": [
            {"type": "number"},
            {"type": "string", "maxLength": MAX_SESSION_STRING_CHARS},
            {"type": "boolean"}
        ]}
    })
}

pub fn active_resources(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "description": "process.getActiveResourcesInfo() counted by type",
        "maxProperties": crate::dump::input::MAX_RESOURCE_TYPES,
        "propertyNames": {"maxLength": crate::dump::input::MAX_NAME_CHARS},
        "additionalProperties": {"type": "number", "minimum": 0}
    })
}

pub fn samples(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "description": "The host's own recent samples, oldest first, as passed to dump()",
        "maxItems": crate::dump::input::MAX_SAMPLES,
        "items": {
            "type": "object",
            "maxProperties": crate::dump::input::MAX_SAMPLE_KEYS,
            "propertyNames": {"maxLength": crate::dump::input::MAX_NAME_CHARS},
            "additionalProperties": {"type": "number"}
        }
    })
}

pub fn schema_version(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"const": SCHEMA_VERSION})
}

pub fn trigger(_: &mut SchemaGenerator) -> Schema {
    let all = [
        Trigger::Hard,
        Trigger::Critical,
        Trigger::Manual,
        Trigger::Watchdog,
        Trigger::Pressure,
    ]
    .map(Trigger::as_str);
    json_schema!({"enum": all})
}

pub fn risk_kind(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"enum": crate::analysis::RISK_KINDS})
}

pub fn growth_kind(_: &mut SchemaGenerator) -> Schema {
    let mut kinds: Vec<Value> = crate::analysis::GROWTH_KINDS
        .iter()
        .map(|(k, _)| json!(k))
        .collect();
    kinds.push(Value::Null);
    json_schema!({"enum": kinds})
}

pub fn growth_by_kind(_: &mut SchemaGenerator) -> Schema {
    let kinds: Vec<&str> = crate::analysis::GROWTH_KINDS
        .iter()
        .map(|(k, _)| *k)
        .collect();
    json_schema!({"type": "object", "propertyNames": {"enum": kinds}, "additionalProperties": {"type": "number"}})
}

pub fn session_id(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "pattern": format!("^[A-Za-z0-9_]{{1,{SESSION_SHORT_LEN}}}$")})
}

pub fn heap_file(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": crate::writer::name_pattern(crate::writer::HEAP_PREFIX, crate::writer::HEAP_SUFFIX)
    })
}

pub fn history(g: &mut SchemaGenerator) -> Schema {
    let sample = g.subschema_for::<crate::recorder::Sample>();
    json_schema!({"type": "array", "items": sample, "maxItems": crate::recorder::MAX_SAMPLES})
}

// ---- the document --------------------------------------------------------------------

fn walk(v: &mut Value, f: &mut impl FnMut(&mut Map<String, Value>)) {
    match v {
        Value::Object(m) => {
            f(m);
            for x in m.values_mut() {
                walk(x, f);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| walk(x, f)),
        _ => {}
    }
}

fn strip_null(p: &mut Value) {
    let Some(m) = p.as_object_mut() else { return };
    if let Some(Value::Array(alts)) = m.get("anyOf") {
        let rest: Vec<Value> = alts
            .iter()
            .filter(|a| **a != json!({"type": "null"}))
            .cloned()
            .collect();
        if rest.len() == 1 && alts.len() == 2 {
            m.remove("anyOf");
            if let Value::Object(inner) = &rest[0] {
                for (k, v) in inner {
                    m.entry(k.clone()).or_insert(v.clone());
                }
            }
        }
    }
    if let Some(Value::Array(types)) = m.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let t = types[0].clone();
            m.insert("type".into(), t);
        }
    }
}

fn pointer_mut<'a>(v: &'a mut Value, ptr: &str) -> &'a mut Map<String, Value> {
    v.pointer_mut(ptr)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object at {ptr:?} in the derived schema"))
}

fn required_of<'a>(names: impl IntoIterator<Item = &'a &'a str>) -> Vec<Value> {
    names
        .into_iter()
        .map(|k| json!({"type": "object", "required": [k]}))
        .collect()
}

/// The whole `lib/dump.schema.json`.
pub fn dump_schema() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let mut v = generator.into_root_schema_for::<Report>().to_value();
    walk(&mut v, &mut |m| {
        m.remove("format");
        if m.contains_key("properties") && !m.contains_key("additionalProperties") {
            m.insert("additionalProperties".into(), false.into());
        }
        // A field that is not required is one serde skips when it is `None`: when present
        // it is never null.
        let required: Vec<Value> = match m.get("required") {
            Some(Value::Array(r)) => r.clone(),
            _ => Vec::new(),
        };
        if let Some(Value::Object(props)) = m.get_mut("properties") {
            for (k, p) in props.iter_mut() {
                if !required.contains(&Value::String(k.clone())) {
                    strip_null(p);
                }
            }
        }
    });
    for (at, field) in ADDED_LATER {
        let o = pointer_mut(&mut v, at);
        if let Some(Value::Array(r)) = o.get_mut("required") {
            r.retain(|k| k != field);
        }
    }
    // Shared figure shape of `atTrigger`.
    pointer_mut(&mut v, "/$defs").insert(
        "bytesOrNull".into(),
        json!({"type": ["number", "null"], "minimum": 0}),
    );
    let top = v.as_object_mut().unwrap();
    top.insert("$id".into(), "dump.schema.json".into());
    top.insert(
        "title".into(),
        format!("memory-diagnostics-dumper dump document, schema version {SCHEMA_VERSION}").into(),
    );
    top.insert(
        "description".into(),
        "Phase 1 (collectionComplete false) holds what the host passed and identity facts; \
         phase 2 (collectionComplete true) adds process, system and collection figures. \
         Derived from the report types; see docs/schema.md."
            .into(),
    );
    top.insert(
        "if".into(),
        json!({"type": "object", "properties": {"collectionComplete": {"const": true}}}),
    );
    top.insert(
        "then".into(),
        json!({"required": PHASE2_REQUIRED, "properties": {"collection": {
            "type": "object", "required": PHASE2_COLLECTION_REQUIRED}}}),
    );
    top.insert(
        "else".into(),
        json!({"not": {"anyOf": required_of(PHASE2_SECTIONS)}, "properties": {"collection": {
            "type": "object", "not": {"anyOf": required_of(PHASE2_COLLECTION)}}}}),
    );
    v
}

/// The file's text: two-space indentation and a final newline.
pub fn dump_schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&dump_schema()).unwrap();
    s.push('\n');
    s
}

/// Every property name the schema defines, with a path for messages.
fn property_names(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(props)) = m.get("properties") {
                for (k, sub) in props {
                    out.push((k.clone(), format!("{at}/{k}")));
                    property_names(sub, &format!("{at}/{k}"), out);
                }
            }
            for (k, sub) in m {
                if k != "properties" {
                    property_names(sub, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| property_names(x, at, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn dump_schema_json_is_generated_from_the_types() {
        let path = root().join("lib/dump.schema.json");
        let fresh = dump_schema_text();
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != fresh {
            std::fs::write(&path, &fresh).unwrap();
            panic!(
                "lib/dump.schema.json was stale and has been regenerated from the report \
                 types: review the change and commit it"
            );
        }
    }

    #[test]
    fn every_schema_field_is_documented() {
        let doc = std::fs::read_to_string(root().join("docs/schema.md")).unwrap();
        // Names in code spans: `a.{b, c}`, `x.*` and `y[]` spell several at once.
        let mut documented = std::collections::HashSet::new();
        for (i, span) in doc.split('`').enumerate() {
            if i % 2 == 1 {
                for w in span.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                    documented.insert(w.to_string());
                }
            }
        }
        let mut names = Vec::new();
        property_names(&dump_schema(), "", &mut names);
        let missing: Vec<String> = names
            .into_iter()
            .filter(|(k, _)| !documented.contains(k))
            .map(|(_, at)| at)
            .collect();
        assert!(
            missing.is_empty(),
            "docs/schema.md does not mention these schema fields (in a code span): {missing:?}"
        );
    }

    #[test]
    fn the_schema_is_strict_where_the_types_are() {
        let v = dump_schema();
        let required = v["required"].as_array().unwrap();
        assert!(required.contains(&json!("atTrigger")));
        assert!(!required.contains(&json!("processStartMs")));
        assert!(!required.contains(&json!("process")));
        // Skipped when `None`, so never null when present.
        assert_eq!(
            v["properties"]["process"]["$ref"],
            json!("#/$defs/ProcessSection")
        );
        assert_eq!(v["additionalProperties"], false);
        assert_eq!(v["properties"]["schemaVersion"]["const"], SCHEMA_VERSION);
        let heap = &v["$defs"]["AtTrigger"]["properties"]["v8HeapStats"];
        assert_eq!(
            heap["properties"].as_object().unwrap().len(),
            HEAP_STAT_FIELDS.len()
        );
        assert!(!v.to_string().contains("\"format\""));
    }

    #[test]
    fn a_changed_type_changes_the_schema() {
        // The generator reads the types: a field renamed in Rust would be renamed here.
        let v = dump_schema();
        let tree = &v["$defs"]["ProcessTree"]["properties"];
        assert!(tree.get("rootPid").is_some());
        assert_eq!(
            v["$defs"]["Sample"]["properties"]["type"]["const"],
            json!("sample")
        );
    }
}
