//! The server side: parse `Authorization`, check what must be signed, recompute, compare.

use subtle::ConstantTimeEq;

use crate::canonical::{ALGORITHM, Payload, Request, canonical_request, header_value, hmac_sha256, is_signable_header};
use crate::{AuthError, check_skew, normalize_signed_headers, parse_acs_date, string_to_sign};

/// Headers every request must sign: without them a signature could be replayed against another
/// host, at another time, with the same nonce, or with another body.
pub const REQUIRED_SIGNED_HEADERS: [&str; 4] = ["host", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce"];

/// The parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Which AccessKey signed; the server looks its secret up by this.
    pub access_key_id: String,
    /// The signed header names, lowercase and sorted.
    pub signed_headers: Vec<String>,
    /// The presented signature: 64 hex digits.
    pub signature: String,
}

impl Credential {
    /// Finds and parses the request's `Authorization` header.
    pub fn from_headers(headers: &[(String, String)]) -> Result<Self, AuthError> {
        let mut found = headers.iter().filter(|(n, _)| n.trim().eq_ignore_ascii_case("authorization"));
        let Some((_, value)) = found.next() else {
            return Err(AuthError::MissingAuthorization);
        };
        if found.next().is_some() {
            return Err(AuthError::InvalidAuthorization("more than one Authorization header".into()));
        }
        parse_authorization(value)
    }

    /// Whether the header (any case) is among the signed ones.
    pub fn is_signed(&self, name: &str) -> bool {
        self.signed_headers.iter().any(|signed| signed.eq_ignore_ascii_case(name))
    }
}

/// Parses `ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<a;b;..>,Signature=<hex>`.
///
/// Spaces after the commas are tolerated and the fields may come in any order; each must appear
/// exactly once.
pub fn parse_authorization(value: &str) -> Result<Credential, AuthError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AuthError::MissingAuthorization);
    }
    let invalid = |why: &str| AuthError::InvalidAuthorization(why.to_owned());
    let (algorithm, fields) = value.split_once(|c: char| c.is_ascii_whitespace()).unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        // The value comes from the client; keep what goes back into logs and responses short.
        return Err(AuthError::UnsupportedAlgorithm(algorithm.chars().take(64).collect()));
    }

    let (mut id, mut signed, mut signature) = (None, None, None);
    for field in fields.split(',') {
        let Some((key, val)) = field.split_once('=') else {
            return Err(invalid("expected Credential=..,SignedHeaders=..,Signature=.."));
        };
        let slot = match key.trim() {
            "Credential" => &mut id,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(invalid("unknown field; expected Credential, SignedHeaders and Signature")),
        };
        if slot.replace(val.trim()).is_some() {
            return Err(invalid("a field appears more than once"));
        }
    }
    let (Some(id), Some(signed), Some(signature)) = (id, signed, signature) else {
        return Err(invalid("Credential, SignedHeaders and Signature are all required"));
    };

    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("Credential must be a non-empty AccessKey ID"));
    }
    let names: Vec<&str> = signed.split(';').collect();
    if names.iter().any(|n| n.is_empty() || !n.bytes().all(is_header_name_byte)) {
        return Err(invalid("SignedHeaders must be header names separated by `;`"));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid("Signature must be 64 hex digits"));
    }
    Ok(Credential {
        access_key_id: id.to_owned(),
        signed_headers: normalize_signed_headers(&names),
        signature: signature.to_owned(),
    })
}

// RFC 9110 token characters.
fn is_header_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks a request's signature against the AccessKey secret of `credential.access_key_id`.
///
/// Fails when a header in [`REQUIRED_SIGNED_HEADERS`] is not signed, when a signed header is
/// absent, when a `content-type` or `x-acs-*` header is present but unsigned (so the server never
/// acts on one that was added in transit; Alibaba's signers sign all of them), when
/// `x-acs-content-sha256` differs from the body's hash, and when the signature differs. Other
/// unsigned headers (`user-agent`, proxy headers) are ignored and must not be trusted. An empty
/// secret never verifies.
///
/// The time and the nonce are not judged here: see [`verify_at`], and keep a record of nonces
/// seen within the time window to refuse replays. A server that wants to authenticate a request
/// before reading its body uses [`verify_head`] instead.
pub fn verify(request: &Request<'_>, credential: &Credential, access_key_secret: &str) -> Result<(), AuthError> {
    check_signed_headers(request, credential)?;
    let computed = request.payload.sha256_hex();
    let declared = header_value(request.headers, "x-acs-content-sha256").unwrap_or_default();
    if declared != computed {
        return Err(AuthError::ContentSha256Mismatch { declared, computed });
    }
    check_signature(request, credential, access_key_secret)
}

