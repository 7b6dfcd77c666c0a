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
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use shiren_verify::{Caller, Error, ErrorCode};

use crate::App;
use crate::gateway::VendorCall;
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

/// A call's parameters: `json` from a JSON object body, or from the form pairs (the query of a
/// GET, or a form body), which `form` keeps as they came for the form signature.
struct Params {
    json: Map<String, Value>,
    form: Vec<(String, String)>,
}

fn params_of(call: &VendorCall) -> Result<Params, Error> {
    let form: Vec<(String, String)> = if call.has_form_body() {
        form_urlencoded::parse(&call.body).into_owned().collect()
    } else {
        form_urlencoded::parse(call.raw_query.as_bytes()).into_owned().collect()
    };
    if !call.has_form_body() && !call.body.is_empty() {
        let parsed: Value = serde_json::from_slice(&call.body)
            .map_err(|e| Error::new(ErrorCode::InvalidJson, format!("the body is not JSON: {e}")))?;
        let Value::Object(map) = parsed else {
            return Err(Error::new(ErrorCode::InvalidJson, "the body must be a JSON object"));
        };
        return Ok(Params { json: map, form });
    }
    let mut map = Map::new();
    for (k, v) in &form {
        if map.insert(k.clone(), Value::String(v.clone())).is_some() {
            return Err(Error::new(ErrorCode::InvalidParameter, format!("parameter {k} is given more than once")));
        }
    }
    Ok(Params { json: map, form })
}

pub async fn handle(app: &App, call: VendorCall) -> Response {
    let Params { json: params, form } = match params_of(&call) {
        Ok(p) => p,
        Err(e) => return refuse(e),
    };
    let form_signed = call.header("x-tc-action").is_none();
    let text = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let (action, version) = if form_signed {
        (text("Action"), text("Version"))
    } else {
        (call.header("x-tc-action").map(str::to_string), call.header("x-tc-version").map(str::to_string))
    };
    let action = action.unwrap_or_default();
    if !actions::SUPPORTED.contains(&action.as_str()) {
        let message = format!("接口不存在: served are {}", actions::SUPPORTED.join(", "));
        return error_answer("InvalidAction", &message);
    }
    if version.as_deref() != Some(VERSION) {
        return error_answer("NoSuchVersion", "接口版本不存在: 2018-03-01 is served");
    }
    let signed = if form_signed {
        signature::verify_form(app, &call, &form).await
    } else {
        signature::verify_tc3(app, &call).await
    };
    let signed = match signed {
        Ok(s) => s,
        Err((error, claimed)) => {
            let failure = Failure { claimed_key: claimed.as_deref(), error: &error, source: call.source };
            audit_failure(
                app,
                call.method.as_str(),
                &action,
                &failure,
                &call.request_id,
                call.client_request_id.as_deref(),
            )
            .await;
            return refuse(error);
        }
    };
    let changes = !actions::READS.contains(&action.as_str());
    // TC3 has no nonce: its signature is remembered only where a replay would change something.
    let nonce = (changes || form_signed).then_some(signed.nonce.as_str());
    if let Err(error) = admit(app, &signed.key, nonce, signed.request_time, changes).await {
        let failure = Failure { claimed_key: Some(&signed.key.id), error: &error, source: call.source };
        audit_failure(
            app,
            call.method.as_str(),
            &action,
            &failure,
            &call.request_id,
            call.client_request_id.as_deref(),
        )
        .await;
        return refuse(error);
    }
    let caller = Caller {
        actor: signed.key.id.clone(),
        policy: signed.key.policy,
        request_id: call.request_id.clone(),
        client_request_id: call.client_request_id.clone(),
        source: call.source,
    };
    let base = crate::v1::verifications::public_base(app, &call.headers).ok();
    let cx = actions::Context { app, caller: &caller, params: &params, base };
    match actions::run(&action, &cx).await {
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
