//! The rules that turn the raw options into a dumper's configuration, in the order both
//! implementations check them (`tests/fixtures/golden/options.json`).

use std::path::PathBuf;

use crate::probes::rss_split::{SmapsRollupPolicy, DEFAULT_SMAPS_ROLLUP_MAX_RSS_BYTES};

use super::allocation_profile::allocation_profile_config;
use super::dumper::*;
use super::error::InvalidArg;
use super::heap_snapshot::heap_snapshot_config;
use super::raw::{integer, optional_text, RawOptions, RawValue, MAX_SAFE_BYTES};

/// Validates the raw options; returns the config and the session id (raw, unsanitized).
pub fn validate(raw: &RawOptions) -> Result<(DumperConfig, String), InvalidArg> {
    let directory = match &raw.directory {
        RawValue::Text(s) if !s.trim().is_empty() && !s.contains('\0') => PathBuf::from(s),
        other => {
            return Err(InvalidArg::new(
                "options.directory",
                "a non-empty path string",
                other.describe(),
            ))
        }
    };
    let session_id =
        optional_text(&raw.session_id, "options.sessionId", usize::MAX)?.unwrap_or_default();
    let max_dumps_per_session = integer(
        &raw.max_dumps_per_session,
        "options.maxDumpsPerSession",
        1,
        MAX_DUMPS_PER_SESSION_LIMIT as u64,
        DEFAULT_MAX_DUMPS_PER_SESSION as u64,
    )? as u32;
    let cooldown_ms = integer(
        &raw.cooldown_ms,
        "options.cooldownMs",
        0,
        MAX_COOLDOWN_MS,
        DEFAULT_COOLDOWN_MS,
    )?;
    let max_files = integer(
        &raw.max_files,
        "options.maxFiles",
        1,
        MAX_FILES_LIMIT as u64,
        DEFAULT_MAX_FILES as u64,
    )? as u32;
    let app_version = optional_text(
        &raw.app_version,
        "options.appVersion",
        MAX_TEXT_OPTION_CHARS,
    )?;
    let suggestions = Suggestions {
        hard: optional_text(
            &raw.suggestion_hard,
            "options.suggestions.hard",
            MAX_TEXT_OPTION_CHARS,
        )?
        .unwrap_or_else(|| DEFAULT_HARD_SUGGESTION.to_string()),
        critical: optional_text(
            &raw.suggestion_critical,
            "options.suggestions.critical",
            MAX_TEXT_OPTION_CHARS,
        )?
        .unwrap_or_else(|| DEFAULT_CRITICAL_SUGGESTION.to_string()),
        manual: optional_text(
            &raw.suggestion_manual,
            "options.suggestions.manual",
            MAX_TEXT_OPTION_CHARS,
        )?,
    };
    let watchdog = if raw.watchdog {
        let rss_ratio = match &raw.watchdog_rss_ratio {
            RawValue::Missing | RawValue::Other("null") => None,
            RawValue::Number(n) if *n > 0.0 && *n <= 1.0 => Some(*n),
            other => {
                return Err(InvalidArg::new(
                    "options.watchdog.rssRatio",
                    "a number greater than 0 and at most 1",
                    other.describe(),
                ))
            }
        };
        let rss_bytes = match &raw.watchdog_rss_bytes {
            RawValue::Missing | RawValue::Other("null") => None,
            _ => Some(integer(
                &raw.watchdog_rss_bytes,
                "options.watchdog.rssBytes",
                1,
                MAX_SAFE_BYTES,
                0,
            )?),
        };
        if rss_ratio.is_none() && rss_bytes.is_none() {
            return Err(InvalidArg::new(
                "options.watchdog",
                "rssRatio or rssBytes",
                "neither",
            ));
        }
        Some(crate::config::WatchdogConfig {
            rss_ratio,
            rss_bytes,
            stall_ms: integer(
                &raw.watchdog_stall_ms,
                "options.watchdog.stallMs",
                crate::config::MIN_INTERVAL_MS,
                crate::config::MAX_INTERVAL_MS,
                crate::config::DEFAULT_STALL_MS,
            )?,
            capture_stack: match &raw.watchdog_capture_stack {
                RawValue::Missing | RawValue::Other("null") => false,
                RawValue::Bool(b) => *b,
                other => {
                    return Err(InvalidArg::new(
                        "options.watchdog.captureStack",
                        "a boolean",
                        other.describe(),
                    ))
                }
            },
        })
    } else {
        None
    };
    // Asked for by name (`true` or an object), the pressure rule starts the recorder too.
    let pressure_asked = matches!(
        raw.pressure,
        RawValue::Bool(true) | RawValue::Other("object")
    );
    let recorder = if raw.recorder || watchdog.is_some() || pressure_asked {
        let d = crate::config::RecorderConfig::default();
        Some(crate::config::RecorderConfig {
            interval_ms: integer(
                &raw.recorder_interval_ms,
                "options.recorder.intervalMs",
                crate::config::MIN_INTERVAL_MS,
                crate::config::MAX_INTERVAL_MS,
                d.interval_ms,
            )?,
            samples: integer(
                &raw.recorder_samples,
                "options.recorder.samples",
                1,
                crate::config::MAX_SAMPLES as u64,
                d.samples as u64,
            )? as u32,
        })
    } else {
        None
    };
    let max_rss_bytes = integer(
        &raw.smaps_rollup_max_rss_bytes,
        "options.smapsRollupMaxRssBytes",
        0,
        MAX_SAFE_BYTES,
        DEFAULT_SMAPS_ROLLUP_MAX_RSS_BYTES,
    )?;
    let smaps_rollup = match &raw.smaps_rollup {
        RawValue::Missing | RawValue::Other("null") => SmapsRollupPolicy::Auto { max_rss_bytes },
        RawValue::Text(s) if s == "auto" => SmapsRollupPolicy::Auto { max_rss_bytes },
        RawValue::Text(s) if s == "always" => SmapsRollupPolicy::Always,
        RawValue::Text(s) if s == "never" => SmapsRollupPolicy::Never,
        other => {
            return Err(InvalidArg::new(
                "options.smapsRollup",
                "'auto', 'always' or 'never'",
                other.describe(),
            ))
        }
    };
    let host_clock = match &raw.now {
        RawValue::Missing | RawValue::Other("null") => false,
        RawValue::Other("function") => true,
        other => {
            return Err(InvalidArg::new(
                "options.now",
                "a function returning milliseconds, such as () => Date.now()",
                other.describe(),
            ))
        }
    };
    let mallinfo = {
        use crate::probes::malloc::MallinfoPolicy;
        match &raw.mallinfo {
            RawValue::Missing | RawValue::Other("null") => MallinfoPolicy::Auto,
            RawValue::Text(s) if s == "auto" => MallinfoPolicy::Auto,
            RawValue::Text(s) if s == "always" => MallinfoPolicy::Always,
            RawValue::Text(s) if s == "never" => MallinfoPolicy::Never,
            other => {
                return Err(InvalidArg::new(
                    "options.mallinfo",
                    "'auto', 'always' or 'never'",
                    other.describe(),
                ))
            }
        }
    };
    Ok((
        DumperConfig {
            directory,
            max_dumps_per_session,
            cooldown_ms,
            max_files,
            app_version,
            suggestions,
            recorder,
            watchdog,
            smaps_rollup,
            host_clock,
            mallinfo,
            heap_snapshot: heap_snapshot_config(raw)?,
            allocation_profile: allocation_profile_config(raw)?,
            // Checked whether or not the recorder runs: a bad value is an error either way.
            pressure: pressure_config(raw)?.filter(|_| recorder.is_some()),
        },
        session_id,
    ))
}

