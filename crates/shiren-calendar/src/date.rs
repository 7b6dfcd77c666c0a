//! [`Date`]: a calendar date that exists, for birth dates, ages and the days an API query names.
//! Kept small on purpose: year, month and day, ordered, counted in days from the Unix epoch,
//! written and read as `YYYY-MM-DD`.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};
use thiserror::Error;

use crate::civil::{civil_from_days, days_from_civil, days_in_month};

/// A valid proleptic Gregorian date, years 1 to 9999 (the years `YYYY` can write). Orders
/// chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

/// Why [`Date::parse`] refused a text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseDateError {
    /// Not four digits, `-`, two digits, `-`, two digits.
    #[error("not a date written YYYY-MM-DD")]
    Format,
    /// A year outside what [`Date::parse`] accepts.
    #[error("the year {0:04} is outside {first} to {last}", first = Date::PARSE_YEARS.start(), last = Date::PARSE_YEARS.end())]
    YearOutOfRange(u16),
    /// A month or day that does not exist in the calendar.
    #[error("{year:04}-{month:02}-{day:02} is not a day of the calendar")]
    NoSuchDate {
        /// The year written.
        year: u16,
        /// The month written.
        month: u8,
        /// The day written.
        day: u8,
    },
}

impl Date {
    /// The years [`Date::parse`] accepts: days that Unix time counts forwards, as API queries
    /// name them (a day before 1970 there is a typo, and a negative time would follow from it).
    pub const PARSE_YEARS: std::ops::RangeInclusive<u16> = 1970..=9999;

    /// The date, if it exists in the calendar (year 1 to 9999).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let valid = (1..=9999).contains(&year)
            && day >= 1
            && u32::from(day) <= days_in_month(i64::from(year), u32::from(month));
        valid.then_some(Date { year, month, day })
    }

    /// Reads `YYYY-MM-DD` exactly: four, two and two ASCII digits, no sign, spaces or other
    /// separators, a year in [`Date::PARSE_YEARS`], and a day that exists.
    pub fn parse(text: &str) -> Result<Date, ParseDateError> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(ParseDateError::Format);
        }
        let number = |digits: &[u8]| {
            digits.iter().try_fold(0u16, |value, &c| c.is_ascii_digit().then(|| value * 10 + u16::from(c - b'0')))
        };
        let (Some(year), Some(month), Some(day)) = (number(&bytes[0..4]), number(&bytes[5..7]), number(&bytes[8..10]))
        else {
            return Err(ParseDateError::Format);
        };
        if !Self::PARSE_YEARS.contains(&year) {
            return Err(ParseDateError::YearOutOfRange(year));
        }
        // Two digits are at most 99, so they fit a u8.
        let (month, day) = (month as u8, day as u8);
        Date::new(year, month, day).ok_or(ParseDateError::NoSuchDate { year, month, day })
    }

    /// The year, 1 to 9999.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1 to 31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// The date `days` days after 1970-01-01 (negative: before), if within years 1 to 9999.
    pub fn from_unix_days(days: i64) -> Option<Date> {
        let (year, month, day) = civil_from_days(days);
        Date::new(u16::try_from(year).ok()?, u8::try_from(month).ok()?, u8::try_from(day).ok()?)
    }

    /// Days from 1970-01-01 to this date (negative before it).
    pub fn to_unix_days(self) -> i64 {
        days_from_civil(i64::from(self.year), u32::from(self.month), u32::from(self.day))
    }

    /// Today's date in China (UTC+8, no daylight saving), from the system clock. Ages and "born in
    /// the future" are judged by the Chinese calendar day, not the server's time zone.
    pub fn today_in_china() -> Date {
        const CHINA_OFFSET_SECONDS: i64 = 8 * 3600;
        let seconds = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2),
            Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX / 2),
        };
        let days = (seconds + CHINA_OFFSET_SECONDS).div_euclid(86_400);
        // A clock beyond year 9999 or before year 1 is broken; the epoch is as good a day as any.
        Date::from_unix_days(days).unwrap_or(Date { year: 1970, month: 1, day: 1 })
    }

    /// Whole years from `self` to `on` (0 if `on` is earlier). Someone born on 29 February
    /// turns a year older on 1 March in common years.
    pub fn years_until(self, on: Date) -> u16 {
        if on < self {
            return 0;
        }
        let years = on.year - self.year;
        if (on.month, on.day) < (self.month, self.day) { years - 1 } else { years }
    }
}

