//! Bank cards: the card number (16-19 digits, Luhn-checked, printed flat or embossed), the
//! expiry (MM/YY) and the issuer and card type from the bank identification number (BIN).
//!
//! The BIN table is the `cardbin` package's (MIT), installed as `ocr/cardbin.py` and read as
//! data: one `"PREFIX" : "BANK|CARD NAME"` entry per line. It names cards, not their type, so
//! the type is taken from the card name's own words (贷记/信用 credit, 准贷记 semi-credit,
//! 预付/储值/礼品 prepaid, otherwise debit); a prefix not in the table leaves bank and type
//! unknown rather than guessed.

use std::collections::HashMap;
use std::path::Path;

use image::RgbImage;
use serde::Serialize;
use shiren_ocr::{Detector, OcrEngine, OcrError, Quad, TextLine};
use thiserror::Error;

use crate::idcard::Field;
use crate::locate;
use crate::reader::Warning;

#[derive(Debug, Error)]
pub enum BinTableError {
    #[error("the BIN table {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("the BIN table {path} has no entries")]
    Empty { path: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CardType {
    Debit,
    Credit,
    SemiCredit,
    Prepaid,
}

impl CardType {
    /// The name the API answers with.
    pub fn as_str(self) -> &'static str {
        match self {
            CardType::Debit => "debit",
            CardType::Credit => "credit",
            CardType::SemiCredit => "semi_credit",
            CardType::Prepaid => "prepaid",
        }
    }
}

/// What the table says about one prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issuer {
    pub bank: String,
    /// The card product's name as the table gives it (may be empty).
    pub card_name: String,
    pub card_type: CardType,
}

/// Issuers by BIN prefix (6 to 8 digits).
#[derive(Debug, Clone, Default)]
pub struct BinTable {
    by_prefix: HashMap<String, Issuer>,
}

impl BinTable {
    pub fn load(path: &Path) -> Result<Self, BinTableError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BinTableError::Read { path: path.display().to_string(), detail: e.to_string() })?;
        let table = Self::parse(&text);
        if table.by_prefix.is_empty() {
            return Err(BinTableError::Empty { path: path.display().to_string() });
        }
        Ok(table)
    }

    /// Reads every `"DIGITS" : "BANK|NAME"` line; other lines are ignored.
    pub fn parse(text: &str) -> Self {
        let mut by_prefix = HashMap::new();
        for line in text.lines() {
            let quoted: Vec<&str> = line.split('"').collect();
            // `  "621016" : "星展银行|星展银行借记卡",` splits into 5 parts.
            let (Some(prefix), Some(value)) = (quoted.get(1), quoted.get(3)) else { continue };
            if !(6..=8).contains(&prefix.len()) || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let (bank, name) = value.split_once('|').unwrap_or((value, ""));
            let name = if name == "--" { "" } else { name };
            let issuer =
                Issuer { bank: bank.to_string(), card_name: name.to_string(), card_type: card_type_of(bank, name) };
            by_prefix.insert(prefix.to_string(), issuer);
        }
        Self { by_prefix }
    }

    pub fn len(&self) -> usize {
        self.by_prefix.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_prefix.is_empty()
    }

    /// The issuer of the longest prefix of `number` in the table.
    pub fn lookup(&self, number: &str) -> Option<&Issuer> {
        (6..=8).rev().filter_map(|n| number.get(..n)).find_map(|prefix| self.by_prefix.get(prefix))
    }

    /// Every (prefix, bank) pair, for generating test cards.
    pub fn prefixes(&self) -> impl Iterator<Item = (&str, &Issuer)> {
        self.by_prefix.iter().map(|(p, i)| (p.as_str(), i))
    }
}

fn card_type_of(bank: &str, name: &str) -> CardType {
    let text = format!("{bank}{name}");
    if text.contains("准贷记") {
        CardType::SemiCredit
    } else if ["贷记", "信用", "公务卡"].iter().any(|w| text.contains(w)) {
        CardType::Credit
    } else if ["预付", "储值", "礼品"].iter().any(|w| text.contains(w)) {
        CardType::Prepaid
    } else {
        CardType::Debit
    }
}

