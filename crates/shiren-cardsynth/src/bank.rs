//! Bank cards: what one says ([`BankCardTruth`]: a Luhn-valid number under a real bank
//! identification number, an expiry, the bank's name) and its face on the 856×540 canvas, with a
//! saturated gradient of random hue, a chip, and the number printed flat or embossed.

use image::RgbImage;

use crate::draw::{blend, fill_disk, fill_polygon, fill_ring, fill_rounded_rect, hsv, linear_gradient, mix};
use crate::fonts::{Face, Fonts, Style};
use crate::lists::FALLBACK_BINS;
use crate::rng::Rng;
use crate::{CARD_HEIGHT, CARD_WIDTH};

const W: f32 = CARD_WIDTH as f32;
const H: f32 = CARD_HEIGHT as f32;

/// What a bank card says, as an OCR reader should return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankCardTruth {
    /// 16 to 19 digits, no spaces, passing the Luhn check.
    pub number: String,
    /// `MM/YY`.
    pub expiry: String,
    /// The issuing bank's name as printed.
    pub bank_name: String,
}

impl BankCardTruth {
    /// The number split into the groups it is printed in: fours, or for 19 digits either fours
    /// and a three (4-4-4-4-3) or six and thirteen, chosen by `six_thirteen`.
    pub fn groups(&self, six_thirteen: bool) -> Vec<String> {
        let sizes: &[usize] = match self.number.len() {
            19 if six_thirteen => &[6, 13],
            19 => &[4, 4, 4, 4, 3],
            18 => &[6, 6, 6],
            17 => &[4, 4, 4, 5],
            _ => &[4, 4, 4, 4],
        };
        let mut groups = Vec::new();
        let mut rest = self.number.as_str();
        for &size in sizes {
            // The number is ASCII digits, so byte offsets are character offsets.
            let (group, tail) = rest.split_at(size.min(rest.len()));
            if !group.is_empty() {
                groups.push(group.to_string());
            }
            rest = tail;
        }
        if !rest.is_empty() {
            groups.push(rest.to_string());
        }
        groups
    }
}

/// Draws a card from `bins` (prefix, bank name); prefixes that are not 1 to 12 digits are
/// ignored, and the built-in list is used when none is left.
pub(crate) fn draw_bank_card(rng: &mut Rng, bins: &[(String, String)]) -> BankCardTruth {
    let usable: Vec<(&str, &str)> = bins
        .iter()
        .filter(|(prefix, _)| (1..=12).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_digit()))
        .map(|(prefix, name)| (prefix.as_str(), name.as_str()))
        .collect();
    let list = if usable.is_empty() { FALLBACK_BINS } else { usable.as_slice() };
    let (prefix, bank_name) = rng.pick(list).copied().unwrap_or(("622202", "中国工商银行"));
    // Debit cards (62…) mostly have 19 digits, credit cards 16; 17 and 18 exist too.
    let roll = rng.unit();
    let length = if roll < 0.35 {
        16
    } else if roll < 0.85 {
        19
    } else if roll < 0.93 {
        17
    } else {
        18
    };
    let length = length.max(prefix.len() + 2);
    let mut number = prefix.to_string();
    while number.len() < length - 1 {
        number.push(char::from(b'0' + rng.below(10) as u8));
    }
    number.push(luhn_check_digit(&number));
    let expiry = format!("{:02}/{:02}", rng.between(1, 12), rng.between(26, 35));
    BankCardTruth { number, expiry, bank_name: bank_name.to_string() }
}

