//! Day counting on the proleptic Gregorian calendar (the Gregorian rules extended to every year,
//! as ISO 8601 does), with days counted from the Unix epoch, 1970-01-01.
//!
//! Both directions are Howard Hinnant's "chrono-compatible low-level date algorithms": the year is
//! taken to start on 1 March, so that the leap day is the last day of its year and month lengths
//! follow a fixed pattern, and days are grouped in 400-year eras of 146 097 days, after which the
//! calendar repeats. The arithmetic runs in `i128`, so that no input can overflow it.

/// Milliseconds in a day (Unix time has no leap seconds, so every day has exactly this many).
pub const MS_PER_DAY: i64 = 86_400_000;

/// Days in a 400-year era: 400 × 365 plus 97 leap days.
const DAYS_PER_ERA: i128 = 146_097;
/// Days from 0000-03-01, where the era counting starts, to 1970-01-01.
const DAYS_FROM_ERA_START_TO_EPOCH: i128 = 719_468;

/// Whether `year` has a 29 February: every fourth year, except centuries not divisible by 400.
pub fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` (1 to 12) of `year`; 0 for a month that does not exist.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 to `year`-`month`-`day` (negative before it).
///
/// Expects `month` in 1..=12 and `day` in 1..=31 but does not check that the date exists:
/// 2023-02-31 counts as 2023-03-03. Check with [`days_in_month`] or [`crate::Date::new`] where
/// that matters. A year so far away that its days do not fit in an `i64` (beyond about 25 million
/// billion years) gives `i64::MIN` or `i64::MAX`.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i128::from(month), i128::from(day));
    // January and February are the last months of the era-year that began the March before.
    let year = i128::from(year) - i128::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    // 153 days per five months (31, 30, 31, 30, 31) from March on, rounded to whole days.
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * DAYS_PER_ERA + day_of_era - DAYS_FROM_ERA_START_TO_EPOCH;
    i64::try_from(days).unwrap_or(if days < 0 { i64::MIN } else { i64::MAX })
}

/// The date `days` after 1970-01-01 (before it when negative), as (year, month 1 to 12, day 1 to
/// 31). Defined for every `i64`.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let from_era_start = i128::from(days) + DAYS_FROM_ERA_START_TO_EPOCH;
    let era = from_era_start.div_euclid(DAYS_PER_ERA);
    let day_of_era = from_era_start.rem_euclid(DAYS_PER_ERA);
    // Takes out the leap days of every 4th, 100th and 400th year so that 365-day years remain.
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = era * 400 + year_of_era + i128::from(month <= 2);
    // An i64 of days spans fewer than 2^55 years either way, and month and day are in 1..=12 and
    // 1..=31, so none of these conversions truncates.
    (year as i64, month as u32, day as u32)
}

/// The UTC day of a time in milliseconds since the Unix epoch, as `YYYY-MM-DD`.
pub fn utc_day(ms: i64) -> String {
    let (year, month, day) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        let start = days_from_civil(1900, 1, 1);
        let end = days_from_civil(2300, 1, 1);
        assert_eq!(end - start, 146_097, "four centuries are one era");
        let mut previous = civil_from_days(start - 1);
        for days in start..end {
            let (year, month, day) = civil_from_days(days);
            assert!((1..=days_in_month(year, month)).contains(&day), "{year}-{month}-{day}");
            assert_eq!(days_from_civil(year, month, day), days);
            assert!((year, month, day) > previous, "{year}-{month}-{day} after {previous:?}");
            previous = (year, month, day);
        }
    }

    #[test]
    fn known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
        assert_eq!(days_from_civil(0, 3, 1), -719_468);
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-719_469), (0, 2, 29), "year 0 is a leap year");
        assert_eq!(civil_from_days(-719_529), (-1, 12, 31));
    }

    #[test]
    fn leap_years() {
        assert!(is_leap_year(2024));
        assert!(is_leap_year(2000), "divisible by 400");
        assert!(!is_leap_year(1900), "divisible by 100, not 400");
        assert!(!is_leap_year(2023));
        assert!(is_leap_year(0) && is_leap_year(-4) && !is_leap_year(-100) && is_leap_year(-400));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(2023, 4), 30);
        assert_eq!(days_in_month(2023, 12), 31);
        assert_eq!(days_in_month(2023, 0), 0);
        assert_eq!(days_in_month(2023, 13), 0);
        let days_in_years = |from: i64, to: i64| days_from_civil(to, 1, 1) - days_from_civil(from, 1, 1);
        assert_eq!(days_in_years(2024, 2025), 366);
        assert_eq!(days_in_years(2100, 2101), 365);
        assert_eq!(days_in_years(1600, 2000), 146_097);
    }

    #[test]
    fn the_whole_range_of_i64_is_defined() {
        for days in [i64::MIN, i64::MIN + 1, -1 << 40, -1, 0, 1 << 40, i64::MAX - 1, i64::MAX] {
            let (year, month, day) = civil_from_days(days);
            assert!((1..=days_in_month(year, month)).contains(&day), "{days}");
            assert_eq!(days_from_civil(year, month, day), days, "{days}");
        }
        let step = (i64::MAX / 10_007) | 1;
        for days in (i64::MIN..=i64::MAX - step).step_by(step as usize) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days, "{days}");
        }
        // Days that do not fit are clamped, never wrapped.
        assert_eq!(days_from_civil(i64::MAX, 12, 31), i64::MAX);
        assert_eq!(days_from_civil(i64::MIN, 1, 1), i64::MIN);
    }

    #[test]
    fn dates_that_do_not_exist_spill_into_the_next_month() {
        assert_eq!(days_from_civil(2023, 2, 31), days_from_civil(2023, 3, 3));
        assert_eq!(days_from_civil(2023, 4, 31), days_from_civil(2023, 5, 1));
    }

    #[test]
    fn utc_days() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(-1), "1969-12-31");
        assert_eq!(utc_day(MS_PER_DAY - 1), "1970-01-01");
        assert_eq!(utc_day(MS_PER_DAY), "1970-01-02");
        assert_eq!(utc_day(days_from_civil(2024, 2, 29) * MS_PER_DAY + 5), "2024-02-29");
        assert_eq!(utc_day(1_698_315_752_000), "2023-10-26");
        assert_eq!(utc_day(i64::MAX), "292278994-08-17");
        assert_eq!(utc_day(i64::MIN), "-292275055-05-16");
    }
}
