//! Masking personal data for listings and logs: each hidden character becomes one `*`, so the
//! length stays visible. Counting is by Unicode scalar values, never bytes.
//!
//! A value too short to keep its visible head and tail with at least one character hidden is
//! masked completely: masking must never print a whole value in the clear.

/// `110101199003071234` → `1****************4`.
pub fn mask_id_number(number: &str) -> String {
    mask(number, 1, 1)
}

/// `张三` → `张*`, `欧阳娜娜` → `欧***`; a one-character name → `*`.
pub fn mask_name(name: &str) -> String {
    mask(name, 1, 0)
}

/// `13812345678` → `138****5678`.
pub fn mask_phone(phone: &str) -> String {
    mask(phone, 3, 4)
}

/// `6222021234567890123` → `***************0123`.
pub fn mask_bank_card(card: &str) -> String {
    mask(card, 0, 4)
}

fn mask(text: &str, head: usize, tail: usize) -> String {
    let length = text.chars().count();
    if length <= head + tail {
        return "*".repeat(length);
    }
    text.chars().enumerate().map(|(i, c)| if i < head || i >= length - tail { c } else { '*' }).collect()
}
