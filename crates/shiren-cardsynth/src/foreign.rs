//! The foreigner's permanent residence card (外国人永久居留身份证) in its two editions: what it
//! says ([`ForeignCardTruth`]), drawn at random, and its two faces on the canonical canvas.
//!
//! Both editions print the holder's details on the front under the bilingual title: the name in
//! Latin capitals and in Chinese, sex, birth date, nationality (Chinese name and ISO 3166 alpha-3
//! code), the period of validity and the card number, each under a small bilingual label, with
//! the portrait on the right. They differ in the number: the 2017 edition's is the nationality's
//! three letters, a two-digit province code, the birth date as `YYMMDD` and four digits; the
//! 2023 edition's is 18 characters, `9`, the province code, the nationality's numeric code, the
//! birth date `YYYYMMDD`, a sequence and the MOD 11-2 check character of the resident card. The
//! back carries the emblem, the title and the issuing authority (公安部 for the 2017 edition,
//! 国家移民管理局 since 2023). The layout is this generator's own drawing of those contents,
//! not a trace of the real card.

use image::RgbImage;
use shiren_idcard::{Date, check_character};

use crate::fonts::{Face, Fonts, Style};
use crate::idcard::{LABEL, VALUE, background, draw_emblem, draw_portrait_in, pattern_phase};
use crate::rng::Rng;
use crate::truth::{add_years, date_from_days, day};
use crate::{CARD_HEIGHT, CARD_WIDTH};

const W: f32 = CARD_WIDTH as f32;
const H: f32 = CARD_HEIGHT as f32;

/// Which edition of the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignEdition {
    /// Issued by the Ministry of Public Security from 2017: a 15-character number.
    Of2017,
    /// The "five-star card" issued by the National Immigration Administration from December
    /// 2023: an 18-character number beginning with 9.
    Of2023,
}

/// Everything printed on a foreigner's permanent residence card, as an OCR reader should return
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignCardTruth {
    pub edition: ForeignEdition,
    /// `SURNAME, GIVEN` in capitals.
    pub english_name: String,
    /// The Chinese name: a transliteration with a middle dot (约翰·史密斯) or a Chinese-style name.
    pub chinese_name: String,
    /// `男` or `女` (printed `男/M`, `女/F`).
    pub sex: String,
    /// `YYYY-MM-DD`.
    pub birth: String,
    /// The nationality's Chinese short name (美国).
    pub nationality: String,
    /// Its ISO 3166-1 alpha-3 code (USA).
    pub nationality_code: String,
    /// `YYYY-MM-DD`.
    pub valid_from: String,
    /// `YYYY-MM-DD`: ten years after `valid_from`, five for a holder under 18 at issue.
    pub valid_until: String,
    pub id_number: String,
    /// 公安部 or 国家移民管理局.
    pub authority: String,
}

impl ForeignCardTruth {
    /// The validity period as printed: `YYYY.MM.DD-YYYY.MM.DD`.
    pub fn validity_text(&self) -> String {
        format!("{}-{}", self.valid_from.replace('-', "."), self.valid_until.replace('-', "."))
    }
}

/// Nationalities drawn from: Chinese short name, alpha-3 and numeric ISO 3166-1 codes.
const COUNTRIES: [(&str, &str, u16); 16] = [
    ("美国", "USA", 840),
    ("加拿大", "CAN", 124),
    ("英国", "GBR", 826),
    ("德国", "DEU", 276),
    ("法国", "FRA", 250),
    ("俄罗斯", "RUS", 643),
    ("日本", "JPN", 392),
    ("韩国", "KOR", 410),
    ("新加坡", "SGP", 702),
    ("澳大利亚", "AUS", 36),
    ("意大利", "ITA", 380),
    ("瑞典", "SWE", 752),
    ("巴西", "BRA", 76),
    ("荷兰", "NLD", 528),
    ("西班牙", "ESP", 724),
    ("新西兰", "NZL", 554),
];

