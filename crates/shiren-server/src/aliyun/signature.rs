//! Who signed an Alibaba Cloud call, by either of the two schemes its SDKs use:
//!
//! - V3, `Authorization: ACS3-HMAC-SHA256 ...` (the Tea SDKs for Python, Node.js, Java, Go):
//!   verified by `shiren_auth` over the headers the request says it signed, with the body hashed
//!   as it arrived; the nonce is `x-acs-signature-nonce`.
//! - RPC, `Signature` among the parameters (`aliyun-python-sdk-core` and its kin): HMAC-SHA1
//!   with the key `secret + "&"` over `METHOD&%2F&` and the percent-encoded, sorted parameters
//!   of the query and the form body together; the nonce is `SignatureNonce`.
//!
//! Both end in the same admission as the native API (key enabled, nonce new, read-only keys
//! read only), so a key, a replay or a disabled key means the same on every surface.

use axum::http::request::Parts;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use shiren_auth::{DeclaredBody, percent_encode};
use shiren_store::AccessKey;
use shiren_verify::{Error, ErrorCode};
use subtle::ConstantTimeEq;

use super::params::Params;
use crate::App;
use crate::gateway::{VendorCall, query_has};
use crate::http::signature::{SignedHead, key_and_secret, verify_acs3_head};

/// The signer's key, and the nonce and time to admit it with.
pub struct Signed {
    pub key: AccessKey,
    pub nonce: String,
    pub request_time: i64,
}

/// What the head alone established: the whole V3 signature (the body must then hash to what was
/// declared), or RPC's key, clock and algorithm (the parameters are checked with the body).
pub enum Head {
    V3 { signed: Signed, declared: DeclaredBody },
    Rpc { signed: Signed, secret: String },
}

/// A refusal and the key it claimed (for the audit log).
pub type Refusal = (Error, Option<String>);

impl Head {
    pub fn key_id(&self) -> &str {
        match self {
            Head::V3 { signed, .. } | Head::Rpc { signed, .. } => &signed.key.id,
        }
    }

    pub fn is_rpc(&self) -> bool {
        matches!(self, Head::Rpc { .. })
    }
}

fn unsigned(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::MissingAuthorization, message)
}

/// Judges what the head carries, before any body is read.
pub async fn check_head(app: &App, parts: &Parts) -> Result<Head, Refusal> {
    let raw_query = parts.uri.query().unwrap_or("");
    let authorization = crate::gateway::header(&parts.headers, "authorization").unwrap_or("");
    if authorization.trim_start().starts_with("ACS3-") {
        v3_head(app, parts).await
    } else if query_has(raw_query, "Signature") {
        rpc_head(app, raw_query).await
    } else {
        Err((
            unsigned("the request carries neither an ACS3-HMAC-SHA256 Authorization nor an RPC Signature in its query"),
            None,
        ))
    }
}

/// Checks the rest with the body: its hash (V3) or the signature over every parameter (RPC).
pub fn check_body(head: Head, call: &VendorCall, params: &Params) -> Result<Signed, Refusal> {
    match head {
        Head::V3 { signed, declared } => {
            let claimed = Some(signed.key.id.clone());
            declared.check(&call.body).map_err(|e| (e.into(), claimed))?;
            Ok(signed)
        }
        Head::Rpc { signed, secret } => {
            let expected = rpc_signature(&secret, &rpc_string_to_sign(call.method.as_str(), params));
            let presented = params.get("Signature").unwrap_or_default();
            if !bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
                let error = Error::new(
                    ErrorCode::SignatureDoesNotMatch,
                    "the signature does not match: sign METHOD&%2F& and the encoded, sorted query and form parameters with HMAC-SHA1 under secret&",
                );
                return Err((error, Some(signed.key.id)));
            }
            Ok(signed)
        }
    }
}

async fn v3_head(app: &App, parts: &Parts) -> Result<Head, Refusal> {
    let SignedHead { key, declared, nonce, request_time } = verify_acs3_head(app, parts).await?;
    Ok(Head::V3 { signed: Signed { key, nonce, request_time }, declared })
}

/// RPC's signature parameters, which its SDKs put in the query.
async fn rpc_head(app: &App, raw_query: &str) -> Result<Head, Refusal> {
    let get =
        |name: &str| form_urlencoded::parse(raw_query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let id = get("AccessKeyId").unwrap_or_default();
    if id.is_empty() {
        return Err((unsigned("AccessKeyId is missing from the query"), None));
    }
    let claimed = Some(id.clone());
    let fail = |e: Error| (e, claimed.clone());
    if get("SignatureMethod").as_deref() != Some("HMAC-SHA1") || get("SignatureVersion").as_deref() != Some("1.0") {
        return Err(fail(Error::new(
            ErrorCode::UnsupportedSignatureAlgorithm,
            "RPC signatures must use SignatureMethod HMAC-SHA1 and SignatureVersion 1.0",
        )));
    }
    let timestamp = get("Timestamp").unwrap_or_default();
    let request_time = shiren_auth::parse_acs_date(&timestamp).map_err(|e| fail(e.into()))?;
    shiren_auth::check_skew(request_time, shiren_auth::unix_now(), app.limits.signature_skew_secs)
        .map_err(|e| fail(e.into()))?;
    let (key, secret) = key_and_secret(app, &id).await.map_err(fail)?;
    let nonce = get("SignatureNonce").unwrap_or_default();
    Ok(Head::Rpc { signed: Signed { key, nonce, request_time }, secret })
}

/// The RPC string to sign: `METHOD&%2F&` and the encoded, sorted `key=value` pairs, encoded
/// once more (RFC 3986 unreserved characters kept, as Alibaba's signers do).
pub fn rpc_string_to_sign(method: &str, params: &Params) -> String {
    let mut pairs: Vec<(String, String)> =
        params.iter().filter(|(k, _)| *k != "Signature").map(|(k, v)| (percent_encode(k), percent_encode(v))).collect();
    pairs.sort();
    let joined: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{method}&%2F&{}", percent_encode(joined.join("&")))
}

/// Base64 HMAC-SHA1 of `text` under `secret + "&"`.
pub fn rpc_signature(secret: &str, text: &str) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(format!("{secret}&").as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Alibaba Cloud's RPC signature documentation (DescribeRegions), recomputed.
    #[test]
    fn rpc_signatures_follow_the_documented_example() {
        let mut params = Params::default();
        for (k, v) in [
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ] {
            params.insert(k, v).unwrap();
        }
        let text = rpc_string_to_sign("GET", &params);
        assert_eq!(
            text,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1\
             %26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z\
             %26Version%3D2014-05-26"
        );
        assert_eq!(rpc_signature("testsecret", &text), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
    }
}
