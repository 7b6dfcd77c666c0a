//! Finding the ethnic group in what was read on the sex row (the list itself is
//! `shiren_idcard::ETHNIC_GROUPS`).

pub use shiren_idcard::ETHNIC_GROUPS;

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
    }
}
