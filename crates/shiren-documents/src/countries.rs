//! ISO 3166-1 countries by their alpha-3 codes, with their numeric codes: a 2023 foreigner's
//! permanent residence card's number carries the holder's nationality as the numeric code
//! (positions 4-6), and the front prints the alpha-3 code, so the two can be checked against each
//! other. The table is the `iso3166` package's (MIT), read as data at run time: its source lists
//! each country as `Country("name", "alpha-2", "alpha-3", "numeric", "apolitical name")`.

use std::collections::HashMap;

/// Alpha-3 code → numeric code.
#[derive(Debug, Clone, Default)]
pub struct Countries {
    numeric: HashMap<String, u16>,
}

impl Countries {
    /// Every `Country(` followed by at least four string literals whose second to fourth are
    /// a two-letter, a three-letter and a three-digit code; anything else is skipped (the class
    /// definition, comments).
    pub fn parse(source: &str) -> Self {
        let mut numeric = HashMap::new();
        for entry in source.split("Country(").skip(1) {
            let quoted: Vec<&str> = entry.split('"').skip(1).step_by(2).take(4).collect();
            let [_, alpha2, alpha3, number] = quoted.as_slice() else { continue };
            let letters = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_uppercase());
            if letters(alpha2, 2)
                && letters(alpha3, 3)
                && number.len() == 3
                && let Ok(number) = number.parse::<u16>()
            {
                numeric.insert(alpha3.to_string(), number);
            }
        }
        Self { numeric }
    }

    /// The numeric code of an alpha-3 code, when it is a country's.
    pub fn numeric(&self, alpha3: &str) -> Option<u16> {
        self.numeric.get(alpha3).copied()
    }

    pub fn len(&self) -> usize {
        self.numeric.len()
    }

    pub fn is_empty(&self) -> bool {
        self.numeric.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_across_lines() {
        let source = r#"
class Country(NamedTuple):
    name: str
_records = [
    Country("Japan", "JP", "JPN", "392", "Japan"),
    Country(
        "Korea, Republic of",
        "KR",
        "KOR",
        "410",
        "Korea, Republic of",
    ),
    Country("Australia", "AU", "AUS", "036", "Australia"),
]
"#;
        let countries = Countries::parse(source);
        assert_eq!(countries.len(), 3);
        assert_eq!(countries.numeric("KOR"), Some(410));
        assert_eq!(countries.numeric("AUS"), Some(36));
        assert_eq!(countries.numeric("XYZ"), None);
    }
}
