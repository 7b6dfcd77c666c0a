//! The `x-acs-date` header: its strict wire format (`YYYY-MM-DDTHH:MM:SSZ`, UTC), the clock-skew
//! window that bounds how long a captured request can be replayed, and the server's clock. The
//! day arithmetic underneath is the workspace's calendar ([`shiren_calendar`]).

use std::time::{SystemTime, UNIX_EPOCH};

use shiren_calendar::{civil_from_days, days_from_civil, days_in_month};

use crate::AuthError;

/// Alibaba Cloud rejects an `x-acs-date` more than 15 minutes off; the same window by default.
pub const DEFAULT_MAX_SKEW_SECS: u64 = 15 * 60;

/// Parses an `x-acs-date` (`YYYY-MM-DDTHH:MM:SSZ`, UTC) into seconds since the Unix epoch.
///
/// Strict on purpose: the value is signed, so any spelling the client chose reaches us verbatim and
/// there is no reason to accept offsets, fractions or lowercase separators that Alibaba's SDKs never
/// send. Leap seconds (`:60`) are rejected.
pub fn parse_acs_date(value: &str) -> Result<i64, AuthError> {
    let invalid = || AuthError::InvalidTimestamp(value.to_owned());
    let b = value.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z'
    {
        return Err(invalid());
    }
    // At most four digits, so every field fits a u32.
    let number = |from: usize, to: usize| -> Result<u32, AuthError> {
        b[from..to].iter().try_fold(0u32, |acc, &c| {
            if c.is_ascii_digit() { Ok(acc * 10 + u32::from(c - b'0')) } else { Err(invalid()) }
        })
    };
    let year = number(0, 4)?;
    let month = number(5, 7)?;
    let day = number(8, 10)?;
    let hour = number(11, 13)?;
    let minute = number(14, 16)?;
    let second = number(17, 19)?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(i64::from(year), month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(invalid());
    }
    let seconds_of_day = i64::from(hour * 3_600 + minute * 60 + second);
    Ok(days_from_civil(i64::from(year), month, day) * 86_400 + seconds_of_day)
}

/// Formats seconds since the Unix epoch as an `x-acs-date` value.
pub fn format_acs_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let in_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", in_day / 3_600, in_day % 3_600 / 60, in_day % 60)
}

/// Fails when the request time is more than `max_skew_secs` away from `now_secs`, either way.
///
/// Both directions count: a date in the future would otherwise extend how long a captured request
/// can be replayed.
pub fn check_skew(date_secs: i64, now_secs: i64, max_skew_secs: u64) -> Result<(), AuthError> {
    if date_secs.abs_diff(now_secs) > max_skew_secs {
        return Err(AuthError::RequestTimeTooSkewed { request_time: date_secs, server_time: now_secs, max_skew_secs });
    }
    Ok(())
}

/// The system clock in seconds since the Unix epoch; a clock set before 1970 reads as negative.
pub fn unix_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_instants() {
        assert_eq!(parse_acs_date("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_acs_date("2023-10-26T10:22:32Z"), Ok(1_698_315_752));
        assert_eq!(parse_acs_date("2000-02-29T23:59:59Z"), Ok(951_868_799));
        assert_eq!(parse_acs_date("1969-12-31T23:59:59Z"), Ok(-1));
        assert_eq!(parse_acs_date("2038-01-19T03:14:08Z"), Ok(1 << 31));
    }

    #[test]
    fn leap_years() {
        assert!(parse_acs_date("2024-02-29T00:00:00Z").is_ok());
        assert!(parse_acs_date("2000-02-29T00:00:00Z").is_ok(), "divisible by 400");
        assert!(parse_acs_date("2023-02-29T00:00:00Z").is_err());
        assert!(parse_acs_date("1900-02-29T00:00:00Z").is_err(), "divisible by 100, not 400");
        assert!(parse_acs_date("2024-02-30T00:00:00Z").is_err());
    }

    #[test]
    fn rejects_out_of_range_fields() {
        for bad in [
            "2023-00-10T00:00:00Z",
            "2023-13-10T00:00:00Z",
            "2023-04-31T00:00:00Z",
            "2023-01-32T00:00:00Z",
            "2023-01-00T00:00:00Z",
            "2023-01-01T24:00:00Z",
            "2023-01-01T00:60:00Z",
            "2023-01-01T00:00:60Z",
        ] {
            assert_eq!(parse_acs_date(bad), Err(AuthError::InvalidTimestamp(bad.to_owned())), "{bad}");
        }
    }

    #[test]
    fn rejects_other_spellings() {
        for bad in [
            "",
            "2023-10-26T10:22:32",
            "2023-10-26 10:22:32Z",
            "2023-10-26t10:22:32z",
            "2023-10-26T10:22:32.000Z",
            "2023-10-26T10:22:32+00:00",
            "20231026T102232Z",
            "2023-1-026T10:22:32Z",
            "+023-10-26T10:22:32Z",
            "2023-10-26T10:22:3ZZ",
            "２023-10-26T10:22:32Z",
        ] {
            assert!(matches!(parse_acs_date(bad), Err(AuthError::InvalidTimestamp(_))), "{bad}");
        }
    }

    #[test]
    fn format_round_trips() {
        for secs in [0, -1, 951_868_799, 1_698_315_752, 4_102_444_800, -62_135_596_800] {
            assert_eq!(parse_acs_date(&format_acs_date(secs)), Ok(secs), "{secs}");
        }
        assert_eq!(format_acs_date(1_698_315_752), "2023-10-26T10:22:32Z");
        assert_eq!(format_acs_date(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn skew_window_is_inclusive_and_symmetric() {
        let now = 1_698_315_752;
        assert_eq!(check_skew(now, now, 900), Ok(()));
        assert_eq!(check_skew(now - 900, now, 900), Ok(()));
        assert_eq!(check_skew(now + 900, now, 900), Ok(()));
        assert_eq!(
            check_skew(now - 901, now, 900),
            Err(AuthError::RequestTimeTooSkewed { request_time: now - 901, server_time: now, max_skew_secs: 900 })
        );
        assert!(matches!(check_skew(now + 901, now, 900), Err(AuthError::RequestTimeTooSkewed { .. })));
        assert!(check_skew(i64::MIN, i64::MAX, u64::MAX).is_ok());
        assert!(check_skew(i64::MIN, i64::MAX, DEFAULT_MAX_SKEW_SECS).is_err());
    }

    #[test]
    fn clock_is_after_the_date_this_was_written() {
        assert!(unix_now() > 1_698_315_752);
    }
}
