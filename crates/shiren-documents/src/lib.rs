//! Identity documents and bank cards read from photos: the card found and straightened
//! (`locate`), turned upright and read by the OCR engine, the side and each printed field taken
//! from the layout (`idcard`), copies, screens and glare measured, and the fields cross-checked
//! (`reader`); region names in addresses and authorities mended against the region table
//! (`regions`). The layout rules work on text lines alone and are tested without models.

pub mod bankcard;
mod edges;
pub mod ethnicity;
pub mod idcard;
pub mod locate;
pub mod reader;
pub mod regions;
