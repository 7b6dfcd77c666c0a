//! What a synthetic ID card says ([`IdCardTruth`]) and how it is drawn at random: a person
//! (name, sex, ethnicity, birth date), a county-level region from the region table for the
//! address, the ID number and the issuing police bureau, and a validity period that follows the
//! issuing rule (by age at issue: under 16 five years, 16–25 ten, 26–45 twenty, 46 and over
//! long-term).
//!
//! The text fields are exactly what an OCR reader of the card should return, so a test compares
//! its reading with them directly.

use shiren_idcard::{Date, DocumentKind, RegionTable, check_character};

use crate::lists::{COMPOUND_SURNAMES, ESTATES, ETHNICITIES, ROAD_KINDS, ROADS, TOWNS, VILLAGES};
use crate::rng::Rng;

/// Characters per printed address line on the card.
pub const ADDRESS_LINE_CHARS: usize = 11;
/// The longest address generated: three printed lines, one character short of full so a
/// reader's line joining is tested on uneven lines.
const MAX_ADDRESS_CHARS: usize = 32;
const MIN_ADDRESS_CHARS: usize = 11;
/// Addresses whose region part is longer leave too little room for the street.
const MAX_REGION_CHARS: usize = 25;

/// Everything printed on both sides of a resident ID card, as an OCR reader should return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdCardTruth {
    /// 2 to 4 Chinese characters.
    pub name: String,
    /// `男` or `女`.
    pub sex: String,
    /// One of the 56 official names, without 族 (`汉`, `维吾尔` …).
    pub ethnicity: String,
    /// `YYYY-MM-DD`.
    pub birth: String,
    /// All printed lines joined, no spaces.
    pub address: String,
    /// 18 characters, a check `X` in upper case.
    pub id_number: String,
    /// The issuing police bureau (`…公安局` or `…分局`).
    pub authority: String,
    /// `YYYY-MM-DD`.
    pub valid_from: String,
    /// `YYYY-MM-DD`, or `长期` for a long-term card.
    pub valid_until: String,
    /// The resident card, or one of the residence permits of Hong Kong, Macao and Taiwan
    /// residents (no ethnicity, a number under 810000, 820000 or 830000, five years' validity,
    /// an issue count and a travel permit's number on the back).
    pub kind: DocumentKind,
    /// Permits: 签发次数, two digits; empty on the resident card.
    pub issue_count: String,
    /// Permits: 通行证号码; empty on the resident card.
    pub pass_number: String,
}

impl IdCardTruth {
    /// Every printed field in the reader's order (`shiren_documents::idcard::field_texts`):
    /// name, sex, ethnicity, birth, address, number, authority, valid from, valid until.
    pub fn field_texts(&self) -> [&str; 9] {
        [
            &self.name,
            &self.sex,
            &self.ethnicity,
            &self.birth,
            &self.address,
            &self.id_number,
            &self.authority,
            &self.valid_from,
            &self.valid_until,
        ]
    }

    /// The address as printed: consecutive runs of at most [`ADDRESS_LINE_CHARS`] characters.
    pub fn address_lines(&self) -> Vec<String> {
        let chars: Vec<char> = self.address.chars().collect();
        chars.chunks(ADDRESS_LINE_CHARS).map(|line| line.iter().collect()).collect()
    }

    /// The validity period as printed on the back: `YYYY.MM.DD-YYYY.MM.DD` or `YYYY.MM.DD-长期`.
    pub fn validity_text(&self) -> String {
        format!("{}-{}", self.valid_from.replace('-', "."), self.valid_until.replace('-', "."))
    }
}

/// A county-level region an address can name, prepared once from the region table.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    pub code: u32,
    /// Province, prefecture (when it has a real name) and county, joined.
    pub region_text: String,
    pub authority: String,
}