/// The Luhn (mod 10) check every bank card number carries.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The detector's input side for a straightened bank card: the card whole (856 pixels fit).
const BANK_CARD_DETECTOR_SIDE: u32 = 960;

/// A bank card as read.
#[derive(Debug, Clone, Serialize)]
pub struct BankCardReading {
    /// Digits only.
    pub number: Option<Field>,
    /// `MM/YY`.
    pub expiry: Option<Field>,
    pub issuer: Option<Issuer>,
    /// Clockwise turn, in degrees, that made the straightened card upright.
    pub rotation: u32,
    pub corners: Option<Quad>,
    pub warnings: Vec<Warning>,
    pub lines: Vec<TextLine>,
    #[serde(skip)]
    pub card: RgbImage,
}

/// Reads a photographed bank card.
pub fn read(engine: &OcrEngine, photo: &RgbImage, bins: &BinTable) -> Result<BankCardReading, OcrError> {
    // Embossed digits lose their edges at a smaller scale: the detector sees the straightened
    // card whole (measured on generated cards: 82% of numbers at 960 against 65% at 640).
    let (located, page) = locate::read_upright(engine, photo, BANK_CARD_DETECTOR_SIDE, Detector::Fine)?;
    let number = find_number(&page.lines, bins);
    let expiry = find_expiry(&page.lines);
    let issuer = number.as_ref().and_then(|n| bins.lookup(&n.text)).cloned();
    let mut warnings = Vec::new();
    if !located.border_complete {
        warnings.push(Warning::IncompleteBorder);
    }
    if number.is_none() {
        warnings.push(Warning::FieldUnreadable { field: "number".into() });
    }
    if expiry.is_none() {
        warnings.push(Warning::FieldUnreadable { field: "expiry".into() });
    }
    Ok(BankCardReading {
        number,
        expiry,
        issuer,
        rotation: page.rotation.degrees(),
        corners: located.corners,
        warnings,
        lines: page.lines,
        card: page.image,
    })
}

/// Digits of a line that is mostly digits, with the letters a recogniser confuses with digits
/// (O, o, D, Q for 0; I, l, | for 1; S for 5; B for 8; Z for 2) read as those digits. `None`
/// for a line that is mostly something else.
fn digits_of(text: &str) -> Option<String> {
    let mut digits = String::new();
    let mut others = 0;
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        let d = match c {
            '0'..='9' => c,
            'O' | 'o' | 'D' | 'Q' => '0',
            'I' | 'l' | '|' => '1',
            'S' => '5',
            'B' => '8',
            'Z' => '2',
            '-' | '.' | '·' => continue,
            _ => {
                others += 1;
                continue;
            }
        };
        digits.push(d);
    }
    (digits.len() >= 2 && others * 4 <= digits.len()).then_some(digits)
}

