//! The other elements of 3- and 4-element verification: name, mobile number and bank card.
//!
//! Each validator trims surrounding whitespace and returns the value to use; nothing inside the
//! value is rewritten (no removing of spaces or dashes), so what is verified is what was sent.
//! Positions in errors count characters from 1, after trimming.

use thiserror::Error;

/// The most characters a name may have; long enough for transliterated minority and foreign
/// names, short enough to stop junk.
pub const MAX_NAME_CHARS: usize = 64;

/// The separator in minority names as printed on ID cards, e.g. 阿依古丽·买买提.
pub const MIDDLE_DOT: char = '\u{00B7}';

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PhoneError {
    #[error("a mobile number has 11 digits; this one has {length} characters")]
    WrongLength { length: usize },
    #[error("character {position} ({character:?}) is not a digit")]
    InvalidCharacter { position: usize, character: char },
    #[error("a mainland mobile number starts with 13 to 19; this one starts with {prefix}")]
    InvalidPrefix { prefix: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BankCardError {
    #[error("a bank card number has 12 to 19 digits; this one has {length} characters")]
    WrongLength { length: usize },
    #[error("character {position} ({character:?}) is not a digit")]
    InvalidCharacter { position: usize, character: char },
    #[error("the bank card number fails its check digit (Luhn)")]
    WrongCheckDigit,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("the name is empty")]
    Empty,
    #[error("the name has {length} characters; at most {MAX_NAME_CHARS} are allowed")]
    TooLong { length: usize },
    #[error("character {position} ({character:?}) is not allowed in a name: use Chinese characters or Latin letters")]
    InvalidCharacter { position: usize, character: char },
    #[error("character {position} ({character:?}) must stand between two letters (a space only between Latin letters)")]
    MisplacedSeparator { position: usize, character: char },
}

/// A mainland mobile number: 11 digits, `1` then `3`-`9`. Checks length, then characters, then
/// the prefix. No `+86` or separators.
pub fn validate_phone(phone: &str) -> Result<&str, PhoneError> {
    let phone = phone.trim();
    let length = phone.chars().count();
    if length != 11 {
        return Err(PhoneError::WrongLength { length });
    }
    first_non_digit(phone)
        .map_or(Ok(()), |(position, character)| Err(PhoneError::InvalidCharacter { position, character }))?;
    let bytes = phone.as_bytes();
    if bytes[0] != b'1' || !(b'3'..=b'9').contains(&bytes[1]) {
        return Err(PhoneError::InvalidPrefix { prefix: phone[..2].to_string() });
    }
    Ok(phone)
}

/// A bank card number: 12 to 19 digits passing the Luhn check. Checks length, then characters,
/// then the check digit. No separators.
pub fn validate_bank_card(card: &str) -> Result<&str, BankCardError> {
    let card = card.trim();
    let length = card.chars().count();
    if !(12..=19).contains(&length) {
        return Err(BankCardError::WrongLength { length });
    }
    first_non_digit(card)
        .map_or(Ok(()), |(position, character)| Err(BankCardError::InvalidCharacter { position, character }))?;
    if !luhn_valid(card.as_bytes()) {
        return Err(BankCardError::WrongCheckDigit);
    }
    Ok(card)
}

/// A person's name: 1 to 64 characters of Chinese characters (including 〇) and Latin letters.
/// A middle dot `·` may join two letters (minority names); a single space may join two Latin
/// letters (foreign names). Digits, punctuation, control and invisible characters are rejected.
pub fn validate_name(name: &str) -> Result<&str, NameError> {
    let name = name.trim();
    let chars: Vec<char> = name.chars().collect();
    if chars.is_empty() {
        return Err(NameError::Empty);
    }
    if chars.len() > MAX_NAME_CHARS {
        return Err(NameError::TooLong { length: chars.len() });
    }
    for (index, &character) in chars.iter().enumerate() {
        let position = index + 1;
        if is_han(character) || is_latin_letter(character) {
            continue;
        }
        let before = index.checked_sub(1).and_then(|i| chars.get(i)).copied();
        let after = chars.get(index + 1).copied();
        let joins = |is_letter: fn(char) -> bool| before.is_some_and(is_letter) && after.is_some_and(is_letter);
        let placed = match character {
            MIDDLE_DOT => joins(|c| is_han(c) || is_latin_letter(c)),
            ' ' => joins(is_latin_letter),
            _ => return Err(NameError::InvalidCharacter { position, character }),
        };
        if !placed {
            return Err(NameError::MisplacedSeparator { position, character });
        }
    }
    Ok(name)
}

fn first_non_digit(text: &str) -> Option<(usize, char)> {
    text.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()).map(|(i, c)| (i + 1, c))
}

/// `digits` are ASCII digits; the last is the check digit.
fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Han ideographs: the unified blocks with every extension, the compatibility blocks (some
/// names are registered with them), and 〇, which appears in given names.
pub fn is_han(c: char) -> bool {
    matches!(c,
        '\u{3007}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2A6DF}'
        | '\u{2A700}'..='\u{2EE5F}'
        | '\u{2F800}'..='\u{2FA1F}'
        | '\u{30000}'..='\u{323AF}')
}

/// ASCII and accented Latin letters (Latin-1 Supplement, Extended-A/B, Extended Additional),
/// so that pinyin with tone marks and European names pass.
fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        || (matches!(c, '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}') && c != '\u{00D7}' && c != '\u{00F7}')
}
