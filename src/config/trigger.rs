//! Why a dump was requested: the triggers a host (or the watchdog, or the fallback) names.

/// Why a dump was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The host's monitor saw hard pressure.
    Hard,
    /// The host's monitor saw critical pressure.
    Critical,
    /// The host asked for a dump outside its pressure levels (a debug command, say).
    Manual,
    /// The native watchdog: memory crossed its threshold while JS was silent. Never
    /// accepted from JS.
    Watchdog,
    /// The recorder's pressure rule: the memory that counts against the effective limit
    /// neared it (`options.pressure`). Never accepted from JS.
    Pressure,
}

impl Trigger {
    pub const ACCEPTED: &'static str = "'hard', 'critical' or 'manual'";

    pub fn parse(s: &str) -> Option<Trigger> {
        match s {
            "hard" => Some(Trigger::Hard),
            "critical" => Some(Trigger::Critical),
            "manual" => Some(Trigger::Manual),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Hard => "hard",
            Trigger::Critical => "critical",
            Trigger::Manual => "manual",
            Trigger::Watchdog => "watchdog",
            Trigger::Pressure => "pressure",
        }
    }
}