/// Surnames in Latin letters and their usual Chinese transliterations.
const FAMILY_NAMES: [(&str, &str); 20] = [
    ("SMITH", "史密斯"),
    ("JOHNSON", "约翰逊"),
    ("BROWN", "布朗"),
    ("MILLER", "米勒"),
    ("WILSON", "威尔逊"),
    ("TAYLOR", "泰勒"),
    ("ANDERSON", "安德森"),
    ("MUELLER", "穆勒"),
    ("SCHMIDT", "施密特"),
    ("WAGNER", "瓦格纳"),
    ("MARTIN", "马丁"),
    ("BERNARD", "贝尔纳"),
    ("PETROV", "彼得罗夫"),
    ("IVANOV", "伊万诺夫"),
    ("ROSSI", "罗西"),
    ("GARCIA", "加西亚"),
    ("LARSSON", "拉尔松"),
    ("SILVA", "席尔瓦"),
    ("JANSEN", "扬森"),
    ("WALKER", "沃克"),
];

/// Given names in Latin letters, their transliterations, and whether the name is a man's.
const GIVEN_NAMES: [(&str, &str, bool); 20] = [
    ("JOHN", "约翰", true),
    ("MICHAEL", "迈克尔", true),
    ("DAVID", "大卫", true),
    ("PETER", "彼得", true),
    ("THOMAS", "托马斯", true),
    ("JAMES", "詹姆斯", true),
    ("ROBERT", "罗伯特", true),
    ("ANDREW", "安德鲁", true),
    ("MARK", "马克", true),
    ("PAUL", "保罗", true),
    ("MARIA", "玛丽亚", false),
    ("ANNA", "安娜", false),
    ("SOPHIE", "索菲", false),
    ("EMMA", "艾玛", false),
    ("LAURA", "劳拉", false),
    ("ELENA", "埃琳娜", false),
    ("CLAIRE", "克莱尔", false),
    ("JULIA", "朱莉娅", false),
    ("HELEN", "海伦", false),
    ("OLGA", "奥尔加", false),
];

/// Provinces (two-digit codes) where cards are accepted; the number carries one.
const PROVINCES: [u8; 8] = [11, 31, 44, 32, 33, 12, 51, 37];

