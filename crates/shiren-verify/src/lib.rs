//! Shiren's verification core: the products (PV_FC, LR_FR_MIN, ID_MIN, face attributes, element
//! checks, 1:N search in face galleries) as plain async functions over a [`Services`] bundle, and everything around them that
//! every surface shares: scenes, access keys, records, statistics, the audit log, image loading
//! with its URL policy, the authority providers, the bounded inference pool, metrics, and the
//! one table of error codes.
//!
//! There is no HTTP here. A surface (the native API, the capture page, a vendor-compatible API,
//! the console, the command line) authenticates its caller, maps its wire format onto the typed
//! requests of this crate, calls it, and maps the typed results and [`ErrorCode`]s back. Data
//! flows one way: surface → this core → the engine and the store.

pub mod audit;
pub mod authority;
mod call;
pub mod caller;
pub mod config;
pub mod error;
pub mod galleries;
pub mod images;
pub mod keys;
pub mod metrics;
pub mod pool;
pub mod products;
pub mod records;
pub mod rules;
pub mod scenes;
pub mod services;
pub mod sessions;
pub mod statistics;

pub use caller::Caller;
pub use config::{ImageLimits, VerifyConfig};
pub use error::{Error, ErrorCode, SubCode};
pub use services::{Services, StartError};
