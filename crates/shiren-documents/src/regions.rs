//! Region names in addresses and issuing authorities, mended against the region table. The
//! recogniser misreads or drops rare characters that region names are full of (鄠邑区, 井陉矿区,
//! 楚雄彝族自治州, 漾濞彝族自治县). An address opens with a province, usually a prefecture, and a
//! county; an authority is a county's bureau (桐庐县公安局) or a city's branch for a district
//! (西安市公安局鄠邑分局). Where the text read is one edit (two for long names) from exactly one
//! name the table allows at that place, the name is put back; an exact name, or a text close to
//! two names at once, is left as read.

use std::collections::BTreeMap;

use shiren_idcard::RegionTable;

/// One name a region carried (current or historic: a card keeps the name of its day).
#[derive(Debug, Clone)]
struct Name {
    code: u32,
    chars: Vec<char>,
    /// The code's name today (not a historic one, not an abolished code's).
    current: bool,
}

/// The table's names arranged by level, for mending.
#[derive(Debug, Clone, Default)]
pub struct RegionNames {
    provinces: Vec<Name>,
    /// Prefectures by province code.
    prefectures: BTreeMap<u32, Vec<Name>>,
    /// County-level names by their first four digits (a prefecture's counties).
    counties: BTreeMap<u32, Vec<Name>>,
    /// County-level names by province (for addresses that name no prefecture: municipalities and
    /// counties under the province).
    province_counties: BTreeMap<u32, Vec<Name>>,
    /// Every prefecture and county name, for an authority read alone.
    bureaus: Vec<Name>,
}

/// Entries that stand for a group of regions, not a place (市辖区, 县, 省直辖县级行政区划).
fn is_placeholder(name: &str) -> bool {
    name == "市辖区" || name == "县" || name == "市区" || name.contains("直辖") || name.contains("行政区划")
}

impl RegionNames {
    pub fn new(table: &RegionTable) -> Self {
        let mut names = Self::default();
        for (code, name) in table.provinces() {
            names.provinces.push(Name { code: u32::from(code), chars: name.chars().collect(), current: true });
        }
        for region in table.iter() {
            let (province, prefix4) = (region.code / 10_000, region.code / 100);
            if region.code % 10_000 == 0 {
                continue;
            }
            let mut spellings: Vec<&str> = region.history.iter().map(|n| n.name.as_str()).collect();
            spellings.dedup();
            for spelling in spellings.into_iter().filter(|s| !is_placeholder(s)) {
                let current = !region.abolished && spelling == region.name;
                let name = Name { code: region.code, chars: spelling.chars().collect(), current };
                names.bureaus.push(name.clone());
                if region.code % 100 == 0 {
                    names.prefectures.entry(province).or_default().push(name);
                } else {
                    names.counties.entry(prefix4).or_default().push(name.clone());
                    names.province_counties.entry(province).or_default().push(name);
                }
            }
        }
        names
    }

    /// The address with its province, prefecture and county names mended.
    pub fn mend_address(&self, text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let Some((province, mut at)) = opening(&chars, &self.provinces) else { return text.to_string() };
        let mut out: String = province.chars.iter().collect();
        let mut counties = self.province_counties.get(&province.code);
        if let Some(prefectures) = self.prefectures.get(&province.code)
            && let Some((prefecture, used)) = opening(&chars[at..], prefectures)
        {
            out.extend(&prefecture.chars);
            at += used;
            counties = self.counties.get(&(prefecture.code / 100));
        }
        if let Some((county, used)) = counties.and_then(|c| opening(&chars[at..], c)) {
            out.extend(&county.chars);
            at += used;
        }
        out.extend(&chars[at..]);
        out
    }

