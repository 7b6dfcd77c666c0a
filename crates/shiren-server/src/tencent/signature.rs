//! Who signed a Tencent Cloud call, by either of the schemes its SDKs use:
//!
//! - TC3-HMAC-SHA256 (`Authorization` header): a canonical request of method, path, query, the
//!   signed headers (`content-type` and `host` at least) and the body's SHA-256; signed with a
//!   key derived from the secret, the date, the service (`faceid`) and `tc3_request`. The
//!   scheme has no nonce: the signature itself is remembered as one for every action that
//!   changes something, so a captured call cannot be replayed inside the time window.
//! - The older form signing (`Signature`, `SecretId`, `Nonce`, `Timestamp` among the form's
//!   parameters): base64 HMAC-SHA256 or HMAC-SHA1 over `POST` + host + path + `?` and the
//!   sorted `key=value` pairs, unencoded.
//!
//! Both end in the same admission as the native API.

use axum::http::request::Parts;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use shiren_store::AccessKey;
use shiren_verify::{Error, ErrorCode};
use subtle::ConstantTimeEq;

use crate::App;
use crate::gateway::{VendorCall, header};
use crate::http::signature::key_and_secret;

/// The service name in TC3 credential scopes.
const SERVICE: &str = "faceid";

pub struct Signed {
    pub key: AccessKey,
    pub nonce: String,
    pub request_time: i64,
}

/// A refusal and the key it claimed (for the audit log).
pub type Refusal = (Error, Option<String>);

fn hmac_sha256(key: &[u8], text: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(text);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha1(key: &[u8], text: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(text);
    mac.finalize().into_bytes().to_vec()
}

fn malformed(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidAuthorization, message)
}

fn check_time(app: &App, timestamp: &str) -> Result<i64, Error> {
    let time: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Error::new(ErrorCode::InvalidTimestamp, "the timestamp must be Unix seconds"))?;
    shiren_auth::check_skew(time, shiren_auth::unix_now(), app.limits.signature_skew_secs)?;
    Ok(time)
}

/// The parts of `TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request, SignedHeaders=a;b, Signature=HEX`.
struct Tc3Authorization {
    secret_id: String,
    date: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

fn parse_tc3(value: &str) -> Result<Tc3Authorization, Error> {
    let rest = value.trim().strip_prefix("TC3-HMAC-SHA256").ok_or_else(|| {
        Error::new(ErrorCode::UnsupportedSignatureAlgorithm, "only TC3-HMAC-SHA256 is accepted in Authorization")
    })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for field in rest.split(',') {
        let Some((name, val)) = field.trim().split_once('=') else {
            return Err(malformed("expected Credential=..., SignedHeaders=..., Signature=..."));
        };
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(malformed("unknown field in Authorization")),
        };
        if slot.replace(val.trim().to_string()).is_some() {
            return Err(malformed("a field appears more than once in Authorization"));
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(malformed("Credential, SignedHeaders and Signature are all required"));
    };
    let parts: Vec<&str> = credential.split('/').collect();
    let [secret_id, date, service, "tc3_request"] = parts.as_slice() else {
        return Err(malformed("Credential must be SecretId/YYYY-MM-DD/faceid/tc3_request"));
    };
    let signed_headers: Vec<String> = signed.split(';').map(|h| h.trim().to_ascii_lowercase()).collect();
    if !signed_headers.iter().any(|h| h == "host") || !signed_headers.iter().any(|h| h == "content-type") {
        return Err(Error::new(ErrorCode::MissingSignedHeader, "content-type and host must be signed"));
    }
    Ok(Tc3Authorization {
        secret_id: secret_id.to_string(),
        date: date.to_string(),
        service: service.to_string(),
        signed_headers,
        signature,
    })
}

/// What a TC3 signature covers.
pub struct Tc3Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// `name:value\n` for each signed header, in the signed order.
    pub canonical_headers: &'a str,
    /// The signed header names, `;`-separated.
    pub signed_headers: &'a str,
    pub body: &'a [u8],
    /// `X-TC-Timestamp`, as sent.
    pub timestamp: &'a str,
    /// The credential scope's date, `YYYY-MM-DD`.
    pub date: &'a str,
}

/// The TC3 signature of a request, hex.
pub fn tc3_signature(secret: &str, r: &Tc3Request<'_>) -> String {
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        r.method,
        r.path,
        r.query,
        r.canonical_headers,
        r.signed_headers,
        hex::encode(Sha256::digest(r.body))
    );
    let scope = format!("{}/{SERVICE}/tc3_request", r.date);
    let to_sign =
        format!("TC3-HMAC-SHA256\n{}\n{scope}\n{}", r.timestamp, hex::encode(Sha256::digest(canonical.as_bytes())));
    let k_date = hmac_sha256(format!("TC3{secret}").as_bytes(), r.date.as_bytes());
    let k_service = hmac_sha256(&k_date, SERVICE.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"tc3_request");
    hex::encode(hmac_sha256(&k_signing, to_sign.as_bytes()))
}

/// The UTC date (`YYYY-MM-DD`) of a Unix time.
fn utc_date(secs: i64) -> String {
    shiren_auth::format_acs_date(secs).chars().take(10).collect()
}

/// What the head of a TC3 call established: its authorization, key and time. The signature
/// itself covers the body's hash, so it is checked once the body is read.
pub struct Tc3Head {
    auth: Tc3Authorization,
    key: AccessKey,
    secret: String,
    time: i64,
    timestamp: String,
}

impl Tc3Head {
    pub fn key_id(&self) -> &str {
        &self.key.id
    }
}

