//! The native API's authentication: every `/v1` request (but image links, which carry their own
//! signature) must be signed with ACS3-HMAC-SHA256 by an enabled access key; the verified caller
//! is handed to the handlers as a `shiren_verify::Caller`.
//!
//! The request is authenticated from its head before a byte of its body is read: the signature
//! covers method, path, query, the signed headers and the declared body hash, so a caller who
//! cannot sign costs the server a header parse and one key look-up, never a 12 MB buffer. Only
//! then is the body read, within a size limit, a time limit and a shared memory budget, and it
//! must hash to what was declared. The timestamp must be inside the skew window; a nonce is
//! accepted once per key (kept in the database, so every instance and a restart see it).
//! Read-only keys may only read (GET). Failed authentications are audited, at most a few per
//! source address a minute.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shiren_auth::{AuthError, Credential, DeclaredBody, Payload, QueryParams, percent_decode};
use shiren_store::{AuditEvent, Policy};
use shiren_verify::{Caller, Error, ErrorCode};

use super::request_id::{self, RequestIds};
use super::response::ApiError;
use crate::App;

/// The peer address of a request, when it came through the service's own listener.
pub fn source_of(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

fn refused(e: Error) -> (Error, Option<String>) {
    (e, None)
}

pub async fn require_signature(State(app): State<App>, req: Request, next: Next) -> Response {
    let RequestIds { id: request_id, client: client_request_id } = request_id::current();
    let source = source_of(req.extensions());
    let (mut parts, body) = req.into_parts();
    let authenticated = authenticate(&app, &parts).await;
    let (key_id, policy, declared) = match authenticated {
        Ok(v) => v,
        Err((e, claimed)) => {
            let failure = Failure { claimed_key: claimed.as_deref(), error: &e, source, action: None };
            audit_failure(
                &app,
                parts.method.as_str(),
                parts.uri.path(),
                &failure,
                &request_id,
                client_request_id.as_deref(),
            )
            .await;
            if worth_draining(&parts, &e) {
                discard_some(body).await;
            }
            return ApiError(e).into_response();
        }
    };
    let announced =
        content_length(&parts).or_else(|| body.size_hint().exact()).unwrap_or(app.limits.max_body_bytes as u64);
    let timeout = app.limits.body_timeout;
    let reservation = match reserve_upload(&app, announced).await {
        Ok(r) => r,
        Err(e) => return ApiError(e).into_response(),
    };
    let checked = read_body(body, app.limits.max_body_bytes, timeout)
        .await
        .and_then(|bytes| declared.check(&bytes).map(|()| bytes).map_err(Error::from));
    let bytes = match checked {
        Ok(b) => b,
        Err(e) => return ApiError(e).into_response(),
    };
    parts.extensions.insert(Caller { actor: key_id, policy, request_id, client_request_id, source });
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    drop(reservation);
    response
}

/// Reserves room for a body of `announced` bytes in the shared upload budget until the
/// returned permit is dropped (when the request's answer is ready). A request with no body
/// reserves nothing and does not queue: waiters are served in order, so it would otherwise wait
/// behind a large body that is waiting for room. Past `body_timeout` the answer is 503.
pub(crate) async fn reserve_upload(
    app: &App,
    announced: u64,
) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, Error> {
    reserve_in(app, &app.uploads, announced).await
}

/// Reserves room for `announced` bytes in `budget` (a semaphore counting KiB), as
/// [`reserve_upload`] does for the shared upload budget.
pub(crate) async fn reserve_in(
    app: &App,
    budget: &std::sync::Arc<tokio::sync::Semaphore>,
    announced: u64,
) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, Error> {
    let kib = u32::try_from(announced.div_ceil(1024)).unwrap_or(u32::MAX);
    if kib == 0 {
        return Ok(None);
    }
    match tokio::time::timeout(app.limits.body_timeout, budget.clone().acquire_many_owned(kib)).await {
        Ok(Ok(permit)) => Ok(Some(permit)),
        _ => Err(Error::busy(1, "too many request bodies are being received; retry later")),
    }
}

/// The most of a refused request's body worth reading so that its sender sees the answer.
const DRAIN_BYTES: u64 = 64 << 10;

/// Whether to read the rest of a refused request's body before answering (see [`discard_some`]):
/// not when the client waits for a `100 Continue` (it sends nothing until told, and the refusal
/// tells it), not when the body is too large for that to be cheap or is refused for its size.
fn worth_draining(parts: &Parts, error: &Error) -> bool {
    let expects_continue =
        parts.headers.get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    !expects_continue
        && error.code != ErrorCode::RequestTooLarge
        && content_length(parts).is_none_or(|n| n <= DRAIN_BYTES)
}

/// Reads and throws away a small refused request's body before the answer goes out. A client
/// still sending when the server closes gets a reset that can swallow the answer; most refused
/// requests are small, so this lets their senders read why. Nothing is kept, and the time and
/// amount are bounded, so a large or slow body costs no memory and little time.
async fn discard_some(body: Body) {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let _ = tokio::time::timeout(Duration::from_millis(200), async {
        let mut seen = 0;
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len() as u64;
            if seen > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
}

pub(crate) fn content_length(parts: &Parts) -> Option<u64> {
    parts.headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

pub(crate) async fn read_body(body: Body, max: usize, timeout: Duration) -> Result<axum::body::Bytes, Error> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, max)).await {
        Err(_) => Err(Error::new(
            ErrorCode::RequestTimeout,
            format!("the request body did not arrive within {} s", timeout.as_secs()),
        )),
        Ok(Err(e)) if is_length_limit(&e) => Err(too_large(max)),
        Ok(Err(e)) => Err(Error::new(ErrorCode::InvalidBody, format!("cannot read the body: {e}"))),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

fn too_large(max: usize) -> Error {
    Error::new(ErrorCode::RequestTooLarge, format!("the request body is larger than {max} bytes"))
}

/// POSTs a read-only key may make: searches, which change no gallery (they leave a record, as
/// every verification does).
const READ_ONLY_POSTS: &[&str] = &["/v1/search", "/v1/duplicates"];

/// A head signed with ACS3-HMAC-SHA256 and verified: its key, the body hash it declared, its
/// nonce and its time (both still to be admitted).
pub(crate) struct SignedHead {
    pub key: shiren_store::AccessKey,
    pub declared: DeclaredBody,
    pub nonce: String,
    pub request_time: i64,
}

/// Verifies what an ACS3-HMAC-SHA256 head carries: the query's form, the announced size, the
/// key, the signature over the head and the clock. On failure, the error and the key id the
/// request claimed (for the audit log). `/v1` and the Cloudauth facade's V3 share it.
pub(crate) async fn verify_acs3_head(app: &App, parts: &Parts) -> Result<SignedHead, (Error, Option<String>)> {
    let raw_query = parts.uri.query().unwrap_or("");
    check_query(raw_query).map_err(refused)?;
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let credential = Credential::from_headers(&headers).map_err(|e| refused(e.into()))?;
    let claimed = Some(credential.access_key_id.clone());
    let fail = |e: Error| (e, claimed.clone());
    if content_length(parts).is_some_and(|n| n > app.limits.max_body_bytes as u64) {
        return Err(fail(too_large(app.limits.max_body_bytes)));
    }
    let (key, secret) = key_and_secret(app, &credential.access_key_id).await.map_err(fail)?;
    let query = QueryParams::parse(raw_query);
    let request = shiren_auth::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: &query,
        headers: &headers,
        payload: Payload::Body(b""),
    };
    let skew = app.limits.signature_skew_secs;
    let declared = shiren_auth::verify_head_at(&request, &credential, &secret, shiren_auth::unix_now(), skew)
        .map_err(|e| fail(e.into()))?;
    let request_time = shiren_auth::request_time(&request).map_err(|e| fail(e.into()))?;
    let nonce = request.header("x-acs-signature-nonce").unwrap_or_default();
    Ok(SignedHead { key, declared, nonce, request_time })
}

/// Everything that can be judged before the body: the signed head, the nonce and the key's
/// policy. On failure, the error and the key id the request claimed (for the audit log).
async fn authenticate(app: &App, parts: &Parts) -> Result<(String, Policy, DeclaredBody), (Error, Option<String>)> {
    let SignedHead { key, declared, nonce, request_time } = verify_acs3_head(app, parts).await?;
    let changes =
        parts.method != Method::GET && parts.method != Method::HEAD && !READ_ONLY_POSTS.contains(&parts.uri.path());
    admit(app, &key, Some(&nonce), request_time, changes).await.map_err(|e| (e, Some(key.id.clone())))?;
    Ok((key.id, key.policy, declared))
}

/// An access key and its secret, by id; an unknown id is the signature error every surface
/// answers for it.
pub(crate) async fn key_and_secret(app: &App, id: &str) -> Result<(shiren_store::AccessKey, String), Error> {
    match app.services.store.access_key_with_secret(id).await? {
        Some(found) => Ok(found),
        None => Err(AuthError::InvalidAccessKeyId(id.to_string()).into()),
    }
}

/// What every surface checks once a request's signature holds, whatever its scheme: the key is
/// enabled, the nonce is new for that key (kept in the database, so every instance and a
/// restart see it, until the request's time leaves the skew window), and a read-only key makes
/// no change (`changes`). Also notes, to the minute, when the key was last used. Only a scheme
/// without nonces (Tencent's TC3) passes `None`, and only for reads.
pub(crate) async fn admit(
    app: &App,
    key: &shiren_store::AccessKey,
    nonce: Option<&str>,
    request_time: i64,
    changes: bool,
) -> Result<(), Error> {
    let store = &app.services.store;
    let skew = app.limits.signature_skew_secs;
    if key.status != "enabled" {
        return Err(Error::new(ErrorCode::AccessKeyInactive, format!("access key {} is disabled", key.id)));
    }
    if let Some(nonce) = nonce {
        if nonce.is_empty() || nonce.len() > 128 {
            return Err(Error::of(ErrorCode::InvalidSignatureNonce));
        }
        // A nonce only needs remembering while its timestamp is still inside the window.
        let keep_until = (request_time + skew as i64 + 60) * 1000;
        if !store.remember_nonce(&key.id, nonce, keep_until).await? {
            return Err(Error::new(
                ErrorCode::SignatureNonceUsed,
                "this signature nonce was already used: the request is a replay",
            ));
        }
    }
    if key.policy == Policy::Readonly && changes {
        return Err(Error::new(
            ErrorCode::ReadOnlyKey,
            "this access key is read-only: it may query records and statistics and search galleries, but not verify or change anything",
        ));
    }
    // `last_used_at` to the minute: one write a minute per key, not one per request.
    let now_ms = shiren_store::now_ms();
    if key.last_used_at.is_none_or(|at| now_ms - at > 60_000)
        && let Err(e) = store.touch_access_key(&key.id, now_ms).await
    {
        tracing::warn!(error = %e, "recording when the key was last used failed");
    }
    Ok(())
}

/// The signature covers the query as percent-decoded bytes, while form decoding (what handlers
/// use) also turns `+` into a space and replaces bytes that are not UTF-8. Either would let one
/// signature carry two meanings, so both are refused: the two readings then always agree.
pub(crate) fn check_query(raw: &str) -> Result<(), Error> {
    if raw.contains('+') {
        return Err(Error::new(
            ErrorCode::InvalidQuery,
            "a raw '+' in the query string is ambiguous: encode a plus sign as %2B and a space as %20",
        ));
    }
    let all_utf8 = raw
        .split('&')
        .flat_map(|pair| pair.splitn(2, '='))
        .all(|part| std::str::from_utf8(&percent_decode(part)).is_ok());
    if !all_utf8 {
        return Err(Error::new(ErrorCode::InvalidQuery, "query parameters must decode to UTF-8 text"));
    }
    Ok(())
}

/// A failed authentication: the key it claimed, why it failed, where it came from and, at the
/// cloud-API drop-ins, the action it asked for.
pub(crate) struct Failure<'a> {
    pub claimed_key: Option<&'a str>,
    pub error: &'a Error,
    pub source: Option<IpAddr>,
    pub action: Option<&'a str>,
}

/// Writes a failed authentication to the audit log unless its source has already had its share
/// this minute (the next entry it gets then says how many were left out).
pub(crate) async fn audit_failure(
    app: &App,
    method: &str,
    path: &str,
    failure: &Failure<'_>,
    request_id: &str,
    client_request_id: Option<&str>,
) {
    let Failure { claimed_key, error, source, action } = *failure;
    let Some(suppressed) = app.auth_failures.admit(source) else { return };
    let detail = serde_json::json!({
        "code": error.code,
        "method": method,
        "path": path.chars().take(200).collect::<String>(),
        "action": action.map(|a| a.chars().take(64).collect::<String>()),
        "suppressed_since_last": suppressed,
    })
    .to_string();
    let source_text = source.map(|s| s.to_string());
    let actor: String = claimed_key.unwrap_or("anonymous").chars().take(64).collect();
    let target: String = path.chars().take(64).collect();
    let event = AuditEvent {
        actor: &actor,
        action: "auth.fail",
        target: &target,
        detail: &detail,
        request_id,
        client_request_id,
        source: source_text.as_deref(),
    };
    if let Err(e) = app.services.store.audit(&event).await {
        tracing::warn!(error = %e, "auditing a failed authentication failed");
    }
}

/// How many failed authentications per source are audited each minute.
const FAILURES_AUDITED_PER_MINUTE: u32 = 5;
/// How many failed authentications are audited each minute from all sources together, so that
/// many sources (a botnet, or one IPv6 holder's many prefixes) cannot flood the log either.
const ALL_FAILURES_AUDITED_PER_MINUTE: u32 = 600;
/// Sources remembered at once; failures from further sources that minute go unaudited (and
/// counted in the next entry that is written).
const FAILURE_SOURCES: usize = 10_000;
const MINUTE: Duration = Duration::from_secs(60);

/// Per-source counts of failed authentications, so that an attacker cannot flood the audit log
/// (and the database behind it). Kept in memory: it protects this node's writes, and nothing
/// else depends on it.
#[derive(Debug, Default)]
pub struct AuthFailureLog {
    windows: Mutex<FailureWindows>,
}

#[derive(Debug, Default)]
struct FailureWindows {
    per_source: HashMap<Option<IpAddr>, FailureWindow>,
    all: Option<FailureWindow>,
}

#[derive(Debug)]
struct FailureWindow {
    started: Instant,
    audited: u32,
    suppressed: u32,
}

impl FailureWindow {
    fn new(now: Instant) -> Self {
        FailureWindow { started: now, audited: 0, suppressed: 0 }
    }

    /// Starts a new minute when this one is over; returns how many went unaudited in the last.
    fn roll(&mut self, now: Instant) -> u32 {
        if now.duration_since(self.started) < MINUTE {
            return 0;
        }
        let carried = self.suppressed;
        *self = FailureWindow::new(now);
        carried
    }
}

/// The source a failure is counted against: an IPv6 client usually holds a whole /64, so
/// addresses are grouped by it (and IPv4-mapped addresses count as the IPv4 address).
fn failure_source(source: Option<IpAddr>) -> Option<IpAddr> {
    match source? {
        IpAddr::V6(v6) => Some(match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        }),
        v4 => Some(v4),
    }
}