/// As `YYYY-MM-DD`.
impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// As `YYYY-MM-DD`.
impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_rules() {
        assert!(Date::new(2024, 2, 29).is_some());
        assert!(Date::new(2023, 2, 29).is_none());
        assert!(Date::new(2000, 2, 29).is_some());
        assert!(Date::new(1900, 2, 29).is_none());
        assert!(Date::new(2023, 4, 31).is_none());
        assert!(Date::new(2023, 13, 1).is_none());
        assert!(Date::new(2023, 0, 1).is_none());
        assert!(Date::new(2023, 1, 0).is_none());
        assert!(Date::new(2023, 1, 32).is_none());
        assert!(Date::new(0, 1, 1).is_none());
        assert!(Date::new(10_000, 1, 1).is_none());
        assert!(Date::new(1, 1, 1).is_some() && Date::new(9999, 12, 31).is_some());
    }

    #[test]
    fn unix_days() {
        assert_eq!(Date::from_unix_days(0), Date::new(1970, 1, 1));
        assert_eq!(Date::from_unix_days(-1), Date::new(1969, 12, 31));
        assert_eq!(Date::from_unix_days(11_016), Date::new(2000, 2, 29));
        assert_eq!(Date::from_unix_days(19_782), Date::new(2024, 2, 29));
        assert_eq!(Date::from_unix_days(-719_162), Date::new(1, 1, 1));
        assert_eq!(Date::from_unix_days(-719_163), None, "year 0");
        assert_eq!(Date::from_unix_days(2_932_896), Date::new(9999, 12, 31));
        assert_eq!(Date::from_unix_days(2_932_897), None, "year 10000");
        assert_eq!(Date::from_unix_days(i64::MAX), None);
        assert_eq!(Date::from_unix_days(i64::MIN), None);
        let mut previous = Date::from_unix_days(-30_000).unwrap();
        for days in -29_999..30_000 {
            let date = Date::from_unix_days(days).unwrap();
            assert!(date > previous, "{date} after {previous}");
            assert_eq!(date.to_unix_days(), days);
            previous = date;
        }
        assert!(Date::today_in_china().year() >= 2025);
    }

    #[test]
    fn ages() {
        let born = Date::new(1990, 3, 7).unwrap();
        assert_eq!(born.years_until(Date::new(2020, 3, 6).unwrap()), 29);
        assert_eq!(born.years_until(Date::new(2020, 3, 7).unwrap()), 30);
        assert_eq!(born.years_until(Date::new(1980, 1, 1).unwrap()), 0);
        let leap = Date::new(2000, 2, 29).unwrap();
        assert_eq!(leap.years_until(Date::new(2001, 2, 28).unwrap()), 0);
        assert_eq!(leap.years_until(Date::new(2001, 3, 1).unwrap()), 1);
        assert_eq!(leap.years_until(Date::new(2004, 2, 29).unwrap()), 4);
    }

    #[test]
    fn displays_and_serializes_iso() {
        let date = Date::new(987, 6, 5).unwrap();
        assert_eq!(date.to_string(), "0987-06-05");
        assert_eq!(serde_json::to_value(date).unwrap(), "0987-06-05");
    }

    #[test]
    fn parses_strictly() {
        assert_eq!(Date::parse("2026-02-28"), Ok(Date::new(2026, 2, 28).unwrap()));
        assert_eq!(Date::parse("2024-02-29").map(Date::to_unix_days), Ok(19_782));
        assert_eq!(Date::parse("1970-01-01").map(Date::to_unix_days), Ok(0));
        assert_eq!(Date::parse("9999-12-31").map(Date::to_unix_days), Ok(2_932_896));
        assert_eq!(Date::parse("2026-02-29"), Err(ParseDateError::NoSuchDate { year: 2026, month: 2, day: 29 }));
        assert_eq!(Date::parse("1900-02-29"), Err(ParseDateError::YearOutOfRange(1900)));
        assert_eq!(Date::parse("2026-13-01"), Err(ParseDateError::NoSuchDate { year: 2026, month: 13, day: 1 }));
        assert_eq!(Date::parse("2026-00-10"), Err(ParseDateError::NoSuchDate { year: 2026, month: 0, day: 10 }));
        assert_eq!(Date::parse("2026-04-31"), Err(ParseDateError::NoSuchDate { year: 2026, month: 4, day: 31 }));
        assert_eq!(Date::parse("1969-12-31"), Err(ParseDateError::YearOutOfRange(1969)));
        assert_eq!(Date::parse("0000-01-01"), Err(ParseDateError::YearOutOfRange(0)));
        for malformed in [
            "",
            "yesterday",
            "2026-2-28",
            "2026-02-8",
            "26-02-28",
            "02026-02-28",
            "+2026-02-28",
            "2026-+2-28",
            "2026-02-+8",
            "2026/02/28",
            "2026-02-28 ",
            " 2026-02-28",
            "2026-02-28T00:00:00Z",
            "20260228",
            "２026-02-28",
            "2026-0٢-28",
        ] {
            assert_eq!(Date::parse(malformed), Err(ParseDateError::Format), "{malformed:?}");
        }
        assert_eq!(
            ParseDateError::YearOutOfRange(1969).to_string(),
            "the year 1969 is outside 1970 to 9999",
            "the message names the accepted years"
        );
    }
}
