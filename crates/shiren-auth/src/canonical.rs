//! The CanonicalRequest, StringToSign and Signature of ACS3-HMAC-SHA256.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::QueryParams;
use crate::encoding::canonical_uri;

/// The only algorithm this crate signs or accepts.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Lowercase hex SHA-256 of an empty body.
pub const EMPTY_PAYLOAD_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The body of a request, or its hash when the caller hashed it while streaming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// The complete body (empty for a request without one).
    Body(&'a [u8]),
    /// Hex SHA-256 of the body, computed by the caller over the bytes actually received.
    ///
    /// Callers of `verify` must never pass the client's `x-acs-content-sha256` here: the verifier
    /// compares the two to detect a body swapped after signing. The one place the declared hash
    /// is signed over is `verify_head`, which checks the signature before the body exists and
    /// hands back a `DeclaredBody` that the body must then match.
    Sha256Hex(&'a str),
}

impl Payload<'_> {
    /// The HashedRequestPayload: lowercase hex SHA-256 of the body.
    pub fn sha256_hex(&self) -> String {
        match self {
            Payload::Body(body) => sha256_hex(body),
            Payload::Sha256Hex(hash) => hash.to_ascii_lowercase(),
        }
    }
}

/// A request as the signature sees it, independent of any HTTP library.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The HTTP method as sent (`GET`, `POST`, ...); it is signed verbatim.
    pub method: &'a str,
    /// The path as it appears on the wire, without the query string: a server passes the raw
    /// request path, a client the path it will send (see [`crate::encode_path`]). It is
    /// canonicalised by [`canonical_uri`], so `%7E` and `~` sign alike.
    pub path: &'a str,
    /// The decoded query parameters; a server gets them from [`QueryParams::parse`] on the raw
    /// query string.
    pub query: &'a QueryParams,
    /// Every header of the request, names in any case. Repeated names are joined with `,` in the
    /// order given.
    pub headers: &'a [(String, String)],
    /// The body or its hash.
    pub payload: Payload<'a>,
}

impl Request<'_> {
    /// The value of a header as it is signed: trimmed, repeats joined with `,`; `None` if absent.
    pub fn header(&self, name: &str) -> Option<String> {
        header_value(self.headers, name)
    }
}

/// Whether Alibaba's signers sign this header: `host`, `content-type` and every `x-acs-*`.
pub fn is_signable_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "host" || name == "content-type" || name.starts_with("x-acs-")
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(data.as_ref()))
}

/// The canonical form of a list of header names: lowercase, sorted, without repeats or blanks.
pub fn normalize_signed_headers<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    let mut names: Vec<String> =
        names.iter().map(|n| n.as_ref().trim().to_ascii_lowercase()).filter(|n| !n.is_empty()).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// CanonicalHeaders: `name:value\n` for each signed header, in sorted order.
///
/// A signed header absent from `headers` is written with an empty value; the verifier refuses such
/// requests before it gets here.
pub fn canonical_headers<S: AsRef<str>>(headers: &[(String, String)], signed_headers: &[S]) -> String {
    let mut out = String::new();
    for name in normalize_signed_headers(signed_headers) {
        out.push_str(&name);
        out.push(':');
        out.push_str(&header_value(headers, &name).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// The CanonicalRequest of `request`, signing the headers named in `signed_headers`.
///
/// The names may be in any case and order; they are normalised as the scheme requires.
pub fn canonical_request<S: AsRef<str>>(request: &Request<'_>, signed_headers: &[S]) -> String {
    let signed = normalize_signed_headers(signed_headers);
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        canonical_uri(request.path),
        request.query.canonical(),
        canonical_headers(request.headers, &signed),
        signed.join(";"),
        request.payload.sha256_hex()
    )
}

/// StringToSign: the algorithm and the hex SHA-256 of the canonical request.
pub fn string_to_sign(canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{}", sha256_hex(canonical_request))
}

/// Signature: lowercase hex HMAC-SHA256 of the string to sign, keyed with the AccessKey secret.
pub fn signature(access_key_secret: &str, string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(access_key_secret.as_bytes(), string_to_sign.as_bytes()))
}

pub(crate) fn header_value(headers: &[(String, String)], name: &str) -> Option<String> {
    let mut values = headers
        .iter()
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim_matches(|c: char| c.is_ascii_whitespace()));
    let first = values.next()?.to_owned();
    Some(values.fold(first, |mut joined, v| {
        joined.push(',');
        joined.push_str(v);
        joined
    }))
}

pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of every length (long ones are hashed), so this constructor cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC-SHA256 takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    // RFC 4231 test cases 1, 2, 4 and 6 (the last one exercises a key longer than the block).
    #[test]
    fn hmac_matches_rfc_4231() {
        let cases: [(&[u8], &[u8], &str); 4] = [
            (&[0x0b; 20], b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[
                    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
                    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19,
                ],
                &[0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, data, expected) in cases {
            assert_eq!(hex::encode(hmac_sha256(key, data)), expected);
        }
    }

    #[test]
    fn empty_payload_hash() {
        assert_eq!(Payload::Body(b"").sha256_hex(), EMPTY_PAYLOAD_SHA256);
        assert_eq!(Payload::Sha256Hex(&EMPTY_PAYLOAD_SHA256.to_uppercase()).sha256_hex(), EMPTY_PAYLOAD_SHA256);
    }

    #[test]
    fn headers_are_lowercased_trimmed_sorted_and_joined() {
        let h = headers(&[
            ("X-Acs-Version", "  2014-05-26\t"),
            ("Host", "example.com"),
            ("x-acs-action", "Run"),
            ("X-ACS-ACTION", "Again"),
            ("User-Agent", "ignored"),
        ]);
        assert_eq!(
            canonical_headers(&h, &["x-acs-version", "HOST", "x-acs-action", "host"]),
            "host:example.com\nx-acs-action:Run,Again\nx-acs-version:2014-05-26\n"
        );
    }

    #[test]
    fn signable_headers() {
        assert!(is_signable_header("Host"));
        assert!(is_signable_header("Content-Type"));
        assert!(is_signable_header("X-Acs-Security-Token"));
        assert!(!is_signable_header("user-agent"));
        assert!(!is_signable_header("authorization"));
        assert!(!is_signable_header("x-acsfoo"));
    }

    #[test]
    fn canonical_request_layout() {
        let query = QueryParams::new().with("b", "2").with("a", "1");
        let h = headers(&[("host", "h"), ("x-acs-date", "2023-10-26T10:22:32Z")]);
        let req = Request { method: "GET", path: "/v1/a b", query: &query, headers: &h, payload: Payload::Body(b"") };
        assert_eq!(
            canonical_request(&req, &["x-acs-date", "host"]),
            format!(
                "GET\n/v1/a%20b\na=1&b=2\nhost:h\nx-acs-date:2023-10-26T10:22:32Z\n\nhost;x-acs-date\n{EMPTY_PAYLOAD_SHA256}"
            )
        );
    }
}
