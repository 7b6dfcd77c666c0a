//! The front of the foreigner's permanent residence card (外国人永久居留身份证), 2017 and 2023
//! editions, read from the OCR lines of an upright card.
//!
//! Its front differs from the resident card's: every field stands under a small bilingual label
//! (姓名/Name, 性别/Sex, 出生日期/Date of Birth, 国籍/Nationality, 有效期限/Period of Validity,
//! 证件号码/Card No.) rather than beside it, the name is printed twice (Latin capitals, then
//! Chinese), and the validity period is on the front. Values are therefore recognised by what they
//! are, not by the label beside them: the number by its shape (three letters and twelve digits,
//! or eighteen characters beginning with 9), the validity by its two dates, the birth date as the
//! one line holding a single date, the sex as 男 or 女 (or M / F after a slash), the nationality
//! as Chinese characters followed by a three-letter code, the Latin name as a line of capitals,
//! and the Chinese name as the line of Chinese characters below it ([`read_front`]); a sex or a
//! number the first reading missed is looked at again ([`second_looks`]). The back (title and
//! 签发机关) is read by [`crate::idcard::read_back`].

use image::RgbImage;
use shiren_ocr::{OcrEngine, OcrError, Quad, TextLine};

use crate::countries::Countries;
use crate::idcard::{
    Check, Field, Front, birth_date_in, check, compact, digit_runs, find_id_number, name_characters, rows, validity_in,
};

/// Text found only in labels and titles; a line holding any of it is no value. The Latin words
/// are matched with their case (values in Latin are capitals).
const LABEL_TEXT: [&str; 18] = [
    "姓名",
    "性别",
    "出生",
    "日期",
    "国籍",
    "有效期",
    "证件号",
    "号码",
    "永久居留",
    "中华人民",
    "Name",
    "Sex",
    "Birth",
    "Nationality",
    "Validity",
    "Card",
    "Foreign",
    "Permanent",
];

fn is_label(text: &str) -> bool {
    LABEL_TEXT.iter().any(|label| text.contains(label))
}

/// A 2017 edition's number in `text` (spaces removed): three letters, then twelve digits, with
/// the recogniser's O and I/l in the digit part taken for 0 and 1. Letters are made capitals.
pub fn find_2017_number(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let digit = |c: char| match c {
        'O' | 'o' => Some('0'),
        'I' | 'l' => Some('1'),
        c if c.is_ascii_digit() => Some(c),
        _ => None,
    };
    // A letter of the code read as the digit it resembles (K0R for KOR); two of the three must
    // be read as letters, so that no run of digits (a resident card's number) passes for one.
    let letter = |c: char| match c {
        '0' => Some('O'),
        '1' => Some('I'),
        '5' => Some('S'),
        '8' => Some('B'),
        c if c.is_ascii_alphabetic() => Some(c),
        _ => None,
    };
    (0..chars.len().saturating_sub(14)).find_map(|start| {
        let letters: Option<String> = chars[start..start + 3].iter().map(|&c| letter(c)).collect();
        let read_as_letters = chars[start..start + 3].iter().filter(|c| c.is_ascii_alphabetic()).count();
        if read_as_letters < 2 || (start > 0 && chars[start - 1].is_ascii_alphabetic()) {
            return None;
        }
        let letters = letters?;
        let digits: Option<String> = chars[start + 3..start + 15].iter().map(|&c| digit(c)).collect();
        let after_ok = chars.get(start + 15).is_none_or(|c| !c.is_ascii_digit());
        let digits = digits.filter(|d| after_ok && d.chars().any(|c| c != '0'))?;
        Some(format!("{}{digits}", letters.to_ascii_uppercase()))
    })
}

/// The foreigner's card number in `text`, of either edition.
pub fn find_number(text: &str) -> Option<String> {
    let compacted = compact(text);
    find_id_number(&compacted).filter(|n| n.starts_with('9')).or_else(|| find_2017_number(&compacted))
}

/// Whether the lines are the front of a foreigner's card: its number, or its nationality label.
pub fn is_front(lines: &[TextLine]) -> bool {
    lines.iter().any(|l| find_number(&l.text).is_some() || ["国籍", "Nationality"].iter().any(|t| l.text.contains(t)))
}

