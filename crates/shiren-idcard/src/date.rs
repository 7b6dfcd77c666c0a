//! A calendar date, just enough for birth dates and ages (the workspace has no date crate).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

/// A valid proleptic Gregorian date. Orders chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// The date, if it exists in the calendar (year 1 to 9999).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let valid =
            (1..=9999).contains(&year) && (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    pub fn year(self) -> u16 {
        self.year
    }

    pub fn month(self) -> u8 {
        self.month
    }

    pub fn day(self) -> u8 {
        self.day
    }

    /// The date `days` days after 1970-01-01 (negative: before), if within years 1 to 9999.
    pub fn from_unix_days(days: i64) -> Option<Date> {
        // Howard Hinnant's civil_from_days, on 400-year eras of 146 097 days.
        let z = days.checked_add(719_468)?;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe.checked_add(era.checked_mul(400)?)? + i64::from(month <= 2);
        Date::new(u16::try_from(year).ok()?, u8::try_from(month).ok()?, u8::try_from(day).ok()?)
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

pub(crate) fn is_leap_year(year: u16) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

pub(crate) fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
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
    }

    #[test]
    fn unix_days() {
        assert_eq!(Date::from_unix_days(0), Date::new(1970, 1, 1));
        assert_eq!(Date::from_unix_days(-1), Date::new(1969, 12, 31));
        assert_eq!(Date::from_unix_days(11_016), Date::new(2000, 2, 29));
        assert_eq!(Date::from_unix_days(19_782), Date::new(2024, 2, 29));
        assert_eq!(Date::from_unix_days(i64::MAX), None);
        assert_eq!(Date::from_unix_days(i64::MIN), None);
        let mut previous = Date::from_unix_days(-30_000).unwrap();
        for days in -29_999..30_000 {
            let date = Date::from_unix_days(days).unwrap();
            assert!(date > previous, "{date} after {previous}");
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
    }
}
