//! Streaming redaction of V8 heap snapshots (`.heapsnapshot` JSON).
//!
//! A snapshot is `{"snapshot":{"meta":…,"node_count":…,"edge_count":…},"nodes":[…],
//! "edges":[…],"trace_function_infos":[…],…,"strings":[…]}`. Nodes and edges are flat
//! arrays of integers whose layout `snapshot.meta` describes; names are indices into
//! `strings`, which V8 writes last. A node of a string type (`string`, `concatenated
//! string`, `sliced string`, …) has its *value* as its name; every other node's name is a
//! constructor, class, closure, script or system name, and edges of every type except
//! `element` and `hidden` are named by property, variable or internal names.
//!
//! One pass, never more than a buffer of the file in memory: the nodes, edges and trace
//! function infos mark which `strings` entries serve as names; when `strings` arrives,
//! those entries are copied and every other entry (the values of strings in the heap,
//! and anything no name uses) becomes `"<redacted N chars>"`. Counts and indices are
//! checked on the way, so the output is a snapshot that loads, or an error.

use std::io::{self, BufRead, Read, Write};

/// What a redaction pass saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedactStats {
    pub nodes: u64,
    pub edges: u64,
    pub strings: u64,
    pub strings_redacted: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Why a pass failed: malformed input, an inconsistent snapshot, the byte limit, or I/O.
#[derive(Debug)]
pub enum RedactError {
    Format(String),
    TooLarge(u64),
    Io(io::Error),
}

impl std::fmt::Display for RedactError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedactError::Format(m) => write!(f, "not a heap snapshot this version can read: {m}"),
            RedactError::TooLarge(n) => write!(f, "the output would exceed {n} bytes"),
            RedactError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RedactError {}

impl From<io::Error> for RedactError {
    fn from(e: io::Error) -> Self {
        RedactError::Io(e)
    }
}

type R<T> = Result<T, RedactError>;

fn bad<T>(m: impl Into<String>) -> R<T> {
    Err(RedactError::Format(m.into()))
}

/// Keys, meta objects and numbers are small; anything longer is not a snapshot.
const MAX_KEY_BYTES: usize = 256;
const MAX_META_BYTES: usize = 1 << 20;
const MAX_NUMBER_BYTES: usize = 32;

