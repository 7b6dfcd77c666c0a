//! The client side: the headers that make a request verifiable.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::canonical::{
    ALGORITHM, Payload, Request, canonical_request, is_signable_header, normalize_signed_headers, sha256_hex,
};
use crate::{QueryParams, format_acs_date, signature, string_to_sign, unix_now};

/// An AccessKey pair that signs requests.
#[derive(Clone, PartialEq, Eq)]
pub struct Signer {
    /// Identifies the key; sent in the clear as `Credential=`.
    pub access_key_id: String,
    /// The shared secret; never sent.
    pub access_key_secret: String,
}

// Keeps the secret out of logs and panic messages.
impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .finish()
    }
}

/// What a client is about to send.
#[derive(Debug, Clone, Copy)]
pub struct SignParams<'a> {
    /// The HTTP method, uppercase.
    pub method: &'a str,
    /// The `host` header value the request will carry (the endpoint, with a port if not default).
    pub host: &'a str,
    /// The path exactly as it will be sent; build it with [`crate::encode_path`] from plain text.
    pub path: &'a str,
    /// The query parameters; send them as [`QueryParams::to_query_string`].
    pub query: &'a QueryParams,
    /// The exact body bytes that will be sent (empty for none).
    pub body: &'a [u8],
    /// The API operation, sent as `x-acs-action`.
    pub action: &'a str,
    /// The API version, sent as `x-acs-version`.
    pub version: &'a str,
    /// More headers to send. `content-type` and `x-acs-*` ones are signed, others (`user-agent`,
    /// `accept`, ...) are passed through unsigned, as Alibaba's SDKs do. Any that collide with a
    /// header the signer generates, or `authorization`, are dropped.
    pub extra_headers: &'a [(String, String)],
}

/// Headers the signer always writes itself.
const GENERATED: [&str; 7] = [
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
    "authorization",
];

impl Signer {
    /// A signer for this AccessKey pair.
    pub fn new(access_key_id: impl Into<String>, access_key_secret: impl Into<String>) -> Self {
        Self { access_key_id: access_key_id.into(), access_key_secret: access_key_secret.into() }
    }

    /// Signs with the current time and a fresh random nonce.
    ///
    /// Returns every header to send, names lowercase: `host`, the signed `content-type` and
    /// `x-acs-*` headers in canonical order, then unsigned extras, then `authorization`. If the HTTP
    /// client sets `Host` itself it must set the same value.
    pub fn sign(&self, params: &SignParams<'_>) -> Vec<(String, String)> {
        self.sign_at(params, unix_now(), &new_nonce())
    }

    /// Signs with a given `x-acs-date` (seconds since the Unix epoch) and `x-acs-signature-nonce`,
    /// for reproducible tests and for callers with their own clock.
    pub fn sign_at(&self, params: &SignParams<'_>, date_secs: i64, nonce: &str) -> Vec<(String, String)> {
        let mut signed: Vec<(String, String)> = vec![
            ("host".into(), params.host.into()),
            ("x-acs-action".into(), params.action.into()),
            ("x-acs-version".into(), params.version.into()),
            ("x-acs-date".into(), format_acs_date(date_secs)),
            ("x-acs-signature-nonce".into(), nonce.into()),
            ("x-acs-content-sha256".into(), sha256_hex(params.body)),
        ];
        let mut unsigned = Vec::new();
        for (name, value) in params.extra_headers {
            let lower = name.trim().to_ascii_lowercase();
            if GENERATED.contains(&lower.as_str()) {
                continue;
            }
            if is_signable_header(&lower) {
                signed.push((lower, value.clone()));
            } else {
                unsigned.push((name.clone(), value.clone()));
            }
        }
        signed.sort_by(|a, b| a.0.cmp(&b.0));

        let names = normalize_signed_headers(&signed.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>());
        let request = Request {
            method: params.method,
            path: params.path,
            query: params.query,
            headers: &signed,
            payload: Payload::Body(params.body),
        };
        let canonical = canonical_request(&request, &names);
        let authorization = format!(
            "{ALGORITHM} Credential={},SignedHeaders={},Signature={}",
            self.access_key_id,
            names.join(";"),
            signature(&self.access_key_secret, &string_to_sign(&canonical))
        );

        signed.extend(unsigned);
        signed.push(("authorization".into(), authorization));
        signed
    }
}

/// A fresh `x-acs-signature-nonce`: 128 random bits as 32 lowercase hex digits.
pub fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        bytes = fallback_nonce();
    }
    hex::encode(bytes)
}

// A nonce only has to be unique, not secret, so when the OS has no randomness to give, hashing
// the clock with a per-process counter still keeps two requests from sharing one.
fn fallback_nonce() -> [u8; 16] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let seed = format!("{nanos}:{}:{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let digest = Sha256::digest(seed);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_fresh_128_bit_hex() {
        let a = new_nonce();
        let b = new_nonce();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
        assert_ne!(fallback_nonce(), fallback_nonce());
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", Signer::new("AKID", "very-secret"));
        assert!(shown.contains("AKID"));
        assert!(!shown.contains("very-secret"));
    }

    #[test]
    fn sign_uses_the_current_time() {
        let query = QueryParams::new();
        let params = SignParams {
            method: "GET",
            host: "h",
            path: "/",
            query: &query,
            body: b"",
            action: "A",
            version: "V",
            extra_headers: &[],
        };
        let before = unix_now();
        let headers = Signer::new("id", "secret").sign(&params);
        let date = headers.iter().find(|(n, _)| n == "x-acs-date").map(|(_, v)| v.clone()).unwrap_or_default();
        let secs = crate::parse_acs_date(&date);
        assert!(matches!(secs, Ok(s) if s >= before && s <= unix_now()), "{date}");
    }
}
