//! The identity documents that carry an 18-character number in the resident ID card's format,
//! told apart by the number itself:
//!
//! - the resident identity card (居民身份证): a region code of the table, GB 11643;
//! - the residence permits for residents of Hong Kong, Macao and Taiwan (港澳台居民居住证, since
//!   2018): the same structure with the fixed "region" 810000, 820000 or 830000;
//! - the foreigner's permanent residence card (外国人永久居留身份证), 2023 edition: 18
//!   characters beginning with 9 (the National Immigration Administration's rules: 9, the
//!   accepting province, a numeric nationality code, the birth date, a sequence, and the same
//!   MOD 11-2 check character). Its 2017 edition's number (3 Latin letters for the nationality
//!   and 12 digits) has no published check character; it is recognised by its shape and its
//!   birth date only.

use serde::{Deserialize, Serialize};
use shiren_calendar::Date;

use crate::id_number::{EARLIEST_BIRTH_YEAR, IdNumberError, Sex, validate};
use crate::region::RegionTable;

/// Which document a number belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// 居民身份证.
    ResidentIdCard,
    /// 港澳居民居住证 of a Hong Kong resident (810000).
    HongKongResidencePermit,
    /// 港澳居民居住证 of a Macao resident (820000).
    MacaoResidencePermit,
    /// 台湾居民居住证 (830000).
    TaiwanResidencePermit,
    /// 外国人永久居留身份证.
    ForeignPermanentResidentCard,
}

impl DocumentKind {
    /// The name the API answers with.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::ResidentIdCard => "resident_id_card",
            DocumentKind::HongKongResidencePermit => "hong_kong_residence_permit",
            DocumentKind::MacaoResidencePermit => "macao_residence_permit",
            DocumentKind::TaiwanResidencePermit => "taiwan_residence_permit",
            DocumentKind::ForeignPermanentResidentCard => "foreign_permanent_resident_card",
        }
    }

    /// The kind a number's shape says, before any validation: the permits' fixed prefixes, a
    /// leading 9 of 18 characters or three letters then twelve digits for the foreigner's card,
    /// anything else the resident card.
    pub fn of_number(number: &str) -> DocumentKind {
        let number = number.trim();
        let letters_then_digits = number.len() == 15
            && number.bytes().take(3).all(|b| b.is_ascii_alphabetic())
            && number.bytes().skip(3).all(|b| b.is_ascii_digit());
        if number.starts_with("810000") {
            DocumentKind::HongKongResidencePermit
        } else if number.starts_with("820000") {
            DocumentKind::MacaoResidencePermit
        } else if number.starts_with("830000") {
            DocumentKind::TaiwanResidencePermit
        } else if (number.len() == 18 && number.starts_with('9')) || letters_then_digits {
            DocumentKind::ForeignPermanentResidentCard
        } else {
            DocumentKind::ResidentIdCard
        }
    }

    /// The kind a card's printed title names (the permits' and the foreigner's card's backs), if
    /// any: `text` with spaces removed.
    pub fn of_title(text: &str) -> Option<DocumentKind> {
        if text.contains("台湾居民居住证") {
            Some(DocumentKind::TaiwanResidencePermit)
        } else if text.contains("港澳居民居住证") {
            // Hong Kong and Macao residents share the title; the number tells them apart.
            Some(DocumentKind::HongKongResidencePermit)
        } else if text.contains("永久居留") {
            Some(DocumentKind::ForeignPermanentResidentCard)
        } else if text.contains("居民身份证") {
            Some(DocumentKind::ResidentIdCard)
        } else {
            None
        }
    }

    /// One of the three residence permits.
    pub fn is_residence_permit(self) -> bool {
        matches!(
            self,
            DocumentKind::HongKongResidencePermit
                | DocumentKind::MacaoResidencePermit
                | DocumentKind::TaiwanResidencePermit
        )
    }

    /// Whether two kinds can be the two sides of one card (the permits' backs share a title).
    pub fn same_card(self, other: DocumentKind) -> bool {
        let family = |k: DocumentKind| match k {
            DocumentKind::HongKongResidencePermit | DocumentKind::MacaoResidencePermit => 1,
            other => other as u8 + 10,
        };
        family(self) == family(other)
    }
}

/// A validated document number and what it encodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentNumber {
    pub kind: DocumentKind,
    pub birth_date: Date,
    /// From the sequence's parity where the document's rules define it (the resident card and
    /// the permits).
    pub sex: Option<Sex>,
}

