//! The one rule for a name that comes from the runtime: a stack frame's or an allocation
//! site's script (and its function name, which V8 may build from a property key), the frame
//! an uncaught error was thrown at. V8 names a script by whatever URL or path it was loaded
//! or evaluated from, and that can carry secrets: a module imported as `./mod.mjs?token=…`,
//! a `//# sourceURL=https://user:password@host/…`, a `data:` module whose URL *is* its
//! source. What the rule keeps is enough to find the code, never what was passed to it:
//!
//! - a `data:`, `blob:` or `javascript:` URL (wherever it starts, not only at the start of
//!   the name) is kept as its scheme, its media type (`data:` only) and the length of the
//!   rest in UTF-8 bytes: `data:text/javascript [123 bytes]`, `blob: [36 bytes]`;
//! - a query string and a fragment are dropped: everything from the first `?` or `#`, in a
//!   URL or a plain path alike (a file whose own name holds one is cut there), and again
//!   after a file URL is decoded (`%3F` is a `?` too);
//! - credentials are dropped: the `user:password@` or `token@` of an authority (after
//!   `//`), and any `x:y@` run elsewhere (a `sourceURL` without a scheme);
//! - a `file:` URL becomes the path it names, percent-decoded (`file:///C:/x` → `C:/x`,
//!   `file://host/x` → `//host/x`); a Windows extended-length prefix `\\?\` is dropped;
//! - the home directory becomes `~` where it is followed by the end or a separator (with
//!   `HOME=/srv/pro`, `/srv/probes/x.js` is left as it is), wherever it starts (`/backup/home/
//!   alice/x` names alice too), except right after a `~` (so the rule can run twice). It is
//!   matched however a URL encoder spelled it: any of its bytes may be `%XX`, separators
//!   `%2F` or `%5C`; a Windows-style home (a drive letter or a backslash) with either
//!   separator and ASCII letters in either case.
//!
//! [`redact_text`] is the same rule for a longer text that may hold URLs anywhere (a
//! function name, and in `bundle` every string). [`clean_frame`] applies the rule, with the
//! bounds on names, to every frame written.
//!
//! `lib/rules/places.js` is the same rule for the JS side (the fallback's allocation sites,
//! `inspect`, `bundle`'s second pass); `tests/fixtures/golden/places.json`, written by this
//! module's tests, holds both to the same output.

/// How far a `data:` URL's head (media type and parameters) is looked at for its comma, in
/// a text: bounded, so that a text of many `data:` words costs no more than its length.
const DATA_HEAD_CHARS: usize = 64;

/// The schemes whose URL is its content: kept as scheme, media type and length only.
const OPAQUE: [&str; 3] = ["data:", "blob:", "javascript:"];

/// A place with the rule applied (see the module's documentation). `home` is the home
/// directory to show as `~` (none, or one shorter than two characters, is not matched). A
/// place whose `://` is percent-encoded (`https%3A%2F%2Fuser%3Apass%40h%2Fapp.js%3Fq%3DT`, a
/// `sourceURL` so written) is decoded first when the rule changes it, as in [`redact_text`].
pub fn redact_place(place: &str, home: Option<&str>) -> String {
    let plain = place_once(place, home);
    if ascii_find_ci(&plain, "%3A%2F%2F").is_some() {
        // The place as given: its encoded home is matched again, decoded.
        let decoded = percent_decode(place);
        let again = place_once(&decoded, home);
        if again != decoded {
            return again;
        }
    }
    plain
}

fn place_once(place: &str, home: Option<&str>) -> String {
    let place = place
        .strip_prefix("\\\\?\\")
        .or_else(|| place.strip_prefix("//?/"))
        .unwrap_or(place);
    let (head, tail) = split_opaque(place, false);
    let cut = head.find(['?', '#']);
    let head = &head[..cut.unwrap_or(head.len())];
    // What follows a query or a fragment is dropped with it, an opaque URL too.
    let tail = if cut.is_some() { String::new() } else { tail };
    let head = drop_userinfo(head);
    let path = match scheme_len(&head) {
        Some(n) if head[n..].starts_with("://") && head[..n].eq_ignore_ascii_case("file") => {
            let after = &head[n + 3..];
            let auth_end = after.find(['/', '\\']).unwrap_or(after.len());
            let host = &after[..auth_end];
            let decoded = percent_decode(&after[auth_end..]);
            let decoded = &decoded[..decoded.find(['?', '#']).unwrap_or(decoded.len())];
            let local = match decoded.strip_prefix('/') {
                Some(drive) if is_drive_path(drive) => drive,
                _ => decoded,
            };
            if host.is_empty() || host.eq_ignore_ascii_case("localhost") {
                local.to_string()
            } else {
                format!("//{host}{local}")
            }
        }
        _ => head,
    };
    replace_home(&path, home).0 + &tail
}

