//! How verification requests carry images: base64 inside JSON, files in a multipart form, or
//! a URL when the scene allows it. Exactly one source per image. URL fetches are bounded in
//! time and size, follow no redirects, and by default refuse private, loopback and link-local
//! addresses (the resolved address is pinned, so DNS cannot be switched between the check and
//! the fetch).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use base64::Engine as _;
use futures_util::StreamExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::auth::RequestId;
use crate::error::ApiError;
use crate::state::{AppState, Scene};

/// One image: `base64` or `url` (exactly one). In a multipart request, send the image as a
/// file part named after the field instead.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageSource {
    /// The image file, base64 (a `data:image/...;base64,` prefix is accepted).
    #[serde(default)]
    pub base64: Option<String>,
    /// An http(s) URL, if the scene allows image URLs.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(skip)]
    pub(crate) upload: Option<Vec<u8>>,
}

/// Request bodies that carry images, so multipart uploads can fill them in.
pub trait HasImages {
    fn image_fields(&mut self) -> Vec<(&'static str, &mut ImageSource)>;
}

/// A product request from JSON or multipart form data.
pub struct ProductInput<T>(pub T);

fn invalid(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

impl<T, S> FromRequest<S> for ProductInput<T>
where
    T: DeserializeOwned + HasImages,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let result = if content_type.starts_with("multipart/form-data") {
            from_multipart(req, state).await
        } else if content_type.starts_with("application/json") {
            let bytes = axum::body::Bytes::from_request(req, state)
                .await
                .map_err(|e| invalid("InvalidBody", format!("cannot read the body: {e}")))?;
            serde_json::from_slice::<T>(&bytes).map_err(|e| invalid("InvalidJson", format!("request body: {e}")))
        } else {
            Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedContentType",
                "send application/json or multipart/form-data",
            ))
        };
        result.map(ProductInput).map_err(|e| e.with_request_id(&request_id))
    }
}

async fn from_multipart<T, S>(req: Request, state: &S) -> Result<T, ApiError>
where
    T: DeserializeOwned + HasImages,
    S: Send + Sync,
{
    let mut form = Multipart::from_request(req, state)
        .await
        .map_err(|e| invalid("InvalidMultipart", format!("not a valid multipart form: {e}")))?;
    let mut text = serde_json::Map::new();
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    while let Some(field) = form.next_field().await.map_err(|e| invalid("InvalidMultipart", e.to_string()))? {
        let name = field.name().unwrap_or_default().to_string();
        if field.file_name().is_some() {
            let bytes = field.bytes().await.map_err(|e| invalid("InvalidMultipart", e.to_string()))?;
            files.insert(name, bytes.to_vec());
        } else {
            let value = field.text().await.map_err(|e| invalid("InvalidMultipart", e.to_string()))?;
            text.insert(name, serde_json::Value::String(value));
        }
    }
    let mut body: T = serde_json::from_value(serde_json::Value::Object(text))
        .map_err(|e| invalid("InvalidParameter", format!("form fields: {e}")))?;
    for (name, source) in body.image_fields() {
        if let Some(bytes) = files.remove(name) {
            source.upload = Some(bytes);
        }
    }
    if let Some(extra) = files.keys().next() {
        return Err(invalid("InvalidParameter", format!("unexpected file field {extra:?}")));
    }
    Ok(body)
}

