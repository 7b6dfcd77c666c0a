//! Every request gets an id of the server's own (`rq…`), answered in `x-request-id` and in every
//! JSON body, logged with every line the request causes, and written to the audit log. A caller's
//! own `x-request-id` is kept beside it for correlation, never instead of it: it is unsigned and
//! need not be unique. The ids live in a task-local for the request's lifetime, so that responses
//! built anywhere (handlers, middleware, error conversions) carry them without being handed them.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The server's and the caller's id of the request being handled.
#[derive(Debug, Clone, Default)]
pub struct RequestIds {
    pub id: String,
    pub client: Option<String>,
}

tokio::task_local! {
    static CURRENT: RequestIds;
}

/// The ids of the request this task is handling (empty outside a request).
pub fn current() -> RequestIds {
    CURRENT.try_with(RequestIds::clone).unwrap_or_default()
}

pub async fn assign(mut req: Request, next: Next) -> Response {
    let client = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_string);
    let ids = RequestIds { id: shiren_store::new_id("rq"), client };
    req.extensions_mut().insert(ids.clone());
    let span = tracing::info_span!("request", id = %ids.id, method = %req.method(), path = %req.uri().path());
    let handled = tracing::Instrument::instrument(next.run(req), span);
    let mut response = CURRENT.scope(ids.clone(), handled).await;
    if let Ok(v) = HeaderValue::from_str(&ids.id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}