/// Draws a card of `edition`. A holder takes a Chinese-style name a quarter of the time (the
/// surname and given characters are the resident card's lists), else the transliteration.
pub(crate) fn draw(rng: &mut Rng, edition: ForeignEdition, surnames: &[char], given: &[char]) -> ForeignCardTruth {
    let (nationality, code, numeric) = rng.pick(&COUNTRIES).copied().unwrap_or(COUNTRIES[0]);
    let (family, family_zh) = rng.pick(&FAMILY_NAMES).copied().unwrap_or(FAMILY_NAMES[0]);
    let (given_name, given_zh, male) = rng.pick(&GIVEN_NAMES).copied().unwrap_or(GIVEN_NAMES[0]);
    let chinese_name = if rng.chance(0.25) {
        let mut name = rng.pick(surnames).copied().unwrap_or('马').to_string();
        for _ in 0..2 {
            name.push(rng.pick(given).copied().unwrap_or('明'));
        }
        name
    } else {
        format!("{given_zh}{}{family_zh}", shiren_idcard::MIDDLE_DOT)
    };
    let birth = date_from_days(rng.between(day(1945, 1, 1), day(2015, 12, 31)));
    let (first_issue, last_issue) = match edition {
        ForeignEdition::Of2017 => (day(2017, 6, 1), day(2023, 11, 30)),
        ForeignEdition::Of2023 => (day(2023, 12, 1), day(2026, 10, 31)),
    };
    // A card still valid today: a draw whose end has passed is drawn again (a 2017 card issued
    // before 2017-12 to an adult, or a child's five-year card, may not be), the last one kept.
    let earliest = first_issue.max(birth.to_unix_days() + 1);
    let today = Date::today_in_china();
    let mut draw_from = || {
        let from = date_from_days(rng.between(earliest, last_issue.max(earliest)));
        let years = if birth.years_until(from) < 18 { 5 } else { 10 };
        (from, years)
    };
    let mut issue = draw_from();
    for _ in 0..16 {
        if add_years(issue.0, issue.1) >= today {
            break;
        }
        issue = draw_from();
    }
    let (from, years) = issue;
    let province = rng.pick(&PROVINCES).copied().unwrap_or(11);
    let id_number = match edition {
        ForeignEdition::Of2017 => format!(
            "{code}{province:02}{:02}{:02}{:02}{:04}",
            birth.year() % 100,
            birth.month(),
            birth.day(),
            rng.below(10_000)
        ),
        ForeignEdition::Of2023 => {
            let first17 = format!(
                "9{province:02}{numeric:03}{:04}{:02}{:02}{:03}",
                birth.year(),
                birth.month(),
                birth.day(),
                rng.below(1000)
            );
            format!("{first17}{}", check_character(&first17).unwrap_or('X'))
        }
    };
    ForeignCardTruth {
        edition,
        english_name: format!("{family}, {given_name}"),
        chinese_name,
        sex: if male { "男" } else { "女" }.to_string(),
        birth: birth.to_string(),
        nationality: nationality.to_string(),
        nationality_code: code.to_string(),
        valid_from: from.to_string(),
        valid_until: add_years(from, years).to_string(),
        id_number,
        authority: match edition {
            ForeignEdition::Of2017 => "公安部",
            ForeignEdition::Of2023 => "国家移民管理局",
        }
        .to_string(),
    }
}

const TITLE: &str = "中华人民共和国外国人永久居留身份证";
const ENGLISH_TITLE: &str = "Foreign Permanent Resident ID Card";
const LABEL_SIZE: f32 = 17.0;
const VALUE_SIZE: f32 = 29.0;
const LEFT: f32 = 0.05 * W;
/// The second column (birth date, validity).
const SECOND: f32 = 0.25 * W;
/// The portrait's box, right of the fields.
const PORTRAIT: (f32, f32, f32, f32) = (0.64 * W, 0.20 * H, 0.93 * W, 0.70 * H);

/// The front: title, the details under their labels, the portrait and the number.
pub(crate) fn render_front(fonts: &Fonts, truth: &ForeignCardTruth, portrait: &RgbImage) -> RgbImage {
    let tint = match truth.edition {
        ForeignEdition::Of2017 => [236, 228, 214],
        ForeignEdition::Of2023 => [240, 226, 222],
    };
    let mut card = background(pattern_phase(&truth.id_number) + 0.7, [232, 236, 238], [214, 222, 230], tint);
    draw_portrait_in(&mut card, portrait, PORTRAIT);

    let title = fonts.fit(Style::new(Face::Bold, 30.0, [30, 30, 34]).spaced(1.0), TITLE, 0.9 * W);
    fonts.draw(&mut card, &title, TITLE, LEFT, 0.075 * H);
    fonts.draw(&mut card, &Style::new(Face::Sans, 18.0, [60, 60, 70]), ENGLISH_TITLE, LEFT, 0.145 * H);

    let label = Style::new(Face::Sans, LABEL_SIZE, LABEL);
    let value = Style::new(Face::Sans, VALUE_SIZE, VALUE);
    let field = |card: &mut RgbImage, label_text: &str, text: &str, x: f32, label_y: f32, room: f32| {
        fonts.draw(card, &label, label_text, x, label_y);
        let style = fonts.fit(value, text, room);
        fonts.draw(card, &style, text, x, label_y + 0.075 * H);
    };
    let left_room = PORTRAIT.0 - LEFT - 0.02 * W;
    field(&mut card, "姓名/Name", &truth.english_name, LEFT, 0.22 * H, left_room);
    fonts.draw(&mut card, &fonts.fit(value, &truth.chinese_name, left_room), &truth.chinese_name, LEFT, 0.37 * H);
    let sex = format!("{}/{}", truth.sex, if truth.sex == "男" { "M" } else { "F" });
    field(&mut card, "性别/Sex", &sex, LEFT, 0.46 * H, SECOND - LEFT - 0.02 * W);
    let birth = truth.birth.replace('-', ".");
    field(&mut card, "出生日期/Date of Birth", &birth, SECOND, 0.46 * H, PORTRAIT.0 - SECOND - 0.02 * W);
    let nationality = format!("{}/{}", truth.nationality, truth.nationality_code);
    field(&mut card, "国籍/Nationality", &nationality, LEFT, 0.62 * H, SECOND - LEFT + 0.05 * W);
    let validity = truth.validity_text();
    let validity_x = SECOND + 0.08 * W;
    field(&mut card, "有效期限/Period of Validity", &validity, validity_x, 0.62 * H, W - validity_x - 0.03 * W);

    fonts.draw(&mut card, &label, "证件号码/Card No.", LEFT, 0.80 * H);
    let number = fonts.fit(Style::new(Face::Mono, 36.0, VALUE).spaced(3.0), &truth.id_number, 0.62 * W);
    fonts.draw(&mut card, &number, &truth.id_number, 0.30 * W, 0.88 * H);
    card
}