/// The card number: runs of digit groups on one row joined, 16 to 19 digits, Luhn-valid; among
/// several, one whose prefix the BIN table knows, then one read as printed over one with a digit
/// dropped (below), then the tallest print (the number is the card's largest text).
///
/// The detector can cut an embossed group in two boxes that overlap, and the digit under the
/// overlap is then read in both (6210508 | 8350…). Where two boxes touch or overlap and the
/// digit at the end of one is the digit at the start of the next, the join is also tried with
/// it once.
fn find_number(lines: &[TextLine], bins: &BinTable) -> Option<Field> {
    // (digits, confidence, print height, BIN known, digits dropped at overlaps)
    let mut candidates: Vec<(String, f32, f32, bool, usize)> = Vec::new();
    for anchor in lines {
        // Groups printed apart are separate lines: the anchor's row (lines overlapping it
        // vertically by half a line; a tilted card's groups drift up or down a little), left
        // to right, joined from each starting group.
        let mut row: Vec<&TextLine> = lines.iter().filter(|l| same_row(anchor, l)).collect();
        row.sort_by(|a, b| a.quad.center()[0].total_cmp(&b.quad.center()[0]));
        for start in 0..row.len() {
            // Every way of joining so far: (digits, digits dropped at overlaps).
            let mut joins: Vec<(String, usize)> = vec![(String::new(), 0)];
            let mut confidences = Vec::new();
            let mut previous: Option<&TextLine> = None;
            for line in &row[start..] {
                let Some(d) = digits_of(&line.text) else { break };
                let overlapping =
                    previous.is_some_and(|p| line.quad.bounds().0 - p.quad.bounds().2 < 0.3 * line.quad.height());
                let mut next = Vec::with_capacity(joins.len() * 2);
                for (digits, dropped) in &joins {
                    next.push((format!("{digits}{d}"), *dropped));
                    if overlapping && !digits.is_empty() && digits.chars().last() == d.chars().next() {
                        next.push((format!("{digits}{}", &d[1..]), dropped + 1));
                    }
                }
                joins = next;
                confidences.push(line.confidence);
                previous = Some(line);
                for (digits, dropped) in &joins {
                    if (16..=19).contains(&digits.len()) && luhn_valid(digits) {
                        let confidence = confidences.iter().sum::<f32>() / confidences.len() as f32;
                        let known = bins.lookup(digits).is_some();
                        candidates.push((digits.clone(), confidence, anchor.quad.height(), known, *dropped));
                    }
                }
                joins.retain(|(digits, _)| digits.len() <= 19);
                if joins.is_empty() {
                    break;
                }
            }
        }
    }
    candidates
        .into_iter()
        .max_by(|a, b| {
            (a.3, std::cmp::Reverse(a.4), a.2 * a.1)
                .partial_cmp(&(b.3, std::cmp::Reverse(b.4), b.2 * b.1))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .map(|(text, confidence, _, _, _)| Field { text, confidence })
}

/// Whether two lines overlap vertically by at least half the shorter one's height.
fn same_row(a: &TextLine, b: &TextLine) -> bool {
    let (_, at, _, ab) = a.quad.bounds();
    let (_, bt, _, bb) = b.quad.bounds();
    let overlap = ab.min(bb) - at.max(bt);
    overlap >= 0.5 * a.quad.height().min(b.quad.height())
}

/// `MM/YY` (or `MM/YYYY`, given as `MM/YY`) with a real month; the latest if several (a
/// "member since" date precedes the expiry).
fn find_expiry(lines: &[TextLine]) -> Option<Field> {
    let mut found: Vec<(u32, String, f32)> = Vec::new();
    for line in lines {
        let chars: Vec<char> = line.text.chars().filter(|c| !c.is_whitespace()).collect();
        for (i, c) in chars.iter().enumerate() {
            if *c != '/' || i < 2 {
                continue;
            }
            let month: String = chars[i - 2..i].iter().collect();
            let year: String = chars[i + 1..].iter().take_while(|c| c.is_ascii_digit()).take(4).collect();
            let (Ok(m), true) = (month.parse::<u32>(), year.len() == 2 || year.len() == 4) else { continue };
            if !(1..=12).contains(&m) || (i >= 3 && chars[i - 3].is_ascii_digit()) {
                continue;
            }
            let yy = &year[year.len() - 2..];
            let Ok(y) = yy.parse::<u32>() else { continue };
            found.push((y * 100 + m, format!("{month}/{yy}"), line.confidence));
        }
    }
    found.into_iter().max_by_key(|f| f.0).map(|(_, text, confidence)| Field { text, confidence })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, x: f32, y: f32, h: f32) -> TextLine {
        TextLine {
            text: text.into(),
            confidence: 0.9,
            quad: Quad::rect(x, y, 20.0 * text.chars().count() as f32, h),
            angle: 0.0,
            detection_score: 0.9,
            turned: false,
        }
    }

    const TABLE: &str = r#"BANKBIN = {
   "622202" : "工商银行|牡丹灵通卡",
   "62258877" : "招商银行|招商银行信用卡",
   "622588" : "招商银行|一卡通",
   "625135" : "乌鲁木齐市商业银行|雪莲准贷记卡",
   "621000" : "某银行|预付卡",
   "621001" : "某银行|--",
}"#;

    #[test]
    fn the_table_is_read_and_the_longest_prefix_wins() {
        let table = BinTable::parse(TABLE);
        assert_eq!(table.len(), 6);
        assert_eq!(table.lookup("6225887712345678").map(|i| i.card_type), Some(CardType::Credit));
        assert_eq!(table.lookup("6225881234567890").map(|i| i.card_type), Some(CardType::Debit));
        assert_eq!(table.lookup("6251351234567890").map(|i| i.card_type), Some(CardType::SemiCredit));
        assert_eq!(table.lookup("6210001234567890").map(|i| i.card_type), Some(CardType::Prepaid));
        assert_eq!(table.lookup("6210011234567890").map(|i| i.card_name.as_str()), Some(""));
        assert!(table.lookup("4111111111111111").is_none());
        assert!(table.lookup("62").is_none());
    }

    #[test]
    fn luhn_accepts_only_valid_digit_strings() {
        assert!(luhn_valid("4111111111111111"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("41111111x1111111"));
    }

    #[test]
    fn the_number_is_joined_from_its_groups_and_checked() {
        let table = BinTable::parse(TABLE);
        // 6222 0212 3456 7890 12x: find a Luhn-valid completion.
        let body = "622202123456789012";
        let check = (0..10).find(|d| luhn_valid(&format!("{body}{d}"))).unwrap_or(0);
        let last = format!("12{check}");
        let lines = vec![
            line("中国工商银行", 40.0, 40.0, 30.0),
            line("6222", 60.0, 300.0, 50.0),
            line("O212", 200.0, 302.0, 50.0),
            line("3456", 340.0, 300.0, 50.0),
            line("7890", 480.0, 300.0, 50.0),
            line(&last, 620.0, 300.0, 50.0),
            line("MEMBER SINCE 03/15", 60.0, 400.0, 24.0),
            line("VALID THRU 09/28", 300.0, 400.0, 24.0),
        ];
        let number = find_number(&lines, &table).expect("a number");
        assert_eq!(number.text, format!("{body}{check}"));
        assert_eq!(find_expiry(&lines).map(|f| f.text).as_deref(), Some("09/28"));
        assert!(find_number(&lines[..3], &table).is_none(), "too few digits");
    }

    #[test]
    fn a_digit_read_twice_where_two_boxes_overlap_is_taken_once() {
        let table = BinTable::parse(TABLE);
        let body = "622202123456789012";
        let check = (0..10).find(|d| luhn_valid(&format!("{body}{d}"))).unwrap_or(0);
        let number = format!("{body}{check}");
        // 6222021 | 1234567890…: the second box starts under the first one's last digit (each
        // line is 20 px a character wide here: the first ends at 200).
        let lines = vec![line("6222021", 60.0, 300.0, 50.0), line(&format!("1{}", &number[7..]), 190.0, 300.0, 50.0)];
        assert_eq!(find_number(&lines, &table).map(|f| f.text), Some(number.clone()));
        // Apart by a group's gap, the same digits are two digits printed.
        let apart = vec![line("6222021", 60.0, 300.0, 50.0), line(&format!("1{}", &number[7..]), 260.0, 300.0, 50.0)];
        assert_ne!(find_number(&apart, &table).map(|f| f.text), Some(number));
    }

    #[test]
    fn expiry_needs_a_real_month() {
        let lines = vec![line("13/25", 0.0, 0.0, 20.0), line("2025/01", 0.0, 40.0, 20.0)];
        assert!(find_expiry(&lines).is_none(), "{:?}", find_expiry(&lines));
        let lines = vec![line("有效期12/2029", 0.0, 0.0, 20.0)];
        assert_eq!(find_expiry(&lines).map(|f| f.text).as_deref(), Some("12/29"));
    }
}