/// `options.pressure`: on wherever the recorder runs (its defaults), `false` turns it off.
fn pressure_config(raw: &RawOptions) -> Result<Option<crate::config::PressureConfig>, InvalidArg> {
    use crate::config::{
        PressureConfig, MAX_INTERVAL_MS, MAX_PRESSURE_RATIO, MIN_PRESSURE_RATIO, MIN_WITHIN_MS,
    };
    match &raw.pressure {
        RawValue::Bool(false) => return Ok(None),
        RawValue::Missing
        | RawValue::Other("null")
        | RawValue::Bool(true)
        | RawValue::Other("object") => {}
        other => {
            return Err(InvalidArg::new(
                "options.pressure",
                "true, false or an object { ratio?, psiFull?, withinMs? }",
                other.describe(),
            ))
        }
    }
    let d = PressureConfig::default();
    let ratio = match &raw.pressure_ratio {
        RawValue::Missing | RawValue::Other("null") => d.ratio,
        RawValue::Number(n) if (MIN_PRESSURE_RATIO..=MAX_PRESSURE_RATIO).contains(n) => *n,
        other => {
            return Err(InvalidArg::new(
                "options.pressure.ratio",
                format!("a number from {MIN_PRESSURE_RATIO} to {MAX_PRESSURE_RATIO}"),
                other.describe(),
            ))
        }
    };
    let psi_full = match &raw.pressure_psi_full {
        RawValue::Missing => d.psi_full,
        RawValue::Other("null") | RawValue::Bool(false) => None,
        RawValue::Number(n) if *n > 0.0 && *n <= 100.0 => Some(*n),
        other => {
            return Err(InvalidArg::new(
                "options.pressure.psiFull",
                "a percentage greater than 0 and at most 100, or false",
                other.describe(),
            ))
        }
    };
    let within_ms = match &raw.pressure_within_ms {
        RawValue::Missing => d.within_ms,
        RawValue::Other("null") | RawValue::Bool(false) => None,
        _ => Some(integer(
            &raw.pressure_within_ms,
            "options.pressure.withinMs",
            MIN_WITHIN_MS,
            MAX_INTERVAL_MS,
            0,
        )?),
    };
    Ok(Some(PressureConfig {
        ratio,
        psi_full,
        within_ms,
    }))
}
