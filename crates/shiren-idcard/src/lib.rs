//! Checks on the personal data that identity verification takes in, done before any inference
//! runs so that bad input is rejected with a specific reason:
//!
//! - PRC resident ID numbers (GB 11643-1999): length, characters, ISO 7064 check character,
//!   birth date and region code ([`validate`]), and what the number encodes ([`IdNumber`]);
//! - the other documents with numbers of that format: the residence permits of Hong Kong, Macao
//!   and Taiwan residents and the foreigner's permanent residence card ([`DocumentKind`],
//!   [`validate_document`]);
//! - the administrative region table the region check needs ([`RegionTable`]), read at run time
//!   from python-stdnum's `loc.dat` in the model directory (`data/cn-regions.dat`);
//! - names, mainland mobile numbers and bank card numbers for 3- and 4-element verification;
//! - masking of all of these for listings ([`mask_id_number`] and friends);
//! - the 56 ethnic groups as the ID card prints them ([`ETHNIC_GROUPS`]).
//!
//! Every error is a typed variant; the verification core maps them to its error codes.

mod documents;
mod elements;
mod ethnicity;
mod id_number;
mod mask;
mod region;

pub use documents::{DocumentKind, DocumentNumber, validate_document};
pub use elements::{
    BankCardError, MAX_NAME_CHARS, MIDDLE_DOT, NameError, PhoneError, is_han, validate_bank_card, validate_name,
    validate_phone,
};
pub use ethnicity::ETHNIC_GROUPS;
pub use id_number::{EARLIEST_BIRTH_YEAR, IdNumber, IdNumberError, Sex, check_character, validate};
pub use mask::{mask_bank_card, mask_id_number, mask_name, mask_phone};
pub use region::{Region, RegionName, RegionTable, RegionTableError};
// Birth dates are the workspace's calendar dates; re-exported so callers need not name the
// calendar crate to call `validate`.
pub use shiren_calendar::Date;
