//! The 56 ethnic groups as printed after 民族 on the ID card (without 族), from the national
//! standard list GB/T 3304.

pub const ETHNIC_GROUPS: [&str; 56] = [
    "汉",
    "蒙古",
    "回",
    "藏",
    "维吾尔",
    "苗",
    "彝",
    "壮",
    "布依",
    "朝鲜",
    "满",
    "侗",
    "瑶",
    "白",
    "土家",
    "哈尼",
    "哈萨克",
    "傣",
    "黎",
    "傈僳",
    "佤",
    "畲",
    "高山",
    "拉祜",
    "水",
    "东乡",
    "纳西",
    "景颇",
    "柯尔克孜",
    "土",
    "达斡尔",
    "仫佬",
    "羌",
    "布朗",
    "撒拉",
    "毛南",
    "仡佬",
    "锡伯",
    "阿昌",
    "普米",
    "塔吉克",
    "怒",
    "乌孜别克",
    "俄罗斯",
    "鄂温克",
    "德昂",
    "保安",
    "裕固",
    "京",
    "塔塔尔",
    "独龙",
    "鄂伦春",
    "赫哲",
    "门巴",
    "珞巴",
    "基诺",
];

/// The ethnic name a row's text ends with (the label before it is often misread, the value
/// rarely), the longest match winning so that 土家 is not read as 家 or 土. A trailing 族 is
/// ignored.
pub fn find_ethnicity(text: &str) -> Option<&'static str> {
    let text = text.trim_end_matches('族');
    ETHNIC_GROUPS.iter().filter(|name| text.ends_with(*name)).max_by_key(|name| name.chars().count()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_ending_name_wins() {
        assert_eq!(find_ethnicity("民线汉"), Some("汉"));
        assert_eq!(find_ethnicity("民族土家"), Some("土家"));
        assert_eq!(find_ethnicity("民族维吾尔族"), Some("维吾尔"));
        assert_eq!(find_ethnicity("民族"), None);
        let unique: std::collections::HashSet<_> = ETHNIC_GROUPS.iter().collect();
        assert_eq!(unique.len(), 56);
    }
}
