//! The cloud-API drop-ins at `/`, at the HTTP level, for what the vendors' SDKs never send:
//! replays, a body that differs from what was signed, duplicated parameters, chunked and
//! oversized bodies, and the exact error shapes the SDKs depend on. (The SDKs themselves drive
//! a running server in shiren-cli's `vendor_sdks` tests.)

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use shiren_auth::{QueryParams, SignParams, Signer};
use shiren_server::tencent::signature::{Tc3Request, tc3_signature};

use crate::common::{HOST, Reply, Service, photo};

const FORM: &str = "application/x-www-form-urlencoded";

/// A Cloudauth call signed with ACS3-HMAC-SHA256, its parameters in a form body.
fn alibaba(signer: &Signer, action: &str, form: &str) -> Request<Body> {
    let nonce = shiren_auth::new_nonce();
    alibaba_with(signer, action, form.as_bytes().to_vec(), form.as_bytes().to_vec(), &nonce)
}

/// As [`alibaba`], signing `signed` but sending `sent`, with this nonce.
fn alibaba_with(signer: &Signer, action: &str, signed: Vec<u8>, sent: Vec<u8>, nonce: &str) -> Request<Body> {
    let content_type = vec![("content-type".to_string(), FORM.to_string())];
    let params = SignParams {
        method: "POST",
        host: HOST,
        path: "/",
        query: &QueryParams::parse(""),
        body: &signed,
        action,
        version: "2019-03-07",
        extra_headers: &content_type,
    };
    let headers = signer.sign_at(&params, shiren_auth::unix_now(), nonce);
    let mut request = Request::builder().method("POST").uri("/");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.body(Body::from(sent)).expect("request builds")
}

/// A FaceID call signed with TC3-HMAC-SHA256 at `timestamp`, as the SDK signs it.
fn tencent(signer: &Signer, action: &str, body: &Value, timestamp: i64) -> Request<Body> {
    let body = serde_json::to_vec(body).expect("JSON");
    let date = shiren_auth::format_acs_date(timestamp)[..10].to_string();
    let timestamp = timestamp.to_string();
    let signature = tc3_signature(
        &signer.access_key_secret,
        &Tc3Request {
            method: "POST",
            path: "/",
            query: "",
            canonical_headers: &format!("content-type:application/json\nhost:{HOST}\n"),
            signed_headers: "content-type;host",
            body: &body,
            timestamp: &timestamp,
            date: &date,
        },
    );
    let authorization = format!(
        "TC3-HMAC-SHA256 Credential={}/{date}/faceid/tc3_request, SignedHeaders=content-type;host, Signature={signature}",
        signer.access_key_id
    );
    Request::builder()
        .method("POST")
        .uri("/")
        .header("host", HOST)
        .header("content-type", "application/json")
        .header("x-tc-action", action)
        .header("x-tc-version", "2018-03-01")
        .header("x-tc-timestamp", &timestamp)
        .header("authorization", authorization)
        .body(Body::from(body))
        .expect("request builds")
}

fn tencent_error(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "Tencent answers every error with 200");
    assert_eq!(reply.headers["content-type"], "application/json", "the SDK reads errors of this exact type only");
    assert!(reply.json["Response"]["RequestId"].is_string(), "{}", reply.json);
    reply.json["Response"]["Error"]["Code"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn alibaba_calls_are_signed_once_and_act_on_what_was_signed() {
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({})).await;
    let alias = service.call("GET", &format!("/v1/scenes/{scene}"), None).await.data()["alias"].as_i64().unwrap();
    let form = format!("SceneId={alias}&CertifyId=v0");

    // A verification-free action answered in Cloudauth's shape: a business code in a 200.
    let nonce = shiren_auth::new_nonce();
    let signed = || alibaba_with(&service.full, "DescribeFaceVerify", form.clone().into(), form.clone().into(), &nonce);
    let first = service.send(signed()).await;
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(first.json["Code"], "406", "an unknown CertifyId: {}", first.json);

    // The same signed request again: refused as a replay, as an HTTP error the SDK raises.
    let second = service.send(signed()).await;
    assert_eq!((second.status.as_u16(), second.json["Code"].as_str()), (400, Some("SignatureNonceUsed")));

    // A body other than the one signed.
    let tampered =
        alibaba_with(&service.full, "DescribeFaceVerify", form.clone().into(), b"CertifyId=v1".to_vec(), "n-tampered");
    let r = service.send(tampered).await;
    assert_eq!(r.json["Code"], "SignatureDoesNotMatch", "{}", r.json);

    // A parameter in the query and the body both: refused, not one of them picked.
    let mut doubled = alibaba(&service.full, "DescribeFaceVerify", &form);
    *doubled.uri_mut() = "/?CertifyId=v2".parse().unwrap();
    let r = service.send(doubled).await;
    assert_eq!(r.json["Code"], "SignatureDoesNotMatch", "the query is signed: {}", r.json);

    // An unknown action and an unsupported version.
    let r = service.send(alibaba(&service.full, "StealEverything", "")).await;
    assert_eq!((r.status.as_u16(), r.json["Code"].as_str()), (404, Some("InvalidAction.NotFound")));

    // A read-only key reads but does not verify.
    let r = service.send(alibaba(&service.readonly, "DescribeFaceVerify", &form)).await;
    assert_eq!(r.json["Code"], "406", "{}", r.json);
    let r = service.send(alibaba(&service.readonly, "LivenessFaceVerify", &form)).await;
    assert_eq!((r.status.as_u16(), r.json["Code"].as_str()), (403, Some("Forbidden.RAM")));

    // Failed authentications are audited, without the parameters.
    let audit = service.call("GET", "/v1/audit", None).await;
    let text = audit.json.to_string();
    assert!(text.contains("ContentSha256Mismatch") && text.contains("SignatureNonceUsed"), "{text}");
    assert!(!text.contains("CertifyId"), "no parameters in the audit log: {text}");
}