/// The county-level regions still in use whose names the font can draw. Skips Taiwan, Hong Kong
/// and Macao (no resident ID numbers are issued under their codes), the placeholder entries
/// (`市辖区`, `县`), and regions whose names are too long to leave room for a street.
pub(crate) fn places(table: &RegionTable, drawable: impl Fn(&str) -> bool) -> Vec<Place> {
    let mut places = Vec::new();
    for region in table.iter() {
        let province_code = region.code / 10_000;
        if region.abolished || region.code % 100 == 0 || matches!(province_code, 71 | 81 | 82) {
            continue;
        }
        if is_placeholder(&region.name) {
            continue;
        }
        let prefecture = table
            .lookup(region.code / 100 * 100)
            .filter(|p| !p.abolished && !is_placeholder(&p.name) && p.name != region.province)
            .map(|p| p.name.as_str());
        let region_text = format!("{}{}{}", region.province, prefecture.unwrap_or(""), region.name);
        if region_text.chars().count() > MAX_REGION_CHARS || !drawable(&region_text) {
            continue;
        }
        let authority = authority(&region.province, prefecture, &region.name);
        if !drawable(&authority) {
            continue;
        }
        places.push(Place { code: region.code, region_text, authority });
    }
    places
}

/// Names in the table that stand for a group of regions rather than a place: 市辖区 (the
/// districts of a city), 县 (its counties), 省直辖县级行政区划 and the like.
fn is_placeholder(name: &str) -> bool {
    name == "市辖区" || name == "县" || name.contains("直辖") || name.contains("行政区划")
}

/// The issuing bureau: a city district's ID cards are issued by the city bureau's branch
/// (杭州市公安局西湖分局); a county's or county-level city's by its own bureau (桐庐县公安局).
fn authority(province: &str, prefecture: Option<&str>, county: &str) -> String {
    let city = prefecture.filter(|p| p.ends_with('市')).or(province.ends_with('市').then_some(province));
    match (county.strip_suffix('区'), city) {
        (Some(stem), Some(city)) if stem.chars().count() >= 2 => format!("{city}公安局{stem}分局"),
        (Some(_), Some(city)) => format!("{city}公安局{county}分局"),
        _ => format!("{county}公安局"),
    }
}

/// Draws a card's contents. `surnames` and `given` are the characters the font can draw.
pub(crate) fn draw_id_card(rng: &mut Rng, place: &Place, surnames: &[char], given: &[char]) -> IdCardTruth {
    let male = rng.chance(0.5);
    let name = draw_name(rng, surnames, given);
    let ethnicity =
        if rng.chance(0.7) { ETHNICITIES[0] } else { rng.pick(&ETHNICITIES[1..]).copied().unwrap_or(ETHNICITIES[1]) };

    let earliest = day(1940, 1, 1);
    let latest = day(2015, 12, 31);
    let birth = date_from_days(rng.between(earliest, latest));

    // Men's sequence numbers are odd, women's even.
    let parity = rng.below(5) * 2 + u64::from(male);
    let sequence = rng.below(100) * 10 + parity;
    let first17 = format!("{:06}{:04}{:02}{:02}{:03}", place.code, birth.year(), birth.month(), birth.day(), sequence);
    // The table's codes have six digits and the year four, so these are always 17 digits and
    // the check character exists; the fallback only keeps the library free of panics.
    let check = check_character(&first17).unwrap_or('X');

    let (valid_from, valid_until) = draw_validity(rng, birth);
    IdCardTruth {
        name,
        sex: if male { "男" } else { "女" }.to_string(),
        ethnicity: ethnicity.to_string(),
        birth: birth.to_string(),
        address: draw_address(rng, &place.region_text),
        id_number: format!("{first17}{check}"),
        authority: place.authority.clone(),
        valid_from: valid_from.to_string(),
        valid_until: valid_until.map_or_else(|| "长期".to_string(), |d| d.to_string()),
        kind: DocumentKind::ResidentIdCard,
        issue_count: String::new(),
        pass_number: String::new(),
    }
}

