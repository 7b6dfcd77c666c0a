//! The Tencent Cloud FaceID (2018-03-01) surface: the official SDKs, pointed at this service,
//! work unchanged. It owns its signature layer (`signature`: TC3 and the older form signing),
//! its parameters (a JSON body, or the form), its code map (`codes`) and the actions
//! (`actions`), each a mapping onto the verification core. Keys are the native access keys
//! (SecretId = key id, SecretKey = secret); a scene's number is its `RuleId`.
//!
//! Every answer is HTTP 200 with `Content-Type: application/json` exactly (the SDK ignores an
//! error body of any other type): `{"Response": {fields..., "RequestId"}}`, or
//! `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`.

pub mod actions;
pub mod codes;
pub mod signature;

use axum::Json;
use axum::body::Body;
use axum::http::Method;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use shiren_verify::error::echo;
use shiren_verify::{Error, ErrorCode};
use tokio::sync::OwnedSemaphorePermit;

use self::signature::Signed;
use crate::App;
use crate::gateway::{self, Budget, VendorCall, audit_refusal, header};
use crate::http::request_id;
use crate::http::signature::{Failure, admit, audit_failure};

/// The API version served.
pub const VERSION: &str = "2018-03-01";

fn respond(mut fields: Map<String, Value>) -> Response {
    fields.insert("RequestId".into(), json!(request_id::current().id));
    Json(json!({ "Response": fields })).into_response()
}

fn error_answer(vendor_code: &str, message: &str) -> Response {
    let mut fields = Map::new();
    fields.insert("Error".into(), json!({ "Code": vendor_code, "Message": message }));
    respond(fields)
}

/// An error, answered as Tencent Cloud answers it.
pub fn refuse(error: Error) -> Response {
    let mut response = error_answer(codes::code(error.code), &error.message);
    response.extensions_mut().insert(error.code);
    response
}

/// The most form pairs a call may carry; parsing stops there.
const MAX_PAIRS: usize = 200;

/// Form pairs, refusing more than [`MAX_PAIRS`] before they are all parsed.
fn pairs_of(raw: &[u8]) -> Result<Vec<(String, String)>, Error> {
    let mut pairs = Vec::new();
    for (k, v) in form_urlencoded::parse(raw) {
        if pairs.len() == MAX_PAIRS {
            return Err(Error::new(ErrorCode::InvalidParameter, format!("more than {MAX_PAIRS} parameters")));
        }
        pairs.push((k.into_owned(), v.into_owned()));
    }
    Ok(pairs)
}

/// Form pairs as the parameters' JSON object; a name given twice is refused.
fn object_of(pairs: &[(String, String)]) -> Result<Map<String, Value>, Error> {
    let mut map = Map::new();
    for (k, v) in pairs {
        if map.insert(k.clone(), Value::String(v.clone())).is_some() {
            return Err(Error::new(
                ErrorCode::InvalidParameter,
                format!("parameter {} is given more than once", echo(k)),
            ));
        }
    }
    Ok(map)
}

/// The answer to an unknown action or version (known before anything is authenticated).
fn unserved(action: &str, version: Option<&str>) -> Option<Response> {
    if !actions::SUPPORTED.contains(&action) {
        let message = format!("接口不存在: served are {}", actions::SUPPORTED.join(", "));
        return Some(error_answer("InvalidAction", &message));
    }
    (version != Some(VERSION)).then(|| error_answer("NoSuchVersion", "接口版本不存在: 2018-03-01 is served"))
}

pub async fn handle(app: &App, parts: Parts, body: Body) -> Response {
    match authenticated(app, parts, body).await {
        Ok((call, signed, params, action, permit)) => {
            let answer = answer(app, &call, &signed, &params, &action).await;
            drop(permit);
            answer
        }
        Err(answer) => answer,
    }
}

type Authenticated = (VendorCall, Signed, Map<String, Value>, String, Option<OwnedSemaphorePermit>);