#[tokio::test]
async fn a_chunked_alibaba_body_is_read_and_verified() {
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({})).await;
    let alias = service.call("GET", &format!("/v1/scenes/{scene}"), None).await.data()["alias"].as_i64().unwrap();
    let image = base64_url_safe(&photo("obama.jpg"));
    let form = format!(
        "SceneId={alias}&ProductCode=PV_FC&SourceFaceContrastPicture={image}&TargetFaceContrastPicture={image}"
    );
    let signed = alibaba(&service.full, "CompareFaceVerify", &form);
    // The body arrives as a stream of pieces with no length announced, as a chunked upload does.
    let (mut parts, _) = signed.into_parts();
    parts.headers.remove("content-length");
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = form.into_bytes().chunks(4096).map(|c| Ok(c.to_vec())).collect();
    let body = Body::from_stream(futures_util::stream::iter(pieces));
    let r = service.send(Request::from_parts(parts, body)).await;
    assert_eq!(r.json["Code"], "200", "{}", r.json);
    assert_eq!(r.json["ResultObject"]["Passed"], "T", "the same photo twice: {}", r.json);
    let id = r.json["ResultObject"]["CertifyId"].as_str().unwrap();
    assert_eq!(service.call("GET", &format!("/v1/records/{id}"), None).await.status, 200, "a native record");
}

/// Standard base64, percent-encoded for a form body.
fn base64_url_safe(bytes: &[u8]) -> String {
    use base64::Engine as _;
    shiren_auth::percent_encode(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[tokio::test]
async fn tencent_calls_are_refused_in_tencents_shape_and_never_replayed() {
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({})).await;
    let alias = service.call("GET", &format!("/v1/scenes/{scene}"), None).await.data()["alias"].as_i64().unwrap();
    let now = shiren_auth::unix_now();
    let params = json!({ "RuleId": alias.to_string() });

    // DetectAuth once: a session. The same signed call again: a replay.
    let first = service.send(tencent(&service.full, "DetectAuth", &params, now)).await;
    assert!(first.json["Response"]["BizToken"].is_string(), "{}", first.json);
    let again = service.send(tencent(&service.full, "DetectAuth", &params, now)).await;
    assert_eq!(tencent_error(&again), "AuthFailure.SignatureFailure");

    // Reading the result twice in the same second is no replay worth refusing.
    let token = first.json["Response"]["BizToken"].as_str().unwrap();
    let read = json!({ "BizToken": token, "RuleId": alias.to_string() });
    for _ in 0..2 {
        let r = service.send(tencent(&service.full, "GetDetectInfoEnhanced", &read, now)).await;
        assert!(r.json["Response"]["Text"].is_object(), "{}", r.json);
    }

    // Stale, forged, unknown: each with Tencent's code, 200 and application/json.
    let stale = service.send(tencent(&service.full, "DetectAuth", &params, now - 3600)).await;
    assert_eq!(tencent_error(&stale), "AuthFailure.SignatureExpire");
    let forged = Signer::new(service.full.access_key_id.clone(), "guessed");
    assert_eq!(
        tencent_error(&service.send(tencent(&forged, "DetectAuth", &params, now)).await),
        "AuthFailure.SignatureFailure"
    );
    let stranger = Signer::new("AKIDnobody", "guessed");
    assert_eq!(
        tencent_error(&service.send(tencent(&stranger, "DetectAuth", &params, now)).await),
        "AuthFailure.SecretIdNotFound"
    );
    assert_eq!(tencent_error(&service.send(tencent(&service.full, "Nothing", &params, now)).await), "InvalidAction");
    let no_rule = json!({ "RuleId": "1" });
    assert_eq!(
        tencent_error(&service.send(tencent(&service.full, "DetectAuth", &no_rule, now)).await),
        "InvalidParameterValue.RuleIdNotExist"
    );

    // A body that is not JSON, and one over the size limit.
    let mut broken = tencent(&service.full, "DetectAuth", &params, now);
    *broken.body_mut() = Body::from("{not json");
    assert_eq!(tencent_error(&service.send(broken).await), "AuthFailure.SignatureFailure", "signed bytes first");
    let huge = Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", FORM)
        .header("content-length", "999999999")
        .body(Body::empty())
        .unwrap();
    assert_eq!(tencent_error(&service.send(huge).await), "RequestSizeLimitExceeded");
}

/// A Tencent call with the older form signing (HmacSHA256), its pairs in a form body.
fn tencent_form(secret: &str, pairs: &[(&str, &str)]) -> String {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let mut sorted: Vec<&(&str, &str)> = pairs.iter().collect();
    sorted.sort();
    let joined: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let text = format!("POST{HOST}/?{}", joined.join("&"));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        form.append_pair(k, v);
    }
    form.append_pair("Signature", &signature);
    form.finish()
}

