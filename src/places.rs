//! The one rule for a place-name that comes from the runtime: a stack frame's or an
//! allocation site's script, the frame an uncaught error was thrown at. V8 names a script by
//! whatever URL or path it was loaded or evaluated from, and that can carry secrets: a
//! module imported as `./mod.mjs?token=…`, a `//# sourceURL=https://user:password@host/…`,
//! a `data:` module whose URL *is* its source. What the rule keeps is enough to find the
//! code, never what was passed to it:
//!
//! - a query string and a fragment are dropped (from the first `?` or `#`: a file whose
//!   own name holds one is cut there too, which only loses part of its name);
//! - `user:password@` before a URL's host is dropped;
//! - a `data:` URL is kept as its scheme, its media type and the length of its content
//!   (`data:text/javascript [123 bytes]`), a `blob:` URL as its scheme and length;
//! - a `file:` URL becomes the path it names, percent-decoded (`file:///C:/x` → `C:/x`);
//! - the home directory becomes `~` where it is a whole path prefix: at the start of the
//!   place or after a character that cannot be part of a name, and followed by the end or
//!   a separator (with `HOME=/srv/pro`, `/srv/probes/x.js` is left as it is). Its
//!   percent-encoded spelling is matched too; a Windows-style home (a drive letter or a
//!   backslash) is matched with either separator and ASCII letters in either case.
//!
//! [`clean_frame`] applies it, with the bounds on names, to every frame written.
//!
//! `lib/places.js` is the same rule for the JS side (the fallback's allocation sites,
//! `inspect`, `bundle`'s second pass); `tests/fixtures/golden/places.json`, written by this
//! module's tests, holds both to the same output.

/// A place with the rule applied (see the module's documentation). `home` is the home
/// directory to show as `~` (none, or one shorter than two characters, is not matched).
pub fn redact_place(place: &str, home: Option<&str>) -> String {
    if let Some(rest) = strip_prefix_ci(place, "data:") {
        return opaque("data:", rest, true);
    }
    if let Some(rest) = strip_prefix_ci(place, "blob:") {
        return opaque("blob:", rest, false);
    }
    let place = &place[..place.find(['?', '#']).unwrap_or(place.len())];
    let path = match scheme_len(place) {
        Some(n) if place[n..].starts_with("://") => {
            let scheme = &place[..n];
            let after = &place[n + 3..];
            let auth_end = after.find(['/', '\\']).unwrap_or(after.len());
            let authority = &after[..auth_end];
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let rest = &after[auth_end..];
            if scheme.eq_ignore_ascii_case("file") {
                let decoded = percent_decode(rest);
                let local = match decoded.strip_prefix('/') {
                    Some(drive) if is_drive_path(drive) => drive.to_string(),
                    _ => decoded,
                };
                if host.is_empty() || host.eq_ignore_ascii_case("localhost") {
                    local
                } else {
                    format!("//{host}{local}")
                }
            } else {
                format!("{scheme}://{host}{rest}")
            }
        }
        _ => place.to_string(),
    };
    replace_home(&path, home).0
}

/// `text` with every whole-prefix occurrence of `home` (and of its percent-encoded
/// spelling) replaced by `~`, and how many were replaced.
pub fn replace_home(text: &str, home: Option<&str>) -> (String, usize) {
    let Some(home) = home.map(|h| h.trim_end_matches(['/', '\\'])) else {
        return (text.to_string(), 0);
    };
    if home.chars().count() < 2 {
        return (text.to_string(), 0);
    }
    let windows = home.contains('\\') || is_drive_path(home);
    let encoded = percent_encode(&home.replace('\\', "/"));
    let mut forms: Vec<&str> = vec![home];
    if encoded != home {
        forms.push(&encoded);
    }
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut i = 0;
    let bytes = text.as_bytes();
    'scan: while i < text.len() {
        let starts_clean = i == 0 || {
            let prev = text[..i].chars().next_back().unwrap_or(' ');
            !is_name_char(prev)
        };
        if starts_clean {
            for (k, form) in forms.iter().enumerate() {
                // The encoded form is matched ignoring ASCII case (its hex digits may be
                // either), as is a Windows-style home.
                let fold = windows || k > 0;
                if let Some(n) = match_at(&text[i..], form, fold) {
                    let end = i + n;
                    if end == text.len() || matches!(bytes[end], b'/' | b'\\') {
                        out.push('~');
                        count += 1;
                        i = end;
                        continue 'scan;
                    }
                }
            }
        }
        let c = text[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    (out, count)
}

/// The length in `text` of a match of `pattern` at its start: separators match either
/// separator, and ASCII letters match either case when `fold` is set.
fn match_at(text: &str, pattern: &str, fold: bool) -> Option<usize> {
    let t = text.as_bytes();
    let p = pattern.as_bytes();
    if t.len() < p.len() {
        return None;
    }
    let same = p.iter().zip(t).all(|(&a, &b)| {
        a == b
            || (matches!(a, b'/' | b'\\') && matches!(b, b'/' | b'\\'))
            || (fold && a.eq_ignore_ascii_case(&b))
    });
    // A match ends on a character boundary: the pattern's bytes are whole characters and
    // the bytes compared equal (or ASCII letters and separators, which are one byte each).
    (same && text.is_char_boundary(p.len())).then_some(p.len())
}

/// Characters that continue a name: a home directory that follows one of these is the
/// tail of a longer path (`/data/srv/pro` is not `/srv/pro`).
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '%' | '~')
}

/// `data:` as `data:<media type> [<n> bytes]`, `blob:` as `blob: [<n> bytes]`: the length
/// is of the content in UTF-8 (for `data:`, what follows the first comma). A place already
/// in that form is kept as it is, so the rule can be applied twice.
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

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
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

/// Every byte but letters, digits and `-._~/:` as `%XX` (upper-case hex), as file URLs
/// spell a path.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
    cut(&mut f.function, MAX_FUNCTION_CHARS);
    cut(&mut f.script, MAX_SCRIPT_CHARS);
}

/// The home directory of this process, as the rule matches it.
pub fn home() -> Option<String> {
    std::env::home_dir().map(|h| h.to_string_lossy().into_owned())
}

use crate::options::{MAX_FUNCTION_CHARS, MAX_SCRIPT_CHARS};
use crate::report::StackFrame;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// (place, home, expected): the cases `lib/places.js` must answer the same.
    fn cases() -> Vec<(&'static str, Option<&'static str>, &'static str)> {
        vec![
            (
                "node:internal/timers",
                Some("/home/alice"),
                "node:internal/timers",
            ),
            ("", Some("/home/alice"), ""),
            ("evalmachine.<anonymous>", None, "evalmachine.<anonymous>"),
            ("/home/alice/app/x.js", Some("/home/alice"), "~/app/x.js"),
            ("/home/alice", Some("/home/alice/"), "~"),
            (
                "/home/alicea/x.js",
                Some("/home/alice"),
                "/home/alicea/x.js",
            ),
            ("/srv/probes/app.js", Some("/srv/pro"), "/srv/probes/app.js"),
            ("/srv/pro/app.js", Some("/srv/pro"), "~/app.js"),
            (
                "/data/srv/pro/app.js",
                Some("/srv/pro"),
                "/data/srv/pro/app.js",
            ),
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

    #[test]
    fn golden_for_the_js_twin() {
        let v: Vec<_> = cases()
            .into_iter()
            .map(|(place, home, want)| json!({ "place": place, "home": home, "out": want }))
            .collect();
        crate::goldens::check_golden("tests/fixtures/golden/places.json", &json!(v));
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