/// Reads and authenticates a call by TC3 (head first, then the body's signature, then the JSON)
/// or by the form signing (the body first, since everything is in it).
async fn authenticated(app: &App, parts: Parts, body: Body) -> Result<Authenticated, Response> {
    let tc3 = parts.headers.contains_key("x-tc-action")
        || header(&parts.headers, "authorization").is_some_and(|a| a.trim_start().starts_with("TC3-"));
    if tc3 {
        let action = header(&parts.headers, "x-tc-action").unwrap_or_default().to_string();
        if let Some(answer) = unserved(&action, header(&parts.headers, "x-tc-version")) {
            return Err(answer);
        }
        let head = match signature::tc3_head(app, &parts).await {
            Ok(h) => h,
            Err((error, claimed)) => {
                audit_refusal(app, &parts, &action, claimed.as_deref(), &error).await;
                return Err(refuse(error));
            }
        };
        let (permit, bytes) = gateway::read(app, &parts, body, Budget::Uploads).await.map_err(refuse)?;
        let audit_parts = parts.clone();
        let call = gateway::call_of(parts, bytes);
        let signed = match signature::tc3_body(head, &call) {
            Ok(s) => s,
            Err((error, claimed)) => {
                audit_refusal(app, &audit_parts, &action, claimed.as_deref(), &error).await;
                return Err(refuse(error));
            }
        };
        // Parsed only now that the bytes are known to be the signed ones.
        let params = if call.method == Method::GET {
            object_of(&pairs_of(call.raw_query.as_bytes()).map_err(refuse)?).map_err(refuse)?
        } else if call.body.is_empty() {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(&call.body) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err(refuse(Error::new(ErrorCode::InvalidJson, "the body must be a JSON object"))),
                Err(e) => return Err(refuse(Error::new(ErrorCode::InvalidJson, format!("the body is not JSON: {e}")))),
            }
        };
        return Ok((call, signed, params, action, permit));
    }
    // The form signing: the signed pairs are the form body's (POST) or the query's (GET), never
    // both, and they are exactly what is acted on.
    let (permit, bytes) = gateway::read(app, &parts, body, Budget::Unauthenticated).await.map_err(refuse)?;
    let audit_parts = parts.clone();
    let call = gateway::call_of(parts, bytes);
    let pairs = if call.method == Method::POST {
        if !call.has_form_body() || !call.raw_query.is_empty() {
            let message = "the form signing takes its parameters in a form body and nothing in the query";
            return Err(refuse(Error::new(ErrorCode::InvalidParameter, message)));
        }
        pairs_of(&call.body).map_err(refuse)?
    } else {
        if !call.body.is_empty() {
            return Err(refuse(Error::new(ErrorCode::InvalidParameter, "a GET carries its parameters in the query")));
        }
        pairs_of(call.raw_query.as_bytes()).map_err(refuse)?
    };
    let params = object_of(&pairs).map_err(refuse)?;
    let text = |name: &str| params.get(name).and_then(Value::as_str).map(str::to_string);
    let action = text("Action").unwrap_or_default();
    if let Some(answer) = unserved(&action, text("Version").as_deref()) {
        return Err(answer);
    }
    let signed = match signature::verify_form(app, &call, &pairs).await {
        Ok(s) => s,
        Err((error, claimed)) => {
            audit_refusal(app, &audit_parts, &action, claimed.as_deref(), &error).await;
            return Err(refuse(error));
        }
    };
    Ok((call, signed, params, action, permit))
}

async fn answer(app: &App, call: &VendorCall, signed: &Signed, params: &Map<String, Value>, action: &str) -> Response {
    let changes = !actions::READS.contains(&action);
    let tc3 = signed.nonce.starts_with("tc3:");
    // TC3 has no nonce: its signature is remembered instead. A read may repeat (polling a result
    // twice in a second signs the same bytes), but once seen, a signature can never make a change,
    // even if the unsigned X-TC-Action header is rewritten to name one.
    let nonce = if tc3 && !changes {
        let keep_until = (signed.request_time + app.limits.signature_skew_secs as i64 + 60) * 1000;
        if let Err(e) = app.services.store.remember_nonce(&signed.key.id, &signed.nonce, keep_until).await {
            return refuse(e.into());
        }
        None
    } else {
        Some(signed.nonce.as_str())
    };
    if let Err(error) = admit(app, &signed.key, nonce, signed.request_time, changes).await {
        let failure =
            Failure { claimed_key: Some(&signed.key.id), error: &error, source: call.source, action: Some(action) };
        audit_failure(app, call.method.as_str(), "/", &failure, &call.request_id, call.client_request_id.as_deref())
            .await;
        return refuse(error);
    }
    let caller = call.caller(&signed.key);
    let base = crate::v1::verifications::public_base(app, &call.headers).ok();
    let cx = actions::Context { app, caller: &caller, params, base };
    match actions::run(action, &cx).await {
        Ok(Value::Object(fields)) => respond(fields),
        Ok(_) => refuse(Error::internal("an action answered something other than an object")),
        Err(e) => {
            if e.code == ErrorCode::InternalError {
                tracing::error!(action = %action, error = %e.message, "FaceID action failed");
            }
            refuse(e)
        }
    }
}
