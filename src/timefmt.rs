//! UTC timestamps without a date crate: the dump needs exactly two renderings of one
//! instant (ISO 8601 for the document, a colon-free form for file names), and the civil
//! calendar conversion below is a dozen lines.

use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time broken down into UTC calendar fields, millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
    /// Milliseconds since the Unix epoch (negative before 1970).
    pub epoch_ms: i64,
}

impl UtcTime {
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    pub fn from_system_time(t: SystemTime) -> Self {
        let ms = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i64,
            Err(e) => -(e.duration().as_millis() as i64),
        };
        Self::from_epoch_ms(ms)
    }

    pub fn from_epoch_ms(epoch_ms: i64) -> Self {
        let days = epoch_ms.div_euclid(86_400_000);
        let ms_of_day = epoch_ms.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        let secs = ms_of_day / 1000;
        UtcTime {
            year,
            month,
            day,
            hour: (secs / 3600) as u32,
            minute: ((secs / 60) % 60) as u32,
            second: (secs % 60) as u32,
            millis: (ms_of_day % 1000) as u32,
            epoch_ms,
        }
    }

    /// `2026-11-24T12:07:55.123Z`
    pub fn iso8601(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }

    /// `2026-11-24T12-07-55-123Z`: the ISO form with ':' and '.' replaced, safe in file
    /// names on every platform and still sorting chronologically as text.
    pub fn file_stamp(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}-{:02}-{:02}-{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_is_1970() {
        assert_eq!(
            UtcTime::from_epoch_ms(0).iso8601(),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn known_instants() {
        // 2024-02-29T23:59:59.999Z, a leap day.
        assert_eq!(
            UtcTime::from_epoch_ms(1_709_251_199_999).iso8601(),
            "2024-02-29T23:59:59.999Z"
        );
        // 2000-03-01T00:00:00.000Z, after the 400-year leap day.
        assert_eq!(
            UtcTime::from_epoch_ms(951_868_800_000).iso8601(),
            "2000-03-01T00:00:00.000Z"
        );
        assert_eq!(
            UtcTime::from_epoch_ms(1_795_003_675_123).file_stamp(),
            "2026-11-18T12-07-55-123Z"
        );
    }

    #[test]
    fn before_epoch() {
        assert_eq!(
            UtcTime::from_epoch_ms(-1).iso8601(),
            "1969-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn every_day_round_trips_monotonically() {
        // Walk 800 years day by day: the rendered dates must strictly increase.
        let mut prev = String::new();
        for day in -146_097i64..146_097 {
            let s = UtcTime::from_epoch_ms(day * 86_400_000).iso8601();
            assert!(s > prev, "{prev} !< {s}");
            prev = s;
        }
    }
}
