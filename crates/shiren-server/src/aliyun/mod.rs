//! The Alibaba Cloud Cloudauth (2019-03-07) surface: the official SDKs, pointed at this service,
//! work unchanged. It owns its signature layer (`signature`: V3 and RPC), its parameters
//! (`params`: query and form merged), its code map (`codes`: gateway errors as HTTP errors,
//! business codes in a 200 body, scores on Alibaba's scale) and the actions (`actions`), each a
//! mapping onto the verification core. Keys, scenes (by their numeric alias, the `SceneId`),
//! records and statistics are the native ones.
//!
//! Answers: `{"RequestId", "Code": "200", "Message": "success", ...}` with the action's
//! `ResultObject` (or `Data`); a business refusal (bad parameter, unusable photo, no such
//! scene) is `Code` with Cloudauth's documented number and message, HTTP 200, as the cloud
//! answers it; a signature, key or limit failure is an HTTP error with the gateway's code,
//! which the SDKs raise as their exception.

pub mod actions;
pub mod codes;
pub mod params;
pub mod signature;

use axum::Json;
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header as http_header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use shiren_verify::{Error, ErrorCode};

use self::codes::Answer;
use self::params::Params;
use crate::App;
use crate::gateway::{self, Budget, audit_refusal, header};
use crate::http::request_id;
use crate::http::signature::admit;

/// The API version served.
pub const VERSION: &str = "2019-03-07";

/// A successful answer: the action's fields after `RequestId`, `Code` and `Message`.
fn success(fields: Value) -> Response {
    let mut body = json!({ "RequestId": request_id::current().id, "Code": "200", "Message": "success" });
    if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
        body.extend(fields);
    }
    Json(body).into_response()
}

/// An error answer: HTTP error for gateway failures, a business `Code` in a 200 otherwise.
pub fn refuse(error: Error, method: &Method) -> Response {
    let request_id = request_id::current().id;
    let code = error.code;
    let mut response = match codes::answer(code) {
        Answer::Gateway { status, code: vendor_code } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            let body = json!({
                "RequestId": request_id,
                "HostId": "shiren",
                "Code": vendor_code,
                "Message": error.message,
                "Recommend": format!("{} {}: {}", method, vendor_code, code.description()),
            });
            (status, Json(body)).into_response()
        }
        Answer::Business { code: vendor_code, message } => Json(json!({
            "RequestId": request_id,
            "Code": vendor_code,
            "Message": format!("{message}: {}", error.message),
        }))
        .into_response(),
    };
    response.extensions_mut().insert(code);
    if let Some(secs) = error.retry_after_secs {
        response.headers_mut().insert(http_header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn gateway_error(status: StatusCode, vendor_code: &str, message: &str) -> Response {
    let body =
        json!({ "RequestId": request_id::current().id, "HostId": "shiren", "Code": vendor_code, "Message": message });
    (status, Json(body)).into_response()
}

pub async fn handle(app: &App, parts: Parts, body: Body) -> Response {
    let method = parts.method.clone();
    let claimed_action = header(&parts.headers, "x-acs-action")
        .map(str::to_string)
        .or_else(|| {
            form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .find(|(k, _)| k == "Action")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default();
    let refuse_audited = |error: Error, claimed: Option<String>| {
        let parts = &parts;
        let action = &claimed_action;
        async move {
            audit_refusal(app, parts, action, claimed.as_deref(), &error).await;
            refuse(error, &parts.method)
        }
    };
    // The head first: an unsigned or wrongly signed V3 call, or an RPC call with an unknown key
    // or a stale clock, costs no body.
    let head = match signature::check_head(app, &parts).await {
        Ok(h) => h,
        Err((error, claimed)) => return refuse_audited(error, claimed).await,
    };
    let (permit, bytes) = match gateway::read(app, &parts, body, Budget::Uploads).await {
        Ok(read) => read,
        Err(e) => return refuse(e, &method),
    };
    let call = gateway::call_of(parts.clone(), bytes);
    let params = match Params::of(&call) {
        Ok(p) => p,
        Err(e) => return gateway_error(StatusCode::BAD_REQUEST, "InvalidParameter", &e.message),
    };
    // V3 signs the x-acs-* headers; RPC signs only its parameters, so an RPC call's action and
    // version are the signed ones, and a header naming another is refused.
    let (action, version) = if head.is_rpc() {
        let action = params.text("Action").unwrap_or_default();
        if call.header("x-acs-action").is_some_and(|a| a != action) {
            return gateway_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                "x-acs-action differs from the signed Action",
            );
        }
        (action, params.text("Version"))
    } else {
        (call.header("x-acs-action").unwrap_or_default().to_string(), call.header("x-acs-version").map(str::to_string))
    };
    if !actions::SUPPORTED.contains(&action.as_str()) {
        let message = format!(
            "Specified api is not found, please check your url and method. Served: {}",
            actions::SUPPORTED.join(", ")
        );
        return gateway_error(StatusCode::NOT_FOUND, "InvalidAction.NotFound", &message);
    }
    if version.as_deref() != Some(VERSION) {
        let message = "Specified parameter Version is not valid: 2019-03-07 is served";
        return gateway_error(StatusCode::BAD_REQUEST, "InvalidVersion", message);
    }
    let claimed = Some(head.key_id().to_string());
    let signed = match signature::check_body(head, &call, &params) {
        Ok(s) => s,
        Err((error, claimed)) => return refuse_audited(error, claimed).await,
    };
    let changes = !actions::READS.contains(&action.as_str());
    if let Err(error) = admit(app, &signed.key, Some(&signed.nonce), signed.request_time, changes).await {
        return refuse_audited(error, claimed).await;
    }
    let caller = call.caller(&signed.key);
    let base = crate::v1::verifications::public_base(app, &call.headers).ok();
    let cx = actions::Context { app, caller: &caller, params: &params, base };
    let answer = match actions::run(&action, &cx).await {
        Ok(fields) => success(fields),
        Err(e) => {
            if e.code == ErrorCode::InternalError {
                tracing::error!(action = %action, error = %e.message, "Cloudauth action failed");
            }
            refuse(e, &method)
        }
    };
    drop(permit);
    answer
}
