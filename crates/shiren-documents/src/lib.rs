//! Identity documents and bank cards read from photos: the card found and straightened
//! (`locate`), turned upright and read by the OCR engine, the side and each printed field taken
//! from the layout (`idcard`; the foreigner's permanent residence card's front by `foreign`),
//! copies, screens and glare measured, and the fields cross-checked (`reader`); region names in
//! addresses and authorities mended against the region table (`regions`), a name's surname
//! checked against the common ones (`surnames`), traditional forms folded (`variants`), a
//! nationality's codes looked up (`countries`). The layout rules work on text lines alone and
//! are tested without models.

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

/// Why the lexicon could not be loaded: one of its provisioned lists is unreadable or holds no
/// entries.
#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    #[error("cannot read the {what} {path}: {source}")]
    Read { what: &'static str, path: String, source: std::io::Error },
    #[error("the {what} {path} holds no entries")]
    Empty { what: &'static str, path: String },
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
            surnames: load_list(
                &models.join(Self::SURNAMES_FILE),
                "surname list",
                surnames::Surnames::parse,
                surnames::Surnames::is_empty,
            )?,
            variants: load_list(
                &models.join(Self::VARIANTS_FILE),
                "traditional-to-simplified table",
                variants::Variants::parse,
                variants::Variants::is_empty,
            )?,
            countries: load_list(
                &models.join(Self::COUNTRIES_FILE),
                "country table",
                countries::Countries::parse,
                countries::Countries::is_empty,
            )?,
        })
    }
}

/// Reads and parses one provisioned list, refusing an unreadable file or one without entries:
/// an empty parse means the file is not what the parser expects (a package changed its layout),
/// which must stop the start rather than silently turn a check off.
fn load_list<T>(
    path: &std::path::Path,
    what: &'static str,
    parse: fn(&str) -> T,
    is_empty: fn(&T) -> bool,
) -> Result<T, LexiconError> {
    let shown = || path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|source| LexiconError::Read { what, path: shown(), source })?;
    let list = parse(&source);
    if is_empty(&list) {
        return Err(LexiconError::Empty { what, path: shown() });
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_unreadable_or_without_entries_is_an_error() {
        let dir = std::env::temp_dir().join(format!("shiren-lexicon-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.py");
        std::fs::write(&path, "first_names = ()\n").unwrap();
        let (parse, is_empty) = (surnames::Surnames::parse, surnames::Surnames::is_empty);
        assert!(matches!(load_list(&path, "surname list", parse, is_empty), Err(LexiconError::Empty { .. })));
        let missing = load_list(&dir.join("missing.py"), "surname list", parse, is_empty);
        assert!(matches!(missing, Err(LexiconError::Read { .. })));
        let countries = load_list(&path, "country table", countries::Countries::parse, countries::Countries::is_empty);
        assert!(matches!(countries, Err(LexiconError::Empty { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
