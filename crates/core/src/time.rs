//! Version timestamps: UTC microseconds since the Unix epoch, stored in the file as
//! `YYYY-MM-DD HH:MM:SS.ffffff+0000` (Python's `%Y-%m-%d %H:%M:%S.%f%z`).

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::error::{bail, Result};

/// Formats microseconds since the epoch in the file's timestamp format.
pub fn format_micros(micros: i64) -> Result<String> {
    // Years 1 to 9999: what the format's readers (Python's datetime) can represent.
    const MIN: i64 = -62_135_596_800_000_000; // 0001-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799_999_999; // 9999-12-31T23:59:59.999999Z
    if !(MIN..=MAX).contains(&micros) {
        bail!(
            InvalidArgument,
            "timestamp {micros} µs is outside years 1 to 9999, which the file format's readers support"
        );
    }
    match DateTime::<Utc>::from_timestamp_micros(micros) {
        Some(t) => Ok(t.format("%Y-%m-%d %H:%M:%S%.6f+0000").to_string()),
        None => bail!(
            InvalidArgument,
            "timestamp {micros} µs is outside the representable range"
        ),
    }
}

/// Parses a timestamp as the file stores it (also without the fraction or offset,
/// which old files may have). Returns microseconds since the epoch.
pub fn parse_file_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%z") {
        return Some(t.timestamp_micros());
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_micros())
}

/// Parses a user timestamp string: RFC 3339 / ISO 8601 with an offset or `Z`
/// (`2024-05-01T12:00:00.123456Z`), or the file's own format. Fractions finer than a
/// microsecond are refused rather than silently truncated.
pub fn parse_user_timestamp(s: &str) -> Result<i64> {
    let parsed = DateTime::parse_from_rfc3339(s.trim())
        .map(|t| (t.timestamp_micros(), t.timestamp_subsec_nanos()))
        .ok()
        .or_else(|| {
            DateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f%z")
                .ok()
                .map(|t| (t.timestamp_micros(), t.timestamp_subsec_nanos()))
        });
    match parsed {
        Some((_, nanos)) if nanos % 1000 != 0 => bail!(
            InvalidArgument,
            "timestamp '{s}' has sub-microsecond digits; the format keeps microseconds: round it first"
        ),
        Some((micros, _)) => Ok(micros),
        None => bail!(
            InvalidArgument,
            "cannot parse timestamp '{s}': give an ISO 8601 string with a time zone, e.g. 2024-05-01T12:00:00.123456Z"
        ),
    }
}

/// Now, in microseconds since the epoch.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_file_format() {
        let s = "2023-10-18 16:27:39.231479+0000";
        let us = parse_file_timestamp(s).unwrap();
        assert_eq!(format_micros(us).unwrap(), s);
        assert_eq!(us % 1_000_000, 231_479);
    }

    #[test]
    fn user_formats() {
        let a = parse_user_timestamp("2020-06-29T20:12:56Z").unwrap();
        assert_eq!(format_micros(a).unwrap(), "2020-06-29 20:12:56.000000+0000");
        let b = parse_user_timestamp("2020-06-29T22:12:56.000001+02:00").unwrap();
        assert_eq!(b - a, 1);
        assert_eq!(
            parse_user_timestamp("yesterday").unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
        assert_eq!(
            parse_user_timestamp("2020-06-29T20:12:56.0000001Z")
                .unwrap_err()
                .code(),
            "INVALID_ARGUMENT"
        );
    }

    #[test]
    fn before_epoch() {
        let s = format_micros(-1).unwrap();
        assert_eq!(s, "1969-12-31 23:59:59.999999+0000");
        assert_eq!(parse_file_timestamp(&s), Some(-1));
    }
}
