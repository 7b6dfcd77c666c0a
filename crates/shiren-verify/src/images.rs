//! How verification requests carry images: base64 inside JSON, a file of a multipart form
//! (which the surface attaches), or a URL when the scene allows it. Exactly one source per
//! image. URL fetches are bounded in time and size, follow no redirects, use no proxy, and by
//! default reach only globally routable addresses (the resolved address is pinned, so DNS cannot
//! be switched between the check and the fetch).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt;
use serde::Deserialize;

use crate::config::ImageLimits;
use crate::error::{Error, ErrorCode};
use crate::scenes::Scene;

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
    upload: Option<Vec<u8>>,
}

/// Requests that carry images, so that a surface can attach uploaded files to them by name.
pub trait HasImages {
    fn image_fields(&mut self) -> Vec<(&'static str, &mut ImageSource)>;
}

fn invalid(code: ErrorCode, message: impl Into<String>) -> Error {
    Error::new(code, message)
}

impl ImageSource {
    /// An image given as base64 text.
    pub fn from_base64(text: String) -> Self {
        Self { base64: Some(text), ..Self::default() }
    }

    /// An image to fetch from an http(s) URL (if the scene allows image URLs).
    pub fn from_url(url: String) -> Self {
        Self { url: Some(url), ..Self::default() }
    }

    /// An image the service already holds (a stored photo of an earlier verification).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self { upload: Some(bytes), ..Self::default() }
    }

    /// An image uploaded as a file (a multipart part).
    pub fn attach_upload(&mut self, bytes: Vec<u8>) {
        self.upload = Some(bytes);
    }

    /// Whether any source was given (an optional image left out is not given).
    pub fn is_given(&self) -> bool {
        self.base64.is_some() || self.url.is_some() || self.upload.is_some()
    }

    /// The image bytes, from whichever source was given.
    pub async fn load(&self, field: &str, limits: &ImageLimits, scene: &Scene) -> Result<Vec<u8>, Error> {
        let max = limits.max_image_bytes;
        let too_large = |n: usize| {
            Error::new(ErrorCode::ImageBytesTooLarge, format!("{field}: the image is {n} bytes; the limit is {max}"))
        };
        let given = [self.base64.is_some(), self.url.is_some(), self.upload.is_some()].iter().filter(|g| **g).count();
        if given == 0 {
            return Err(invalid(
                ErrorCode::MissingImage,
                format!("{field}: give the image as base64, url or a file upload"),
            ));
        }
        if given > 1 {
            return Err(invalid(
                ErrorCode::AmbiguousImage,
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
                .map_err(|e| invalid(ErrorCode::InvalidBase64, format!("{field}: not valid base64: {e}")))?;
            if bytes.len() > max {
                return Err(too_large(bytes.len()));
            }
            return Ok(bytes);
        }
        let url = self.url.as_deref().unwrap_or_default();
        if !scene.settings.allow_image_urls {
            return Err(Error::new(
                ErrorCode::ImageUrlNotAllowed,
                format!("{field}: scene {} does not accept image URLs", scene.id),
            ));
        }
        fetch(url, field, limits).await
    }
}

/// Whether a URL fetch may reach `ip`: only globally routable unicast addresses. An allow-list,
/// because the ranges that reach this machine, its networks or its cloud's metadata keep growing
/// (NAT64, 6to4, IPv4-compatible and -mapped IPv6, site-local, discard-only, benchmarking, ...),
/// and a deny-list that misses one is an SSRF. IPv4 addresses embedded in IPv6 forms are judged
/// as IPv4; transition prefixes whose embedded address cannot be trusted are refused outright.
pub fn is_public_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // Global unicast is 2000::/3; everything else (::/8 with the IPv4-compatible and
            // NAT64 forms, fc00::/7, fe80::/10, fec0::/10, ff00::/8, 100::/64) is not.
            let global = (s[0] & 0xe000) == 0x2000;
            let special = (s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8)) // 2001::/23 (Teredo, ORCHID, benchmarking), documentation
                || s[0] == 0x2002 // 6to4: relays to an arbitrary embedded IPv4 address
                || (s[0] & 0xfff0) == 0x3ff0; // 3fff::/20, documentation
            global && !special
        }
    }
}

