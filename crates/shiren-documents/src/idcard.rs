//! The PRC resident identity card (GB 11643 number, the 2004 layout), read from the OCR lines of
//! an upright card: which side it is, each printed field, and the cross-checks between the
//! fields and the number. The residence permits of Hong Kong, Macao and Taiwan residents share
//! the layout without 民族, and add 签发次数 and 通行证号码 on the back; the foreigner's permanent
//! residence card is recognised by its number and title, its front read by [`crate::foreign`].
//!
//! The layout is fixed: on the front, a label column (姓名, 性别/民族, 出生, 住址, 公民身份号码)
//! with values to its right and the portrait on the right; on the back, 签发机关 and 有效期限
//! under the title. Lines are grouped into rows by height, and a row is recognised by its label
//! when the label was read, else by its content (a number of 18 characters, a date, 男/女) and
//! its place. Labels are printed in a light colour and are often misread, so a label is matched
//! by position and by any one of its two characters, never required.

use serde::{Deserialize, Serialize};
use shiren_calendar::Date;
use shiren_idcard::{DocumentKind, IdNumberError, RegionTable, Sex};
use shiren_ocr::TextLine;
use shiren_ocr::detect::reading_order_by;

use crate::ethnicity::{ETHNIC_GROUPS, find_ethnicity};

/// Which side of the card the lines came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Front,
    Back,
}

impl Side {
    /// The name the API answers with.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Front => "front",
            Side::Back => "back",
        }
    }
}

/// One field as read: the text and the mean character probability of the lines it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub text: String,
    pub confidence: f32,
}

impl Field {
    pub(crate) fn new(text: String, lines: &[&TextLine]) -> Self {
        let confidence =
            if lines.is_empty() { 0.0 } else { lines.iter().map(|l| l.confidence).sum::<f32>() / lines.len() as f32 };
        Self { text, confidence }
    }
}

/// The front: every field that was found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Front {
    pub name: Option<Field>,
    /// 男 or 女.
    pub sex: Option<Field>,
    /// One of the 56 official names (without 族).
    pub ethnicity: Option<Field>,
    /// The printed birth date, `YYYY-MM-DD`.
    pub birth_date: Option<Field>,
    /// Every address line joined.
    pub address: Option<Field>,
    pub id_number: Option<Field>,
    /// The foreigner's permanent residence card: the name in Latin capitals as printed
    /// (`SMITH, JOHN`; `name` holds the Chinese name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub english_name: Option<Field>,
    /// The foreigner's card: the nationality's Chinese name as printed (美国).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nationality: Option<Field>,
    /// The foreigner's card: the nationality's ISO 3166-1 alpha-3 code as printed (USA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nationality_code: Option<Field>,
    /// The foreigner's card: the first day of validity, printed on its front, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Field>,
    /// The foreigner's card: the last day of validity, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Field>,
}

/// The back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Back {
    /// 签发机关.
    pub issuing_authority: Option<Field>,
    /// First day of validity, `YYYY-MM-DD`.
    pub valid_from: Option<Field>,
    /// Last day of validity, `YYYY-MM-DD`, or `长期` (no end).
    pub valid_until: Option<Field>,
    /// Residence permits: 签发次数, the number of times a permit was issued (two digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_count: Option<Field>,
    /// Residence permits: 通行证号码, the number of the holder's travel permit (a letter H or M
    /// and 8 digits for Hong Kong and Macao residents, 8 digits for Taiwan residents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_number: Option<Field>,
    /// The document the back's title names (`resident_id_card`, `hong_kong_residence_permit` for
    /// both Hong Kong and Macao permits, `taiwan_residence_permit`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_kind: Option<DocumentKind>,
}

/// Every field of both sides by its API name, as read (empty when not read), front first.
pub fn field_texts<'a>(front: &'a Front, back: &'a Back) -> [(&'static str, &'a str); 9] {
    let text = |f: &'a Option<Field>| f.as_ref().map_or("", |f| f.text.as_str());
    [
        ("name", text(&front.name)),
        ("sex", text(&front.sex)),
        ("ethnicity", text(&front.ethnicity)),
        ("birth_date", text(&front.birth_date)),
        ("address", text(&front.address)),
        ("id_number", text(&front.id_number)),
        ("issuing_authority", text(&back.issuing_authority)),
        ("valid_from", text(&back.valid_from)),
        ("valid_until", text(&back.valid_until)),
    ]
}

/// The text `valid_until` holds for a card valid without end.
pub const LONG_TERM: &str = "长期";

