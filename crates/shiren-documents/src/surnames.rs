//! Chinese surnames, for a name's first character the recogniser misreads as a character no
//! surname uses (殷 read as 股). The list is the 400 commonest surnames with their shares of the
//! population, from the zh_CN person provider of the Faker package (MIT), read as data at run
//! time; rarer surnames (仉, 逄, 璩) are not in it, so a name starting with a character outside
//! the list is only changed when the recogniser itself finds a listed surname about as likely.

use std::collections::BTreeSet;

/// The list: one-character surnames, and two-character ones (欧阳, 司马).
#[derive(Debug, Clone, Default)]
pub struct Surnames {
    single: BTreeSet<char>,
    compound: BTreeSet<String>,
}

impl Surnames {
    /// The entries of the `last_names` table in the provider's source file
    /// (`last_names = OrderedDict((("王", 7.17), …))`): each a quoted name followed by its share;
    /// anything else in the file is ignored.
    pub fn parse(source: &str) -> Self {
        let mut surnames = Self::default();
        let Some(start) = source.find("last_names") else { return surnames };
        let table = &source[start..];
        // The table ends where the next top-level assignment begins.
        let table = table.find("\n    )\n").map_or(table, |end| &table[..end]);
        for entry in table.split('(').skip(1) {
            let Some(quoted) = entry.trim_start().strip_prefix('"') else { continue };
            let Some((name, rest)) = quoted.split_once('"') else { continue };
            let share_follows = rest
                .trim_start()
                .strip_prefix(',')
                .is_some_and(|r| r.trim_start().chars().next().is_some_and(|c| c.is_ascii_digit()));
            if !share_follows || !name.chars().all(shiren_idcard::is_han) {
                continue;
            }
            let chars: Vec<char> = name.chars().collect();
            match chars.as_slice() {
                [one] => {
                    surnames.single.insert(*one);
                }
                [_, _] => {
                    surnames.compound.insert(name.to_string());
                }
                _ => {}
            }
        }
        surnames
    }

    /// Whether `name` starts with a listed surname (an empty list accepts every name).
    pub fn starts_name(&self, name: &str) -> bool {
        if self.single.is_empty() {
            return true;
        }
        let first_two: String = name.chars().take(2).collect();
        name.chars().next().is_some_and(|c| self.single.contains(&c)) || self.compound.contains(&first_two)
    }

    /// The one-character surnames.
    pub fn single(&self) -> impl Iterator<Item = char> + '_ {
        self.single.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.single.len() + self.compound.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"
class Provider(PersonProvider):
    first_names = ("伟", "芳")
    last_names = OrderedDict(
        (
            ("王", 7.170),
            ("李", 7.000),
            ("欧阳", 0.010),
            ("殷", 0.120),
        )
    )
    romanized = ("Wang",)
"#;

    #[test]
    fn the_last_names_table_is_read_and_nothing_else() {
        let surnames = Surnames::parse(SOURCE);
        assert_eq!(surnames.len(), 4);
        assert!(surnames.starts_name("殷霞启"));
        assert!(surnames.starts_name("欧阳娜"));
        assert!(!surnames.starts_name("股霞启"));
        assert!(!surnames.starts_name("伟明"), "a first-name character is no surname");
        assert_eq!(surnames.single().collect::<String>(), "李殷王");
    }
}
