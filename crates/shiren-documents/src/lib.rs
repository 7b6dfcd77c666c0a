//! Identity documents and bank cards read from photos: the card found and straightened
//! (`locate`), turned upright and read by the OCR engine, the side and each printed field taken
//! from the layout (`idcard`), copies, screens and glare measured, and the fields cross-checked
//! (`reader`); region names in addresses and authorities mended against the region table
//! (`regions`), a name's surname checked against the common ones (`surnames`). The layout rules
//! work on text lines alone and are tested without models.

pub mod bankcard;
mod edges;
pub mod ethnicity;
pub mod idcard;
pub mod locate;
pub mod reader;
pub mod regions;
pub mod surnames;

/// What readings are checked against, built once and shared: the region names of addresses
/// and authorities, and the common surnames.
#[derive(Debug, Clone)]
pub struct Lexicon {
    pub regions: regions::RegionNames,
    pub surnames: surnames::Surnames,
}

impl Lexicon {
    /// From the region table and the provisioned surname list (`ocr/zh-surnames.py`).
    pub fn load(
        table: &shiren_idcard::RegionTable,
        surnames: &std::path::Path,
    ) -> Result<Self, surnames::SurnamesError> {
        Ok(Self { regions: regions::RegionNames::new(table), surnames: surnames::Surnames::load(surnames)? })
    }
}