/// A Latin name as printed (`SMITH, JOHN`): capitals, spaces, commas, hyphens and apostrophes,
/// at least two letters, none in lower case. Spaces are collapsed and a comma is followed by one.
fn latin_name(text: &str) -> Option<String> {
    let text = text.trim();
    let allowed = |c: char| c.is_ascii_uppercase() || matches!(c, ' ' | ',' | '-' | '\'' | '.');
    let letters = text.chars().filter(char::is_ascii_uppercase).count();
    if letters < 2 || !text.chars().all(allowed) {
        return None;
    }
    let mut name = String::new();
    for word in text.replace(',', ", ").split_whitespace() {
        if !name.is_empty() && !word.starts_with(',') {
            name.push(' ');
        }
        name.push_str(word);
    }
    Some(name.replace(" ,", ",").trim_matches([',', ' ']).to_string())
}

/// The nationality as printed, `美国/USA`: the Chinese name and the code (the slash may be lost
/// or misread). The code alone is not enough (a stray Latin line), nor the Chinese alone (that
/// is the Chinese name's shape).
fn nationality(text: &str) -> Option<(String, String)> {
    let han: String = text.chars().filter(|&c| shiren_idcard::is_han(c)).collect();
    let code: String = text.chars().filter(char::is_ascii_alphabetic).collect::<String>().to_ascii_uppercase();
    let only_these = text.chars().all(|c| shiren_idcard::is_han(c) || c.is_ascii_alphabetic() || "/|I1l·.".contains(c));
    // Every country's Chinese short name has two characters or more; codes are capitals.
    if han.chars().count() < 2 || text.chars().any(|c| c.is_ascii_lowercase() && c != 'l') {
        return None;
    }
    // A misread slash can add an I or l before the code: keep the last three letters.
    let code = code.get(code.len().saturating_sub(3)..).unwrap_or_default().to_string();
    (only_these && !han.is_empty() && code.len() == 3 && text.find(|c: char| c.is_ascii_alphabetic()) > Some(0))
        .then_some((han, code))
}

/// The sex from `男/M` or `女/F` (or the letter alone after a slash when the character is lost).
fn sex(text: &str) -> Option<&'static str> {
    let han: String = text.chars().filter(|&c| shiren_idcard::is_han(c)).collect();
    match han.as_str() {
        "男" => return Some("男"),
        "女" => return Some("女"),
        "" => {}
        _ => return None,
    }
    match text.trim_start_matches(['/', '|']).trim() {
        "M" => Some("男"),
        "F" => Some("女"),
        _ => None,
    }
}

/// Reads the front of a foreigner's card from the lines of an upright card `width` pixels wide.
pub fn read_front(lines: &[TextLine], width: f32) -> Front {
    let mut front = Front::default();
    let rows = rows(lines);
    // Lines in reading order, labels and the portrait's area (the right third, above the
    // number) left out.
    let height = width * 54.0 / 85.6;
    let values: Vec<&TextLine> = rows
        .iter()
        .flatten()
        .copied()
        .filter(|l| !is_label(&compact(&l.text)) && find_number(&l.text).is_none())
        .filter(|l| l.quad.bounds().0 < 0.62 * width || l.quad.center()[1] > 0.75 * height)
        .collect();
    let mut used = vec![false; values.len()];
    let number = lines.iter().find_map(|l| find_number(&l.text).map(|n| (n, l)));
    front.id_number = number.map(|(n, line)| Field::new(n, &[line]));
    let mut take = |found: &mut dyn FnMut(&TextLine) -> bool| {
        let index = (0..values.len()).find(|&i| !used[i] && found(values[i]))?;
        used[index] = true;
        Some(values[index])
    };
    let field = |text: String, line: &TextLine| Some(Field::new(text, &[line]));

    if let Some(line) = take(&mut |l| validity_in(&compact(&l.text)).is_some())
        && let Some((from, until)) = validity_in(&compact(&line.text))
    {
        front.valid_from = field(from, line);
        front.valid_until = field(until, line);
    }
    let single_date = |l: &TextLine| {
        let runs: Vec<String> = digit_runs(&l.text).into_iter().map(String::from).collect();
        runs.len() == 3 && birth_date_in(&runs).is_some()
    };
    if let Some(line) = take(&mut |l| single_date(l)) {
        let runs: Vec<String> = digit_runs(&line.text).into_iter().map(String::from).collect();
        front.birth_date = birth_date_in(&runs).and_then(|d| field(d, line));
    }
    let sex_line = take(&mut |l| sex(&compact(&l.text)).is_some());
    if let Some(line) = sex_line {
        front.sex = sex(&compact(&line.text)).and_then(|s| field(s.to_string(), line));
    }
    // The nationality stands below the sex.
    let below_sex = sex_line.map_or(0.0, |l| l.quad.center()[1]);
    if let Some(line) = take(&mut |l| l.quad.center()[1] > below_sex && nationality(&compact(&l.text)).is_some())
        && let Some((name, code)) = nationality(&compact(&line.text))
    {
        front.nationality = field(name, line);
        front.nationality_code = field(code, line);
    }
    let latin = take(&mut |l| latin_name(&l.text).is_some());
    if let Some(line) = latin {
        front.english_name = latin_name(&line.text).and_then(|n| field(n, line));
    }
    // The Chinese name: Chinese characters below the Latin name (when read) and above the sex
    // row, never the title above them.
    let top = latin.map_or(0.15 * height, |l| l.quad.center()[1]);
    let bottom = sex_line.map_or(0.45 * height, |l| l.quad.bounds().1);
    let chinese = take(&mut |l| {
        let y = l.quad.center()[1];
        y > top && y < bottom && name_characters(&l.text).chars().count() >= 2
    });
    if let Some(line) = chinese {
        front.name = field(name_characters(&line.text), line);
    }
    front
}