fn form_request(body: String, content_type: &str) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri("/")
        .header("host", HOST)
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn forged_and_shifted_signatures_are_refused() {
    let service = Service::start(|_| {}).await;
    let scene = service.scene(json!({})).await;
    let alias = service.call("GET", &format!("/v1/scenes/{scene}"), None).await.data()["alias"].as_i64().unwrap();
    let now = shiren_auth::unix_now();
    let (id, secret) = (service.full.access_key_id.clone(), service.full.access_key_secret.clone());
    let ts = now.to_string();
    let rule = alias.to_string();

    // The form signing: a valid call, then the same signature with a pair moved into the
    // nonce's value (the string signed is unchanged, the nonce "new").
    let pairs = [
        ("Action", "DetectAuth"),
        ("Nonce", "12345"),
        ("RequestClient", "SDK_TEST"),
        ("RuleId", rule.as_str()),
        ("SecretId", id.as_str()),
        ("SignatureMethod", "HmacSHA256"),
        ("Timestamp", ts.as_str()),
        ("Version", "2018-03-01"),
    ];
    let valid = tencent_form(&secret, &pairs);
    let r = service.send(form_request(valid.clone(), FORM)).await;
    assert!(r.json["Response"]["BizToken"].is_string(), "{}", r.json);
    let shifted =
        valid.replace("Nonce=12345", "Nonce=12345%26RequestClient%3DSDK_TEST").replace("&RequestClient=SDK_TEST", "");
    assert_eq!(tencent_error(&service.send(form_request(shifted, FORM)).await), "InvalidParameterValue");
    assert_eq!(
        tencent_error(&service.send(form_request(valid.clone(), FORM)).await),
        "AuthFailure.SignatureFailure",
        "a replay"
    );
    // Signed pairs in the query and other parameters in a JSON body: refused.
    let mut moved = form_request("{\"RuleId\":\"1\"}".into(), "application/json");
    *moved.uri_mut() = format!("/?{valid}").parse().unwrap();
    assert_eq!(tencent_error(&service.send(moved).await), "InvalidParameterValue");

    // TC3: a read's signature replayed with X-TC-Action naming a change.
    let read = json!({ "BizToken": "v0", "RuleId": rule });
    let first = service.send(tencent(&service.full, "GetDetectInfoEnhanced", &read, now)).await;
    assert!(first.json["Response"]["Error"]["Code"].is_string(), "an unknown token: {}", first.json);
    let mut rewritten = tencent(&service.full, "GetDetectInfoEnhanced", &read, now);
    rewritten.headers_mut().insert("x-tc-action", "DetectAuth".parse().unwrap());
    assert_eq!(tencent_error(&service.send(rewritten).await), "AuthFailure.SignatureFailure");

    // Alibaba RPC: the action is the signed one, not a header's.
    let mut params = shiren_server::aliyun::params::Params::default();
    let date = shiren_auth::format_acs_date(now);
    let form = format!("SceneId={alias}&CertifyId=v0");
    for (k, v) in [
        ("AccessKeyId", id.as_str()),
        ("Action", "DescribeFaceVerify"),
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "rpc-nonce-1"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", date.as_str()),
        ("Version", "2019-03-07"),
    ] {
        params.insert(k, v).unwrap();
    }
    let mut signed = shiren_server::aliyun::params::Params::default();
    for (k, v) in params.iter().chain([("SceneId", alias.to_string().as_str()), ("CertifyId", "v0")]) {
        signed.insert(k, v).unwrap();
    }
    use shiren_server::aliyun::signature::{rpc_signature, rpc_string_to_sign};
    let signature = rpc_signature(&secret, &rpc_string_to_sign("POST", &signed));
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params.iter() {
        query.append_pair(k, v);
    }
    query.append_pair("Signature", &signature);
    let query = query.finish().replace('+', "%20");
    let rpc = |action: Option<&str>| {
        let mut b = Request::builder()
            .method("POST")
            .uri(format!("/?{query}"))
            .header("host", HOST)
            .header("content-type", FORM);
        if let Some(a) = action {
            b = b.header("x-acs-action", a);
        }
        b.body(Body::from(form.clone())).unwrap()
    };
    let r = service.send(rpc(Some("DeleteFaceVerifyResult"))).await;
    assert_eq!((r.status.as_u16(), r.json["Code"].as_str()), (400, Some("InvalidParameter")), "{}", r.json);
    let r = service.send(rpc(None)).await;
    assert_eq!(r.json["Code"], "406", "the signed action runs: {}", r.json);

    // V3: a '+' in the query reads two ways, so it is refused.
    let mut plus = alibaba(&service.full, "DescribeFaceVerify", &form);
    *plus.uri_mut() = "/?Extra=a+b".parse().unwrap();
    let r = service.send(plus).await;
    assert_eq!(r.status.as_u16(), 400, "{}", r.json);
}