/// A text that may hold URLs anywhere (a function name, any string `bundle` packs), with
/// the rule applied to each: an opaque URL (`data:` only when a comma follows its media
/// type, as in a real one) takes the rest of the text with it, since its content may hold
/// spaces; a `scheme://` URL runs to the next space, quote or angle bracket; then
/// credentials anywhere and the home directory. A text in which `://` is percent-encoded
/// (`https%3A%2F%2F…`) is decoded first when the rule changes it.
pub fn redact_text(text: &str, home: Option<&str>) -> String {
    let once = |t: &str| {
        let (head, tail) = split_opaque(t, true);
        let mut out = String::with_capacity(head.len());
        let mut rest = head;
        while let Some(i) = rest.find("://") {
            let start = rest[..i]
                .char_indices()
                .rev()
                .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
                .last()
                .map_or(i, |(k, _)| k);
            let end = rest[i + 3..]
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
                .map_or(rest.len(), |k| i + 3 + k);
            out.push_str(&rest[..start]);
            if scheme_len(&rest[start..]) == Some(i - start) {
                out.push_str(&place_once(&rest[start..end], None));
            } else {
                out.push_str(&rest[start..end]);
            }
            rest = &rest[end..];
        }
        out.push_str(rest);
        replace_home(&drop_userinfo(&out), home).0 + &tail
    };
    let plain = once(text);
    if ascii_find_ci(&plain, "%3A%2F%2F").is_some() {
        // The text as given: its encoded home is matched again, decoded (a `file:` URL whose
        // home was already `~` would name a host `~`).
        let decoded = percent_decode(text);
        let again = once(&decoded);
        if again != decoded {
            return again;
        }
    }
    plain
}

/// Splits `s` at the first `data:`, `blob:` or `javascript:` that starts a URL (not inside
/// a longer scheme), into what precedes it and the URL as kept. `text`: a `data:` counts
/// only when a comma follows its media type, and the others only when something follows.
fn split_opaque(s: &str, text: bool) -> (&str, String) {
    let bytes = s.as_bytes();
    let mut best: Option<(usize, &str)> = None;
    for scheme in OPAQUE {
        let mut from = 0;
        while let Some(k) = ascii_find_ci(&s[from..], scheme) {
            let at = from + k;
            from = at + scheme.len();
            let boundary = at == 0 || {
                let p = bytes[at - 1];
                !(p.is_ascii_alphanumeric() || matches!(p, b'+' | b'.' | b'-'))
            };
            let rest = &s[at + scheme.len()..];
            let shaped = !text
                || if scheme == "data:" {
                    // A comma within the head's first characters, with no space before it.
                    rest.chars()
                        .take(DATA_HEAD_CHARS)
                        .find(|c| *c == ',' || c.is_whitespace())
                        == Some(',')
                } else {
                    rest.starts_with(|c: char| !c.is_whitespace())
                };
            if boundary && shaped {
                if best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, scheme));
                }
                break;
            }
        }
    }
    match best {
        Some((at, scheme)) => (
            &s[..at],
            opaque(scheme, &s[at + scheme.len()..], scheme == "data:"),
        ),
        None => (s, String::new()),
    }
}

/// `s` without credentials: for each `@`, the run before it back to a separator, a space
/// or a bracket is dropped with the `@` when it follows `//` (an authority's user) or holds
/// a `:` (`user:password`).
fn drop_userinfo(s: &str) -> String {
    if !s.contains('@') {
        return s.to_string();
    }
    let stop = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '/' | '\\' | '(' | '[' | '<' | '"' | '\'' | ',' | ';' | '@'
            )
    };
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('@') {
        let start = rest[..at].rfind(stop).map_or(0, |k| k + 1);
        let run = &rest[start..at];
        let authority = rest[..start].ends_with("//");
        if !run.is_empty() && (authority || run.contains(':')) {
            out.push_str(&rest[..start]);
        } else {
            out.push_str(&rest[..=at]);
        }
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out
}

