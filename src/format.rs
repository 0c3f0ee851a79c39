//! How numbers and strings are written into human-readable text (risk evidence, skip
//! reasons, error messages). The JS twin is `lib/rules/format.js`; both are checked against
//! `tests/fixtures/golden/format.json`, which `cargo test format::` writes.
//!
//! Why not `{:.1}` and `{}`: Rust rounds exact halves to even and writes `-1e-7` as
//! `-0.0000001`, while JS's `toFixed` rounds halves up and `String()` switches to
//! exponents. The same document must read the same from either implementation, so both
//! use these rules instead of their language's own.

/// `x` with `digits` decimals, exact halves rounded away from zero (2.5 → "3",
/// -2.5 → "-3"). The scaled value is rounded in f64 by the same IEEE operations on both
/// sides, so the two implementations agree digit for digit. Non-finite values are
/// written as JS writes them.
pub fn fixed(x: f64, digits: u32) -> String {
    if !x.is_finite() {
        return number_text(x);
    }
    let scale = 10f64.powi(digits as i32);
    let scaled = (x.abs() * scale + 0.5).floor();
    if !scaled.is_finite() || scaled >= 9_007_199_254_740_992.0 {
        // Too large for exact integer steps: no decimals are meaningful any more.
        return number_text(x.round());
    }
    let whole = (scaled / scale).floor();
    let frac = scaled - whole * scale;
    let sign = if x < 0.0 && scaled != 0.0 { "-" } else { "" };
    if digits == 0 {
        format!("{sign}{}", whole as u64)
    } else {
        format!(
            "{sign}{}.{:0width$}",
            whole as u64,
            frac as u64,
            width = digits as usize
        )
    }
}

/// A number as JavaScript's `String(n)` writes it: the shortest digits that read back
/// as the same double, plain notation from 1e-6 up to 1e21, exponent notation outside.
pub fn number_text(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let sign = if x < 0.0 { "-" } else { "" };
    // `{:e}` gives the shortest round-trip digits: "d.ddde±N".
    let e = format!("{:e}", x.abs());
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i64;
    let n = exp.parse::<i64>().unwrap_or(0) + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e = if e >= 0 {
            format!("+{e}")
        } else {
            e.to_string()
        };
        if k == 1 {
            format!("{digits}e{e}")
        } else {
            format!("{}.{}e{e}", &digits[..1], &digits[1..])
        }
    };
    format!("{sign}{body}")
}

/// A string quoted as `JSON.stringify` quotes it: `"\u0001x"`, `"a\"b"`, `"\n"`.
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Bytes as whole MiB: "12 MiB".
pub fn mib0(bytes: f64) -> String {
    format!("{} MiB", fixed(bytes / (1024.0 * 1024.0), 0))
}

/// Bytes as MiB with one decimal: "12.5 MiB".
pub fn mib1(bytes: f64) -> String {
    format!("{} MiB", fixed(bytes / (1024.0 * 1024.0), 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn halves_round_away_from_zero() {
        assert_eq!(fixed(2.5, 0), "3");
        assert_eq!(fixed(-2.5, 0), "-3");
        assert_eq!(fixed(0.25, 1), "0.3");
        assert_eq!(fixed(-0.04, 1), "0.0");
        assert_eq!(fixed(99.95, 1), "100.0");
        assert_eq!(fixed(f64::INFINITY, 1), "Infinity");
    }

    #[test]
    fn numbers_read_as_javascript_writes_them() {
        assert_eq!(number_text(-1e-7), "-1e-7");
        assert_eq!(number_text(0.000001), "0.000001");
        assert_eq!(number_text(1e21), "1e+21");
        assert_eq!(
            number_text(123456789012345680000.0),
            "123456789012345680000"
        );
        assert_eq!(number_text(1.5), "1.5");
        assert_eq!(number_text(-0.0), "0");
        assert_eq!(number_text(1.2345e-10), "1.2345e-10");
    }

    #[test]
    fn strings_are_quoted_as_json() {
        assert_eq!(quote("\u{1}x"), "\"\\u0001x\"");
        assert_eq!(quote("a\"b\n"), "\"a\\\"b\\n\"");
    }

    /// The golden table both implementations are checked against (`__test__/contract.spec.ts`).
    fn table() -> Value {
        let fixed_inputs: &[(f64, u32)] = &[
            (2.5, 0),
            (3.5, 0),
            (-2.5, 0),
            (0.5, 0),
            (1.5, 0),
            (0.05, 1),
            (0.15, 1),
            (0.25, 1),
            (2.25, 1),
            (1.005, 2),
            (99.95, 1),
            (-0.04, 1),
            (-0.05, 1),
            (12.345, 2),
            (1e15 + 0.5, 0),
            (123456.789, 1),
            (0.0, 1),
            (-0.0, 0),
            (1048576.0 * 2.5 / 1048576.0, 0),
            (f64::NAN, 1),
            (f64::NEG_INFINITY, 0),
        ];
        let numbers = [
            -1e-7,
            1e-7,
            0.000001,
            0.0000015,
            1e21,
            1e20,
            -1.5e300,
            5e-324,
            123.456,
            0.1 + 0.2,
            -0.0,
            42.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            9007199254740993.0,
        ];
        let strings = [
            "\u{1}x",
            "tab\there",
            "quote\"",
            "back\\slash",
            "é ✓ 😀",
            "\u{7f}\u{2028}",
        ];
        let enc = |x: f64| -> Value {
            if x.is_nan() {
                json!("NaN")
            } else if x.is_infinite() {
                json!(if x > 0.0 { "Infinity" } else { "-Infinity" })
            } else if x == 0.0 && x.is_sign_negative() {
                json!("-0")
            } else {
                json!(x)
            }
        };
        json!({
            "about": "Generated by `cargo test format::` from src/format.rs; do not edit. Numbers given as strings are NaN, ±Infinity and -0.",
            "fixed": fixed_inputs.iter().map(|(x, d)| json!([enc(*x), d, fixed(*x, *d)])).collect::<Vec<_>>(),
            "numberText": numbers.iter().map(|x| json!([enc(*x), number_text(*x)])).collect::<Vec<_>>(),
            "quote": strings.iter().map(|s| json!([s, quote(s)])).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn the_golden_table_is_current() {
        crate::contract::goldens::check_golden("tests/fixtures/golden/format.json", &table());
    }
}