/// The back: emblem, title and issuing authority.
pub(crate) fn render_back(fonts: &Fonts, truth: &ForeignCardTruth) -> RgbImage {
    let mut card = background(pattern_phase(&truth.id_number) + 2.1, [230, 236, 236], [210, 222, 228], [242, 232, 220]);
    draw_emblem(&mut card, 0.5 * W, 0.25 * H, 0.10 * W);
    let dark = [30, 30, 34];
    let title = fonts.fit(Style::new(Face::Bold, 40.0, dark).spaced(2.0), TITLE, 0.9 * W);
    let width = fonts.width(&title, TITLE);
    fonts.draw(&mut card, &title, TITLE, (W - width) / 2.0, 0.50 * H);
    let english = Style::new(Face::Sans, 24.0, [60, 60, 70]);
    let english_width = fonts.width(&english, ENGLISH_TITLE);
    fonts.draw(&mut card, &english, ENGLISH_TITLE, (W - english_width) / 2.0, 0.60 * H);
    fonts.draw(&mut card, &Style::new(Face::Sans, 20.0, LABEL).spaced(2.0), "签发机关/Authority", 0.12 * W, 0.80 * H);
    fonts.draw(&mut card, &Style::new(Face::Sans, 32.0, VALUE), &truth.authority, 0.42 * W, 0.80 * H);
    card
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_each_editions_rules() {
        let surnames: Vec<char> = "王李张".chars().collect();
        let given: Vec<char> = "明华".chars().collect();
        let today = Date::today_in_china();
        let table = shiren_idcard::RegionTable::default();
        for seed in 0..50 {
            for edition in [ForeignEdition::Of2017, ForeignEdition::Of2023] {
                let truth = draw(&mut Rng::new(seed, 7), edition, &surnames, &given);
                let number = shiren_idcard::validate_document(&truth.id_number, &table, today).unwrap();
                assert_eq!(number.kind, shiren_idcard::DocumentKind::ForeignPermanentResidentCard);
                assert_eq!(number.birth_date.to_string(), truth.birth);
                if edition == ForeignEdition::Of2017 {
                    assert!(truth.id_number.starts_with(&truth.nationality_code));
                }
                let from = Date::parse(&truth.valid_from).unwrap();
                let years = if number.birth_date.years_until(from) < 18 { 5 } else { 10 };
                assert_eq!(truth.valid_until, add_years(from, years).to_string());
            }
        }
    }
}