/// The byte offset of `needle` (ASCII) in `hay`, ignoring ASCII case.
fn ascii_find_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// `text` with every occurrence of `home` (plain or percent-encoded) that ends at a
/// separator or the end replaced by `~`, and how many were replaced.
pub fn replace_home(text: &str, home: Option<&str>) -> (String, usize) {
    let Some(home) = home.map(|h| h.trim_end_matches(['/', '\\'])) else {
        return (text.to_string(), 0);
    };
    if home.chars().count() < 2 {
        return (text.to_string(), 0);
    }
    let windows = home.contains('\\') || is_drive_path(home);
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut i = 0;
    'scan: while i < text.len() {
        let after_tilde = out.ends_with('~');
        if !after_tilde {
            // A Windows-style home is matched ignoring ASCII case.
            if let Some(n) = match_at(&text[i..], home, windows) {
                let end = i + n;
                if end == text.len() || sep_len(&text.as_bytes()[end..]) > 0 {
                    out.push('~');
                    count += 1;
                    i = end;
                    continue 'scan;
                }
            }
        }
        let c = text[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    (out, count)
}

/// The length of a path separator at the start of `b`: `/` or `\`, or `%2F` or `%5C` in
/// either case; 0 when there is none.
fn sep_len(b: &[u8]) -> usize {
    match b {
        [b'/' | b'\\', ..] => 1,
        [b'%', h, l, ..] if matches!((h, l.to_ascii_uppercase()), (b'2', b'F') | (b'5', b'C')) => 3,
        _ => 0,
    }
}

/// The length in `text` of a match of `pattern` at its start: a separator in the pattern
/// matches any separator ([`sep_len`]: encoded or not), any other byte matches itself or its
/// `%XX` spelling (however a URL encoder chose to spell the path), and ASCII letters match
/// either case when `fold` is set. A match ends on a character boundary.
fn match_at(text: &str, pattern: &str, fold: bool) -> Option<usize> {
    let t = text.as_bytes();
    let mut i = 0;
    for &a in pattern.as_bytes() {
        if matches!(a, b'/' | b'\\') {
            let n = sep_len(&t[i..]);
            if n == 0 {
                return None;
            }
            i += n;
            continue;
        }
        let same = |b: u8| a == b || (fold && a.eq_ignore_ascii_case(&b));
        match t.get(i..) {
            Some([b, ..]) if same(*b) => i += 1,
            Some([b'%', h, l, ..]) => match (hex(*h), hex(*l)) {
                (Some(h), Some(l)) if same(h * 16 + l) => i += 3,
                _ => return None,
            },
            _ => return None,
        }
    }
    text.is_char_boundary(i).then_some(i)
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// An opaque URL as `<scheme><media type> [<n> bytes]` (the media type for `data:` only:
/// `data:text/javascript [22 bytes]`, `blob: [36 bytes]`): the length is of the content in
/// UTF-8 (for `data:`, what follows the first comma). One already in that form is kept as
/// it is, so the rule can be applied twice.
fn opaque(scheme: &str, rest: &str, media: bool) -> String {
    if let Some(kept) = already_opaque(rest, media) {
        return format!("{scheme}{kept}");
    }
    let (head, content) = match rest.find(',') {
        Some(i) if media => (&rest[..i], &rest[i + 1..]),
        _ => ("", rest),
    };
    format!("{scheme}{} [{} bytes]", media_type(head), content.len())
}

fn already_opaque(rest: &str, media: bool) -> Option<&str> {
    let body = rest.strip_suffix(" bytes]")?;
    let (head, digits) = body.rsplit_once('[')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kind = head.strip_suffix(' ')?;
    let ok = if media {
        kind.is_empty() || media_type(kind) == kind
    } else {
        kind.is_empty()
    };
    ok.then_some(rest)
}

/// `type/subtype` from a `data:` URL's head (parameters dropped), lower-cased; empty when
/// it is not one (at most 64 characters of letters, digits and `.+-`).
fn media_type(head: &str) -> String {
    let t = head.split(';').next().unwrap_or("");
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
    };
    match t.split_once('/') {
        Some((a, b)) if t.len() <= 64 && part_ok(a) && part_ok(b) => t.to_ascii_lowercase(),
        _ => String::new(),
    }
}

/// The length of a URL scheme at the start of `s` (a letter, then letters, digits, `+.-`),
/// if it is followed by `:`. A one-letter scheme is a Windows drive, not a scheme.
fn scheme_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if !b.first()?.is_ascii_alphabetic() {
        return None;
    }
    let n = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'.' | b'-'))
        .count();
    (n >= 2 && b.get(n) == Some(&b':')).then_some(n)
}

