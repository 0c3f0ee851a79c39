//! The names of the files we write, how they are made and how they are parsed: dumps
//! (`memory-…json`), heap snapshots (`heap-…heapsnapshot`), recorder files
//! (`recorder-…jsonl`) and temporary files (`.<final>.L<token>.tmp`). Retention and the
//! sweep touch only what parses as ours here, so these rules live apart from the code that
//! writes or removes files, and the JS implementation reads them through the contract.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::timefmt::UtcTime;

pub const DUMP_PREFIX: &str = "memory-";
pub const DUMP_SUFFIX: &str = ".json";
pub const TEMP_SUFFIX: &str = ".tmp";
pub const HEAP_PREFIX: &str = "heap-";
pub const HEAP_SUFFIX: &str = ".heapsnapshot";
pub const RECORDER_PREFIX: &str = "recorder-";
pub const RECORDER_SUFFIX: &str = ".jsonl";
/// Appended to a recorder file's name when it is rotated.
pub const ROTATED_SUFFIX: &str = ".1";
/// Length of `UtcTime::file_stamp()`: `2026-11-24T12-07-55-123Z`.
const STAMP_LEN: usize = 24;

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// 16 hex digits that no other writer, in any process, namespace or host, will pick:
/// std's per-process random hash keys over a counter and the time.
pub fn random_token() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u64(TEMP_SEQ.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// `memory-<session8>-<stamp>-<n>.json`
pub fn dump_file_name(session_short: &str, at: &UtcTime, dump_number: u32) -> String {
    format!(
        "{DUMP_PREFIX}{session_short}-{}-{dump_number}{DUMP_SUFFIX}",
        at.file_stamp()
    )
}

/// `heap-<session8>-<stamp>-<n>.heapsnapshot`: the heap snapshot that follows dump `n`.
pub fn heap_file_name(session_short: &str, at: &UtcTime, dump_number: u32) -> String {
    format!(
        "{HEAP_PREFIX}{session_short}-{}-{dump_number}{HEAP_SUFFIX}",
        at.file_stamp()
    )
}

/// `recorder-<session8>-<pid>-<token8>.jsonl`: one per process and session.
pub fn recorder_file_name(session_short: &str) -> String {
    format!(
        "{RECORDER_PREFIX}{session_short}-{}-{}{RECORDER_SUFFIX}",
        std::process::id(),
        &random_token()[..8]
    )
}

/// The name a recorder file takes when it is rotated.
pub fn rotated_name(name: &str) -> String {
    format!("{name}{ROTATED_SUFFIX}")
}

/// The regular expression (JavaScript and JSON Schema syntax) that matches every name
/// [`dump_file_name`] (with `DUMP_PREFIX`, `DUMP_SUFFIX`) or [`heap_file_name`] (with
/// `HEAP_PREFIX`, `HEAP_SUFFIX`) and [`candidate_name`] give. Its groups: the short
/// session id, the stamp, the dump number and the copy `k` (absent for the first name).
pub fn name_pattern(prefix: &str, suffix: &str) -> String {
    let esc = |s: &str| s.replace('.', "\\.");
    format!(
        "^{}([A-Za-z0-9_]{{1,{}}})-(\\d{{4}}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d-\\d{{3}}Z)-(0|[1-9]\\d{{0,8}})(?:\\.([2-9]|[1-9]\\d{{1,8}}))?{}$",
        esc(prefix),
        crate::config::SESSION_SHORT_LEN,
        esc(suffix)
    )
}

/// The `k`-th name to try for a file whose first choice is `base`: `base` itself for
/// k = 1, then `memory-…-<n>.<k>.json` (or `heap-…-<n>.<k>.heapsnapshot`).
pub fn candidate_name(base: &str, k: u32) -> String {
    if k <= 1 {
        return base.to_string();
    }
    for suffix in [DUMP_SUFFIX, HEAP_SUFFIX] {
        if let Some(stem) = base.strip_suffix(suffix) {
            return format!("{stem}.{k}{suffix}");
        }
    }
    format!("{base}.{k}")
}

/// Parses exactly our own heap snapshot names (the dump names' shape, `heap-` and
/// `.heapsnapshot` around it).
pub fn parse_heap_name(name: &str) -> Option<DumpName> {
    let body = name.strip_prefix(HEAP_PREFIX)?.strip_suffix(HEAP_SUFFIX)?;
    parse_dump_name(&format!("{DUMP_PREFIX}{body}{DUMP_SUFFIX}"))
}

/// A parsed dump file name, ordered by time, then number, then copy, then session.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DumpName {
    pub stamp: String,
    pub dump_number: u32,
    /// 1 for the first choice, k for `-<n>.<k>.json`.
    pub copy: u32,
    pub session_short: String,
}