/// Guesses the side from the lines: the front has an 18-character number or its label, the back
/// the issuing authority, the validity period or the title.
pub fn side_of(lines: &[TextLine]) -> Option<Side> {
    let text: String = lines.iter().map(|l| compact(&l.text)).collect::<Vec<_>>().join("\n");
    // The foreigner's card prints its validity and its title on the front, beside the number.
    if crate::foreign::is_front(lines) {
        return Some(Side::Front);
    }
    // A line alone first: a misread label's stray digit before the number makes a 19-digit run
    // of the row (公9 540322…), which is no number.
    let number = lines.iter().any(|l| find_id_number(&compact(&l.text)).is_some()) || find_id_number(&text).is_some();
    let front = number || text.contains("公民身份") || text.contains("住址");
    let back = text.contains("签发")
        || text.contains("有效期")
        || text.contains("居民身份证")
        || text.contains("居住证")
        || text.contains("永久居留");
    match (front, back) {
        (true, false) => Some(Side::Front),
        (false, true) => Some(Side::Back),
        // Both at once is a photo of something else (or of both sides); neither is no card.
        _ => None,
    }
}

/// Reads the front from the lines of an upright card `width` pixels wide.
pub fn read_front(lines: &[TextLine], width: f32) -> Front {
    let mut front = Front::default();
    let rows = rows(lines);
    // The number's row is the anchor: the fields are the rows above it.
    // A line holding the number alone is taken before the row's text (where a misread label's
    // stray digit can run into it); a number split in two lines is found in the row's text.
    fn line_number<'a>(row: &[&'a TextLine]) -> Option<(String, &'a TextLine)> {
        row.iter().find_map(|l| find_id_number(&compact(&l.text)).map(|n| (n, *l)))
    }
    let id_row = rows.iter().position(|row| line_number(row).is_some() || find_id_number(&row_text(row)).is_some());
    if let Some(i) = id_row {
        let row = &rows[i];
        front.id_number = match line_number(row) {
            Some((number, line)) => Some(Field::new(number, &[line])),
            None => find_id_number(&row_text(row)).map(|number| Field::new(number, row)),
        };
    }
    let above = &rows[..id_row.unwrap_or(rows.len())];
    // The portrait's area (the right third above the number) holds no field text; anything read
    // there is the photo's background. The number's band at the bottom holds only the number
    // and its label (an unread number must not turn its label into an address line).
    let height = width * CARD_HEIGHT_MM / CARD_WIDTH_MM;
    let fields: Vec<Vec<&TextLine>> = above
        .iter()
        .map(|row| {
            row.iter()
                .copied()
                .filter(|l| l.quad.bounds().0 < 0.6 * width && l.quad.center()[1] < 0.78 * height)
                .filter(|l| !is_number_label(&compact(&l.text)))
                .collect::<Vec<_>>()
        })
        .filter(|row| !row.is_empty())
        .collect();

    let mut used = vec![false; fields.len()];
    // Birth: the row whose first number has four digits (a year); the date needs two more.
    let birth_row = fields.iter().position(|row| {
        let runs = digit_runs_of(row);
        runs.first().is_some_and(|r| r.len() == 4) || birth_date_in(&runs).is_some()
    });
    if let Some(i) = birth_row {
        used[i] = true;
        let date = birth_date_in(&digit_runs_of(&fields[i])).or_else(|| {
            front.id_number.as_ref().and_then(|n| birth_date_matching_number(&row_text(&fields[i]), &n.text))
        });
        if let Some(date) = date {
            front.birth_date = Some(Field::new(date, &fields[i]));
        }
    }
    // Sex and ethnicity share a row: 男 or 女 after the first label, an ethnic name at the end.
    let sex_row = (0..fields.len()).find(|&i| !used[i] && sex_in(&row_text(&fields[i])).is_some());
    if let Some(i) = sex_row {
        used[i] = true;
        let (sex, ethnicity) = sex_and_ethnicity(&row_text(&fields[i]));
        front.sex = sex.map(|s| Field::new(s.to_string(), &fields[i]));
        front.ethnicity = ethnicity.map(|e| Field::new(e.to_string(), &fields[i]));
    }
    // The name is above the sex and birth rows, the address below them; a row that starts
    // with the address label is the address wherever it is.
    let first_anchor = [sex_row, birth_row].into_iter().flatten().min();
    let last_anchor = [sex_row, birth_row].into_iter().flatten().max();
    let address_label = |i: usize| row_text(&fields[i]).starts_with("住址");
    let name_row =
        (0..fields.len()).find(|&i| !used[i] && !address_label(i) && first_anchor.is_none_or(|anchor| i < anchor));
    if let Some(i) = name_row {
        used[i] = true;
        let name = name_characters(&strip_label(&fields[i], "姓名", width));
        if !name.is_empty() {
            front.name = Some(Field::new(name, &fields[i]));
        }
    }
    let address_rows: Vec<usize> = (0..fields.len())
        .filter(|&i| !used[i] && (address_label(i) || last_anchor.is_none_or(|anchor| i > anchor)))
        .collect();
    if !address_rows.is_empty() {
        let mut text = String::new();
        let mut lines = Vec::new();
        for (k, &i) in address_rows.iter().enumerate() {
            let part = if k == 0 { strip_label(&fields[i], "住址", width) } else { row_text(&fields[i]) };
            text.push_str(&part);
            lines.extend(fields[i].iter().copied());
        }
        if !text.is_empty() {
            front.address = Some(Field::new(text, &lines));
        }
    }
    front
}