fn is_public_v4(ip: std::net::Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network"
        || a == 10
        || a == 127
        || (a == 100 && (b & 0xc0) == 64) // shared address space (carrier NAT)
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (b & 0xf0) == 16)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (b & 0xfe) == 18) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224) // multicast, reserved (240.0.0.0/4) and broadcast
}

/// An HTTP client for outbound calls to addresses chosen by others (image URLs, the authority
/// gateway, callbacks): no proxy (a proxy would resolve the name again, defeating the pinned
/// address check, and `HTTP(S)_PROXY` in the environment must not silently apply), no redirects.
pub fn outbound_client(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).timeout(timeout)
}

/// Why an outbound URL is not called.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Not an http(s) URL with a host that resolves.
    Invalid(String),
    /// It resolves to an address outside the allow-list.
    Forbidden,
}

/// A client for `url` pinned to the address its host resolves to now, after checking that every
/// address it resolves to is globally routable (unless `allow_private`): the check and the
/// connection then see the same address, so DNS cannot be switched in between.
pub(crate) async fn pinned_client(
    url: &str,
    timeout: Duration,
    allow_private: bool,
) -> Result<(reqwest::Client, reqwest::Url), Refusal> {
    let parsed = reqwest::Url::parse(url).map_err(|e| Refusal::Invalid(format!("not a valid URL: {e}")))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(Refusal::Invalid("only http and https URLs are accepted".into()));
    }
    let host = parsed.host_str().ok_or_else(|| Refusal::Invalid("the URL has no host".into()))?.to_string();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let lookup_host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let addrs: Vec<SocketAddr> = tokio::time::timeout(timeout, tokio::net::lookup_host((lookup_host.as_str(), port)))
        .await
        .map_err(|_| Refusal::Invalid("resolving the host timed out".into()))?
        .map_err(|e| Refusal::Invalid(format!("cannot resolve host: {e}")))?
        .collect();
    let addr = addrs.first().copied().ok_or_else(|| Refusal::Invalid("the host has no address".into()))?;
    if !allow_private && !addrs.iter().all(|a| is_public_unicast(a.ip())) {
        return Err(Refusal::Forbidden);
    }
    let client = outbound_client(timeout)
        .resolve(&lookup_host, addr)
        .build()
        .map_err(|e| Refusal::Invalid(format!("cannot build a client: {e}")))?;
    Ok((client, parsed))
}

async fn fetch(url: &str, field: &str, limits: &ImageLimits) -> Result<Vec<u8>, Error> {
    let (client, parsed) =
        pinned_client(url, limits.url_fetch_timeout, limits.url_fetch_allow_private).await.map_err(|r| match r {
            Refusal::Invalid(m) => invalid(ErrorCode::InvalidImageUrl, format!("{field}: {m}")),
            Refusal::Forbidden => Error::new(
                ErrorCode::ImageUrlForbidden,
                format!("{field}: the URL resolves to a private or local address, which is not fetched"),
            ),
        })?;
    let response =
        client.get(parsed).send().await.map_err(|e| {
            Error::new(ErrorCode::ImageUrlUnreachable, format!("{field}: fetching the URL failed: {e}"))
        })?;
    if !response.status().is_success() {
        return Err(Error::new(
            ErrorCode::ImageUrlUnreachable,
            format!("{field}: the URL answered {}", response.status()),
        ));
    }
    let max = limits.max_image_bytes;
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| Error::new(ErrorCode::ImageUrlUnreachable, format!("{field}: reading the URL failed: {e}")))?;
        if body.len() + chunk.len() > max {
            return Err(Error::new(
                ErrorCode::ImageBytesTooLarge,
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
    fn only_global_unicast_addresses_are_fetched() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.0.170",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b::808:808",
            "2002:7f00:1::",
            "2002:0808:0808::1",
            "2001::1",
            "2001:db8::1",
        ] {
            assert!(!is_public_unicast(ip.parse().unwrap()), "{ip} must not be fetched");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "223.5.5.5", "::ffff:8.8.8.8", "2001:4860:4860::8888", "2400:3200::1"] {
            assert!(is_public_unicast(ip.parse().unwrap()), "{ip} is public");
        }
    }
}
