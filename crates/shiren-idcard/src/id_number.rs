//! Resident identity numbers per GB 11643-1999.
//!
//! An 18-character number is a 6-digit region code, the birth date as YYYYMMDD, a 3-digit
//! sequence (odd for men, even for women) and an ISO 7064 MOD 11-2 check character (0-9 or X).
//!
//! [`validate`] checks, in this order, and reports the first failure: length, characters, check
//! character, birth date, region. Cheap structural checks come first; the check character comes
//! before the date and the region because a mistyped digit anywhere most often shows up as a
//! wrong check character, and saying so is more helpful than complaining about the field the
//! typo happened to land in.

use std::fmt;

use serde::{Serialize, Serializer};
use shiren_calendar::Date;
use thiserror::Error;

use crate::mask::mask_id_number;
use crate::region::{Region, RegionTable};

/// The earliest birth year accepted. GB 11643 itself shows an 1880 example, but no one born
/// before 1900 is alive to be verified, so such a date is a typo.
pub const EARLIEST_BIRTH_YEAR: u16 = 1900;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARACTERS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// Why an ID number was rejected. Each problem has its own variant and [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdNumberError {
    #[error("an ID number has 18 characters; this one has {length}")]
    WrongLength { length: usize },
    #[error("this is a 15-digit first-generation ID number; the 18-digit second-generation number is required")]
    FirstGeneration,
    #[error(
        "character {position} ({character:?}) is not allowed: the first 17 must be digits and the last a digit or X"
    )]
    InvalidCharacter { position: usize, character: char },
    #[error("the check character is {found}; for these first 17 digits it must be {expected}")]
    WrongCheckCharacter { expected: char, found: char },
    #[error("the birth date {year:04}{month:02}{day:02} does not exist")]
    InvalidBirthDate { year: u16, month: u8, day: u8 },
    #[error("the birth date {date} is before {EARLIEST_BIRTH_YEAR}")]
    BirthDateTooEarly { date: Date },
    #[error("the birth date {date} is in the future")]
    BirthDateInFuture { date: Date },
    #[error("the region code {code:06} does not exist")]
    UnknownRegion { code: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Male,
    Female,
}

/// A validated ID number and what it encodes.
///
/// `Debug` and `Serialize` show the number masked (`1****************X`) so that logging or
/// returning the value does not leak it; read [`number`](Self::number) when the full number is
/// really needed.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct IdNumber {
    #[serde(rename = "number_masked", serialize_with = "serialize_masked")]
    number: String,
    pub region: Region,
    pub birth_date: Date,
    /// The three digits after the birth date, 0 to 999.
    pub sequence: u16,
    pub sex: Sex,
}

impl IdNumber {
    /// The 18 characters, with a lowercase check `x` made uppercase.
    pub fn number(&self) -> &str {
        &self.number
    }

    /// Whole years of age on `date` (0 before the birth date).
    pub fn age_on(&self, date: Date) -> u16 {
        self.birth_date.years_until(date)
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdNumber")
            .field("number", &mask_id_number(&self.number))
            .field("region", &self.region)
            .field("birth_date", &self.birth_date)
            .field("sequence", &self.sequence)
            .field("sex", &self.sex)
            .finish()
    }
}

fn serialize_masked<S: Serializer>(number: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&mask_id_number(number))
}

/// The check character for the first 17 digits of a number, or `None` if `first17` is not
/// exactly 17 ASCII digits.
pub fn check_character(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    (bytes.len() == 17 && bytes.iter().all(u8::is_ascii_digit)).then(|| weighted_check(bytes))
}

/// `digits` are 17 ASCII digits.
fn weighted_check(digits: &[u8]) -> char {
    let sum: u32 = digits.iter().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    CHECK_CHARACTERS[(sum % 11) as usize]
}

/// Validates an 18-character ID number against the region table, with `today` (in China, see
/// [`Date::today_in_china`]) bounding the birth date. Surrounding whitespace is ignored; a space
/// or dash inside is an invalid character. Any region code in the table is accepted, abolished ones included, and
/// without comparing the birth year to the years the code was in use: numbers are issued at
/// registration, which can be years after birth.
pub fn validate(number: &str, table: &RegionTable, today: Date) -> Result<IdNumber, IdNumberError> {
    let number = number.trim();
    let length = number.chars().count();
    if length != 18 {
        if length == 15 && number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdNumberError::FirstGeneration);
        }
        return Err(IdNumberError::WrongLength { length });
    }
    for (index, character) in number.chars().enumerate() {
        let allowed = character.is_ascii_digit() || (index == 17 && matches!(character, 'X' | 'x'));
        if !allowed {
            return Err(IdNumberError::InvalidCharacter { position: index + 1, character });
        }
    }
    // All 18 characters are ASCII from here on, so byte offsets are character offsets.
    let number = number.to_ascii_uppercase();
    let digit = |i: usize| u32::from(number.as_bytes()[i] - b'0');
    let digits = |range: std::ops::Range<usize>| range.fold(0u32, |n, i| n * 10 + digit(i));

    let expected = weighted_check(&number.as_bytes()[..17]);
    let found = char::from(number.as_bytes()[17]);
    if found != expected {
        return Err(IdNumberError::WrongCheckCharacter { expected, found });
    }

    // Each is at most 4 (year) or 2 digits, so the narrowing casts are exact.
    let (year, month, day) = (digits(6..10) as u16, digits(10..12) as u8, digits(12..14) as u8);
    let birth_date = Date::new(year, month, day).ok_or(IdNumberError::InvalidBirthDate { year, month, day })?;
    if year < EARLIEST_BIRTH_YEAR {
        return Err(IdNumberError::BirthDateTooEarly { date: birth_date });
    }
    if birth_date > today {
        return Err(IdNumberError::BirthDateInFuture { date: birth_date });
    }

    let code = digits(0..6);
    let region = table.lookup(code).ok_or(IdNumberError::UnknownRegion { code })?.clone();

    let sequence = digits(14..17) as u16;
    let sex = if sequence % 2 == 1 { Sex::Male } else { Sex::Female };
    Ok(IdNumber { number, region, birth_date, sequence, sex })
}