/// The body a request declared in `x-acs-content-sha256`, whose signature has been checked from the
/// head alone: the body that then arrives must hash to it ([`DeclaredBody::check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the body is authentic only once DeclaredBody::check has passed"]
pub struct DeclaredBody {
    sha256_hex: String,
}

impl DeclaredBody {
    /// The declared lowercase hex SHA-256.
    pub fn sha256_hex(&self) -> &str {
        &self.sha256_hex
    }

    /// Whether `body` is the body that was signed.
    pub fn check(&self, body: &[u8]) -> Result<(), AuthError> {
        let computed = crate::sha256_hex(body);
        if computed == self.sha256_hex {
            Ok(())
        } else {
            Err(AuthError::ContentSha256Mismatch { declared: self.sha256_hex.clone(), computed })
        }
    }
}

/// Checks a request's signature before its body is read, trusting `x-acs-content-sha256` for the
/// body's hash (the signature covers that header), so that a server spends nothing on a body sent
/// by someone who cannot sign. `request.payload` is ignored.
///
/// Everything [`verify`] checks is checked, except that the body matches: the caller reads the
/// body (bounded) and passes it to [`DeclaredBody::check`], and must refuse the request when that
/// fails. The declared hash must be 64 lowercase hex digits.
pub fn verify_head(
    request: &Request<'_>,
    credential: &Credential,
    access_key_secret: &str,
) -> Result<DeclaredBody, AuthError> {
    check_signed_headers(request, credential)?;
    let declared = header_value(request.headers, "x-acs-content-sha256").unwrap_or_default();
    if declared.len() != 64 || !declared.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(AuthError::MalformedContentSha256(declared.chars().take(80).collect()));
    }
    let head = Request { payload: Payload::Sha256Hex(&declared), ..*request };
    check_signature(&head, credential, access_key_secret)?;
    Ok(DeclaredBody { sha256_hex: declared })
}

/// [`verify_head`], then requires `x-acs-date` to be within `max_skew_secs` of `now_secs`.
pub fn verify_head_at(
    request: &Request<'_>,
    credential: &Credential,
    access_key_secret: &str,
    now_secs: i64,
    max_skew_secs: u64,
) -> Result<DeclaredBody, AuthError> {
    let declared = verify_head(request, credential, access_key_secret)?;
    check_skew(request_time(request)?, now_secs, max_skew_secs)?;
    Ok(declared)
}

/// What must be signed is signed, and what is signed is present.
fn check_signed_headers(request: &Request<'_>, credential: &Credential) -> Result<(), AuthError> {
    for name in REQUIRED_SIGNED_HEADERS {
        if !credential.is_signed(name) {
            return Err(AuthError::MissingSignedHeader(name.to_owned()));
        }
    }
    for name in &credential.signed_headers {
        if header_value(request.headers, name).is_none() {
            return Err(AuthError::MissingSignedHeader(name.clone()));
        }
    }
    for (name, _) in request.headers {
        if is_signable_header(name) && !credential.is_signed(name.trim()) {
            return Err(AuthError::MissingSignedHeader(name.trim().to_ascii_lowercase()));
        }
    }
    Ok(())
}

/// Recomputes the signature over `request` (its payload hash included) and compares in constant time.
fn check_signature(request: &Request<'_>, credential: &Credential, access_key_secret: &str) -> Result<(), AuthError> {
    let canonical = canonical_request(request, &credential.signed_headers);
    let expected = hmac_sha256(access_key_secret.as_bytes(), string_to_sign(&canonical).as_bytes());
    let mut presented = [0u8; 32];
    let decoded = hex::decode_to_slice(&credential.signature, &mut presented).is_ok();
    // An empty secret is a misconfigured key, and honouring it would let anyone who knows the
    // AccessKey ID sign requests.
    if decoded && !access_key_secret.is_empty() && bool::from(presented.ct_eq(&expected)) {
        Ok(())
    } else {
        Err(AuthError::SignatureDoesNotMatch { canonical_request: canonical })
    }
}

/// [`verify`], then requires `x-acs-date` to be within `max_skew_secs` of `now_secs`.
///
/// The time is judged after the signature so that only authentic requests learn about the
/// server's clock.
pub fn verify_at(
    request: &Request<'_>,
    credential: &Credential,
    access_key_secret: &str,
    now_secs: i64,
    max_skew_secs: u64,
) -> Result<(), AuthError> {
    verify(request, credential, access_key_secret)?;
    check_skew(request_time(request)?, now_secs, max_skew_secs)
}

/// The request's `x-acs-date` in seconds since the Unix epoch.
pub fn request_time(request: &Request<'_>) -> Result<i64, AuthError> {
    let date = request.header("x-acs-date").ok_or_else(|| AuthError::MissingSignedHeader("x-acs-date".into()))?;
    parse_acs_date(&date)
}
