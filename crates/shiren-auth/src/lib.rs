//! Request authentication for Shiren: Alibaba Cloud's V3 signature, ACS3-HMAC-SHA256, on both sides.
//!
//! This crate owns the signature scheme and nothing around it: how a request is canonicalised,
//! signed ([`Signer`]) and verified ([`parse_authorization`], [`verify`], [`verify_at`]), plus the
//! `x-acs-date` clock check. It does no I/O and knows no HTTP library; the server and the CLI
//! translate their requests into [`Request`] / [`SignParams`]. Looking up secrets by AccessKey ID
//! and remembering nonces to refuse replays belong to the server.
//!
//! The scheme follows Alibaba Cloud's "Request syntax and signature method V3"
//! (<https://www.alibabacloud.com/help/en/sdk/product-overview/v3-request-structure-and-signature>),
//! so requests signed by Alibaba's SDKs and sample signers verify unchanged:
//!
//! ```text
//! CanonicalRequest = Method \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n
//!                    SignedHeaders \n HexSHA256(body)
//! StringToSign     = "ACS3-HMAC-SHA256" \n HexSHA256(CanonicalRequest)
//! Signature        = HexHMAC-SHA256(AccessKeySecret, StringToSign)
//! Authorization: ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<a;b;..>,Signature=<hex>
//! ```
//!
//! A server typically does:
//!
//! ```
//! use shiren_auth::{AuthError, Credential, DEFAULT_MAX_SKEW_SECS, Payload, QueryParams, Request, unix_now, verify_at};
//!
//! fn authenticate(
//!     method: &str,
//!     raw_path: &str,
//!     raw_query: &str,
//!     headers: &[(String, String)],
//!     body: &[u8],
//!     secret_of: impl Fn(&str) -> Option<String>,
//! ) -> Result<String, AuthError> {
//!     let credential = Credential::from_headers(headers)?;
//!     let Some(secret) = secret_of(&credential.access_key_id) else {
//!         return Err(AuthError::InvalidAccessKeyId(credential.access_key_id));
//!     };
//!     let query = QueryParams::parse(raw_query);
//!     let request = Request { method, path: raw_path, query: &query, headers, payload: Payload::Body(body) };
//!     verify_at(&request, &credential, &secret, unix_now(), DEFAULT_MAX_SKEW_SECS)?;
//!     Ok(credential.access_key_id)
//! }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod canonical;
mod date;
mod encoding;
mod error;
mod signer;
mod verify;

pub use canonical::{
    ALGORITHM, EMPTY_PAYLOAD_SHA256, Payload, Request, canonical_headers, canonical_request, is_signable_header,
    normalize_signed_headers, sha256_hex, signature, string_to_sign,
};
pub use date::{DEFAULT_MAX_SKEW_SECS, check_skew, format_acs_date, parse_acs_date, unix_now};
pub use encoding::{QueryParams, canonical_uri, encode_path, percent_decode, percent_encode};
pub use error::AuthError;
pub use signer::{SignParams, Signer, new_nonce};
pub use verify::{
    Credential, DeclaredBody, REQUIRED_SIGNED_HEADERS, parse_authorization, request_time, verify, verify_at,
    verify_head, verify_head_at,
};

#[cfg(test)]
mod tests;
