//! The table of administrative region codes (GB/T 2260) that open every ID number.
//!
//! The data is python-stdnum's `stdnum/cn/loc.dat`, provisioned into the model directory as
//! `data/cn-regions.dat`. It is a numdb file: comment lines start with `#`, an unindented line
//! `11 province="北京市"` opens a province, and indented lines `  0101 county="东城区"` give the
//! other four digits of a code in that province. A county value can list several names a code
//! has carried over time, each with the years it was in use: `[-1991]东郊区,[1992-]东丽区`.
//!
//! Abolished codes stay in the table on purpose: a person keeps the ID number issued under the
//! code of the day for life, so 110103 (崇文区, merged away in 2010) is still a valid prefix.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

/// Why a region table could not be read. Line numbers count from 1.
#[derive(Debug, Error)]
pub enum RegionTableError {
    #[error("cannot read region table {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("line {line}: expected a 2-digit province code or an indented 4-digit code, found {found:?}")]
    BadPrefix { line: usize, found: String },
    #[error("line {line}: cannot read the attributes {found:?} (expected key=\"value\" pairs)")]
    BadAttributes { line: usize, found: String },
    #[error("line {line}: the {key:?} attribute is missing")]
    MissingAttribute { line: usize, key: &'static str },
    #[error("line {line}: a code appears before any province line")]
    CodeOutsideProvince { line: usize },
    #[error("line {line}: bad validity range in {found:?} (expected [YYYY-YYYY], either year optional)")]
    BadValidity { line: usize, found: String },
    #[error("line {line}: an empty region name")]
    EmptyName { line: usize },
    #[error("line {line}: region code {code:06} is listed twice")]
    DuplicateCode { line: usize, code: u32 },
    #[error("line {line}: province {code:02} is listed twice")]
    DuplicateProvince { line: usize, code: u8 },
    #[error("the region table has no codes")]
    Empty,
}

/// One name a region code has carried, with the years it was in use (both inclusive; `None`
/// where the data gives no bound).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionName {
    pub name: String,
    pub from: Option<u16>,
    pub until: Option<u16>,
}

impl RegionName {
    /// Whether the name was in use at some time during `year`.
    pub fn in_use(&self, year: u16) -> bool {
        self.from.is_none_or(|from| from <= year) && self.until.is_none_or(|until| year <= until)
    }
}

/// A 6-digit administrative region code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Region {
    pub code: u32,
    /// The province's name (for 81 and 82 the data spells it in traditional characters).
    pub province: String,
    /// The latest name the code has carried.
    pub name: String,
    /// True when every name the code carried has an end year: no new numbers are issued with it,
    /// but numbers issued before stay valid.
    pub abolished: bool,
    /// Every name, in the data's order (oldest first).
    pub history: Vec<RegionName>,
}

impl Region {
    /// The first two digits.
    pub fn province_code(&self) -> u8 {
        // A code is at most 999_999, so this fits.
        (self.code / 10_000) as u8
    }

    /// The name the code carried during `year`, if it was in use then.
    pub fn name_in(&self, year: u16) -> Option<&str> {
        self.history.iter().rev().find(|n| n.in_use(year)).map(|n| n.name.as_str())
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06} {}", self.code, self.province)?;
        // 110000 is named after its province; do not say 北京市北京市.
        if self.name != self.province {
            f.write_str(&self.name)?;
        }
        Ok(())
    }
}

/// All region codes, keyed by the 6-digit code.
#[derive(Debug, Clone, Default)]
pub struct RegionTable {
    regions: BTreeMap<u32, Region>,
    provinces: BTreeMap<u8, String>,
}