/// 1 to 9 decimal digits without a leading zero (or `0` itself): [`NUMBER_PATTERN`].
fn digits(s: &str) -> Option<u32> {
    if s.is_empty()
        || s.len() > 9
        || (s.len() > 1 && s.starts_with('0'))
        || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

/// What [`digits`] accepts, as a regular expression.
pub const NUMBER_PATTERN: &str = "(?:0|[1-9]\\d{0,8})";

/// Parses exactly our own dump names; anything else is `None` and is never touched.
pub fn parse_dump_name(name: &str) -> Option<DumpName> {
    let body = name.strip_prefix(DUMP_PREFIX)?.strip_suffix(DUMP_SUFFIX)?;
    let (rest, tail) = body.rsplit_once('-')?;
    let (number, copy) = match tail.split_once('.') {
        Some((n, k)) => {
            let k = digits(k)?;
            if k < 2 {
                return None;
            }
            (n, k)
        }
        None => (tail, 1),
    };
    let dump_number = digits(number)?;
    if rest.len() < STAMP_LEN + 2 {
        return None;
    }
    let (session_dash, stamp) = rest.split_at(rest.len() - STAMP_LEN);
    let session_short = session_dash.strip_suffix('-')?;
    if session_short.is_empty()
        || session_short.len() > 8
        || !session_short
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        || !is_stamp(stamp)
    {
        return None;
    }
    Some(DumpName {
        stamp: stamp.to_string(),
        dump_number,
        copy,
        session_short: session_short.to_string(),
    })
}

fn is_stamp(s: &str) -> bool {
    // 2026-11-24T12-07-55-123Z
    const SHAPE: &[u8; STAMP_LEN] = b"dddd-dd-ddTdd-dd-dd-dddZ";
    s.len() == STAMP_LEN
        && s.bytes().zip(SHAPE.iter()).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            other => c == *other,
        })
}

/// How a sweep may decide that a temporary file's writer no longer needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempKind {
    /// `L<token>`: its writer holds a lock on it ([`crate::writer::filelock`]); free of the lock means abandoned.
    Locked,
    /// `A<token>` (the JS implementation) or `<pid>-<n>` (older versions): by age only.
    Aged,
}

/// `.<final>.L<token>.tmp`: hidden, ours by shape, unique across processes and hosts.
pub(super) fn temp_name(final_name: &str) -> String {
    format!(".{final_name}.L{}{TEMP_SUFFIX}", random_token())
}

/// Parses our temporary names.
pub fn parse_temp_name(name: &str) -> Option<TempKind> {
    let inner = name.strip_prefix('.')?.strip_suffix(TEMP_SUFFIX)?;
    let (final_name, tag) = inner.rsplit_once('.')?;
    parse_dump_name(final_name).or_else(|| parse_heap_name(final_name))?;
    let hex = |s: &str| s.len() >= 8 && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(t) = tag.strip_prefix('L') {
        return hex(t).then_some(TempKind::Locked);
    }
    if let Some(t) = tag.strip_prefix('A') {
        return hex(t).then_some(TempKind::Aged);
    }
    let (pid, seq) = tag.split_once('-')?;
    digits(seq)?;
    digits(pid)?;
    Some(TempKind::Aged)
}

