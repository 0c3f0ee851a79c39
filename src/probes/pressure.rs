//! Pressure stall information (PSI): how much of recent time tasks spent waiting for
//! memory. `/proc/pressure/memory` for the machine; a cgroup v2 directory has the same
//! format in `memory.pressure`.

use std::io;
use std::path::Path;

use serde::Serialize;

use super::procfs::parse_digits;
use super::{io_reason, read_bounded};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PsiLine {
    /// Percent of the last 10, 60 and 300 seconds.
    #[cfg_attr(test, schemars(extend("minimum" = 0)))]
    pub avg10: f64,
    #[cfg_attr(test, schemars(extend("minimum" = 0)))]
    pub avg60: f64,
    #[cfg_attr(test, schemars(extend("minimum" = 0)))]
    pub avg300: f64,
    /// Total stall time since boot (or cgroup creation), microseconds.
    pub total_micros: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Psi {
    /// At least one task stalled.
    pub some: PsiLine,
    /// All non-idle tasks stalled at once; absent on some kernels and files.
    pub full: Option<PsiLine>,
}

pub fn parse_psi(text: &str) -> Result<Psi, String> {
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let slot = match parts.next() {
            Some("some") => &mut some,
            Some("full") => &mut full,
            _ => continue,
        };
        let mut l = PsiLine::default();
        // One bit per key: each of the four must be there (a repeated one, the last wins).
        let mut seen = 0u8;
        for kv in parts {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let (bit, ok) = match k {
                "avg10" => (1, v.parse().map(|x| l.avg10 = x).is_ok()),
                "avg60" => (2, v.parse().map(|x| l.avg60 = x).is_ok()),
                "avg300" => (4, v.parse().map(|x| l.avg300 = x).is_ok()),
                "total" => (8, parse_digits(v).map(|x| l.total_micros = x).is_some()),
                _ => continue,
            };
            if !ok {
                return Err(format!("malformed PSI value {kv:?}"));
            }
            seen |= bit;
        }
        let finite = [l.avg10, l.avg60, l.avg300]
            .iter()
            .all(|x| x.is_finite() && *x >= 0.0);
        if seen != 15 || !finite {
            return Err(format!("malformed PSI line {line:?}"));
        }
        *slot = Some(l);
    }
    Ok(Psi {
        some: some.ok_or("no 'some' line in PSI data")?,
        full,
    })
}

/// Reads a PSI file; a kernel without PSI has no file (or refuses the read).
pub fn read_file(path: &Path) -> Result<Psi, String> {
    match read_bounded(path) {
        Ok(text) => parse_psi(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(95) => {
            Err(format!(
                "unavailable: {} ({e}); the kernel has no pressure stall information",
                path.display()
            ))
        }
        Err(e) => Err(io_reason(path, &e)),
    }
}

/// The machine's memory pressure.
pub fn read_system(proc_root: &Path) -> Result<Psi, String> {
    read_file(&proc_root.join("pressure/memory"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_some_and_full() {
        let p = parse_psi("some avg10=1.50 avg60=0.25 avg300=0.00 total=12345\nfull avg10=0.50 avg60=0.00 avg300=0.00 total=99\n").unwrap();
        assert_eq!(p.some.avg10, 1.5);
        assert_eq!(p.some.total_micros, 12345);
        assert_eq!(p.full.unwrap().avg10, 0.5);
    }

    #[test]
    fn full_line_is_optional() {
        let p = parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").unwrap();
        assert_eq!(p.full, None);
    }

    #[test]
    fn malformed_is_an_error_not_a_panic() {
        for bad in [
            "",
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=0",
            "some avg10=x avg60=0 avg300=0 total=0",
            "some avg10=1",
            "some avg10=NaN avg60=0 avg300=0 total=0",
            "some avg10=-1 avg60=0 avg300=0 total=0",
            "some avg10=1 avg60=0 avg300=0 total=-5",
        ] {
            assert!(parse_psi(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn missing_file_says_unavailable() {
        let e = read_system(Path::new("/nonexistent")).unwrap_err();
        assert!(
            e.replace('\\', "/")
                .starts_with("unavailable: /nonexistent/pressure/memory"),
            "{e}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn live_system_pressure_if_present() {
        match read_system(Path::new("/proc")) {
            Ok(p) => assert!(p.some.avg10 >= 0.0),
            Err(e) => assert!(e.starts_with("unavailable"), "{e}"),
        }
    }
}
