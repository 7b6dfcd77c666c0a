//! The HTTP gateway provider. Shiren POSTs JSON
//! `{"name", "id_number", "phone"?, "bank_card"?, "want_photo"}` (with `Authorization: Bearer`
//! when a token is configured) and expects `{"found": bool, "name_match": bool,
//! "phone_match": bool|null, "bank_card_match": bool|null, "photo_base64": string|null}`.
//! A timeout, a connection failure, a non-2xx status (redirects are not followed), an answer
//! over 8 MB or a malformed one all mean "authority unavailable". No proxy is used. What the
//! caller is told is one of a few fixed sentences: the underlying errors name the gateway's URL
//! (which may carry credentials) and quote its answer, so they go to the log only.

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{AuthorityAnswer, AuthorityError, AuthorityQuery, Reference};

/// The largest gateway answer read: a reference photo of at most 6 MB in base64, and the fields.
const MAX_ANSWER_BYTES: usize = 8 << 20;

pub struct Gateway {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
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

impl Gateway {
    pub fn new(url: &str, token: Option<String>, timeout_ms: u64) -> Result<Self, AuthorityError> {
        let client = crate::images::outbound_client(Duration::from_millis(timeout_ms))
            .build()
            .map_err(|e| AuthorityError::Internal(format!("HTTP client: {e}")))?;
        Ok(Self { client, url: url.to_string(), token })
    }

    pub async fn lookup(&self, query: &AuthorityQuery) -> Result<AuthorityAnswer, AuthorityError> {
        let body = GatewayRequest {
            name: &query.name,
            id_number: &query.id_number,
            phone: query.phone.as_deref(),
            bank_card: query.bank_card.as_deref(),
            want_photo: query.want_reference,
        };
        let mut request = self.client.post(&self.url).json(&body);
        if let Some(t) = &self.token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.map_err(|e| {
            let reason =
                if e.is_timeout() { "the gateway did not answer in time" } else { "the gateway cannot be reached" };
            unavailable(reason, &e)
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(unavailable("the gateway answered with an error status", &status));
        }
        let bytes = read_bounded(response, MAX_ANSWER_BYTES).await?;
        // serde's messages can quote the answer's values (names, numbers): only where it failed
        // is logged.
        let answer: GatewayAnswer = serde_json::from_slice(&bytes).map_err(|e| {
            let place = format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column());
            unavailable("the gateway's answer is malformed", &place)
        })?;
        if !answer.found {
            return Ok(AuthorityAnswer::NotFound);
        }
        let reference = match answer.photo_base64 {
            Some(b64) if query.want_reference => Some(Reference::Photo(
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| unavailable("the gateway's photo is not base64", &e))?,
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

/// Reads a gateway answer, refusing one larger than `max` as it streams in.
async fn read_bounded(response: reqwest::Response, max: usize) -> Result<Vec<u8>, AuthorityError> {
    use futures_util::StreamExt;
    let too_large = || unavailable("the gateway's answer is too large", &format!("more than {max} bytes"));
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| unavailable("the gateway's answer was cut off", &e))?;
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// "Unavailable" with a fixed reason for the caller, the detail logged.
fn unavailable(reason: &'static str, detail: &dyn std::fmt::Display) -> AuthorityError {
    tracing::warn!(%detail, "{reason}");
    AuthorityError::Unavailable(reason.into())
}