/// `recorder-<id>.jsonl` or its rotated `recorder-<id>.jsonl.1`, where `<id>` is up to 64
/// letters, digits, `_` and `-` (this version writes `<session8>-<pid>-<token>`).
pub fn is_recorder_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("recorder-") else {
        return false;
    };
    let id = rest
        .strip_suffix(".jsonl")
        .or_else(|| rest.strip_suffix(".jsonl.1"));
    id.is_some_and(|s| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::test_support::*;

    #[test]
    fn names_round_trip() {
        let n = dump_file_name("abc_123", &stamp(1_795_003_675_123), 7);
        assert_eq!(n, "memory-abc_123-2026-11-18T12-07-55-123Z-7.json");
        let p = parse_dump_name(&n).unwrap();
        assert_eq!((p.session_short.as_str(), p.dump_number), ("abc_123", 7));
        assert_eq!(p.stamp, "2026-11-18T12-07-55-123Z");
        let t = temp_name(&n);
        assert!(t.starts_with(".memory-abc_123-") && t.ends_with(".tmp"));
        assert_eq!(parse_temp_name(&t), Some(TempKind::Locked));
        assert_eq!(
            parse_temp_name(&format!(".{n}.A0123456789abcdef.tmp")),
            Some(TempKind::Aged)
        );
        assert_eq!(
            parse_temp_name(&format!(".{n}.123-4.tmp")),
            Some(TempKind::Aged)
        );
        let c = candidate_name(&n, 3);
        assert_eq!(c, "memory-abc_123-2026-11-18T12-07-55-123Z-7.3.json");
        let p = parse_dump_name(&c).unwrap();
        assert_eq!((p.dump_number, p.copy), (7, 3));
        assert_eq!(candidate_name(&n, 1), n);
        assert!(parse_dump_name("memory-abc-2026-11-18T12-07-55-123Z-7.1.json").is_none());
        assert!(parse_dump_name("memory-abc-2026-11-18T12-07-55-123Z-7.x.json").is_none());
    }

    #[test]
    fn heap_names() {
        let n = heap_file_name("abc_123", &stamp(1_795_003_675_123), 7);
        assert_eq!(n, "heap-abc_123-2026-11-18T12-07-55-123Z-7.heapsnapshot");
        assert_eq!(parse_heap_name(&n).unwrap().dump_number, 7);
        let c = candidate_name(&n, 2);
        assert_eq!(c, "heap-abc_123-2026-11-18T12-07-55-123Z-7.2.heapsnapshot");
        assert_eq!(parse_heap_name(&c).unwrap().copy, 2);
        assert!(parse_dump_name(&n).is_none());
        assert!(parse_heap_name("memory-abc_123-2026-11-18T12-07-55-123Z-7.json").is_none());
        assert!(parse_heap_name("heap-abc-2026-11-18T12-07-55-123Z-7.heapsnapshot.bak").is_none());
        assert_eq!(parse_temp_name(&temp_name(&n)), Some(TempKind::Locked));
    }

    #[test]
    fn foreign_names_are_not_ours() {
        for n in [
            "memory-.json",
            "memory-abc-2026-11-18T12-07-55-123Z-.json",
            "memory-abc-2026-11-18T12-07-55-123Z-1.json.bak",
            "memory-abcdefghi-2026-11-18T12-07-55-123Z-1.json",
            "memory-a/b-2026-11-18T12-07-55-123Z-1.json",
            "memory-abc-2026-11-18T12:07:55.123Z-1.json",
            "notes.json",
            "memory-abc-2026-11-18T12-07-55-123Z-x1.json",
            ".memory-abc-2026-11-18T12-07-55-123Z-1.json.12.tmp",
        ] {
            assert!(parse_dump_name(n).is_none(), "{n}");
            assert!(parse_temp_name(n).is_none(), "{n}");
        }
    }

    #[test]
    fn recorder_names() {
        assert!(is_recorder_name("recorder-abc.jsonl"));
        assert!(is_recorder_name("recorder-abc_1234.jsonl.1"));
        assert!(!is_recorder_name("recorder-.jsonl"));
        assert!(!is_recorder_name("recorder-abc.jsonl.2"));
        assert!(is_recorder_name("recorder-abc_1234-4242-0a1b2c3d.jsonl"));
        assert!(is_recorder_name("recorder-abc_1234-4242-0a1b2c3d.jsonl.1"));
        assert!(!is_recorder_name(&format!(
            "recorder-{}.jsonl",
            "a".repeat(65)
        )));
        assert!(!is_recorder_name("recorder-abc.jsonl.tmp"));
        assert!(!is_recorder_name("recorder-a.b.jsonl"));
    }
}