/// The printed nationality code against the number: a 2017 number begins with the alpha-3 code,
/// a 2023 number carries the numeric code at positions 4-6. `None` when either is unread, or a
/// 2023 card's printed code is no ISO 3166 country's (the comparison cannot be made; ICAO's
/// codes for the stateless are not in the table).
pub fn nationality_check(front: &Front, countries: &Countries) -> Option<Check> {
    let (number, code) = (&front.id_number.as_ref()?.text, &front.nationality_code.as_ref()?.text);
    match number.len() {
        15 => Some(check(
            "nationality",
            number.get(..3) == Some(code.as_str()),
            "the printed nationality code against the number's letters",
        )),
        18 => {
            let numeric = countries.numeric(code)?;
            let same = number.get(3..6).and_then(|d| d.parse::<u16>().ok()) == Some(numeric);
            Some(check("nationality", same, "the printed nationality code against the number's country digits"))
        }
        _ => None,
    }
}

/// How much likelier the likeliest sex must be than the other, in nats, and how far below the
/// recogniser's free reading of the band it may be (as for the ethnic names in `reader`).
const SEX_MARGIN: f32 = 3.0;
const SEX_GAP: f32 = 12.0;

/// Second looks at the fields a first reading of a foreigner's front can miss: a sex value the
/// detector did not find or the recogniser misread (a lone `男/M` is a short line on a patterned
/// ground) is scored as `男/M` against `女/F` in the band left of the birth date, the values
/// standing side by side; a number cut short by its detected box is read again from the whole
/// width of its band. `card` is the upright card the lines were read from.
pub fn second_looks(
    engine: &OcrEngine,
    card: &RgbImage,
    lines: &[TextLine],
    front: &mut Front,
) -> Result<(), OcrError> {
    let width = card.width() as f32;
    let band = |line: &TextLine, x0: f32, x1: f32| -> Option<RgbImage> {
        let (_, top, _, bottom) = line.quad.bounds();
        let pad = 0.25 * (bottom - top);
        let (x0, x1) = (x0.max(0.0), x1.min(width));
        (x1 - x0 > 8.0)
            .then(|| Quad::rect(x0, (top - pad).max(0.0), x1 - x0, bottom - top + 2.0 * pad))
            .and_then(|quad| shiren_ocr::geometry::crop_line(card, &quad))
    };
    let birth_line = lines.iter().find(|l| {
        let runs: Vec<String> = digit_runs(&l.text).into_iter().map(String::from).collect();
        runs.len() == 3 && birth_date_in(&runs).is_some()
    });
    if front.sex.is_none()
        && let Some(birth) = birth_line
        && let Some(crop) = band(birth, 0.0, birth.quad.bounds().0 - 4.0)
    {
        let scored = engine.score_texts(&crop, &["男/M", "女/F"])?;
        let score = |i: usize| scored.scores.get(i).copied().flatten().unwrap_or(f32::NEG_INFINITY);
        let (male, female) = (score(0), score(1));
        let (best, text) = if male >= female { (male, "男") } else { (female, "女") };
        if (male - female).abs() >= SEX_MARGIN && scored.best_path - best <= SEX_GAP {
            front.sex = Some(Field { text: text.to_string(), confidence: (best - scored.best_path).exp() });
        }
    }
    // The number's own line, cut short: three letters or a 9 and a few digits low on the card.
    let height = width * 54.0 / 85.6;
    if front.id_number.is_none()
        && let Some(start) = lines.iter().find(|l| {
            let text = compact(&l.text);
            let letters_first = text.chars().take(3).filter(char::is_ascii_alphabetic).count() >= 2;
            l.quad.center()[1] > 0.75 * height && (letters_first || text.starts_with('9'))
        })
        && let Some(crop) = band(start, start.quad.bounds().0 - 8.0, width)
        && let Some((text, confidence)) = engine.recognize(&[&crop])?.pop()
        && let Some(number) = find_number(&text)
    {
        front.id_number = Some(Field { text: number, confidence });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_of_both_editions_are_found() {
        assert_eq!(find_number("JPN12O310056174").as_deref(), Some("JPN120310056174"));
        assert_eq!(find_number("K0R319512122377").as_deref(), Some("KOR319512122377"));
        assert_eq!(find_number("110101199003074"), None);
        assert_eq!(find_number("证件号码 usa 110080615001").as_deref(), Some("USA110080615001"));
        assert_eq!(find_number("912392200310051740").as_deref(), Some("912392200310051740"));
        // A resident card's number, a bank card's digits, too few digits: none.
        assert_eq!(find_number("110101199003074514"), None);
        assert_eq!(find_number("USA1100806150012"), None);
        assert_eq!(find_number("USA11008061500"), None);
    }

    #[test]
    fn values_are_told_by_their_shape() {
        assert_eq!(latin_name("BERNARD,DAVID").as_deref(), Some("BERNARD, DAVID"));
        assert_eq!(latin_name(" SMITH ,  JOHN ").as_deref(), Some("SMITH, JOHN"));
        assert_eq!(latin_name("Foreign Permanent"), None);
        assert_eq!(latin_name("2019.03.16"), None);
        assert_eq!(nationality("日本/JPN"), Some(("日本".into(), "JPN".into())));
        assert_eq!(nationality("澳大利亚IAUS"), Some(("澳大利亚".into(), "AUS".into())));
        assert_eq!(nationality("约翰·史密斯"), None);
        assert_eq!(nationality("USA"), None);
        assert_eq!(nationality("生SES"), None);
        assert_eq!(sex("男/M"), Some("男"));
        assert_eq!(sex("/F"), Some("女"));
        assert_eq!(sex("男女"), None);
        assert_eq!(sex("马克"), None);
    }

    #[test]
    fn the_nationality_is_checked_against_the_number() {
        let countries = Countries::parse(
            r#"Country("Korea", "KR", "KOR", "410", "Korea") Country("Japan", "JP", "JPN", "392", "Japan")"#,
        );
        let field = |t: &str| Some(Field { text: t.into(), confidence: 1.0 });
        let card = |number: &str, code: &str| Front {
            id_number: field(number),
            nationality_code: field(code),
            ..Front::default()
        };
        let passed = |front: Front| nationality_check(&front, &countries).map(|c| c.passed);
        assert_eq!(passed(card("912410199001011234", "KOR")), Some(true));
        assert_eq!(passed(card("912410199001011234", "JPN")), Some(false));
        assert_eq!(passed(card("912410199001011234", "XXA")), None);
        assert_eq!(passed(card("KOR110900101001", "KOR")), Some(true));
        assert_eq!(passed(card("KOR110900101001", "JPN")), Some(false));
        assert_eq!(passed(Front { id_number: field("KOR110900101001"), ..Front::default() }), None);
    }
}