/// A growable bit set over string indices.
#[derive(Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn set(&mut self, i: u64) {
        let w = (i / 64) as usize;
        if w >= self.0.len() {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << (i % 64);
    }
    fn get(&self, i: u64) -> bool {
        self.0
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// The output side: counts bytes and refuses to go past `limit`.
struct Out<W: Write> {
    w: W,
    n: u64,
    limit: u64,
}

impl<W: Write> Out<W> {
    fn put(&mut self, b: &[u8]) -> R<()> {
        self.n += b.len() as u64;
        if self.n > self.limit {
            return Err(RedactError::TooLarge(self.limit));
        }
        self.w.write_all(b)?;
        Ok(())
    }
}

/// The input side: a buffered reader with one byte of look-ahead.
struct In<B: BufRead> {
    r: B,
    n: u64,
}

impl<B: BufRead> In<B> {
    fn peek(&mut self) -> R<Option<u8>> {
        Ok(self.r.fill_buf()?.first().copied())
    }
    fn bump(&mut self) {
        self.r.consume(1);
        self.n += 1;
    }
    fn next(&mut self) -> R<u8> {
        match self.peek()? {
            Some(b) => {
                self.bump();
                Ok(b)
            }
            None => bad("unexpected end of file"),
        }
    }
    /// The next byte that is not JSON whitespace.
    fn skip_ws(&mut self) -> R<Option<u8>> {
        loop {
            match self.peek()? {
                Some(b' ' | b'\n' | b'\r' | b'\t') => self.bump(),
                other => return Ok(other),
            }
        }
    }
    fn expect(&mut self, want: u8) -> R<()> {
        match self.skip_ws()? {
            Some(b) if b == want => {
                self.bump();
                Ok(())
            }
            Some(b) => bad(format!(
                "expected '{}' at byte {}, found '{}'",
                want as char, self.n, b as char
            )),
            None => bad("unexpected end of file"),
        }
    }
}

/// Reads a whole JSON string (the opening quote already consumed) into `buf`, raw.
fn read_string_raw<B: BufRead>(inp: &mut In<B>, buf: &mut Vec<u8>, max: usize) -> R<()> {
    loop {
        let b = inp.next()?;
        if b == b'"' {
            return Ok(());
        }
        buf.push(b);
        if b == b'\\' {
            buf.push(inp.next()?);
        }
        if buf.len() > max {
            return bad(format!(
                "a string longer than {max} bytes where a key belongs"
            ));
        }
    }
}

/// Streams a JSON string (the opening quote already consumed) to `out` when given,
/// returning its length in characters (UTF-16 escapes count one each).
fn stream_string<B: BufRead, W: Write>(inp: &mut In<B>, mut out: Option<&mut Out<W>>) -> R<u64> {
    let mut chars = 0u64;
    loop {
        let buf = inp.r.fill_buf()?;
        if buf.is_empty() {
            return bad("unexpected end of file inside a string");
        }
        // Copy up to the next quote or backslash in one go.
        let stop = buf.iter().position(|&b| b == b'"' || b == b'\\');
        let run = stop.unwrap_or(buf.len());
        chars += buf[..run].iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64;
        if let Some(o) = out.as_deref_mut() {
            o.put(&buf[..run])?;
        }
        let at = stop.map(|i| buf[i]);
        inp.r.consume(run);
        inp.n += run as u64;
        match at {
            None => continue,
            Some(b'"') => {
                inp.bump();
                return Ok(chars);
            }
            Some(_) => {
                inp.bump();
                let e = inp.next()?;
                chars += 1;
                if let Some(o) = out.as_deref_mut() {
                    o.put(&[b'\\', e])?;
                }
                if e == b'u' {
                    for _ in 0..4 {
                        let h = inp.next()?;
                        if !h.is_ascii_hexdigit() {
                            return bad("a malformed \\u escape");
                        }
                        if let Some(o) = out.as_deref_mut() {
                            o.put(&[h])?;
                        }
                    }
                }
            }
        }
    }
}

/// Copies any JSON value verbatim (whitespace dropped), keeping its bytes in `keep` too
/// when given (bounded by `max`).
fn copy_value<B: BufRead, W: Write>(
    inp: &mut In<B>,
    out: &mut Out<W>,
    mut keep: Option<&mut Vec<u8>>,
    max: usize,
) -> R<()> {
    let mut depth = 0usize;
    let mut tmp = Vec::new();
    loop {
        let Some(b) = inp.skip_ws()? else {
            return bad("unexpected end of file");
        };
        inp.bump();
        tmp.clear();
        tmp.push(b);
        match b {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                read_string_raw(inp, &mut tmp, usize::MAX)?;
                tmp.push(b'"');
            }
            b',' | b':' => {}
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                while let Some(c) = inp.peek()? {
                    if c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'-') {
                        tmp.push(c);
                        inp.bump();
                    } else {
                        break;
                    }
                }
            }
            other => return bad(format!("unexpected '{}' at byte {}", other as char, inp.n)),
        }
        out.put(&tmp)?;
        if let Some(k) = keep.as_deref_mut() {
            k.extend_from_slice(&tmp);
            if k.len() > max {
                return bad("snapshot.meta is implausibly large");
            }
        }
        if depth == 0 {
            return Ok(());
        }
    }
}

