//! The authority data source (权威数据源) behind one interface, with two providers:
//!
//! - `local`: a registry imported with `shiren authority import`. It keeps no names, numbers
//!   or photos: a keyed hash of the ID number is the key, a keyed hash of the name answers
//!   "does the name match", and the reference is an encrypted face template.
//! - `http`: an external gateway. Shiren POSTs JSON
//!   `{"name", "id_number", "phone"?, "bank_card"?, "want_photo"}` (with `Authorization: Bearer`
//!   when a token is configured) and expects `{"found": bool, "name_match": bool,
//!   "phone_match": bool|null, "bank_card_match": bool|null, "photo_base64": string|null}`.
//!   A timeout, a connection failure, a non-2xx status (redirects are not followed), an answer
//!   over 8 MB or a malformed one all mean "authority unavailable". No proxy is used.

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use shiren_store::{Keyring, Purpose, Store};

use crate::config::AuthorityConfig;

/// What the caller claims.
#[derive(Debug, Clone)]
pub struct AuthorityQuery {
    pub name: String,
    pub id_number: String,
    pub phone: Option<String>,
    pub bank_card: Option<String>,
    pub want_reference: bool,
}

/// The authority's reference face.
#[derive(Debug, Clone)]
pub enum Reference {
    /// A template computed at import time.
    Template(Vec<f32>),
    /// A photo the caller must embed.
    Photo(Vec<u8>),
}

#[derive(Debug, Clone)]
pub enum AuthorityAnswer {
    NotFound,
    Found {
        name_matches: bool,
        phone_matches: Option<bool>,
        bank_card_matches: Option<bool>,
        reference: Option<Reference>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error("the authority data source is unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

pub enum Authority {
    Local { store: Store },
    Http { client: reqwest::Client, url: String, token: Option<String> },
}

#[derive(Serialize)]
struct GatewayRequest<'a> {
    name: &'a str,
    id_number: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bank_card: Option<&'a str>,
    want_photo: bool,
}

#[derive(Deserialize)]
struct GatewayAnswer {
    found: bool,
    #[serde(default)]
    name_match: bool,
    #[serde(default)]
    phone_match: Option<bool>,
    #[serde(default)]
    bank_card_match: Option<bool>,
    #[serde(default)]
    photo_base64: Option<String>,
}

/// Names compare after trimming and folding Latin case; CJK names are compared as written.
pub fn normalise_name(name: &str) -> String {
    name.trim().to_lowercase()
}

pub fn id_hash(keys: &Keyring, id_number: &str) -> String {
    keys.keyed_hash(Purpose::PersonalDataHash, &format!("id:{}", id_number.trim().to_ascii_uppercase()))
}

pub fn name_hash(keys: &Keyring, name: &str) -> String {
    keys.keyed_hash(Purpose::PersonalDataHash, &format!("name:{}", normalise_name(name)))
}

pub fn template_to_bytes(template: &[f32]) -> Vec<u8> {
    template.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn template_from_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    (bytes.len().is_multiple_of(4) && !bytes.is_empty())
        .then(|| bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// The largest gateway answer read: a reference photo of at most 6 MB in base64, and the fields.
const MAX_ANSWER_BYTES: usize = 8 << 20;

/// Reads a gateway answer, refusing one larger than `max` as it streams in.
async fn read_bounded(response: reqwest::Response, max: usize) -> Result<Vec<u8>, AuthorityError> {
    use futures_util::StreamExt;
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(AuthorityError::Unavailable(format!("gateway answer larger than {max} bytes")));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| AuthorityError::Unavailable(e.to_string()))?;
        if body.len() + chunk.len() > max {
            return Err(AuthorityError::Unavailable(format!("gateway answer larger than {max} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl Authority {
    pub fn from_config(config: &AuthorityConfig, store: Store) -> anyhow::Result<Self> {
        Ok(match config {
            AuthorityConfig::Local => Authority::Local { store },
            AuthorityConfig::Http { url, token, timeout_ms } => Authority::Http {
                client: crate::input::outbound_client(Duration::from_millis(*timeout_ms)).build()?,
                url: url.clone(),
                token: token.clone(),
            },
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Authority::Local { .. } => "local",
            Authority::Http { .. } => "http",
        }
    }

    /// Whether this provider can check phone numbers and bank cards.
    pub fn answers_phone_and_card(&self) -> bool {
        matches!(self, Authority::Http { .. })
    }

    pub async fn lookup(&self, query: &AuthorityQuery) -> Result<AuthorityAnswer, AuthorityError> {
        match self {
            Authority::Local { store } => {
                let keys = store.keys();
                let hash = id_hash(keys, &query.id_number);
                let entry = store.authority(&hash).await.map_err(|e| AuthorityError::Internal(e.to_string()))?;
                let Some(entry) = entry else { return Ok(AuthorityAnswer::NotFound) };
                let name_matches = keys.verify_keyed_hash(
                    Purpose::PersonalDataHash,
                    &format!("name:{}", normalise_name(&query.name)),
                    &entry.name_hash,
                );
                let reference = match (&entry.template_enc, query.want_reference) {
                    (Some(sealed), true) => {
                        let plain = keys
                            .open(Purpose::Templates, &format!("authority:{hash}"), sealed)
                            .map_err(|e| AuthorityError::Internal(e.to_string()))?;
                        let template = template_from_bytes(&plain)
                            .ok_or_else(|| AuthorityError::Internal("stored face template is malformed".into()))?;
                        Some(Reference::Template(template))
                    }
                    _ => None,
                };
                Ok(AuthorityAnswer::Found { name_matches, phone_matches: None, bank_card_matches: None, reference })
            }
            Authority::Http { client, url, token } => {
                let body = GatewayRequest {
                    name: &query.name,
                    id_number: &query.id_number,
                    phone: query.phone.as_deref(),
                    bank_card: query.bank_card.as_deref(),
                    want_photo: query.want_reference,
                };
                let mut request = client.post(url).json(&body);
                if let Some(t) = token {
                    request = request.bearer_auth(t);
                }
                let response = request.send().await.map_err(|e| {
                    AuthorityError::Unavailable(if e.is_timeout() { "timed out".into() } else { e.to_string() })
                })?;
                if !response.status().is_success() {
                    return Err(AuthorityError::Unavailable(format!("gateway answered {}", response.status())));
                }
                let bytes = read_bounded(response, MAX_ANSWER_BYTES).await?;
                let answer: GatewayAnswer = serde_json::from_slice(&bytes)
                    .map_err(|e| AuthorityError::Unavailable(format!("malformed gateway answer: {e}")))?;
                if !answer.found {
                    return Ok(AuthorityAnswer::NotFound);
                }
                let reference = match answer.photo_base64 {
                    Some(b64) if query.want_reference => Some(Reference::Photo(
                        base64::engine::general_purpose::STANDARD
                            .decode(b64.trim())
                            .map_err(|e| AuthorityError::Unavailable(format!("gateway photo is not base64: {e}")))?,
                    )),
                    _ => None,
                };
                Ok(AuthorityAnswer::Found {
                    name_matches: answer.name_match,
                    phone_matches: answer.phone_match,
                    bank_card_matches: answer.bank_card_match,
                    reference,
                })
            }
        }
    }
}
