//! The service in one test binary: the API through `router(state).oneshot(...)`, and the
//! connection layer on loopback ports where only sockets can show the behaviour.

mod common;
mod fuzz;
mod galleries;
mod hardening;
mod id_plus;
mod integrations;
mod liveness;
mod ocr;
mod products;
mod sessions;
mod signatures;
mod vendors;