/// Streams an array of non-negative integers, copying it and handing each to `f`.
fn stream_numbers<B: BufRead, W: Write>(
    inp: &mut In<B>,
    out: &mut Out<W>,
    what: &str,
    mut f: impl FnMut(u64) -> R<()>,
) -> R<u64> {
    inp.expect(b'[')?;
    out.put(b"[")?;
    let mut count = 0u64;
    let mut num = Vec::with_capacity(MAX_NUMBER_BYTES);
    if inp.skip_ws()? == Some(b']') {
        inp.bump();
        out.put(b"]")?;
        return Ok(0);
    }
    loop {
        inp.skip_ws()?;
        num.clear();
        let mut v: u64 = 0;
        let mut integral = true;
        while let Some(c) = inp.peek()? {
            if c.is_ascii_digit() {
                v = v.saturating_mul(10).saturating_add((c - b'0') as u64);
            } else if matches!(c, b'-' | b'.' | b'e' | b'E' | b'+') {
                integral = false;
            } else {
                break;
            }
            num.push(c);
            inp.bump();
            if num.len() > MAX_NUMBER_BYTES {
                return bad(format!("an overlong number in {what}"));
            }
        }
        if num.is_empty() {
            return bad(format!("expected a number in {what} at byte {}", inp.n));
        }
        if !integral {
            return bad(format!("a non-integer in {what}"));
        }
        out.put(&num)?;
        f(v)?;
        count += 1;
        match inp.skip_ws()? {
            Some(b',') => {
                inp.bump();
                out.put(b",")?;
            }
            Some(b']') => {
                inp.bump();
                out.put(b"]")?;
                return Ok(count);
            }
            _ => return bad(format!("expected ',' or ']' in {what} at byte {}", inp.n)),
        }
    }
}

/// The layout `snapshot.meta` describes.
struct Layout {
    node_fields: usize,
    node_type: usize,
    node_name: usize,
    node_edge_count: usize,
    /// Per node type index: a string type (its name is a value).
    string_types: Vec<bool>,
    edge_fields: usize,
    edge_type: usize,
    edge_name: usize,
    edge_to: usize,
    /// Per edge type index: named by a string index (not `element` or `hidden`).
    named_edge_types: Vec<bool>,
    /// Indices of the string fields of a trace function info, and the field count.
    trace_fields: usize,
    trace_name_fields: Vec<usize>,
    node_count: Option<u64>,
    edge_count: Option<u64>,
}

fn field_list(meta: &serde_json::Value, key: &str) -> Vec<String> {
    meta.get(key)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn enum_list(meta: &serde_json::Value, key: &str, at: usize) -> Option<Vec<String>> {
    meta.get(key)?.as_array()?.get(at)?.as_array().map(|a| {
        a.iter()
            .map(|s| s.as_str().unwrap_or("").to_string())
            .collect()
    })
}

/// Node types whose name is a value from the heap rather than a name from the code: the
/// string types (`string`, `concatenated string`, `sliced string`, …) and `regexp`. The
/// other types V8 writes (`hidden`, `array`, `object`, `code`, `closure`, `number`,
/// `native`, `synthetic`, `symbol`, `bigint`, `object shape`) are named by constructors,
/// functions, internal and system names, or a symbol's description; numbers and bigints
/// carry no value unless numeric values are asked for, which this library never does.
fn is_value_named(node_type: &str) -> bool {
    node_type == "string" || node_type.ends_with(" string") || node_type == "regexp"
}

impl Layout {
    fn from_snapshot(bytes: &[u8]) -> R<Layout> {
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| RedactError::Format(format!("snapshot: {e}")))?;
        let meta = v
            .get("meta")
            .ok_or_else(|| RedactError::Format("snapshot.meta is missing".into()))?;
        let nf = field_list(meta, "node_fields");
        let ef = field_list(meta, "edge_fields");
        let pos = |list: &[String], name: &str, what: &str| -> R<usize> {
            list.iter()
                .position(|f| f == name)
                .ok_or_else(|| RedactError::Format(format!("{what} has no '{name}'")))
        };
        let node_type = pos(&nf, "type", "meta.node_fields")?;
        let edge_type = pos(&ef, "type", "meta.edge_fields")?;
        let node_types = enum_list(meta, "node_types", node_type)
            .ok_or_else(|| RedactError::Format("meta.node_types lists no types".into()))?;
        let edge_types = enum_list(meta, "edge_types", edge_type)
            .ok_or_else(|| RedactError::Format("meta.edge_types lists no types".into()))?;
        let tf = field_list(meta, "trace_function_info_fields");
        Ok(Layout {
            node_fields: nf.len(),
            node_name: pos(&nf, "name", "meta.node_fields")?,
            node_edge_count: pos(&nf, "edge_count", "meta.node_fields")?,
            node_type,
            // A string's name is its value, and a regular expression's is its source (a
            // pattern built from a secret, to scrub it, say, holds the secret).
            string_types: node_types.iter().map(|t| is_value_named(t)).collect(),
            edge_fields: ef.len(),
            edge_name: pos(&ef, "name_or_index", "meta.edge_fields")?,
            edge_to: pos(&ef, "to_node", "meta.edge_fields")?,
            edge_type,
            named_edge_types: edge_types
                .iter()
                .map(|t| t != "element" && t != "hidden")
                .collect(),
            trace_fields: tf.len(),
            trace_name_fields: tf
                .iter()
                .enumerate()
                .filter(|(_, f)| *f == "name" || *f == "script_name")
                .map(|(i, _)| i)
                .collect(),
            node_count: v.get("node_count").and_then(|n| n.as_u64()),
            edge_count: v.get("edge_count").and_then(|n| n.as_u64()),
        })
    }
}