/// `C:` followed by the end or a separator.
fn is_drive_path(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && (b.len() == 2 || matches!(b[2], b'/' | b'\\'))
}

/// `%XX` sequences decoded to bytes, read as UTF-8 (an invalid sequence as U+FFFD); a `%`
/// not followed by two hex digits is kept.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn cut(s: &mut String, max: usize) {
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
    }
}

/// Bounds one frame: the script through the place rule (`places`: no query, fragment,
/// credentials or `data:` content; the home directory as `~`), names and scripts cut, an
/// empty function name as `(anonymous)` (also the watchdog's stacks, `stack_capture`).
pub fn clean_frame(f: &mut StackFrame, home: Option<&str>) {
    if f.function.is_empty() {
        f.function = "(anonymous)".into();
    }
    f.script = redact_place(&f.script, home);
    f.function = redact_text(&f.function, home);
    cut(&mut f.function, MAX_FUNCTION_CHARS);
    cut(&mut f.script, MAX_SCRIPT_CHARS);
}

/// The home directory of this process, as the rule matches it.
pub fn home() -> Option<String> {
    std::env::home_dir().map(|h| h.to_string_lossy().into_owned())
}

use crate::config::{MAX_FUNCTION_CHARS, MAX_SCRIPT_CHARS};
use crate::report::StackFrame;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// (place, home, expected): the cases `lib/rules/places.js` must answer the same.
    fn cases() -> Vec<(&'static str, Option<&'static str>, &'static str)> {
        vec![
            (
                "node:internal/timers",
                Some("/home/alice"),
                "node:internal/timers",
            ),
            ("", Some("/home/alice"), ""),
            ("evalmachine.<anonymous>", None, "evalmachine.<anonymous>"),
            // A percent-encoded URL as a sourceURL: its credentials and query go.
            (
                "https%3A%2F%2Fcarol%3APASSW0RD3%40h.example%2Fapp.js%3Fq%3DQTOKEN3",
                None,
                "https://h.example/app.js",
            ),
            (
                "file%3A%2F%2F%2Fhome%2Falice%2Fd.js%3Ftoken%3DQTOKEN4",
                Some("/home/alice"),
                "~/d.js",
            ),
            ("a%3A%2F%2Fb", None, "a%3A%2F%2Fb"),
            ("/home/alice/app/x.js", Some("/home/alice"), "~/app/x.js"),
            ("/home/alice", Some("/home/alice/"), "~"),
            (
                "/home/alicea/x.js",
                Some("/home/alice"),
                "/home/alicea/x.js",
            ),
            ("/srv/probes/app.js", Some("/srv/pro"), "/srv/probes/app.js"),
            ("/srv/pro/app.js", Some("/srv/pro"), "~/app.js"),
            ("/data/srv/pro/app.js", Some("/srv/pro"), "/data~/app.js"),
            ("/opt/app/plain.js?token=SECRET", None, "/opt/app/plain.js"),
            (
                "file:///opt/app/plain.js%3Ftoken=SECRET%23F",
                None,
                "/opt/app/plain.js",
            ),
            ("U1:P1@host.example/app.js", None, "host.example/app.js"),
            ("//U2:P2@host.example/app.js", None, "//host.example/app.js"),
            (
                "\thttps://U3:P3@host.example/a.js",
                None,
                "\thttps://host.example/a.js",
            ),
            (
                "evil.js\n at f (https://U4:P4@h/x.js",
                None,
                "evil.js\n at f (https://h/x.js",
            ),
            (
                "file://somehost/home/alice/app/x.js",
                Some("/home/alice"),
                "//somehost~/app/x.js",
            ),
            ("javascript:void('SECRET')", None, "javascript: [14 bytes]"),
            (
                "prefix data:text/javascript,abc",
                None,
                "prefix data:text/javascript [3 bytes]",
            ),
            ("x.js?data:,abc", None, "x.js"),
            (
                "\\\\?\\C:\\Users\\name\\w7.js",
                Some("C:\\Users\\name"),
                "~\\w7.js",
            ),
            (
                "/x/node_modules/@scope/pkg/a.js",
                None,
                "/x/node_modules/@scope/pkg/a.js",
            ),
            (
                "https://TOKEN@github.com/x.js",
                None,
                "https://github.com/x.js",
            ),
            ("C:\\Users\\me@corp\\x.js", None, "C:\\Users\\me@corp\\x.js"),
            (
                "%2Fhome%2FJ%C3%B6hn%20Doe%2Fproj",
                Some("/home/Jöhn Doe"),
                "~%2Fproj",
            ),
            ("/home/alice%2fx", Some("/home/alice"), "~%2fx"),
            (
                "%2Ftmp%2FSECRETHOME(.*)%2B%5B%24%2Fy",
                Some("/tmp/SECRETHOME(.*)+[$"),
                "~%2Fy",
            ),
            (
                "/tmp/SECRETHOME%28.%2A%29+%5B$/y",
                Some("/tmp/SECRETHOME(.*)+[$"),
                "~/y",
            ),
            ("/x/%41b/y", Some("/x/Ab"), "~/y"),
            ("/", Some("/"), "/"),
            (
                "file:///home/alice/app/mod.mjs?token=SECRET",
                Some("/home/alice"),
                "~/app/mod.mjs",
            ),
            ("./mod.mjs?token=SECRET#frag", None, "./mod.mjs"),
            ("app.js#SECRET", None, "app.js"),
            (
                "https://user:PASSWORD@cdn.example/app.js?sig=SECRET",
                Some("/home/alice"),
                "https://cdn.example/app.js",
            ),
            (
                "https://cdn.example:8443/a/b.js",
                None,
                "https://cdn.example:8443/a/b.js",
            ),
            ("HTTPS://token@cdn.example", None, "HTTPS://cdn.example"),
            ("webpack:///./src/x.ts?abc", None, "webpack:///./src/x.ts"),
            (
                "data:text/javascript,const API_KEY=\"SECRET\"",
                None,
                "data:text/javascript [22 bytes]",
            ),
            (
                "DATA:Text/JavaScript;charset=utf-8;base64,U0VDUkVU",
                None,
                "data:text/javascript [8 bytes]",
            ),
            ("data:,SECRET", None, "data: [6 bytes]"),
            ("data:SECRET-NO-COMMA", None, "data: [15 bytes]"),
            ("data:te<x>t/js,é", None, "data: [2 bytes]"),
            (
                "data:text/javascript [22 bytes]",
                None,
                "data:text/javascript [22 bytes]",
            ),
            ("data: [6 bytes]", None, "data: [6 bytes]"),
            ("blob:nodedata:3f1c-SECRET", None, "blob: [20 bytes]"),
            ("blob: [20 bytes]", None, "blob: [20 bytes]"),
            (
                "file:///home/J%C3%B6hn%20Doe/app/server.mjs",
                Some("/home/Jöhn Doe"),
                "~/app/server.mjs",
            ),
            (
                "webpack:///home/J%c3%b6hn%20Doe/app/server.mjs",
                Some("/home/Jöhn Doe"),
                "webpack://~/app/server.mjs",
            ),
            ("/home/Jöhn Doe/app.js", Some("/home/Jöhn Doe"), "~/app.js"),
            (
                "/home/Jöhn Doe2/app.js",
                Some("/home/Jöhn Doe"),
                "/home/Jöhn Doe2/app.js",
            ),
            ("file:///bad%zz%/x%C3", None, "/bad%zz%/x\u{FFFD}"),
            (
                "file:///C:/Users/Name/app/x.js",
                Some("C:\\Users\\name"),
                "~/app/x.js",
            ),
            (
                "file:///c%3A/Users/name/x.js",
                Some("C:\\Users\\name"),
                "~/x.js",
            ),
            (
                "C:\\Users\\NAME\\app\\x.js",
                Some("C:\\Users\\name"),
                "~\\app\\x.js",
            ),
            ("c:/users/name/x.js", Some("C:\\Users\\name\\"), "~/x.js"),
            (
                "C:\\Users\\names\\x.js",
                Some("C:\\Users\\name"),
                "C:\\Users\\names\\x.js",
            ),
            ("file://server/share/x.js?q", None, "//server/share/x.js"),
            ("file://localhost/etc/x.js", None, "/etc/x.js"),
            ("file://u:p@host/x.js", None, "//host/x.js"),
            (
                "/home/alice/a:/home/alice/b",
                Some("/home/alice"),
                "~/a:~/b",
            ),
            ("/a/a/x", Some("/a"), "~/a/x"),
            ("x.js?/home/alice", Some("/home/alice"), "x.js"),
        ]
    }

    #[test]
    fn the_rule_on_every_case() {
        for (place, home, want) in cases() {
            assert_eq!(
                redact_place(place, home),
                want,
                "{place:?} with home {home:?}"
            );
            // Applying it again changes nothing (bundle applies it to what was written).
            assert_eq!(redact_place(want, home), want, "again: {want:?}");
        }
    }

    /// (text, home, expected) for [`redact_text`].
    fn text_cases() -> Vec<(&'static str, Option<&'static str>, &'static str)> {
        vec![
            (
                "Object.handler [as https://U:P@api.example/v1?key=Q]",
                None,
                "Object.handler [as https://api.example/v1",
            ),
            (
                "https://u:p@host/x,https://u2:PK@host2/y",
                None,
                "https://host/x,https://host2/y",
            ),
            (
                "see //UH:PH@host/x and user:PO@host.example/app.js",
                None,
                "see //host/x and host.example/app.js",
            ),
            (
                "https%3A%2F%2Fu%3APY%40host%2Fx%3Fq%3D1",
                None,
                "https://host/x",
            ),
            (
                "at file%3A%2F%2F%2Fhome%2Falice%2Fd.js%3Ft%3D1",
                Some("/home/alice"),
                "at ~/d.js",
            ),
            ("the data: a, b", None, "the data: a, b"),
            (
                "x data:text/plain;charset=u,SECRET y",
                None,
                "x data:text/plain [8 bytes]",
            ),
            (
                "email alice@example.com, 50% done",
                None,
                "email alice@example.com, 50% done",
            ),
            (
                "at f (file:///home/alice/app/x.js?token=S:1:2) and /home/alice/y",
                Some("/home/alice"),
                "at f (~/app/x.js and ~/y",
            ),
            ("render", Some("/home/alice"), "render"),
            ("javascript:alert(1)", None, "javascript: [8 bytes]"),
            (
                "data:text/plain;a-very-long-parameter-list-that-runs-past-the-head-window=1234567890,x",
                None,
                "data:text/plain;a-very-long-parameter-list-that-runs-past-the-head-window=1234567890,x",
            ),
        ]
    }

    #[test]
    fn the_text_rule_on_every_case() {
        for (text, home, want) in text_cases() {
            assert_eq!(redact_text(text, home), want, "{text:?} with home {home:?}");
            assert_eq!(redact_text(want, home), want, "again: {want:?}");
        }
    }

    #[test]
    fn golden_for_the_js_twin() {
        let row = |(input, home, want): (&str, Option<&str>, &str)| json!({ "in": input, "home": home, "out": want });
        let v = json!({
            "places": cases().into_iter().map(row).collect::<Vec<_>>(),
            "texts": text_cases().into_iter().map(row).collect::<Vec<_>>(),
        });
        crate::contract::goldens::check_golden("tests/fixtures/golden/places.json", &v);
    }

    /// Texts of many `data:` words, `@`s and `://`s: each byte is looked at a bounded number of
    /// times (a quadratic pass would take minutes here).
    #[test]
    fn hostile_texts_cost_their_length() {
        let n = 200_000;
        for unit in ["data:", "a:b@", "x://", "%3A%2F%2F", "/home/alice"] {
            let text = unit.repeat(n);
            let out = redact_text(&text, Some("/home/alice"));
            assert!(out.len() <= text.len() + 64, "{unit}");
        }
    }

    #[test]
    fn replace_home_counts() {
        assert_eq!(
            replace_home("/home/a/x and /home/a", Some("/home/a")),
            ("~/x and ~".to_string(), 2)
        );
        assert_eq!(replace_home("/home/ab", Some("/home/a")).1, 0);
    }
}