    /// The issuing authority with its place names mended: the bureau's place, and for a city's
    /// branch the district (named without its 区).
    pub fn mend_authority(&self, text: &str) -> String {
        let Some((place, branch)) = text.split_once("公安局") else { return text.to_string() };
        let place_chars: Vec<char> = place.chars().collect();
        let mended = whole(&place_chars, &self.bureaus, 3);
        let mut out: String = mended.map_or_else(|| place.to_string(), |n| n.chars.iter().collect());
        out.push_str("公安局");
        let Some(district) = branch.strip_suffix("分局") else {
            out.push_str(branch);
            return out;
        };
        // The city's districts: a municipality's (named like its province: 重庆市 was also a
        // prefecture of 四川 until 1997, whose counties are not today's districts), or a
        // prefecture's.
        let city = self
            .provinces
            .iter()
            .find(|p| p.chars == place_chars)
            .map(|p| p.code * 100)
            .or_else(|| mended.map(|n| n.code / 100));
        let districts: Vec<Name> = city
            .and_then(|c| if c % 100 == 0 { self.province_counties.get(&(c / 100)) } else { self.counties.get(&c) })
            .into_iter()
            .flatten()
            .map(|n| {
                let chars = match n.chars.split_last() {
                    Some(('区', stem)) if stem.len() >= 2 => stem.to_vec(),
                    _ => n.chars.clone(),
                };
                Name { chars, ..n.clone() }
            })
            .collect();
        let district_chars: Vec<char> = district.chars().collect();
        match whole(&district_chars, &districts, 2) {
            Some(n) => out.extend(&n.chars),
            None => out.push_str(district),
        }
        out.push_str("分局");
        out
    }
}

/// The edits allowed between a name and what was read: none for a single character, one for a
/// short name, two from six characters on (海西蒙古族藏族自治州 read without 自 and with a
/// misread 藏 is still that name and no other).
fn allowed_edits(name_len: usize) -> usize {
    match name_len {
        0 | 1 => 0,
        2..=5 => 1,
        _ => 2,
    }
}

fn distance(a: &[char], b: &[char]) -> usize {
    // The generic form wants `&T: IntoIterator` with `T` sized: short vectors it is (names are
    // a few characters).
    strsim::generic_levenshtein(&a.to_vec(), &b.to_vec())
}

/// The name among `names` that `text` opens with, and how many characters of `text` it spans
/// (a name read with a character dropped or added spans one fewer or one more). An exact name
/// wins (the longest if several); otherwise the one closest within its allowed edits, when no
/// other name is as close.
fn opening<'a>(text: &[char], names: &'a [Name]) -> Option<(&'a Name, usize)> {
    let mut best: Option<(usize, &Name, usize)> = None;
    let mut tied = false;
    for name in names {
        let n = name.chars.len();
        if n <= text.len() && text[..n] == name.chars[..] {
            // Exact: longer exact names first (城中区 before 城区 is not at stake; 市中区 vs 市中).
            if best.is_none_or(|(d, b, _)| d > 0 || b.chars.len() < n) {
                best = Some((0, name, n));
                tied = false;
            }
            continue;
        }
        let allowed = allowed_edits(n);
        if allowed == 0 {
            continue;
        }
        let closest = [n, n.saturating_sub(1), n + 1]
            .into_iter()
            .filter(|&len| len >= 1 && len <= text.len())
            .map(|len| (distance(&text[..len], &name.chars), len))
            .min_by_key(|(d, _)| *d);
        let Some((d, len)) = closest.filter(|(d, _)| *d <= allowed) else { continue };
        match best {
            Some((bd, b, _)) if bd == d && b.chars != name.chars => tied = true,
            Some((bd, _, _)) if bd <= d => {}
            _ => {
                best = Some((d, name, len));
                tied = false;
            }
        }
    }
    best.filter(|(d, _, _)| *d == 0 || !tied).map(|(_, name, len)| (name, len))
}

