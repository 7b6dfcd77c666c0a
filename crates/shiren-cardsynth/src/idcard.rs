//! The two faces of a resident ID card drawn on the canonical 856×540 canvas (85.6×54 mm at
//! 10 px/mm): the front with the holder's details and portrait, the back with the title, a
//! stand-in emblem, the issuing authority and the validity period.
//!
//! The layout follows the real card (positions as fractions of the card's width W and height H,
//! rows given by their vertical centres), drawn by this code rather than traced from a template;
//! the security printing is reduced to a faint procedural line pattern, and the national emblem
//! to an abstract red disk with yellow stars.

use image::RgbImage;
use image::imageops::{self, FilterType};

use crate::draw::{blend, fill_disk, fill_polygon, fill_ring, guilloche, linear_gradient, mix, star};
use crate::fonts::{Face, Fonts, Style};
use shiren_idcard::DocumentKind;

use crate::truth::IdCardTruth;
use crate::{CARD_HEIGHT, CARD_WIDTH};

const W: f32 = CARD_WIDTH as f32;
const H: f32 = CARD_HEIGHT as f32;

/// Labels are printed in a light blue, values in near-black.
pub(crate) const LABEL: [u8; 3] = [62, 132, 196];
pub(crate) const VALUE: [u8; 3] = [24, 24, 28];
const LABEL_SIZE: f32 = 22.0;
/// Values' ideographs come out about 30 px tall.
const VALUE_SIZE: f32 = 33.0;

const LABEL_X: f32 = 0.065 * W;
const VALUE_X: f32 = 0.18 * W;
const NAME_Y: f32 = 0.16 * H;
const SEX_Y: f32 = 0.28 * H;
const BIRTH_Y: f32 = 0.40 * H;
const ADDRESS_Y: f32 = 0.52 * H;
const ADDRESS_STEP: f32 = 0.075 * H;
const NUMBER_Y: f32 = 0.86 * H;
/// The portrait's box: x 0.62–0.92 W, y 0.10–0.70 H.
const PORTRAIT: (f32, f32, f32, f32) = (0.62 * W, 0.10 * H, 0.92 * W, 0.70 * H);

/// A number derived from the card's contents that varies the background pattern between
/// cards without a separate seed.
pub(crate) fn pattern_phase(text: &str) -> f32 {
    let hash = text.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    (hash % 6283) as f32 / 1000.0
}

/// The pale printed background both faces share: a blue-grey gradient, a warmer patch in the
/// middle, and the line pattern.
pub(crate) fn background(phase: f32, from: [u8; 3], to: [u8; 3], warm: [u8; 3]) -> RgbImage {
    let mut card = RgbImage::new(CARD_WIDTH, CARD_HEIGHT);
    linear_gradient(&mut card, from, to, 0.35 + phase * 0.05);
    let (cx, cy) = (W * (0.45 + 0.02 * phase.sin()), H * 0.55);
    for (x, y, pixel) in card.enumerate_pixels_mut() {
        let (dx, dy) = ((x as f32 - cx) / (0.45 * W), (y as f32 - cy) / (0.6 * H));
        let weight = (-(dx * dx + dy * dy)).exp() * 0.45;
        blend(pixel, warm, weight);
    }
    guilloche(&mut card, [128, 158, 192], 0.3, phase);
    card
}

/// A two-character label spread to the width of three characters, as the card prints them.
fn label(fonts: &Fonts, card: &mut RgbImage, text: &str, x: f32, centre_y: f32) -> f32 {
    let spacing = if text.chars().count() == 2 { LABEL_SIZE } else { 3.0 };
    fonts.draw(card, &Style::new(Face::Sans, LABEL_SIZE, LABEL).spaced(spacing), text, x, centre_y)
}

fn value(fonts: &Fonts, card: &mut RgbImage, text: &str, x: f32, centre_y: f32) -> f32 {
    fonts.draw(card, &Style::new(Face::Sans, VALUE_SIZE, VALUE), text, x, centre_y)
}

