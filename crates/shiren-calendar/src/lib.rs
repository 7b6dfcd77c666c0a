//! Shiren's calendar: day arithmetic on the proleptic Gregorian calendar, and a calendar date.
//!
//! The workspace has no date crate and needs very little of one: counting days since the Unix
//! epoch (request timestamps, statistics days, retention), telling whether a date exists (birth
//! dates in ID numbers, days in API queries) and ages. That arithmetic used to be written out in
//! four places; it lives here once, tested once. No time zones beyond the fixed UTC+8 that
//! [`Date::today_in_china`] needs, no I/O except reading the system clock there.
//!
//! - [`days_from_civil`] and [`civil_from_days`]: year-month-day ↔ days since 1970-01-01 (Howard
//!   Hinnant's algorithms), exact for every day an `i64` can count;
//! - [`utc_day`]: the UTC day of a time in milliseconds, as `YYYY-MM-DD`;
//! - [`Date`]: a date that exists, years 1 to 9999, with a strict `YYYY-MM-DD` parser.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod civil;
mod date;

pub use civil::{MS_PER_DAY, civil_from_days, days_from_civil, days_in_month, is_leap_year, utc_day};
pub use date::{Date, ParseDateError};