/// A residence permit of `kind`'s holder living at `place`: the resident card's person without
/// an ethnicity, the permit's number prefix, issued since 2018 for five years.
pub(crate) fn draw_permit(
    rng: &mut Rng,
    place: &Place,
    surnames: &[char],
    given: &[char],
    kind: DocumentKind,
) -> IdCardTruth {
    let mut truth = draw_id_card(rng, place, surnames, given);
    let (prefix, letter) = match kind {
        DocumentKind::MacaoResidencePermit => ("820000", "M"),
        DocumentKind::TaiwanResidencePermit => ("830000", ""),
        _ => ("810000", "H"),
    };
    let first17 = format!("{prefix}{}", &truth.id_number[6..17]);
    truth.id_number = format!("{first17}{}", check_character(&first17).unwrap_or('X'));
    truth.ethnicity = String::new();
    // `Date::parse` takes API dates (1970 on); the birth can be earlier.
    let part = |range: std::ops::Range<usize>| truth.birth.get(range).and_then(|s| s.parse::<u16>().ok()).unwrap_or(1);
    let birth = Date::new(part(0..4), part(5..7) as u8, part(8..10) as u8).unwrap_or_else(Date::today_in_china);
    let earliest = day(2018, 9, 1).max(birth.to_unix_days() + 1);
    let from = date_from_days(rng.between(earliest, day(2025, 12, 31).max(earliest)));
    // Renewed every five years until valid today.
    let mut from = from;
    while add_years(from, 5) < Date::today_in_china() {
        from = add_years(from, 5);
    }
    truth.valid_from = from.to_string();
    truth.valid_until = add_years(from, 5).to_string();
    truth.issue_count = format!("{:02}", rng.between(1, 3));
    truth.pass_number = format!("{letter}{:08}", rng.below(100_000_000));
    truth.kind = kind;
    truth
}

fn draw_name(rng: &mut Rng, surnames: &[char], given: &[char]) -> String {
    let mut name = if rng.chance(0.08) {
        rng.pick(COMPOUND_SURNAMES).copied().unwrap_or("欧阳").to_string()
    } else {
        rng.pick(surnames).copied().unwrap_or('王').to_string()
    };
    let given_count = if rng.chance(0.3) { 1 } else { 2 };
    for _ in 0..given_count {
        name.push(rng.pick(given).copied().unwrap_or('明'));
    }
    name
}

/// The issue date and the expiry (`None`: long-term).
fn draw_validity(rng: &mut Rng, birth: Date) -> (Date, Option<Date>) {
    // Second-generation cards have been issued since 2004; first issues end before 2026.
    let first_issue = day(2004, 1, 1);
    let last_issue = day(2025, 12, 31);
    let birth_days = birth.to_unix_days();
    let sixteenth = add_years(birth, 16).to_unix_days();
    let child_window = (birth_days.max(first_issue) + 1, (sixteenth - 1).min(last_issue));
    let adult_window = (sixteenth.max(first_issue), last_issue);
    // Most cards are issued to adults; some to children, so the five-year rule is exercised.
    let child = adult_window.0 > adult_window.1 || (child_window.0 <= child_window.1 && rng.chance(0.15));
    let (low, high) = if child { child_window } else { adult_window };
    let mut from = date_from_days(rng.between(low, high));
    let years_at = |from: Date| match birth.years_until(from) {
        0..=15 => Some(5),
        16..=25 => Some(10),
        26..=45 => Some(20),
        _ => None,
    };
    let mut until = years_at(from).map(|years| add_years(from, years));
    // A card that has run out was renewed on its last day (by the rule for the age then), until
    // the card in hand is valid today: readers reject expired cards.
    let today = Date::today_in_china();
    while let Some(end) = until.filter(|end| *end < today) {
        from = end;
        until = years_at(from).map(|years| add_years(from, years));
    }
    (from, until)
}

/// The same month and day `years` later; 29 February becomes 1 March in a common year.
pub(crate) fn add_years(date: Date, years: u16) -> Date {
    let year = date.year() + years;
    Date::new(year, date.month(), date.day()).or_else(|| Date::new(year, 3, 1)).unwrap_or(date)
}

pub(crate) fn day(year: u16, month: u8, day: u8) -> i64 {
    Date::new(year, month, day).map_or(0, Date::to_unix_days)
}

pub(crate) fn date_from_days(days: i64) -> Date {
    // Every day drawn lies between 1940 and 2045, well inside the calendar, so the fallback
    // is never taken.
    Date::from_unix_days(days).unwrap_or_else(Date::today_in_china)
}