/// Reads the back from the lines of an upright card `width` pixels wide.
pub fn read_back(lines: &[TextLine], width: f32) -> Back {
    let mut back = Back::default();
    let all: String = lines.iter().map(|l| compact(&l.text)).collect();
    back.title_kind = DocumentKind::of_title(&all);
    let rows = rows(lines);
    let (mut authority_row, mut validity_row) = (None, None);
    for (i, row) in rows.iter().enumerate() {
        let text = row_text(row);
        if text.contains("次数") {
            let count = digit_runs(&text).into_iter().next().unwrap_or_default();
            if !count.is_empty() {
                back.issue_count = Some(Field::new(count.to_string(), row));
            }
        } else if text.contains("通行证") {
            if let Some(pass) = pass_number_in(&text) {
                back.pass_number = Some(Field::new(pass, row));
            }
        } else if let Some((from, until)) = validity_in(&text) {
            back.valid_from = Some(Field::new(from, row));
            back.valid_until = Some(Field::new(until, row));
            validity_row = Some(i);
        } else if authority_row.is_none()
            && (text.contains("签发") || text.contains("机关") || text.contains("Authority"))
        {
            authority_row = Some(i);
        }
    }
    // A label too faint to be read, or misread past recognition (器发机关, 发构美), leaves the
    // authority as the row right above the validity period.
    let is_title = |i: usize| {
        let text = row_text(&rows[i]);
        ["中华人民共和国", "居民身份证", "居住证", "永久居留"].iter().any(|t| text.contains(t))
    };
    let authority_row = authority_row.or_else(|| validity_row.and_then(|v| v.checked_sub(1)).filter(|&i| !is_title(i)));
    if let Some(i) = authority_row {
        let row = &rows[i];
        // The values start right of the label column (the labels end before 30% of the width,
        // the values begin at about 37%): what lies there is the value, however the label read.
        let values: Vec<&TextLine> =
            row.iter().copied().filter(|l| l.quad.bounds().0 >= BACK_VALUE_COLUMN * width).collect();
        let value = if values.is_empty() { strip_label(row, "签发机关", width) } else { row_text(&values) };
        if !value.is_empty() {
            back.issuing_authority = Some(Field::new(value, if values.is_empty() { row } else { &values }));
        }
    }
    back
}

/// Where the back's value column begins, as a share of the card's width.
const BACK_VALUE_COLUMN: f32 = 0.3;

/// A travel permit's number after its label: an optional H or M and 8 to 10 digits.
fn pass_number_in(text: &str) -> Option<String> {
    let after = text.split_once("号码").map_or(text, |(_, rest)| rest);
    let chars: Vec<char> = after.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let start = chars.iter().position(|c| c.is_ascii_digit() || matches!(c.to_ascii_uppercase(), 'H' | 'M'))?;
    let pass: String = chars[start..].iter().map(|c| c.to_ascii_uppercase()).collect();
    let digits = pass.trim_start_matches(['H', 'M']);
    ((8..=10).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())).then_some(pass)
}

/// The document a front's number belongs to, when a number was read.
pub fn front_kind(front: &Front) -> Option<DocumentKind> {
    front.id_number.as_ref().map(|n| DocumentKind::of_number(&n.text))
}

/// Groups lines into rows (lines whose vertical centres are within half a line height), each row
/// left to right, rows top to bottom.
pub(crate) fn rows(lines: &[TextLine]) -> Vec<Vec<&TextLine>> {
    let mut ordered: Vec<&TextLine> = lines.iter().collect();
    reading_order_by(&mut ordered, |l| &l.quad);
    let mut rows: Vec<Vec<&TextLine>> = Vec::new();
    for line in ordered {
        let joins = rows.last().and_then(|row| row.last()).is_some_and(|last| {
            let tolerance = 0.5 * last.quad.height().min(line.quad.height());
            (line.quad.center()[1] - last.quad.center()[1]).abs() <= tolerance
        });
        match rows.last_mut() {
            Some(row) if joins => row.push(line),
            _ => rows.push(vec![line]),
        }
    }
    rows
}