/// The front: name, sex and ethnicity, birth date, address, portrait and ID number.
pub(crate) fn render_front(fonts: &Fonts, truth: &IdCardTruth, portrait: &RgbImage) -> RgbImage {
    let mut card = background(pattern_phase(&truth.id_number), [230, 237, 242], [204, 220, 233], [240, 228, 226]);
    draw_portrait(&mut card, portrait);

    label(fonts, &mut card, "姓名", LABEL_X, NAME_Y);
    value(fonts, &mut card, &truth.name, VALUE_X, NAME_Y);

    label(fonts, &mut card, "性别", LABEL_X, SEX_Y);
    value(fonts, &mut card, &truth.sex, VALUE_X, SEX_Y);
    // Residence permits print no ethnicity.
    if !truth.ethnicity.is_empty() {
        label(fonts, &mut card, "民族", 0.315 * W, SEX_Y);
        value(fonts, &mut card, &truth.ethnicity, 0.41 * W, SEX_Y);
    }

    label(fonts, &mut card, "出生", LABEL_X, BIRTH_Y);
    // The card prints 1990 年 1 月 5 日: numbers as values, 年 月 日 as labels, no zero padding.
    let mut parts = truth.birth.splitn(3, '-');
    let (year, month, day) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let unpadded = |s: &str| s.trim_start_matches('0').to_string();
    let single = Style::new(Face::Sans, LABEL_SIZE, LABEL);
    let mut x = value(fonts, &mut card, year, VALUE_X, BIRTH_Y) + 8.0;
    x = fonts.draw(&mut card, &single, "年", x, BIRTH_Y) + 10.0;
    x = value(fonts, &mut card, &unpadded(month), x.max(0.32 * W), BIRTH_Y) + 8.0;
    x = fonts.draw(&mut card, &single, "月", x, BIRTH_Y) + 10.0;
    x = value(fonts, &mut card, &unpadded(day), x.max(0.41 * W), BIRTH_Y) + 8.0;
    fonts.draw(&mut card, &single, "日", x, BIRTH_Y);

    label(fonts, &mut card, "住址", LABEL_X, ADDRESS_Y);
    for (i, line) in truth.address_lines().iter().enumerate() {
        value(fonts, &mut card, line, VALUE_X, ADDRESS_Y + i as f32 * ADDRESS_STEP);
    }

    label(fonts, &mut card, "公民身份号码", LABEL_X, NUMBER_Y);
    let number = Style::new(Face::Mono, 38.0, VALUE).spaced(2.0);
    let number = fonts.fit(number, &truth.id_number, W - 0.34 * W - 0.04 * W);
    fonts.draw(&mut card, &number, &truth.id_number, 0.34 * W, NUMBER_Y);
    card
}

/// Scales and crops the portrait to fill its box (keeping the top, where the face is) and prints
/// it slightly translucent over a light ground, as the card's dye print looks.
fn draw_portrait(card: &mut RgbImage, portrait: &RgbImage) {
    draw_portrait_in(card, portrait, PORTRAIT);
}

/// [`draw_portrait`] into the box `(x0, y0, x1, y1)`.
pub(crate) fn draw_portrait_in(card: &mut RgbImage, portrait: &RgbImage, area: (f32, f32, f32, f32)) {
    let (x0, y0, x1, y1) = area;
    let (bw, bh) = ((x1 - x0).round() as u32, (y1 - y0).round() as u32);
    let (pw, ph) = portrait.dimensions();
    if pw == 0 || ph == 0 {
        return;
    }
    let scale = (bw as f32 / pw as f32).max(bh as f32 / ph as f32);
    let (cw, ch) =
        (((bw as f32 / scale).round() as u32).clamp(1, pw), ((bh as f32 / scale).round() as u32).clamp(1, ph));
    let left = (pw - cw) / 2;
    let top = (ph - ch) / 4;
    let crop = imageops::crop_imm(portrait, left, top, cw, ch).to_image();
    let scaled = imageops::resize(&crop, bw, bh, FilterType::Triangle);
    for (x, y, pixel) in scaled.enumerate_pixels() {
        let (cx, cy) = (x0 as u32 + x, y0 as u32 + y);
        if cx < CARD_WIDTH && cy < CARD_HEIGHT {
            let target = card.get_pixel_mut(cx, cy);
            let ground = mix(target.0, [246, 247, 248], 0.8);
            *target = image::Rgb(ground);
            blend(target, pixel.0, 0.93);
        }
    }
}