impl ImageSource {
    /// The image bytes, from whichever source was given.
    pub async fn load(&self, field: &str, state: &AppState, scene: &Scene) -> Result<Vec<u8>, ApiError> {
        let max = state.config.max_image_bytes;
        let too_large = |n: usize| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "IMAGE_BYTES_TOO_LARGE",
                format!("{field}: the image is {n} bytes; the limit is {max}"),
            )
        };
        let given = [self.base64.is_some(), self.url.is_some(), self.upload.is_some()].iter().filter(|g| **g).count();
        if given == 0 {
            return Err(invalid("MissingImage", format!("{field}: give the image as base64, url or a file upload")));
        }
        if given > 1 {
            return Err(invalid(
                "AmbiguousImage",
                format!("{field}: give exactly one of base64, url or a file upload"),
            ));
        }
        if let Some(bytes) = &self.upload {
            if bytes.len() > max {
                return Err(too_large(bytes.len()));
            }
            return Ok(bytes.clone());
        }
        if let Some(text) = &self.base64 {
            let data = match text.split_once(";base64,") {
                Some((prefix, rest)) if prefix.starts_with("data:") => rest,
                _ => text.as_str(),
            };
            // Line breaks inside base64 are common (MIME style); copy only when there are some.
            let compact: std::borrow::Cow<'_, [u8]> = if data.bytes().any(|b| b.is_ascii_whitespace()) {
                data.bytes().filter(|b| !b.is_ascii_whitespace()).collect::<Vec<u8>>().into()
            } else {
                data.as_bytes().into()
            };
            // Refuse before decoding: base64 is 4 characters for 3 bytes.
            if compact.len() / 4 * 3 > max + 3 {
                return Err(too_large(compact.len() / 4 * 3));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&compact)
                .map_err(|e| invalid("InvalidBase64", format!("{field}: not valid base64: {e}")))?;
            if bytes.len() > max {
                return Err(too_large(bytes.len()));
            }
            return Ok(bytes);
        }
        let url = self.url.as_deref().unwrap_or_default();
        if !scene.settings.allow_image_urls {
            return Err(ApiError::forbidden(
                "ImageUrlNotAllowed",
                format!("{field}: scene {} does not accept image URLs", scene.id),
            ));
        }
        fetch(url, field, state).await
    }
}

/// Addresses a URL fetch must not reach unless configured: this machine, private networks,
/// link-local (cloud metadata) and other special ranges.
pub fn is_forbidden_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden_address(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

async fn fetch(url: &str, field: &str, state: &AppState) -> Result<Vec<u8>, ApiError> {
    let bad = |m: String| invalid("InvalidImageUrl", format!("{field}: {m}"));
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(format!("not a valid URL: {e}")))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(bad("only http and https URLs are accepted".into()));
    }
    let host = parsed.host_str().ok_or_else(|| bad("the URL has no host".into()))?.to_string();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let timeout = Duration::from_millis(state.config.url_fetch_timeout_ms);
    let lookup_host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let addrs: Vec<SocketAddr> = tokio::time::timeout(timeout, tokio::net::lookup_host((lookup_host.as_str(), port)))
        .await
        .map_err(|_| bad("resolving the host timed out".into()))?
        .map_err(|e| bad(format!("cannot resolve host: {e}")))?
        .collect();
    let addr = addrs.first().copied().ok_or_else(|| bad("the host has no address".into()))?;
    if !state.config.url_fetch_allow_private && addrs.iter().any(|a| is_forbidden_address(a.ip())) {
        return Err(ApiError::forbidden(
            "ImageUrlForbidden",
            format!("{field}: the URL resolves to a private or local address, which is not fetched"),
        ));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .resolve(&lookup_host, addr)
        .build()
        .map_err(ApiError::internal)?;
    let response = client.get(parsed).send().await.map_err(|e| {
        ApiError::new(StatusCode::BAD_GATEWAY, "ImageUrlUnreachable", format!("{field}: fetching the URL failed: {e}"))
    })?;
    if !response.status().is_success() {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "ImageUrlUnreachable",
            format!("{field}: the URL answered {}", response.status()),
        ));
    }
    let max = state.config.max_image_bytes;
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "ImageUrlUnreachable",
                format!("{field}: reading the URL failed: {e}"),
            )
        })?;
        if body.len() + chunk.len() > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "IMAGE_BYTES_TOO_LARGE",
                format!("{field}: the image at the URL is larger than {max} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
        ] {
            assert!(is_forbidden_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2001:4860:4860::8888", "1.1.1.1"] {
            assert!(!is_forbidden_address(ip.parse().unwrap()), "{ip}");
        }
    }
}