/// The region text followed by a street address, 11 to 32 characters in all.
fn draw_address(rng: &mut Rng, region_text: &str) -> String {
    let region_chars = region_text.chars().count();
    for _ in 0..32 {
        let (parts, required) = street_parts(rng);
        // Keep the required parts and a random number of the optional ones that fits.
        let mut lengths = Vec::new();
        let mut total = region_chars;
        for (i, part) in parts.iter().enumerate() {
            total += part.chars().count();
            if i + 1 >= required && (MIN_ADDRESS_CHARS..=MAX_ADDRESS_CHARS).contains(&total) {
                lengths.push(i + 1);
            }
        }
        if let Some(&keep) = rng.pick(&lengths) {
            return format!("{region_text}{}", parts[..keep].concat());
        }
    }
    // Unreachable for the regions kept (at most 25 characters); a plain street number always fits.
    format!("{region_text}人民路{}号", rng.between(1, 99))
}

/// The parts of a street address in printing order, and how many of them are required.
fn street_parts(rng: &mut Rng) -> (Vec<String>, usize) {
    let road = |rng: &mut Rng| {
        format!("{}{}", rng.pick(ROADS).copied().unwrap_or("人民"), rng.pick(ROAD_KINDS).copied().unwrap_or("路"))
    };
    // House numbers are mostly small.
    let number = |rng: &mut Rng| if rng.chance(0.7) { rng.between(1, 120) } else { rng.between(121, 999) };
    let room = |rng: &mut Rng| rng.between(1, 28) * 100 + rng.between(1, 4);
    match rng.below(5) {
        0 => (vec![road(rng), format!("{}号", number(rng))], 2),
        1 => (
            vec![
                road(rng),
                format!("{}号", number(rng)),
                if rng.chance(0.5) {
                    format!("{}栋", rng.between(1, 30))
                } else {
                    format!("{}号楼", rng.between(1, 30))
                },
                format!("{}单元", rng.between(1, 6)),
                format!("{}室", room(rng)),
            ],
            2,
        ),
        2 => (
            vec![
                road(rng),
                format!("{}号", number(rng)),
                rng.pick(ESTATES).copied().unwrap_or("阳光小区").to_string(),
                format!("{}栋", rng.between(1, 30)),
                format!("{}室", room(rng)),
            ],
            2,
        ),
        3 => (
            vec![
                rng.pick(TOWNS).copied().unwrap_or("城关镇").to_string(),
                format!("{}村", rng.pick(VILLAGES).copied().unwrap_or("张庄")),
                format!("{}组", rng.between(1, 12)),
                format!("{}号", number(rng)),
            ],
            2,
        ),
        _ => (
            vec![
                format!("{}村", rng.pick(VILLAGES).copied().unwrap_or("张庄")),
                format!("{}组", rng.between(1, 12)),
                format!("{}号", number(rng)),
            ],
            1,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_follows_district_or_county() {
        assert_eq!(authority("浙江省", Some("杭州市"), "西湖区"), "杭州市公安局西湖分局");
        assert_eq!(authority("北京市", None, "东城区"), "北京市公安局东城分局");
        assert_eq!(authority("浙江省", Some("杭州市"), "桐庐县"), "桐庐县公安局");
        assert_eq!(authority("浙江省", Some("杭州市"), "建德市"), "建德市公安局");
        assert_eq!(authority("辽宁省", Some("鞍山市"), "矿区"), "鞍山市公安局矿区分局");
        assert_eq!(authority("新疆维吾尔自治区", Some("伊犁哈萨克自治州"), "伊宁县"), "伊宁县公安局");
    }

    #[test]
    fn leap_day_anniversaries_move_to_march() {
        let leap = Date::new(2012, 2, 29).unwrap();
        assert_eq!(add_years(leap, 10), Date::new(2022, 3, 1).unwrap());
        assert_eq!(add_years(leap, 20), Date::new(2032, 2, 29).unwrap());
    }

    #[test]
    fn address_lines_split_every_eleven_characters() {
        let truth = IdCardTruth {
            name: String::new(),
            sex: String::new(),
            ethnicity: String::new(),
            birth: String::new(),
            address: "河南省安阳市文峰区幸福路123号5栋2单元1502室".to_string(),
            id_number: String::new(),
            authority: String::new(),
            valid_from: "2015-03-01".to_string(),
            valid_until: "长期".to_string(),
            kind: DocumentKind::ResidentIdCard,
            issue_count: String::new(),
            pass_number: String::new(),
        };
        assert_eq!(truth.address_lines(), ["河南省安阳市文峰区幸福", "路123号5栋2单元1", "502室"]);
        assert_eq!(truth.validity_text(), "2015.03.01-长期");
    }
}