impl RegionTable {
    /// Reads and parses the file at `path` (normally the model directory's `data/cn-regions.dat`).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, RegionTableError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| RegionTableError::Io { path: path.to_path_buf(), source })?;
        Self::parse(&text)
    }

    /// Parses the text of a numdb region file. Attributes other than `province` and `county` are
    /// ignored, as stdnum does.
    pub fn parse(text: &str) -> Result<Self, RegionTableError> {
        let mut table = RegionTable::default();
        let mut province: Option<(u8, String)> = None;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.trim_end();
            if content.trim_start().is_empty() || content.trim_start().starts_with('#') {
                continue;
            }
            let indented = content.starts_with([' ', '\t']);
            let content = content.trim_start();
            let (prefix, attributes) = content.split_once([' ', '\t']).unwrap_or((content, ""));
            let attributes = parse_attributes(attributes)
                .ok_or_else(|| RegionTableError::BadAttributes { line, found: attributes.to_string() })?;
            let bad_prefix = || RegionTableError::BadPrefix { line, found: prefix.to_string() };
            if indented {
                let (province_code, province_name) =
                    province.as_ref().ok_or(RegionTableError::CodeOutsideProvince { line })?;
                let suffixes = parse_prefixes(prefix, 4).ok_or_else(bad_prefix)?;
                let value = attribute(&attributes, "county")
                    .ok_or(RegionTableError::MissingAttribute { line, key: "county" })?;
                let history = parse_names(value, line)?;
                let latest = history.iter().rev().find(|n| n.until.is_none()).or(history.last());
                let Some(latest) = latest else {
                    return Err(RegionTableError::EmptyName { line });
                };
                let name = latest.name.clone();
                let abolished = history.iter().all(|n| n.until.is_some());
                for suffix in suffixes {
                    let code = u32::from(*province_code) * 10_000 + suffix;
                    let region = Region {
                        code,
                        province: province_name.clone(),
                        name: name.clone(),
                        abolished,
                        history: history.clone(),
                    };
                    if table.regions.insert(code, region).is_some() {
                        return Err(RegionTableError::DuplicateCode { line, code });
                    }
                }
            } else {
                let codes = parse_prefixes(prefix, 2).ok_or_else(bad_prefix)?;
                // A province line names one province; a range here would make the owner of the
                // indented lines below ambiguous.
                let [code] = codes.as_slice() else {
                    return Err(bad_prefix());
                };
                let code = u8::try_from(*code).map_err(|_| bad_prefix())?;
                let name = attribute(&attributes, "province")
                    .ok_or(RegionTableError::MissingAttribute { line, key: "province" })?;
                if name.is_empty() {
                    return Err(RegionTableError::EmptyName { line });
                }
                let name = as_printed(name);
                if table.provinces.insert(code, name.clone()).is_some() {
                    return Err(RegionTableError::DuplicateProvince { line, code });
                }
                province = Some((code, name));
            }
        }
        if table.regions.is_empty() {
            return Err(RegionTableError::Empty);
        }
        Ok(table)
    }

    /// The region with this 6-digit code.
    pub fn lookup(&self, code: u32) -> Option<&Region> {
        self.regions.get(&code)
    }

    /// The region for a code written as exactly six ASCII digits.
    pub fn lookup_str(&self, code: &str) -> Option<&Region> {
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.lookup(code.parse().ok()?)
    }

    /// The number of region codes.
    pub fn len(&self) -> usize {
        self.regions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    /// Every region, in code order.
    pub fn iter(&self) -> impl Iterator<Item = &Region> {
        self.regions.values()
    }

    /// The provinces' 2-digit codes and names, in code order.
    pub fn provinces(&self) -> impl Iterator<Item = (u8, &str)> {
        self.provinces.iter().map(|(code, name)| (*code, name.as_str()))
    }
}

/// `0101`, `0101,0103` or `0101-0105` (numdb allows lists and ranges of equal-width codes).
fn parse_prefixes(text: &str, width: usize) -> Option<Vec<u32>> {
    let number = |s: &str| -> Option<u32> {
        if s.len() == width && s.bytes().all(|b| b.is_ascii_digit()) { s.parse().ok() } else { None }
    };
    let mut codes = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((low, high)) => {
                let (low, high) = (number(low)?, number(high)?);
                if low > high {
                    return None;
                }
                codes.extend(low..=high);
            }
            None => codes.push(number(part)?),
        }
    }
    Some(codes)
}