/// Validates a number of any of the documents above: the resident card's number as
/// [`validate`] does; a permit's or a 2023 foreigner's card's check character and birth date;
/// a 2017 foreigner's card's shape and birth date.
pub fn validate_document(number: &str, table: &RegionTable, today: Date) -> Result<DocumentNumber, IdNumberError> {
    let number = number.trim();
    let kind = DocumentKind::of_number(number);
    match kind {
        DocumentKind::ResidentIdCard => {
            let id = validate(number, table, today)?;
            Ok(DocumentNumber { kind, birth_date: id.birth_date, sex: Some(id.sex) })
        }
        DocumentKind::ForeignPermanentResidentCard if number.len() == 15 => {
            let birth_date = birth_in(&number[5..11], true, today)?;
            Ok(DocumentNumber { kind, birth_date, sex: None })
        }
        _ => {
            // 18 characters: the check character first (as `validate` orders its checks).
            if number.len() != 18 {
                return Err(IdNumberError::WrongLength { length: number.chars().count() });
            }
            for (index, character) in number.chars().enumerate() {
                if !(character.is_ascii_digit() || (index == 17 && matches!(character, 'X' | 'x'))) {
                    return Err(IdNumberError::InvalidCharacter { position: index + 1, character });
                }
            }
            let upper = number.to_ascii_uppercase();
            let expected = crate::id_number::check_character(&upper[..17]).unwrap_or('?');
            let found = char::from(upper.as_bytes()[17]);
            if found != expected {
                return Err(IdNumberError::WrongCheckCharacter { expected, found });
            }
            let birth_date = birth_in(&upper[6..14], false, today)?;
            let sex = (kind != DocumentKind::ForeignPermanentResidentCard)
                .then(|| if (upper.as_bytes()[16] - b'0') % 2 == 1 { Sex::Male } else { Sex::Female });
            Ok(DocumentNumber { kind, birth_date, sex })
        }
    }
}

/// A birth date from `YYYYMMDD`, or from `YYMMDD` (`short`) in the century that puts it in the
/// past.
fn birth_in(digits: &str, short: bool, today: Date) -> Result<Date, IdNumberError> {
    let value = |range: std::ops::Range<usize>| digits.get(range).and_then(|s| s.parse::<u16>().ok()).unwrap_or(0);
    let (year, month, day) = if short {
        let yy = value(0..2);
        let this_century = 2000 + yy;
        (if this_century > today.year() { 1900 + yy } else { this_century }, value(2..4), value(4..6))
    } else {
        (value(0..4), value(4..6), value(6..8))
    };
    let (month, day) = (month.min(255) as u8, day.min(255) as u8);
    let date = Date::new(year, month, day).ok_or(IdNumberError::InvalidBirthDate { year, month, day })?;
    if year < EARLIEST_BIRTH_YEAR {
        return Err(IdNumberError::BirthDateTooEarly { date });
    }
    if date > today {
        return Err(IdNumberError::BirthDateInFuture { date });
    }
    Ok(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id_number::check_character;

    fn with_check(first17: &str) -> String {
        format!("{first17}{}", check_character(first17).unwrap())
    }

    fn table() -> RegionTable {
        RegionTable::parse("11 province=\"北京市\"\n  0101 county=\"东城区\"\n").unwrap()
    }

    #[test]
    fn permits_and_the_foreigners_card_are_told_apart_and_validated() {
        let today = Date::new(2026, 12, 1).unwrap();
        let hk = with_check("81000019900101001");
        let tw = with_check("83000019851231002");
        let foreign = with_check("91115619800615001");
        assert_eq!(DocumentKind::of_number(&hk), DocumentKind::HongKongResidencePermit);
        assert_eq!(DocumentKind::of_number(&with_check("82000019900101001")), DocumentKind::MacaoResidencePermit);
        let permit = validate_document(&hk, &table(), today).unwrap();
        assert_eq!((permit.kind, permit.sex), (DocumentKind::HongKongResidencePermit, Some(Sex::Male)));
        assert_eq!(validate_document(&tw, &table(), today).unwrap().sex, Some(Sex::Female));
        let card = validate_document(&foreign, &table(), today).unwrap();
        assert_eq!(
            (card.kind, card.birth_date),
            (DocumentKind::ForeignPermanentResidentCard, Date::new(1980, 6, 15).unwrap())
        );
        let old = validate_document("USA118006150010", &table(), today).unwrap();
        assert_eq!(old.birth_date, Date::new(1980, 6, 15).unwrap());
        // A wrong check character, an impossible date, a resident number of an unknown region.
        let mut wrong = hk.clone();
        wrong.replace_range(17.., if hk.ends_with('0') { "1" } else { "0" });
        assert!(matches!(validate_document(&wrong, &table(), today), Err(IdNumberError::WrongCheckCharacter { .. })));
        assert!(matches!(
            validate_document(&with_check("81000019901301001"), &table(), today),
            Err(IdNumberError::InvalidBirthDate { .. })
        ));
        assert!(matches!(
            validate_document(&with_check("12345619900101001"), &table(), today),
            Err(IdNumberError::UnknownRegion { .. })
        ));
        assert_eq!(
            validate_document(&with_check("11010119900101001"), &table(), today).unwrap().kind,
            DocumentKind::ResidentIdCard
        );
    }

    #[test]
    fn titles_and_pairs() {
        assert_eq!(DocumentKind::of_title("中华人民共和国台湾居民居住证"), Some(DocumentKind::TaiwanResidencePermit));
        assert_eq!(DocumentKind::of_title("中华人民共和国居民身份证"), Some(DocumentKind::ResidentIdCard));
        assert!(DocumentKind::HongKongResidencePermit.same_card(DocumentKind::MacaoResidencePermit));
        assert!(!DocumentKind::ResidentIdCard.same_card(DocumentKind::TaiwanResidencePermit));
    }
}