/// The text with spaces removed (the recogniser reads the wide letter spacing as spaces).
pub(crate) fn compact(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

pub(crate) fn row_text(row: &[&TextLine]) -> String {
    row.iter().map(|l| compact(&l.text)).collect()
}

/// A row's text without its label. Leading lines made only of the label's characters are the
/// label (the recogniser often reads the widely spaced label as separate pieces), and so is a
/// short first line in the label column (the left fifth of the card: a misread label); then a
/// label run together with the value is cut off: the whole label, its second character alone
/// for the two-character labels (名, 址 begin no name or address; 签发机关's 关 would: 关岭县 is a
/// county), or a label the length of the real one with at least one character right.
fn strip_label(row: &[&TextLine], label: &str, width: f32) -> String {
    let label_chars: Vec<char> = label.chars().collect();
    let label_len = label_chars.len();
    let mut lines: Vec<(&TextLine, String)> = row.iter().map(|l| (*l, compact(&l.text))).collect();
    while lines.len() > 1 && lines[0].1.chars().all(|c| label_chars.contains(&c)) {
        lines.remove(0);
    }
    if lines.len() > 1 && lines[0].0.quad.bounds().0 < 0.2 * width && lines[0].1.chars().count() <= label_len {
        lines.remove(0);
    }
    let text: String = lines.iter().map(|(_, t)| t.as_str()).collect();
    if let Some(value) = text.strip_prefix(label) {
        return value.to_string();
    }
    if label_len == 2
        && let Some(value) = text.strip_prefix(label_chars[1])
        && !value.is_empty()
    {
        return value.to_string();
    }
    let first_len = lines.first().map_or(0, |(_, t)| t.chars().count());
    let head: Vec<char> = text.chars().take(label_len).collect();
    let matches = head.iter().zip(&label_chars).filter(|(a, b)| *a == *b).count();
    if first_len > label_len && matches >= 1 {
        return text.chars().skip(label_len).collect();
    }
    text
}

/// What of a name row's reading can be part of a name: Han characters and, between them, the
/// middle dot of a transcribed name (阿依古丽·买买提; read as a bullet or a full stop now and
/// then). A digit or letter is a stray mark or a label's remnant (姓名 read as 8).
pub(crate) fn name_characters(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter_map(|c| match c {
            c if shiren_idcard::is_han(c) => Some(c),
            '·' | '•' | '・' | '.' | '．' | '‧' => Some(shiren_idcard::MIDDLE_DOT),
            _ => None,
        })
        .collect();
    kept.trim_matches(shiren_idcard::MIDDLE_DOT).to_string()
}

/// The first run of 17 digits and a digit or X (a lowercase x made uppercase).
pub fn find_id_number(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    if chars.len() < 18 {
        return None;
    }
    (0..=chars.len() - 18).find_map(|start| {
        let window = &chars[start..start + 18];
        let body_ok = window[..17].iter().all(char::is_ascii_digit);
        let last_ok = window[17].is_ascii_digit() || matches!(window[17], 'X' | 'x');
        // Longer digit runs are something else (a bank card, a serial).
        let before_ok = start == 0 || !chars[start - 1].is_ascii_digit();
        let after_ok = chars.get(start + 18).is_none_or(|c| !c.is_ascii_digit());
        (body_ok && last_ok && before_ok && after_ok).then(|| window.iter().map(|c| c.to_ascii_uppercase()).collect())
    })
}

/// The runs of ASCII digits in `text`.
pub(crate) fn digit_runs(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).collect()
}

/// `YYYY-MM-DD` from a birth row whose small 年 and 月 were lost in reading (`197628日`), when its
/// digits are exactly those of the number's birth date as the card prints it (year, then month
/// and day without leading zeros). Nothing more lenient: a printed date that differs from the
/// number's is a forgery signal the cross-checks must still see.
pub fn birth_date_matching_number(text: &str, number: &str) -> Option<String> {
    let date = number.get(6..14).filter(|d| d.bytes().all(|b| b.is_ascii_digit()))?;
    let (year, month, day) = (&date[..4], date[4..6].trim_start_matches('0'), date[6..].trim_start_matches('0'));
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    (digits == format!("{year}{month}{day}")).then(|| format!("{year}-{}-{}", &date[4..6], &date[6..]))
}

/// The sex and the ethnicity from the text of the sex row.
pub fn sex_and_ethnicity(text: &str) -> (Option<&'static str>, Option<&'static str>) {
    let after_sex = text.split_once(['男', '女']).map(|(_, rest)| rest).unwrap_or("");
    (sex_in(text), find_ethnicity(after_sex))
}

/// `YYYY-MM-DD` from one line of text read across the birth row.
pub fn birth_date_from_text(text: &str) -> Option<String> {
    let runs: Vec<String> = digit_runs(text).into_iter().map(String::from).collect();
    birth_date_in(&runs)
}