/// `key="value" key2="value2"`; values cannot contain `"` (numdb has no escapes).
fn parse_attributes(mut text: &str) -> Option<Vec<(&str, &str)>> {
    let mut attributes = Vec::new();
    loop {
        text = text.trim_start();
        if text.is_empty() {
            return Some(attributes);
        }
        let (key, rest) = text.split_once("=\"")?;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return None;
        }
        let (value, rest) = rest.split_once('"')?;
        attributes.push((key, value));
        text = rest;
    }
}

fn attribute<'a>(attributes: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    attributes.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// The traditional characters stdnum 2.2's table writes in thirteen names (加格達奇區, 松嶺區,
/// 丹稜县, 冷湖行政委員會, 香港特別行政區, 澳門特別行政區, ...), and the simplified ones mainland
/// documents print them with. A test in `shiren-documents` checks every name of the provisioned
/// table against OpenCC's full traditional-to-simplified table, so a new table with other such
/// names fails there rather than printing them wrong.
const TRADITIONAL_IN_TABLE: [(char, char); 8] =
    [('達', '达'), ('區', '区'), ('嶺', '岭'), ('稜', '棱'), ('員', '员'), ('會', '会'), ('別', '别'), ('門', '门')];

/// A name as mainland documents print it: the table's few traditional characters made simplified.
fn as_printed(name: &str) -> String {
    name.chars()
        .map(|c| TRADITIONAL_IN_TABLE.iter().find(|(t, _)| *t == c).map_or(c, |(_, simplified)| *simplified))
        .collect()
}

/// `东城区`, `[-2010]崇文区`, or a comma-separated list of these.
fn parse_names(value: &str, line: usize) -> Result<Vec<RegionName>, RegionTableError> {
    let mut names = Vec::new();
    for part in value.split(',') {
        let part = part.trim();
        let (from, until, name) = match part.strip_prefix('[') {
            Some(rest) => {
                let bad = || RegionTableError::BadValidity { line, found: part.to_string() };
                let (range, name) = rest.split_once(']').ok_or_else(bad)?;
                let (from, until) = range.split_once('-').ok_or_else(bad)?;
                let year = |s: &str| -> Result<Option<u16>, RegionTableError> {
                    match s {
                        "" => Ok(None),
                        s if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) => {
                            s.parse().map(Some).map_err(|_| bad())
                        }
                        _ => Err(bad()),
                    }
                };
                // An inverted range is kept, not rejected: stdnum 2.2 has fourteen `[1983-1982]`
                // names, renamed within 1983 before any yearly list carried them. Such a name is
                // in use in no year but still part of the code's history.
                (year(from)?, year(until)?, name)
            }
            None => (None, None, part),
        };
        if name.is_empty() {
            return Err(RegionTableError::EmptyName { line });
        }
        names.push(RegionName { name: as_printed(name), from, until });
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"# comment
11 province="北京市"
  0000 county="北京市"
  0101 county="东城区"
  0103 county="[-2010]崇文区"
  0111 county="[1986-]房山区"
12 province="天津市"
  0110 county="[-1991]东郊区,[1992-]东丽区"
  0120-0122 county="[1983-1990]测试"
"#;

    #[test]
    fn parses_provinces_ranges_and_histories() {
        let table = RegionTable::parse(SAMPLE).unwrap();
        assert_eq!(table.len(), 8);
        let dongcheng = table.lookup(110101).unwrap();
        assert_eq!(
            (dongcheng.province.as_str(), dongcheng.name.as_str(), dongcheng.abolished),
            ("北京市", "东城区", false)
        );
        let chongwen = table.lookup_str("110103").unwrap();
        assert!(chongwen.abolished);
        assert_eq!(chongwen.history, vec![RegionName { name: "崇文区".into(), from: None, until: Some(2010) }]);
        let dongli = table.lookup(120110).unwrap();
        assert_eq!(dongli.name, "东丽区");
        assert!(!dongli.abolished);
        assert_eq!(dongli.name_in(1985), Some("东郊区"));
        assert_eq!(dongli.name_in(1992), Some("东丽区"));
        assert_eq!(table.lookup(110111).unwrap().name_in(1980), None);
        assert!(table.lookup(120121).unwrap().abolished);
        assert_eq!(table.provinces().collect::<Vec<_>>(), vec![(11, "北京市"), (12, "天津市")]);
        assert_eq!(table.lookup(110000).unwrap().to_string(), "110000 北京市");
        assert_eq!(dongcheng.to_string(), "110101 北京市东城区");
    }

    #[test]
    fn inverted_ranges_are_names_never_in_use() {
        let table = RegionTable::parse(
            "21 province=\"辽宁省\"\n  0311 county=\"[1983-1982]郊区,[1983-1995]旧堡区,[1996-]千山区\"\n",
        )
        .unwrap();
        let region = table.lookup(210311).unwrap();
        assert_eq!(region.history.len(), 3);
        assert_eq!(region.name, "千山区");
        assert_eq!(region.name_in(1982), None);
        assert_eq!(region.name_in(1983), Some("旧堡区"));
    }

    #[test]
    fn lookup_str_wants_six_digits() {
        let table = RegionTable::parse(SAMPLE).unwrap();
        for bad in ["11010", "1101011", "11010a", "+10101", "", "١١٠١٠١"] {
            assert!(table.lookup_str(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn errors_are_typed_with_lines() {
        type Expect = fn(&RegionTableError) -> bool;
        let cases: &[(&str, Expect)] = &[
            ("  0101 county=\"x\"\n", |e| matches!(e, RegionTableError::CodeOutsideProvince { line: 1 })),
            ("1 province=\"x\"\n", |e| matches!(e, RegionTableError::BadPrefix { line: 1, .. })),
            ("11 province=\"x\"\n  101 county=\"y\"\n", |e| matches!(e, RegionTableError::BadPrefix { line: 2, .. })),
            ("11-12 province=\"x\"\n", |e| matches!(e, RegionTableError::BadPrefix { line: 1, .. })),
            ("11 province=\"x\n", |e| matches!(e, RegionTableError::BadAttributes { line: 1, .. })),
            ("11 name=\"x\"\n", |e| matches!(e, RegionTableError::MissingAttribute { key: "province", .. })),
            ("11 province=\"x\"\n  0101 other=\"y\"\n", |e| {
                matches!(e, RegionTableError::MissingAttribute { line: 2, key: "county" })
            }),
            ("11 province=\"x\"\n  0101 county=\"[2010]y\"\n", |e| matches!(e, RegionTableError::BadValidity { .. })),
            ("11 province=\"x\"\n  0101 county=\"[-10]y\"\n", |e| matches!(e, RegionTableError::BadValidity { .. })),
            ("11 province=\"x\"\n  0101 county=\"[-2010]\"\n", |e| matches!(e, RegionTableError::EmptyName { .. })),
            ("11 province=\"x\"\n  0101 county=\"y\"\n  0101 county=\"z\"\n", |e| {
                matches!(e, RegionTableError::DuplicateCode { line: 3, code: 110101 })
            }),
            ("11 province=\"x\"\n11 province=\"y\"\n", |e| {
                matches!(e, RegionTableError::DuplicateProvince { line: 2, .. })
            }),
            ("# only comments\n\n", |e| matches!(e, RegionTableError::Empty)),
        ];
        for (text, expected) in cases {
            let err = RegionTable::parse(text).unwrap_err();
            assert!(expected(&err), "{text:?} gave {err:?}");
        }
    }

    #[test]
    fn load_reports_the_path() {
        let err = RegionTable::load("/nonexistent/cn-regions.dat").unwrap_err();
        assert!(matches!(err, RegionTableError::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/cn-regions.dat"));
    }
}
