//! Identity documents and bank cards, read from the OCR engine's lines: which document and side
//! a photo shows, each printed field by the document's layout, and the cross-checks between
//! fields. Finding the card in a photo and choosing which way up it is happen before this, on
//! the image; this crate works on lines only and so is tested without models.

pub mod ethnicity;
pub mod idcard;