pub async fn tc3_head(app: &App, parts: &Parts) -> Result<Tc3Head, Refusal> {
    let authorization = header(&parts.headers, "authorization").unwrap_or("");
    if authorization.is_empty() {
        return Err((Error::of(ErrorCode::MissingAuthorization), None));
    }
    let auth = parse_tc3(authorization).map_err(|e| (e, None))?;
    let claimed = Some(auth.secret_id.clone());
    let fail = |e: Error| (e, claimed.clone());
    let timestamp = header(&parts.headers, "x-tc-timestamp").unwrap_or("").trim().to_string();
    let time = check_time(app, &timestamp).map_err(fail)?;
    if auth.service != SERVICE || auth.date != utc_date(time) {
        return Err(fail(malformed("the credential scope must be the request's UTC date and faceid")));
    }
    let (key, secret) = key_and_secret(app, &auth.secret_id).await.map_err(fail)?;
    Ok(Tc3Head { auth, key, secret, time, timestamp })
}

/// Checks the TC3 signature over the call as it arrived (headers, query and raw body).
pub fn tc3_body(head: Tc3Head, call: &VendorCall) -> Result<Signed, Refusal> {
    let Tc3Head { auth, key, secret, time, timestamp } = head;
    let claimed = Some(key.id.clone());
    let fail = |e: Error| (e, claimed.clone());
    // Tencent's rule: each signed header as `name:value`, both lowercase and trimmed.
    let mut canonical_headers = String::new();
    for name in &auth.signed_headers {
        let values: Vec<&str> =
            call.headers.get_all(name.as_str()).iter().filter_map(|v| v.to_str().ok()).map(str::trim).collect();
        if values.len() != 1 {
            return Err(fail(Error::new(
                ErrorCode::MissingSignedHeader,
                format!("signed header {name} must appear once"),
            )));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values[0].to_ascii_lowercase()));
    }
    let signed_headers = auth.signed_headers.join(";");
    let request = Tc3Request {
        method: call.method.as_str(),
        path: &call.raw_path,
        query: &call.raw_query,
        canonical_headers: &canonical_headers,
        signed_headers: &signed_headers,
        body: &call.body,
        timestamp: &timestamp,
        date: &auth.date,
    };
    let expected = tc3_signature(&secret, &request);
    if !bool::from(expected.as_bytes().ct_eq(auth.signature.to_ascii_lowercase().as_bytes())) {
        return Err(fail(Error::new(ErrorCode::SignatureDoesNotMatch, "the signature does not match the request")));
    }
    Ok(Signed { key, nonce: format!("tc3:{expected}"), request_time: time })
}

/// The older form signing: `params` are the form's decoded pairs.
pub async fn verify_form(app: &App, call: &VendorCall, params: &[(String, String)]) -> Result<Signed, Refusal> {
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let id = get("SecretId").unwrap_or_default().to_string();
    let claimed = Some(id.clone());
    let fail = |e: Error| (e, claimed.clone());
    let time = check_time(app, get("Timestamp").unwrap_or_default()).map_err(fail)?;
    let sha256 = match get("SignatureMethod").unwrap_or("HmacSHA1") {
        "HmacSHA256" => true,
        "HmacSHA1" => false,
        _ => {
            return Err(fail(Error::new(
                ErrorCode::UnsupportedSignatureAlgorithm,
                "SignatureMethod must be HmacSHA256 or HmacSHA1",
            )));
        }
    };
    // The string signed joins the pairs unencoded, so a `&` inside a value could move a pair
    // into its neighbour's value (a "fresh" nonce for an old signature); neither is allowed.
    if params.iter().any(|(k, v)| k.contains(['&', '=']) || v.contains('&')) {
        return Err(fail(Error::new(
            ErrorCode::InvalidParameter,
            "with the form signing no name or value may contain '&' (or a name '='): use TC3-HMAC-SHA256",
        )));
    }
    let nonce = get("Nonce").unwrap_or_default();
    if nonce.is_empty() || nonce.len() > 20 || !nonce.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail(Error::new(ErrorCode::InvalidSignatureNonce, "Nonce must be a positive integer")));
    }
    let nonce = format!("form:{nonce}");
    let (key, secret) = key_and_secret(app, &id).await.map_err(fail)?;
    let mut pairs: Vec<(String, &str)> =
        params.iter().filter(|(k, _)| k != "Signature").map(|(k, v)| (k.replace('_', "."), v.as_str())).collect();
    pairs.sort();
    let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let host = call.header("host").unwrap_or_default();
    let text = format!("{}{host}{}?{}", call.method, call.raw_path, joined.join("&"));
    let mac = if sha256 {
        hmac_sha256(secret.as_bytes(), text.as_bytes())
    } else {
        hmac_sha1(secret.as_bytes(), text.as_bytes())
    };
    let expected = base64::engine::general_purpose::STANDARD.encode(mac);
    let presented = get("Signature").unwrap_or_default();
    if !bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
        return Err(fail(Error::new(ErrorCode::SignatureDoesNotMatch, "the signature does not match the request")));
    }
    Ok(Signed { key, nonce, request_time: time })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call the official Python SDK (tencentcloud-sdk-python 3.1) signed, captured as it
    /// arrived: secret `SKEY`, IdCardVerification, and the signature the SDK put in its header.
    #[test]
    fn tc3_matches_an_independent_computation() {
        let request = Tc3Request {
            method: "POST",
            path: "/",
            query: "",
            canonical_headers: "content-type:application/json\nhost:127.0.0.1:18999\n",
            signed_headers: "content-type;host",
            body: br#"{"IdCard": "110101199003070000", "Name": "\u5f20\u4e09"}"#,
            timestamp: "1796318571",
            date: "2026-12-03",
        };
        let signature = tc3_signature("SKEY", &request);
        assert_eq!(signature, "113867e1f8140d9d11bf90df3bc4d482618737e39b3da0e5ef59f11d58ccdd82");
    }
}