/// The digit runs of a row, line by line (two lines' digits never run together).
fn digit_runs_of(row: &[&TextLine]) -> Vec<String> {
    row.iter().flat_map(|l| digit_runs(&l.text).into_iter().map(String::from).collect::<Vec<_>>()).collect()
}

/// Whether a line is the number's label (公民身份号码, often partly misread).
fn is_number_label(text: &str) -> bool {
    ["身份号", "公民身", "份号码"].iter().any(|l| text.contains(l)) && find_id_number(text).is_none()
}

/// The card's size in millimetres (ISO/IEC 7810 ID-1).
const CARD_WIDTH_MM: f32 = 85.6;
const CARD_HEIGHT_MM: f32 = 54.0;

/// `YYYY-MM-DD` from a birth row's digit runs, such as those of `出生2015年3月8日` (the
/// characters between the numbers are often misread, the numbers rarely).
pub(crate) fn birth_date_in(runs: &[String]) -> Option<String> {
    let year = runs.iter().position(|r| r.len() == 4)?;
    let (y, m, d) = (&runs[year], runs.get(year + 1)?, runs.get(year + 2)?);
    let date = Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    Some(date.to_string())
}

fn sex_in(text: &str) -> Option<&'static str> {
    // The label 性别 comes first; the value is the first 男 or 女 after it.
    let value = text.strip_prefix("性别").unwrap_or(text);
    value.chars().find_map(|c| match c {
        '男' => Some("男"),
        '女' => Some("女"),
        _ => None,
    })
}

/// The validity period from `2015.03.08-2025.03.08` or `2015.03.08-长期` (separators vary).
pub(crate) fn validity_in(text: &str) -> Option<(String, String)> {
    let runs = digit_runs(text);
    let date_at = |i: usize| -> Option<Date> {
        let (y, m, d) = (runs.get(i)?, runs.get(i + 1)?, runs.get(i + 2)?);
        if y.len() != 4 {
            return None;
        }
        Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    };
    // A date written as one run (20150308) is split first.
    let from = date_at(0).or_else(|| compact_date(runs.first()?))?;
    let until = if text.contains(LONG_TERM) {
        LONG_TERM.to_string()
    } else {
        date_at(3).or_else(|| compact_date(runs.get(1)?))?.to_string()
    };
    Some((from.to_string(), until))
}

fn compact_date(run: &str) -> Option<Date> {
    if run.len() != 8 {
        return None;
    }
    Date::new(run[..4].parse().ok()?, run[4..6].parse().ok()?, run[6..].parse().ok()?)
}

/// One cross-check between the printed fields and the number, or between the sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// `check_character`, `birth_date`, `sex`, `region`, `ethnicity`, `nationality` (a
    /// foreigner's card: its printed code against its number), `validity_period`, `not_expired`.
    pub name: &'static str,
    pub passed: bool,
    /// What was compared, in words, without personal data.
    pub detail: String,
}

pub(crate) fn check(name: &'static str, passed: bool, detail: impl Into<String>) -> Check {
    Check { name, passed, detail: detail.into() }
}

/// Every cross-check the fields read allow. A check whose fields were not read is left out
/// (the missing field is reported as a warning by the caller), never passed.
pub fn cross_checks(front: Option<&Front>, back: Option<&Back>, regions: &RegionTable) -> Vec<Check> {
    let mut checks = Vec::new();
    let number = front.and_then(|f| f.id_number.as_ref()).map(|f| f.text.clone());
    let parsed = number.as_deref().map(|n| shiren_idcard::validate_document(n, regions, Date::today_in_china()));
    if let Some(result) = &parsed {
        match result {
            Err(IdNumberError::WrongCheckCharacter { .. }) => {
                checks.push(check("check_character", false, "the number's check character does not match its digits"))
            }
            Err(IdNumberError::UnknownRegion { .. }) => {
                checks.push(check("check_character", true, "the check character matches"));
                checks.push(check("region", false, "the number's region code is not a known one"));
            }
            // Named by kind, never quoted: the record keeps this detail, and the error's own
            // message can hold the birth date.
            Err(e) => checks.push(check("check_character", false, invalid_number_detail(e))),
            Ok(n) => {
                let detail = if number.as_deref().is_some_and(|n| n.len() == 15) {
                    "a 2017 foreigner's card's number has no check character: its shape and birth date are valid"
                } else {
                    "the check character matches"
                };
                checks.push(check("check_character", true, detail));
                let region = match n.kind {
                    DocumentKind::ResidentIdCard => "the region code is known",
                    DocumentKind::ForeignPermanentResidentCard => "a foreigner's permanent residence card's number",
                    _ => "a residence permit's number (810000, 820000 or 830000)",
                };
                checks.push(check("region", true, region));
            }
        }
    }
    let valid = parsed.as_ref().and_then(|r| r.as_ref().ok());
    if let (Some(id), Some(front)) = (valid, front) {
        if let Some(birth) = &front.birth_date {
            let same = birth.text == id.birth_date.to_string();
            checks.push(check("birth_date", same, "the printed birth date against the number's"));
        }
        if let (Some(sex), Some(number_sex)) = (&front.sex, id.sex) {
            let number_sex = match number_sex {
                Sex::Male => "男",
                Sex::Female => "女",
            };
            checks.push(check("sex", sex.text == number_sex, "the printed sex against the number's 17th digit"));
        }
    }
    if let Some(eth) = front.and_then(|f| f.ethnicity.as_ref()) {
        let known = ETHNIC_GROUPS.contains(&eth.text.as_str());
        checks.push(check("ethnicity", known, "the ethnicity is one of the 56 official names"));
    }
    // The validity period is on the back, or on the front of the foreigner's card.
    let validity = back
        .and_then(|b| Some((b.valid_from.as_ref()?, b.valid_until.as_ref()?)))
        .or_else(|| front.and_then(|f| Some((f.valid_from.as_ref()?, f.valid_until.as_ref()?))));
    if let (Some(id), Some((from, until))) = (valid, validity)
        && let Ok(start) = Date::parse(&from.text)
    {
        let (passed, detail) = if id.kind.is_residence_permit() {
            permit_validity(start, &until.text)
        } else if id.kind == DocumentKind::ForeignPermanentResidentCard {
            foreign_card_validity(id.birth_date, start, &until.text)
        } else {
            validity_consistent(id.birth_date, start, &until.text)
        };
        checks.push(check("validity_period", passed, detail));
    }
    if let Some((_, until)) = validity
        && let Ok(end) = Date::parse(&until.text)
    {
        let valid = end >= Date::today_in_china();
        checks.push(check("not_expired", valid, "the card's last day of validity is today or later"));
    }
    checks
}