/// The marker that replaces a redacted string value.
pub fn marker(chars: u64) -> String {
    format!("<redacted {chars} chars>")
}

/// Copies the snapshot from `input` to `output`. With `redact`, every `strings` entry
/// that no name uses becomes [`marker`]; without, strings are copied as they are (the
/// pass still checks the snapshot). Fails, having written at most `limit` bytes, when
/// the output would be larger.
pub fn copy_snapshot(
    input: impl Read,
    output: impl Write,
    redact: bool,
    limit: u64,
) -> Result<RedactStats, RedactError> {
    let mut inp = In {
        r: io::BufReader::with_capacity(256 * 1024, input),
        n: 0,
    };
    let mut out = Out {
        w: io::BufWriter::with_capacity(256 * 1024, output),
        n: 0,
        limit,
    };
    let mut stats = RedactStats::default();
    let mut layout: Option<Layout> = None;
    let mut names = Bits::default();
    // The largest string index any node or edge refers to, plus one.
    let mut max_ref: u64 = 0;
    let mut node_values: u64 = 0;
    let mut edges_from_nodes: u64 = 0;
    let mut seen_nodes = false;
    let mut seen_edges = false;
    let mut seen_strings = false;
    inp.expect(b'{')?;
    out.put(b"{")?;
    let mut first = true;
    let mut key = Vec::new();
    loop {
        match inp.skip_ws()? {
            Some(b'}') if !first => {
                inp.bump();
                out.put(b"}\n")?;
                break;
            }
            Some(b',') if !first => {
                inp.bump();
                out.put(b",\n")?;
            }
            _ if first => {}
            _ => return bad(format!("expected ',' or '}}' at byte {}", inp.n)),
        }
        first = false;
        inp.expect(b'"')?;
        key.clear();
        read_string_raw(&mut inp, &mut key, MAX_KEY_BYTES)?;
        inp.expect(b':')?;
        out.put(b"\"")?;
        out.put(&key)?;
        out.put(b"\":")?;
        match key.as_slice() {
            b"snapshot" => {
                let mut raw = Vec::new();
                copy_value(&mut inp, &mut out, Some(&mut raw), MAX_META_BYTES)?;
                layout = Some(Layout::from_snapshot(&raw)?);
            }
            b"nodes" => {
                let l = layout
                    .as_ref()
                    .ok_or_else(|| RedactError::Format("nodes before snapshot.meta".into()))?;
                let mut rec = vec![0u64; l.node_fields];
                let mut i = 0usize;
                node_values = stream_numbers(&mut inp, &mut out, "nodes", |v| {
                    rec[i] = v;
                    i += 1;
                    if i == l.node_fields {
                        i = 0;
                        let name = rec[l.node_name];
                        let ty = rec[l.node_type] as usize;
                        if ty >= l.string_types.len() {
                            return bad(format!("a node of unknown type {ty}"));
                        }
                        if !l.string_types[ty] {
                            names.set(name);
                        }
                        max_ref = max_ref.max(name + 1);
                        edges_from_nodes += rec[l.node_edge_count];
                    }
                    Ok(())
                })?;
                if !node_values.is_multiple_of(l.node_fields as u64) {
                    return bad("nodes is not a whole number of node records");
                }
                stats.nodes = node_values / l.node_fields as u64;
                if l.node_count.is_some_and(|c| c != stats.nodes) {
                    return bad(format!(
                        "snapshot.node_count says {}, nodes holds {}",
                        l.node_count.unwrap_or(0),
                        stats.nodes
                    ));
                }
                seen_nodes = true;
            }
            b"edges" => {
                let l = layout
                    .as_ref()
                    .ok_or_else(|| RedactError::Format("edges before snapshot.meta".into()))?;
                if !seen_nodes {
                    return bad("edges before nodes");
                }
                let mut rec = vec![0u64; l.edge_fields];
                let mut i = 0usize;
                let values = stream_numbers(&mut inp, &mut out, "edges", |v| {
                    rec[i] = v;
                    i += 1;
                    if i == l.edge_fields {
                        i = 0;
                        let ty = rec[l.edge_type] as usize;
                        if ty >= l.named_edge_types.len() {
                            return bad(format!("an edge of unknown type {ty}"));
                        }
                        if l.named_edge_types[ty] {
                            let name = rec[l.edge_name];
                            names.set(name);
                            max_ref = max_ref.max(name + 1);
                        }
                        let to = rec[l.edge_to];
                        if !to.is_multiple_of(l.node_fields as u64) || to >= node_values {
                            return bad(format!("an edge to {to}, which is not a node"));
                        }
                    }
                    Ok(())
                })?;
                if !values.is_multiple_of(l.edge_fields as u64) {
                    return bad("edges is not a whole number of edge records");
                }
                stats.edges = values / l.edge_fields as u64;
                if stats.edges != edges_from_nodes || l.edge_count.is_some_and(|c| c != stats.edges)
                {
                    return bad(format!(
                        "edges holds {} edges, the nodes count {edges_from_nodes}",
                        stats.edges
                    ));
                }
                seen_edges = true;
            }
            b"trace_function_infos" => {
                let l = layout.as_ref().ok_or_else(|| {
                    RedactError::Format("trace_function_infos before snapshot.meta".into())
                })?;
                let mut i = 0usize;
                stream_numbers(&mut inp, &mut out, "trace_function_infos", |v| {
                    if l.trace_name_fields.contains(&i) {
                        names.set(v);
                        max_ref = max_ref.max(v + 1);
                    }
                    i += 1;
                    if i >= l.trace_fields.max(1) {
                        i = 0;
                    }
                    Ok(())
                })?;
            }
            b"strings" => {
                if !seen_nodes || !seen_edges {
                    return bad("strings before nodes and edges");
                }
                seen_strings = true;
                inp.expect(b'[')?;
                out.put(b"[")?;
                let mut index = 0u64;
                if inp.skip_ws()? == Some(b']') {
                    inp.bump();
                } else {
                    loop {
                        inp.expect(b'"')?;
                        if index > 0 {
                            out.put(b",\n")?;
                        }
                        if !redact || names.get(index) {
                            out.put(b"\"")?;
                            stream_string(&mut inp, Some(&mut out))?;
                            out.put(b"\"")?;
                        } else {
                            let chars = stream_string::<_, io::Sink>(&mut inp, None)?;
                            out.put(format!("\"{}\"", marker(chars)).as_bytes())?;
                            stats.strings_redacted += 1;
                        }
                        index += 1;
                        match inp.skip_ws()? {
                            Some(b',') => inp.bump(),
                            Some(b']') => {
                                inp.bump();
                                break;
                            }
                            _ => {
                                return bad(format!(
                                    "expected ',' or ']' in strings at byte {}",
                                    inp.n
                                ))
                            }
                        }
                    }
                }
                out.put(b"]")?;
                stats.strings = index;
                if max_ref > index {
                    return bad(format!(
                        "a name refers to string {}, strings holds {index}",
                        max_ref - 1
                    ));
                }
            }
            _ => copy_value(&mut inp, &mut out, None, 0)?,
        }
    }
    if inp.skip_ws()?.is_some() {
        return bad("data after the snapshot object");
    }
    if !seen_strings {
        return bad("no strings table");
    }
    out.w.flush()?;
    stats.bytes_in = inp.n;
    stats.bytes_out = out.n;
    Ok(stats)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small snapshot in V8's layout: a root, an object of class `SecretHolder` with a
    /// property `token` pointing at a string node whose value is a canary, a closure, a
    /// concatenated string and an array element.
    pub fn sample() -> String {
        let meta = r#"{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic","concatenated string","sliced string","symbol","bigint","object shape"],"string","number","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"],"trace_function_info_fields":["function_id","name","script_name","script_id","line","column"],"trace_node_fields":["id","function_info_index","count","size","children"],"sample_fields":["timestamp_us","last_assigned_id"],"location_fields":["object_index","script_id","line","column"]},"node_count":6,"edge_count":5,"trace_function_count":1}"#;
        // strings: 0 "", 1 "(GC roots)", 2 "SecretHolder", 3 "token", 4 canary,
        // 5 "leakyClosure", 6 "a\"b\u00e9\n", 7 "tail", 8 "file:///app.js", 9 unused
        // nodes (7 fields): root, SecretHolder, string(canary), closure, cons, string(6)
        let nodes = [
            [9, 1, 1, 0, 2, 0, 0],
            [3, 2, 3, 32, 3, 0, 0],
            [2, 4, 5, 40, 0, 0, 0],
            [5, 5, 7, 32, 0, 0, 0],
            [10, 6, 9, 32, 0, 0, 0],
            [2, 6, 11, 16, 0, 0, 0],
        ];
        let edges = [
            [3, 2, 7],  // root -internal "SecretHolder"-> holder
            [1, 0, 21], // root -element 0-> closure
            [2, 3, 14], // holder.token -> canary
            [2, 7, 28], // holder.tail -> cons
            [4, 1, 35], // holder -hidden 1-> string(6)
        ];
        fn flat<const N: usize>(rows: &[[u64; N]]) -> String {
            let row = |r: &[u64; N]| r.map(|v| v.to_string()).join(",");
            rows.iter().map(row).collect::<Vec<_>>().join(",\n")
        }
        let e = flat(&edges);
        format!(
            "{{\"snapshot\":{meta},\n\"nodes\":[{}],\n\"edges\":[{e}],\n\"trace_function_infos\":[1,5,8,1,2,3],\n\"trace_tree\":[],\n\"samples\":[],\n\"locations\":[1,2,3,4],\n\"strings\":[\"\",\"(GC roots)\",\"SecretHolder\",\"token\",\"sk-CANARY-42\",\"leakyClosure\",\"a\\\"b\\u00e9\\n\",\"tail\",\"file:///app.js\",\"unused ☃\"]}}",
            flat(&nodes)
        )
    }

    fn run(input: &str, redact: bool) -> Result<(serde_json::Value, RedactStats), RedactError> {
        let mut out = Vec::new();
        let stats = copy_snapshot(input.as_bytes(), &mut out, redact, u64::MAX)?;
        assert_eq!(stats.bytes_out, out.len() as u64);
        Ok((serde_json::from_slice(&out).expect("valid JSON"), stats))
    }

    #[test]
    fn string_and_regexp_nodes_are_named_by_values() {
        for t in ["string", "concatenated string", "sliced string", "regexp"] {
            assert!(is_value_named(t), "{t}");
        }
        for t in [
            "hidden",
            "array",
            "object",
            "code",
            "closure",
            "number",
            "native",
            "synthetic",
            "symbol",
            "bigint",
            "object shape",
        ] {
            assert!(!is_value_named(t), "{t}");
        }
    }

    #[test]
    fn values_are_redacted_and_names_kept() {
        let (v, stats) = run(&sample(), true).unwrap();
        let s: Vec<&str> = v["strings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(
            s,
            [
                "<redacted 0 chars>",
                "(GC roots)",
                "SecretHolder",
                "token",
                "<redacted 12 chars>",
                "leakyClosure",
                "<redacted 5 chars>",
                "tail",
                "file:///app.js",
                "<redacted 8 chars>",
            ]
        );
        assert_eq!(
            (
                stats.nodes,
                stats.edges,
                stats.strings,
                stats.strings_redacted
            ),
            (6, 5, 10, 4)
        );
        // Everything else is as it was.
        let orig: serde_json::Value = serde_json::from_str(&sample()).unwrap();
        for k in [
            "snapshot",
            "nodes",
            "edges",
            "trace_function_infos",
            "locations",
        ] {
            assert_eq!(v[k], orig[k], "{k}");
        }
    }

    #[test]
    fn without_redaction_the_copy_is_the_same_document() {
        let (v, stats) = run(&sample(), false).unwrap();
        assert_eq!(
            v,
            serde_json::from_str::<serde_json::Value>(&sample()).unwrap()
        );
        assert_eq!(stats.strings_redacted, 0);
    }

    #[test]
    fn a_string_value_that_is_also_a_name_stays() {
        // The canary node's name becomes "token", which a property edge also uses.
        let s = sample().replace("2,4,5,40", "2,3,5,40");
        let (v, _) = run(&s, true).unwrap();
        assert_eq!(v["strings"][3], "token");
        assert_eq!(v["strings"][4], "<redacted 12 chars>");
    }

    #[test]
    fn inconsistent_snapshots_are_refused() {
        let cases = [
            (
                sample().replace("\"node_count\":6", "\"node_count\":7"),
                "node_count",
            ),
            (
                sample()
                    .replace("[3,2,7]", "[3,2,8]")
                    .replace("3,2,7,", "3,2,8,"),
                "not a node",
            ),
            (
                sample()
                    .replace(",\"unused ☃\"]", "]")
                    .replace("\"file:///app.js\"", "\"x\"")
                    .replace("1,5,8,1,2,3", "1,5,9,1,2,3"),
                "refers to string 9",
            ),
            (
                sample().replace("[9,1,1,0,2,0,0", "[9,1,1,0,3,0,0"),
                "the nodes count 6",
            ),
            (
                sample().replace("\"strings\":[", "\"strings\":{"),
                "expected '['",
            ),
            (sample()[..sample().len() - 40].to_string(), "end of file"),
            (
                sample().replace("\"type\",\"name\",\"id\"", "\"kind\",\"name\",\"id\""),
                "no 'type'",
            ),
        ];
        for (input, want) in cases {
            let e = run(&input, true).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn output_limit_is_enforced() {
        let mut out = Vec::new();
        let e = copy_snapshot(sample().as_bytes(), &mut out, true, 100).unwrap_err();
        assert!(matches!(e, RedactError::TooLarge(100)), "{e}");
        assert!(out.len() <= 100 + 256 * 1024);
    }

    #[test]
    fn long_strings_stream_in_pieces() {
        // A value far longer than the read buffer, with escapes across buffer borders.
        let long = "ab\\\"cé".repeat(200_000);
        let s = sample().replace("sk-CANARY-42", &long);
        let (v, _) = run(&s, true).unwrap();
        assert_eq!(v["strings"][4], "<redacted 1000000 chars>");
        let (v, _) = run(&s, false).unwrap();
        assert_eq!(v["strings"][4].as_str().unwrap().len(), 200_000 * 6);
    }
}