#[tokio::test]
async fn element_checks_with_phones_and_bank_cards_answer_in_each_vendors_codes() {
    let known = crate::products::id_number("310101", "19610804", "001");
    let (url, _seen) = crate::integrations::gateway(known.clone(), String::new()).await;
    let service = Service::start(|c| {
        c.authority = toml::from_str(&format!("provider = \"http\"\nurl = \"{url}\"\ntimeout_ms = 2000\n")).unwrap()
    })
    .await;
    service.scene(json!({})).await;
    let now = shiren_auth::unix_now();
    let phone = |name: &str, number: &str, phone: &str| json!({ "Name": name, "IdCard": number, "Phone": phone });
    let result = |r: Reply| r.json["Response"]["Result"].as_str().unwrap_or_default().to_string();
    let tencent_phone = |params: Value| service.send(tencent(&service.full, "PhoneVerification", &params, now));
    assert_eq!(result(tencent_phone(phone("奥巴马", &known, "13800138000")).await), "0");
    assert_eq!(result(tencent_phone(phone("奥巴马", &known, "13900139000")).await), "-4");
    let unknown = crate::products::id_number("310101", "19700101", "002");
    assert_eq!(result(tencent_phone(phone("奥巴马", &unknown, "13800138000")).await), "-9");
    assert_eq!(result(tencent_phone(phone("奥巴马", &known, "12345")).await), "-6");

    let alibaba_phone = |mobile: &str| {
        let form = format!(
            "ParamType=normal&UserName={}&IdentifyNum={known}&Mobile={mobile}",
            shiren_auth::percent_encode("奥巴马")
        );
        service.send(alibaba(&service.full, "Mobile3MetaSimpleVerify", &form))
    };
    assert_eq!(alibaba_phone("13800138000").await.json["ResultObject"]["BizCode"], "1");
    assert_eq!(alibaba_phone("13900139000").await.json["ResultObject"]["BizCode"], "2");
}

#[tokio::test]
async fn element_checks_the_local_registry_cannot_make_are_refused_in_each_vendors_terms() {
    let service = Service::start(|_| {}).await;
    service.scene(json!({})).await;
    let known = crate::products::id_number("310101", "19610804", "001");
    let params = json!({ "Name": "奥巴马", "IdCard": known, "Phone": "13800138000" });
    let r = service.send(tencent(&service.full, "PhoneVerification", &params, shiren_auth::unix_now())).await;
    assert_eq!(tencent_error(&r), "UnsupportedOperation");
    let form = format!(
        "ParamType=normal&UserName={}&IdentifyNum={known}&Mobile=13800138000",
        shiren_auth::percent_encode("奥巴马")
    );
    let r = service.send(alibaba(&service.full, "Mobile3MetaSimpleVerify", &form)).await;
    assert_eq!(r.json["Code"], "417", "{}", r.json);
}