/// Why a number is not valid, in words without its digits.
fn invalid_number_detail(e: &IdNumberError) -> &'static str {
    match e {
        IdNumberError::WrongLength { .. } | IdNumberError::FirstGeneration => "the number has the wrong length",
        IdNumberError::InvalidCharacter { .. } => "the number has a character that is not allowed",
        IdNumberError::WrongCheckCharacter { .. } => "the number's check character does not match its digits",
        IdNumberError::InvalidBirthDate { .. } => "the number's birth date does not exist",
        IdNumberError::BirthDateTooEarly { .. } | IdNumberError::BirthDateInFuture { .. } => {
            "the number's birth date is out of range"
        }
        IdNumberError::UnknownRegion { .. } => "the number's region code is not a known one",
    }
}

/// A residence permit is valid five years whatever the holder's age.
fn permit_validity(start: Date, until: &str) -> (bool, String) {
    (ends_after_years(start, until, 5), "a residence permit: valid 5 years".into())
}

/// A foreigner's permanent residence card is valid ten years, five for a holder under 18 at
/// issue.
fn foreign_card_validity(birth: Date, start: Date, until: &str) -> (bool, String) {
    if start < birth {
        return (false, "the card's validity starts before the birth date".into());
    }
    let years = if birth.years_until(start) < 18 { 5 } else { 10 };
    (ends_after_years(start, until, years), format!("a foreigner's permanent residence card: valid {years} years"))
}

/// Whether `until` is the date `years` whole years after `start`.
fn ends_after_years(start: Date, until: &str, years: u16) -> bool {
    Date::parse(until).is_ok_and(|end| {
        Date::new(start.year() + years, start.month(), start.day())
            // 29 February plus whole years lands on 1 March in other years.
            .or_else(|| Date::new(start.year() + years, 3, 1))
            .is_some_and(|expected| end == expected)
    })
}

