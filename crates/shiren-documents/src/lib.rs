//! Identity documents and bank cards read from photos: the card found and straightened
//! (`locate`), turned upright and read by the OCR engine, the side and each printed field taken
//! from the layout (`idcard`; the foreigner's permanent residence card's front by `foreign`), copies, screens and glare measured, and the fields cross-checked
//! (`reader`); region names in addresses and authorities mended against the region table
//! (`regions`), a name's surname checked against the common ones (`surnames`). The layout rules
//! work on text lines alone and are tested without models.

pub mod bankcard;
pub mod countries;
mod edges;
pub mod ethnicity;
pub mod foreign;
pub mod idcard;
pub mod locate;
pub mod reader;
pub mod regions;
pub mod surnames;
pub mod variants;

/// What readings are checked against, built once and shared: the region names of addresses
/// and authorities, the common surnames, the traditional forms folded into simplified ones, and
/// the countries a foreigner's card names.
#[derive(Debug, Clone)]
pub struct Lexicon {
    pub regions: regions::RegionNames,
    pub surnames: surnames::Surnames,
    pub variants: variants::Variants,
    pub countries: countries::Countries,
}

/// Why the lexicon could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    #[error(transparent)]
    Surnames(#[from] surnames::SurnamesError),
    #[error(transparent)]
    Variants(#[from] variants::VariantsError),
    #[error(transparent)]
    Countries(#[from] countries::CountriesError),
}

impl Lexicon {
    /// The surname list's place in the model directory (Faker's zh_CN person provider).
    pub const SURNAMES_FILE: &str = "ocr/zh-surnames.py";
    /// The traditional-to-simplified table's place in the model directory (OpenCC's).
    pub const VARIANTS_FILE: &str = "ocr/ts-characters.txt";
    /// The ISO 3166-1 table's place in the model directory (the `iso3166` package's).
    pub const COUNTRIES_FILE: &str = "ocr/iso3166.py";

    /// From the region table and the provisioned lists in the model directory `models`.
    pub fn load(table: &shiren_idcard::RegionTable, models: &std::path::Path) -> Result<Self, LexiconError> {
        Ok(Self {
            regions: regions::RegionNames::new(table),
            surnames: surnames::Surnames::load(&models.join(Self::SURNAMES_FILE))?,
            variants: variants::Variants::load(&models.join(Self::VARIANTS_FILE))?,
            countries: countries::Countries::load(&models.join(Self::COUNTRIES_FILE))?,
        })
    }
}