impl AuthFailureLog {
    /// `Some(n)` when this failure is to be audited, `n` being how many were left out before it
    /// (from its source, and from sources there was no room to remember); `None` otherwise.
    pub fn admit(&self, source: Option<IpAddr>) -> Option<u32> {
        let mut windows = self.windows.lock().ok()?;
        let FailureWindows { per_source, all } = &mut *windows;
        let now = Instant::now();
        let all = all.get_or_insert_with(|| FailureWindow::new(now));
        let all_carried = all.roll(now);
        let source = failure_source(source);
        if per_source.len() >= FAILURE_SOURCES && !per_source.contains_key(&source) {
            per_source.retain(|_, w| now.duration_since(w.started) < MINUTE);
        }
        if per_source.len() >= FAILURE_SOURCES && !per_source.contains_key(&source) {
            all.suppressed += 1 + all_carried;
            return None;
        }
        let window = per_source.entry(source).or_insert_with(|| FailureWindow::new(now));
        let source_carried = window.roll(now);
        if window.audited >= FAILURES_AUDITED_PER_MINUTE || all.audited >= ALL_FAILURES_AUDITED_PER_MINUTE {
            // Left out, and counted against its source; what was carried stays owed to the next
            // entry written.
            window.suppressed += 1 + source_carried;
            all.suppressed += all_carried;
            return None;
        }
        window.audited += 1;
        all.audited += 1;
        Some(source_carried + all_carried)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_plus_and_non_utf8_queries_are_refused() {
        assert!(check_query("").is_ok());
        assert!(check_query("order_no=x%2By&name=%E5%BC%A0%20%E4%B8%89").is_ok());
        assert_eq!(check_query("order_no=x+y").unwrap_err().code, ErrorCode::InvalidQuery);
        assert_eq!(check_query("a=%FF").unwrap_err().code, ErrorCode::InvalidQuery);
        assert_eq!(check_query("%C3=1").unwrap_err().code, ErrorCode::InvalidQuery);
    }

    #[test]
    fn failed_authentications_are_audited_a_few_per_source_and_minute() {
        let log = AuthFailureLog::default();
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        let admitted = (0..20).filter(|_| log.admit(a).is_some()).count();
        assert_eq!(admitted, FAILURES_AUDITED_PER_MINUTE as usize);
        assert_eq!(log.admit(b), Some(0), "another source has its own share");
    }

    #[test]
    fn ipv6_sources_count_by_their_64_prefix_and_all_sources_share_a_cap() {
        let log = AuthFailureLog::default();
        let in_one_prefix = |i: u16| Some(IpAddr::from([0x2001, 0xdb8, 0, 1, i, i, i, i]));
        let admitted = (0..100).filter(|i| log.admit(in_one_prefix(*i)).is_some()).count();
        assert_eq!(admitted, FAILURES_AUDITED_PER_MINUTE as usize, "one /64 is one source");
        let mapped = Some(IpAddr::from([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001]));
        assert_eq!(failure_source(mapped), Some(IpAddr::from([10, 0, 0, 1])));

        let log = AuthFailureLog::default();
        let many = (0..5000u32).filter(|i| log.admit(Some(IpAddr::from(i.to_be_bytes()))).is_some()).count();
        assert_eq!(many, ALL_FAILURES_AUDITED_PER_MINUTE as usize, "the shared cap holds across sources");
    }

    #[test]
    fn a_full_table_leaves_new_sources_unaudited_instead_of_forgetting_old_ones() {
        let log = AuthFailureLog::default();
        for i in 0..FAILURE_SOURCES as u32 {
            log.windows.lock().unwrap().per_source.insert(
                Some(IpAddr::from(i.to_be_bytes())),
                FailureWindow { started: Instant::now(), audited: FAILURES_AUDITED_PER_MINUTE, suppressed: 0 },
            );
        }
        let known = Some(IpAddr::from(7u32.to_be_bytes()));
        assert_eq!(log.admit(known), None, "a source that used its share keeps being refused");
        assert_eq!(log.admit(Some(IpAddr::from([192, 0, 2, 1]))), None, "a new source is not remembered");
        assert_eq!(log.windows.lock().unwrap().per_source.len(), FAILURE_SOURCES);
    }
}