/// The digit that makes `payload` followed by it pass the Luhn check. `payload` is ASCII digits.
pub(crate) fn luhn_check_digit(payload: &str) -> char {
    // Counting from the right of the full number, the check digit is position 1, so the
    // payload's last digit is doubled.
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let digit = u32::from(b.wrapping_sub(b'0') % 10);
            if i % 2 == 0 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                digit
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// How the number and expiry are printed.
#[derive(Clone, Copy)]
enum Print {
    /// Ink on the surface.
    Flat([u8; 3]),
    /// Raised digits: foil colour with a shadow below right and a highlight above left.
    Embossed([u8; 3]),
}

fn draw_printed(fonts: &Fonts, card: &mut RgbImage, print: Print, style: Style, text: &str, x: f32, y: f32) -> f32 {
    match print {
        Print::Flat(colour) => fonts.draw(card, &Style { colour, ..style }, text, x, y),
        Print::Embossed(colour) => {
            let shadow = Style { colour: [10, 10, 14], opacity: 0.55, ..style };
            fonts.draw(card, &shadow, text, x + 2.0, y + 2.0);
            let highlight = Style { colour: [255, 255, 255], opacity: 0.75, ..style };
            fonts.draw(card, &highlight, text, x - 1.0, y - 1.0);
            fonts.draw(card, &Style { colour, ..style }, text, x, y)
        }
    }
}

/// The card's face. `seed` picks the colours and print style.
pub(crate) fn render(fonts: &Fonts, truth: &BankCardTruth, seed: u64) -> RgbImage {
    let mut rng = Rng::new(seed, 0xB4_4C_C4_8D);
    let mut card = RgbImage::new(CARD_WIDTH, CARD_HEIGHT);
    let hue = rng.range(0.0, 360.0);
    let light = hsv(hue, rng.range(0.6, 0.85), rng.range(0.68, 0.86));
    let dark = hsv(hue + rng.range(15.0, 50.0), rng.range(0.7, 0.9), rng.range(0.3, 0.48));
    linear_gradient(&mut card, light, dark, rng.range(0.2, 1.2));
    decorate(&mut card, &mut rng);

    // Bank logo (a ring around a dot) and name, top left.
    let (logo_x, logo_y) = (0.06 * W + 22.0, 0.13 * H);
    fill_ring(&mut card, logo_x, logo_y, 15.0, 22.0, [250, 250, 250]);
    fill_disk(&mut card, logo_x, logo_y, 7.0, [250, 250, 250]);
    let name_face = if rng.chance(0.25) { Face::Serif } else { Face::Bold };
    let name_style = fonts.fit(Style::new(name_face, 38.0, [252, 252, 252]), &truth.bank_name, 0.62 * W);
    fonts.draw(&mut card, &name_style, &truth.bank_name, 0.06 * W + 56.0, logo_y);
    if rng.chance(0.6) {
        let kind = rng.pick(&["借记卡", "储蓄卡", "信用卡", "DEBIT"]).copied().unwrap_or("借记卡");
        let style = Style::new(Face::Sans, 24.0, [245, 245, 245]);
        let width = fonts.width(&style, kind);
        fonts.draw(&mut card, &style, kind, 0.94 * W - width, logo_y);
    }

    draw_chip(&mut card, 0.09 * W, 0.30 * H);

    let embossed = rng.chance(0.5);
    let print = if embossed {
        let foil = if rng.chance(0.3) { [236, 218, 160] } else { [232, 232, 226] };
        Print::Embossed(foil)
    } else {
        // Ink that contrasts with the background where the number goes.
        let ground = card.get_pixel((0.5 * W) as u32, (0.62 * H) as u32).0;
        let luma = 0.299 * f32::from(ground[0]) + 0.587 * f32::from(ground[1]) + 0.114 * f32::from(ground[2]);
        Print::Flat(if luma > 150.0 { [20, 20, 24] } else { [250, 250, 250] })
    };

    let groups = truth.groups(rng.chance(0.5));
    let mut style = Style::new(Face::Mono, 46.0, [0, 0, 0]).spaced(2.0);
    // Groups are separated by about a digit and a half; the whole number must fit in 86% of
    // the card's width.
    let gap = |style: &Style| style.size * 0.6 + 18.0;
    let width = groups.iter().map(|g| fonts.width(&style, g)).sum::<f32>()
        + gap(&style) * groups.len().saturating_sub(1) as f32;
    if width > 0.86 * W {
        let factor = 0.86 * W / width;
        style = Style { size: style.size * factor, spacing: style.spacing * factor, ..style };
    }
    let mut x = 0.07 * W;
    for group in &groups {
        x = draw_printed(fonts, &mut card, print, style, group, x, 0.62 * H) + gap(&style);
    }

    // Expiry with its label.
    let (label_x, expiry_y) = (0.40 * W, 0.79 * H);
    let label_colour = mix(
        match print {
            Print::Flat(c) | Print::Embossed(c) => c,
        },
        [255, 255, 255],
        0.3,
    );
    let value_x = if rng.chance(0.5) {
        let small = Style::new(Face::Sans, 14.0, label_colour);
        let end = fonts.draw(&mut card, &small, "VALID", label_x, expiry_y - 9.0);
        fonts.draw(&mut card, &small, "THRU", label_x, expiry_y + 9.0).max(end) + 12.0
    } else {
        fonts.draw(&mut card, &Style::new(Face::Sans, 20.0, label_colour), "有效期", label_x, expiry_y) + 14.0
    };
    let expiry_style = Style::new(Face::Mono, 34.0, [0, 0, 0]).spaced(1.0);
    draw_printed(fonts, &mut card, print, expiry_style, &truth.expiry, value_x, expiry_y);

    draw_network_mark(&mut card, 0.80 * W, 0.76 * H);
    card
}

/// Soft lighter and darker bands across the card, as card designs have.
fn decorate(card: &mut RgbImage, rng: &mut Rng) {
    let bands: Vec<(f32, f32, f32, f32, bool)> = (0..3)
        .map(|_| {
            (
                rng.range(0.25, 0.85) * H,
                rng.range(20.0, 70.0),
                rng.range(0.004, 0.012),
                rng.range(0.0, 6.3),
                rng.chance(0.5),
            )
        })
        .collect();
    for (x, y, pixel) in card.enumerate_pixels_mut() {
        let (xf, yf) = (x as f32, y as f32);
        for &(base, amplitude, frequency, phase, lighter) in &bands {
            if yf > base + amplitude * (xf * frequency + phase).sin() {
                blend(pixel, if lighter { [255, 255, 255] } else { [0, 0, 0] }, 0.06);
            }
        }
    }
}

/// A contact chip: a gold rounded rectangle with the contact pads' dividing lines.
fn draw_chip(card: &mut RgbImage, x: f32, y: f32) {
    let (w, h) = (100.0, 76.0);
    fill_rounded_rect(card, x, y, w, h, 11.0, [214, 178, 96]);
    fill_rounded_rect(card, x + 3.0, y + 3.0, w - 6.0, h - 6.0, 9.0, [232, 200, 120]);
    let line = [170, 134, 62];
    for i in 1..3 {
        let ly = y + h * i as f32 / 3.0;
        fill_polygon(
            card,
            &[(x + 3.0, ly - 1.0), (x + w * 0.38, ly - 1.0), (x + w * 0.38, ly + 1.0), (x + 3.0, ly + 1.0)],
            line,
        );
        let right = x + w * 0.62;
        fill_polygon(
            card,
            &[(right, ly - 1.0), (x + w - 3.0, ly - 1.0), (x + w - 3.0, ly + 1.0), (right, ly + 1.0)],
            line,
        );
    }
    fill_rounded_rect(card, x + w * 0.38, y + h * 0.2, w * 0.24, h * 0.6, 5.0, line);
}

/// An abstract payment-network mark (no text): three overlapping slanted tiles.
fn draw_network_mark(card: &mut RgbImage, x: f32, y: f32) {
    let tile = |left: f32| vec![(left + 14.0, y), (left + 58.0, y), (left + 44.0, y + 62.0), (left, y + 62.0)];
    fill_polygon(card, &tile(x), [214, 32, 40]);
    fill_polygon(card, &tile(x + 36.0), [20, 70, 150]);
    fill_polygon(card, &tile(x + 72.0), [0, 130, 120]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_digits_match_known_numbers() {
        // 4111 1111 1111 1111 and 6222 0202 0000 0000 005 style checks.
        assert_eq!(luhn_check_digit("411111111111111"), '1');
        assert_eq!(luhn_check_digit("7992739871"), '3');
        assert_eq!(luhn_check_digit("0"), '0');
    }

    #[test]
    fn groups_cover_the_number() {
        let truth = |n: &str| BankCardTruth { number: n.to_string(), expiry: "01/30".into(), bank_name: String::new() };
        let nineteen = truth("6222020200000000005");
        assert_eq!(nineteen.groups(true), ["622202", "0200000000005"]);
        assert_eq!(nineteen.groups(false), ["6222", "0202", "0000", "0000", "005"]);
        assert_eq!(truth("4111111111111111").groups(false).concat(), "4111111111111111");
    }
}