/// The name among `names` that the whole of `text` is, exactly or within its allowed edits and
/// closer than any other; names shorter than `min_len` only exactly (a two-character county
/// read with one character wrong is one edit from dozens). Of several codes that carried the
/// exact name, today's prefecture is taken (黄山市 is the prefecture since 1987, and was a
/// county-level city before).
fn whole<'a>(text: &[char], names: &'a [Name], min_len: usize) -> Option<&'a Name> {
    let exact = names.iter().filter(|n| n.chars == text).max_by_key(|n| (n.current, n.code % 100 == 0));
    if exact.is_some() {
        return exact;
    }
    let mut best: Option<(usize, &Name)> = None;
    let mut tied = false;
    for name in names.iter().filter(|n| n.chars.len() >= min_len) {
        let d = distance(text, &name.chars);
        if d > allowed_edits(name.chars.len()) {
            continue;
        }
        match best {
            Some((bd, b)) if bd == d && b.chars != name.chars => tied = true,
            Some((bd, _)) if bd <= d => {}
            _ => {
                best = Some((d, name));
                tied = false;
            }
        }
    }
    best.filter(|_| !tied).map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RegionTable {
        RegionTable::parse(
            "61 province=\"陕西省\"\n  0000 county=\"陕西省\"\n  0100 county=\"西安市\"\n  0101 county=\"市辖区\"\n  \
             0118 county=\"[2016-]鄠邑区\"\n  0125 county=\"[1983-2016]户县\"\n  0113 county=\"雁塔区\"\n  \
             0500 county=\"渭南市\"\n  0525 county=\"澄城县\"\n\
             14 province=\"山西省\"\n  0300 county=\"阳泉市\"\n  0302 county=\"城区\"\n  0303 county=\"矿区\"\n  \
             0321 county=\"平定县\"\n  0322 county=\"盂县\"\n\
             13 province=\"河北省\"\n  0100 county=\"石家庄市\"\n  0107 county=\"井陉矿区\"\n  0121 county=\"井陉县\"\n\
             11 province=\"北京市\"\n  0100 county=\"市辖区\"\n  0105 county=\"朝阳区\"\n  0108 county=\"海淀区\"\n\
             32 province=\"江苏省\"\n  0300 county=\"徐州市\"\n  0321 county=\"丰县\"\n  0322 county=\"沛县\"\n\
             34 province=\"安徽省\"\n  0901 county=\"[1983-1987]黄山市\"\n  1000 county=\"[1987-]黄山市\"\n  \
             1003 county=\"[1987-]黄山区\"\n\
             50 province=\"重庆市\"\n  0100 county=\"市辖区\"\n  0110 county=\"[2011-]綦江区\"\n  \
             0222 county=\"[1997-2011]綦江县\"\n\
             51 province=\"四川省\"\n  0200 county=\"[-1997]重庆市\"\n  0222 county=\"[-1997]綦江县\"\n",
        )
        .unwrap()
    }

    #[test]
    fn an_address_gets_its_misread_or_dropped_region_characters_back() {
        let names = RegionNames::new(&table());
        assert_eq!(names.mend_address("陕西省西安市邑区中山北路15号"), "陕西省西安市鄠邑区中山北路15号");
        assert_eq!(names.mend_address("河北省石家庄市井隆矿区青山镇枣林村"), "河北省石家庄市井陉矿区青山镇枣林村");
        assert_eq!(names.mend_address("山西省阳泉市孟县北环街48号"), "山西省阳泉市盂县北环街48号");
        assert_eq!(names.mend_address("北京市朝阳区建国路1号"), "北京市朝阳区建国路1号");
        assert_eq!(names.mend_address("北京市朝阴区建国路1号"), "北京市朝阳区建国路1号");
        // A historic name stays as printed; the street is never touched.
        assert_eq!(names.mend_address("陕西省西安市户县石门镇王家村"), "陕西省西安市户县石门镇王家村");
        assert_eq!(names.mend_address("陕西省渭南市澄城县门镇王家村"), "陕西省渭南市澄城县门镇王家村");
        // Nothing recognisable: as read.
        assert_eq!(names.mend_address("某某路1号"), "某某路1号");
        assert_eq!(names.mend_address(""), "");
    }

    #[test]
    fn an_authority_gets_its_place_and_district_back() {
        let names = RegionNames::new(&table());
        assert_eq!(names.mend_authority("西安市公安局邑分局"), "西安市公安局鄠邑分局");
        assert_eq!(names.mend_authority("石家庄市公安局井经矿分局"), "石家庄市公安局井陉矿分局");
        assert_eq!(names.mend_authority("北京市公安局朝阴分局"), "北京市公安局朝阳分局");
        assert_eq!(names.mend_authority("澄城县公安局"), "澄城县公安局");
        assert_eq!(names.mend_authority("澄成县公安局"), "澄城县公安局");
        // Two-character counties one character off are left alone: 丰县 and 沛县 are both one
        // edit from 市县.
        assert_eq!(names.mend_authority("市县公安局"), "市县公安局");
        assert_eq!(names.mend_authority("签发机关"), "签发机关");
        // A city's name carried by an older county-level code too: the branch is today's city's.
        assert_eq!(names.mend_authority("黄山市公安局黄山分局"), "黄山市公安局黄山分局");
        assert_eq!(names.mend_authority("黄山市公安局黄出分局"), "黄山市公安局黄山分局");
        // A municipality's district, not the county of the same name under the prefecture the
        // city was before.
        assert_eq!(names.mend_authority("重庆市公安局綦江分局"), "重庆市公安局綦江分局");
    }
}