/// The back: emblem, title, issuing authority and validity period.
pub(crate) fn render_back(fonts: &Fonts, truth: &IdCardTruth) -> RgbImage {
    let phase = pattern_phase(&truth.authority) + 1.3;
    let mut card = background(phase, [228, 237, 236], [204, 220, 230], [240, 234, 222]);
    draw_emblem(&mut card, 0.165 * W, 0.28 * H, 0.092 * W);

    let title = Style::new(Face::Bold, 40.0, [30, 30, 34]).spaced(8.0);
    fonts.draw(&mut card, &title, "中华人民共和国", 0.39 * W, 0.21 * H);
    let (title, spacing) = match truth.kind {
        DocumentKind::TaiwanResidencePermit => ("台湾居民居住证", 6.0),
        DocumentKind::HongKongResidencePermit | DocumentKind::MacaoResidencePermit => ("港澳居民居住证", 6.0),
        _ => ("居民身份证", 22.0),
    };
    let big = fonts.fit(Style::new(Face::Bold, 60.0, [30, 30, 34]).spaced(spacing), title, W - 0.38 * W - 0.04 * W);
    fonts.draw(&mut card, &big, title, 0.38 * W, 0.37 * H);

    let label_style = Style::new(Face::Sans, LABEL_SIZE, LABEL).spaced(5.0);
    let value_x = 0.38 * W;
    let room = W - value_x - 0.04 * W;
    let validity = truth.validity_text();
    let mut rows = vec![("签发机关", truth.authority.as_str()), ("有效期限", validity.as_str())];
    if !truth.pass_number.is_empty() {
        rows.push(("签发次数", truth.issue_count.as_str()));
        rows.push(("通行证号码", truth.pass_number.as_str()));
    }
    // Two rows under the title, or four on a permit, closer together.
    let (first, step) = if rows.len() == 2 { (0.72 * H, 0.12 * H) } else { (0.58 * H, 0.105 * H) };
    for (i, (label_text, text)) in rows.iter().enumerate() {
        let y = first + i as f32 * step;
        let style = if label_text.chars().count() > 4 { label_style.spaced(1.0) } else { label_style };
        fonts.draw(&mut card, &style, label_text, 0.2 * W, y);
        let value_style = fonts.fit(Style::new(Face::Sans, 32.0, VALUE), text, room);
        fonts.draw(&mut card, &value_style, text, value_x, y);
    }
    card
}

/// An abstract stand-in for the emblem (not the real design): a red disk in a yellow ring, a
/// large star over four small ones on an arc, and a stepped yellow base.
pub(crate) fn draw_emblem(card: &mut RgbImage, cx: f32, cy: f32, radius: f32) {
    let (red, yellow) = ([196, 32, 36], [246, 202, 52]);
    fill_disk(card, cx, cy, radius, yellow);
    fill_disk(card, cx, cy, radius * 0.86, red);
    fill_ring(card, cx, cy, radius * 0.78, radius * 0.81, yellow);
    fill_polygon(card, &star(cx, cy - radius * 0.28, radius * 0.26, 0.0), yellow);
    for i in 0..4 {
        let angle = (-50.0 + i as f32 * 33.0_f32).to_radians();
        let (sx, sy) = (cx + radius * 0.5 * angle.sin(), cy - radius * 0.28 - radius * 0.5 * angle.cos() * 0.55);
        if i < 2 {
            fill_polygon(card, &star(sx - radius * 0.12, sy + radius * 0.05, radius * 0.09, angle), yellow);
        } else {
            fill_polygon(card, &star(sx + radius * 0.12, sy + radius * 0.05, radius * 0.09, angle), yellow);
        }
    }
    // The base: two stacked bars, wider below.
    let bar = |y: f32, half: f32, height: f32| {
        vec![(cx - half, y), (cx + half, y), (cx + half, y + height), (cx - half, y + height)]
    };
    fill_polygon(card, &bar(cy + radius * 0.18, radius * 0.42, radius * 0.14), yellow);
    fill_polygon(card, &bar(cy + radius * 0.36, radius * 0.56, radius * 0.14), yellow);
}