/// The length of validity a card issued on `start` to someone born on `birth` must have: under
/// 16, five years; 16-25, ten; 26-45, twenty; 46 and over, without end.
fn validity_consistent(birth: Date, start: Date, until: &str) -> (bool, String) {
    if start < birth {
        return (false, "the card's validity starts before the birth date".into());
    }
    let age = birth.years_until(start);
    let expected_years = match age {
        0..=15 => Some(5u16),
        16..=25 => Some(10),
        26..=45 => Some(20),
        _ => None,
    };
    let detail = match expected_years {
        Some(years) => format!("issued at {age}: valid {years} years"),
        None => format!("issued at {age}: valid without end"),
    };
    let passed = match (expected_years, until) {
        (None, LONG_TERM) => true,
        (Some(years), text) => ends_after_years(start, text, years),
        _ => false,
    };
    (passed, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shiren_ocr::Quad;

    fn line(text: &str, x: f32, y: f32, w: f32) -> TextLine {
        TextLine {
            text: text.into(),
            confidence: 0.95,
            quad: Quad::rect(x, y, w, 30.0),
            angle: 0.0,
            detection_score: 0.9,
            turned: false,
        }
    }

    #[test]
    fn a_name_keeps_han_characters_and_inner_middle_dots_only() {
        assert_eq!(name_characters("8白茂"), "白茂");
        assert_eq!(name_characters("阿依古丽•买买提"), "阿依古丽·买买提");
        assert_eq!(name_characters(".王小明:"), "王小明");
        assert_eq!(name_characters("12"), "");
    }

    #[test]
    fn a_front_is_read_by_rows_with_misread_labels() {
        let lines = vec![
            line("姓名二哈", 48.0, 62.0, 170.0),
            line("性别", 50.0, 125.0, 84.0),
            line("男", 145.0, 129.0, 34.0),
            line("民线汉", 230.0, 124.0, 133.0),
            line("2015", 146.0, 190.0, 76.0),
            line("年03月08", 229.0, 190.0, 166.0),
            line("住址", 57.0, 260.0, 68.0),
            line("河南省安阳市文峰区", 145.0, 260.0, 256.0),
            line("幸福路1号", 145.0, 300.0, 150.0),
            line("公民身份号码", 54.0, 419.0, 187.0),
            line("41050220150308 1234", 286.0, 416.0, 401.0),
        ];
        assert_eq!(side_of(&lines), Some(Side::Front));
        let front = read_front(&lines, 804.0);
        let text = |f: &Option<Field>| f.as_ref().map(|f| f.text.clone()).unwrap_or_default();
        assert_eq!(text(&front.name), "二哈");
        assert_eq!(text(&front.sex), "男");
        assert_eq!(text(&front.ethnicity), "汉");
        assert_eq!(text(&front.birth_date), "2015-03-08");
        assert_eq!(text(&front.address), "河南省安阳市文峰区幸福路1号");
        assert_eq!(text(&front.id_number), "410502201503081234");
    }

    #[test]
    fn a_back_gives_the_authority_and_the_period() {
        let lines = vec![
            line("中华人民共和国", 300.0, 60.0, 300.0),
            line("居民身份证", 260.0, 130.0, 400.0),
            line("签发机关", 150.0, 380.0, 100.0),
            line("安阳市公安局文峰分局", 270.0, 380.0, 300.0),
            line("有效期限", 150.0, 440.0, 100.0),
            line("2015.03.08-2020.03.08", 270.0, 440.0, 300.0),
        ];
        assert_eq!(side_of(&lines), Some(Side::Back));
        let back = read_back(&lines, 856.0);
        assert_eq!(back.issuing_authority.map(|f| f.text).as_deref(), Some("安阳市公安局文峰分局"));
        assert_eq!(back.valid_from.map(|f| f.text).as_deref(), Some("2015-03-08"));
        assert_eq!(back.valid_until.map(|f| f.text).as_deref(), Some("2020-03-08"));
        let long = vec![line("有效期限1970.01.01-长期", 150.0, 440.0, 400.0)];
        assert_eq!(read_back(&long, 856.0).valid_until.map(|f| f.text).as_deref(), Some(LONG_TERM));
    }

    #[test]
    fn a_back_with_an_unreadable_label_takes_the_row_above_the_period() {
        let misread = vec![
            line("中华人民共和国", 300.0, 60.0, 300.0),
            line("居民身份证", 260.0, 130.0, 400.0),
            line("器发机关", 185.0, 369.0, 100.0),
            line("察隅县公安局", 336.0, 368.0, 200.0),
            line("2021.01.16-长期", 339.0, 428.0, 300.0),
        ];
        let back = read_back(&misread, 856.0);
        assert_eq!(back.issuing_authority.map(|f| f.text).as_deref(), Some("察隅县公安局"));
        let unlabelled = vec![
            line("中华人民共和国", 300.0, 60.0, 300.0),
            line("居民身份证", 260.0, 130.0, 400.0),
            line("布尔津县公安局", 320.0, 374.0, 220.0),
            line("2025.07.10-长期", 320.0, 438.0, 300.0),
        ];
        let back = read_back(&unlabelled, 856.0);
        assert_eq!(back.issuing_authority.map(|f| f.text).as_deref(), Some("布尔津县公安局"));
        // The title is never taken for the authority.
        let bare = vec![line("居民身份证", 260.0, 130.0, 400.0), line("2025.07.10-长期", 320.0, 180.0, 300.0)];
        assert_eq!(read_back(&bare, 856.0).issuing_authority, None);
    }

    #[test]
    fn a_stray_digit_before_the_number_does_not_hide_it() {
        let lines = vec![
            line("高馥琼", 151.0, 73.0, 100.0),
            line("男", 149.0, 140.0, 30.0),
            line("高山", 344.0, 139.0, 60.0),
            line("2008年5月22日", 150.0, 204.0, 250.0),
            line("公9", 52.0, 454.0, 60.0),
            line("540322200805220059", 286.0, 446.0, 400.0),
        ];
        assert_eq!(side_of(&lines), Some(Side::Front));
        assert_eq!(read_front(&lines, 856.0).id_number.map(|f| f.text).as_deref(), Some("540322200805220059"));
    }

    #[test]
    fn a_birth_row_without_its_small_labels_is_taken_only_when_it_spells_the_numbers_date() {
        let number = "330902197602080029";
        assert_eq!(birth_date_matching_number("197628日", number).as_deref(), Some("1976-02-08"));
        assert_eq!(birth_date_matching_number("1976 2 8", number).as_deref(), Some("1976-02-08"));
        // A label misread as a digit, or a different date, is not bent into the number's.
        assert_eq!(birth_date_matching_number("1976928", number), None);
        assert_eq!(birth_date_matching_number("1976218日", number), None);
        assert_eq!(birth_date_matching_number("197628", "3309021976"), None);
    }

    #[test]
    fn numbers_are_found_only_as_whole_runs() {
        assert_eq!(find_id_number("号码11010519491231002x").as_deref(), Some("11010519491231002X"));
        assert_eq!(find_id_number("6222021234567890123"), None, "19 digits are a bank card");
        assert_eq!(find_id_number("1101051949123100"), None);
        assert_eq!(find_id_number(""), None);
    }

    #[test]
    fn validity_follows_the_age_at_issue() {
        let birth = Date::new(2000, 2, 29).unwrap();
        let at = |y, m, d| Date::new(y, m, d).unwrap();
        assert!(validity_consistent(birth, at(2010, 5, 1), "2015-05-01").0, "age 10: five years");
        assert!(!validity_consistent(birth, at(2010, 5, 1), "2020-05-01").0);
        assert!(
            validity_consistent(birth, at(2020, 2, 29), "2030-03-01").0
                || validity_consistent(birth, at(2020, 2, 29), "2030-02-29").0
        );
        assert!(validity_consistent(at(1960, 1, 1), at(2010, 1, 1), LONG_TERM).0, "age 50: without end");
        assert!(!validity_consistent(at(1960, 1, 1), at(2010, 1, 1), "2030-01-01").0);
        assert!(!validity_consistent(birth, at(1999, 1, 1), "2004-01-01").0, "before birth");
    }

    #[test]
    fn travel_permit_numbers_after_their_label() {
        assert_eq!(pass_number_in("通行证号码H12345678").as_deref(), Some("H12345678"));
        assert_eq!(pass_number_in("通行证号码 m1234 5678").as_deref(), Some("M12345678"));
        assert_eq!(pass_number_in("通行证号码 08123456").as_deref(), Some("08123456"));
        assert_eq!(pass_number_in("通行证号码 H1234"), None, "too short");
        assert_eq!(pass_number_in("通行证号码"), None);
    }

    #[test]
    fn a_permit_is_checked_as_a_permit_and_an_expired_card_fails() {
        let regions = RegionTable::parse("11 province=\"北京市\"\n  0101 county=\"东城区\"\n").unwrap();
        let field = |t: &str| Some(Field { text: t.into(), confidence: 0.99 });
        let with_check = |first17: &str| format!("{first17}{}", shiren_idcard::check_character(first17).unwrap());
        let passed = |checks: &[Check], name: &str| checks.iter().find(|c| c.name == name).map(|c| c.passed);
        // A Hong Kong resident's permit: no ethnicity, its prefix is no region, five years.
        let front = Front {
            sex: field("男"),
            birth_date: field("1990-01-01"),
            id_number: field(&with_check("81000019900101001")),
            ..Front::default()
        };
        let back = Back { valid_from: field("2024-03-01"), valid_until: field("2029-03-01"), ..Back::default() };
        let checks = cross_checks(Some(&front), Some(&back), &regions);
        for name in ["check_character", "region", "birth_date", "sex", "validity_period", "not_expired"] {
            assert_eq!(passed(&checks, name), Some(true), "{name}: {checks:?}");
        }
        let ten_years = Back { valid_until: field("2034-03-01"), ..back.clone() };
        assert_eq!(passed(&cross_checks(Some(&front), Some(&ten_years), &regions), "validity_period"), Some(false));
        // A resident card whose validity ended.
        let resident = Front { id_number: field(&with_check("11010119900101001")), ..front };
        let expired = Back { valid_from: field("2010-03-01"), valid_until: field("2020-03-01"), ..Back::default() };
        let checks = cross_checks(Some(&resident), Some(&expired), &regions);
        assert_eq!(passed(&checks, "validity_period"), Some(true), "{checks:?}");
        assert_eq!(passed(&checks, "not_expired"), Some(false), "{checks:?}");
    }
}
