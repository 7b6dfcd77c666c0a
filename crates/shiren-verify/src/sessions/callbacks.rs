//! Callbacks: when a session ends, its outcome is POSTed to the caller's `callback_url` from a
//! durable queue in the database, never on the person's time. The body is signed with the
//! creating access key's secret (HMAC-SHA256 over `TIMESTAMP.BODY`, header
//! `X-Shiren-Signature: t=TIMESTAMP,v1=HEX`), so the receiver knows it came from this service
//! and was not altered. A failed delivery is retried with exponential backoff (15 s, 45 s,
//! 2 min 15 s, ... by default); any node may deliver, each callback leased to one at a time.
//! The callback's address obeys the image-URL policy (globally routable addresses only).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use shiren_store::{CallbackRow, SessionRow, now_ms};

use super::Outcome;
use crate::images::{Refusal, pinned_client};
use crate::services::Services;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-shiren-signature";

/// The HMAC-SHA256 signature header value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm cannot be reached.
        Err(_) => return String::new(),
    };
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Queues the callback of a session that just ended (if it asked for one). A failure to queue
/// is logged, not raised: the outcome is recorded and readable either way.
pub(crate) async fn enqueue(services: &Services, row: &SessionRow, outcome: &Outcome, token: Option<&str>) {
    let Some(url) = &row.callback_url else { return };
    let body = serde_json::json!({
        "verification_id": row.id,
        "order_no": row.order_no,
        "product": row.product,
        "passed": outcome.passed,
        "sub_code": outcome.sub_code,
        "score": outcome.score,
        "callback_token": token,
        "finished_at": now_ms(),
    })
    .to_string();
    if let Err(e) = services.store.queue_callback(&row.id, url, &row.access_key_id, &body).await {
        tracing::warn!(session = %row.id, error = %e, "queueing a callback failed");
    }
}

/// Delivers one leased callback; `Err` says why it failed.
async fn deliver(services: &Services, callback: &CallbackRow) -> Result<(), String> {
    let limits = &services.config.sessions;
    let allow_private = services.config.images.url_fetch_allow_private;
    let (client, url) =
        pinned_client(&callback.url, limits.callback_timeout, allow_private).await.map_err(|r| match r {
            Refusal::Invalid(m) => m,
            Refusal::Forbidden => "the callback URL resolves to a private or local address".into(),
        })?;
    let secret = match services.store.access_key_with_secret(&callback.access_key_id).await {
        Ok(Some((_, secret))) => secret,
        Ok(None) => return Err("the access key that created the session no longer exists".into()),
        Err(e) => return Err(format!("reading the access key: {e}")),
    };
    let signature = sign(&secret, now_ms() / 1000, &callback.body);
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(callback.body.clone())
        .send()
        .await
        .map_err(|e| format!("sending failed: {e}"))?;
    if response.status().is_success() { Ok(()) } else { Err(format!("the receiver answered {}", response.status())) }
}

/// Delivers every callback that is due; returns how many were delivered.
pub async fn deliver_due(services: &Services) -> usize {
    let limits = services.config.sessions;
    let now = now_ms();
    // The lease outlasts one delivery attempt, so a node that dies mid-send frees it.
    let lease = now + limits.callback_timeout.as_millis() as i64 * 3;
    let due = match services.store.lease_due_callbacks(now, lease, 32).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "reading due callbacks failed");
            return 0;
        }
    };
    let mut delivered = 0;
    for callback in due {
        let result = match deliver(services, &callback).await {
            Ok(()) => {
                delivered += 1;
                services.store.callback_delivered(&callback.id, now_ms()).await
            }
            Err(reason) => {
                let retry = (callback.attempts < limits.callback_attempts).then(|| {
                    let wait =
                        limits.callback_retry_secs.saturating_mul(3i64.saturating_pow(callback.attempts as u32 - 1));
                    now_ms().saturating_add(wait.saturating_mul(1000))
                });
                tracing::info!(callback = %callback.id, attempt = callback.attempts, retry = retry.is_some(), %reason, "callback not delivered");
                services.store.callback_failed(&callback.id, &reason, retry).await
            }
        };
        if let Err(e) = result {
            tracing::warn!(callback = %callback.id, error = %e, "recording a callback attempt failed");
        }
    }
    delivered
}
