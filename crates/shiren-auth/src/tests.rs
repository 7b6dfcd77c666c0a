//! End-to-end checks: the published example, sign → verify, and every way a request can be altered.

use crate::*;

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

fn value<'h>(headers: &'h [(String, String)], name: &str) -> &'h str {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or_default()
}

// The worked example ("Fixed parameter values") of Alibaba Cloud's V3 signature documentation:
// https://www.alibabacloud.com/help/en/sdk/product-overview/v3-request-structure-and-signature
const EXAMPLE_CANONICAL_REQUEST: &str = "POST
/
ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai
host:ecs.cn-shanghai.aliyuncs.com
x-acs-action:RunInstances
x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
x-acs-date:2023-10-26T10:22:32Z
x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d
x-acs-version:2014-05-26

host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const EXAMPLE_STRING_TO_SIGN: &str =
    "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259";
const EXAMPLE_SIGNATURE: &str = "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0";
const EXAMPLE_AUTHORIZATION: &str = "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,\
    SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,\
    Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0";
const EXAMPLE_DATE: i64 = 1_698_315_752; // 2023-10-26T10:22:32Z

fn example_query() -> QueryParams {
    QueryParams::new()
        .with("ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd")
        .with("RegionId", "cn-shanghai")
}

#[test]
fn published_example_step_by_step() {
    let query = example_query();
    let headers = owned(&[
        ("host", "ecs.cn-shanghai.aliyuncs.com"),
        ("x-acs-action", "RunInstances"),
        ("x-acs-version", "2014-05-26"),
        ("x-acs-date", "2023-10-26T10:22:32Z"),
        ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
        ("x-acs-content-sha256", EMPTY_PAYLOAD_SHA256),
    ]);
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    let request = Request { method: "POST", path: "/", query: &query, headers: &headers, payload: Payload::Body(b"") };

    let canonical = canonical_request(&request, &names);
    assert_eq!(canonical, EXAMPLE_CANONICAL_REQUEST);
    let to_sign = string_to_sign(&canonical);
    assert_eq!(to_sign, EXAMPLE_STRING_TO_SIGN);
    assert_eq!(signature("YourAccessKeySecret", &to_sign), EXAMPLE_SIGNATURE);
}

#[test]
fn published_example_through_signer_and_verifier() {
    let query = example_query();
    let params = SignParams {
        method: "POST",
        host: "ecs.cn-shanghai.aliyuncs.com",
        path: "/",
        query: &query,
        body: b"",
        action: "RunInstances",
        version: "2014-05-26",
        extra_headers: &[],
    };
    let headers = Signer::new("YourAccessKeyId", "YourAccessKeySecret").sign_at(
        &params,
        EXAMPLE_DATE,
        "3156853299f313e23d1673dc12e1703d",
    );
    assert_eq!(value(&headers, "authorization"), EXAMPLE_AUTHORIZATION);

    // Parsed from the documentation's own header, as a server would receive it.
    let credential = parse_authorization(EXAMPLE_AUTHORIZATION).unwrap();
    assert_eq!(credential.access_key_id, "YourAccessKeyId");
    let wire_query = QueryParams::parse(&query.to_query_string());
    let request =
        Request { method: "POST", path: "/", query: &wire_query, headers: &headers, payload: Payload::Body(b"") };
    assert_eq!(
        verify_at(&request, &credential, "YourAccessKeySecret", EXAMPLE_DATE + 60, DEFAULT_MAX_SKEW_SECS),
        Ok(())
    );
}

/// A signed request as it travels: method, wire path, wire query, headers, body.
#[derive(Clone)]
struct Wire {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

const ID: &str = "LTAI5tShirenTest";
const SECRET: &str = "s3cr3t/with+odd=chars";
const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn signed_wire() -> Wire {
    let path = encode_path("/v1/faces/Zhāng Sān*~");
    let query = QueryParams::new()
        .with("RegionId", "cn-shanghai")
        .with("Name", "张 三")
        .with("Tag", "b")
        .with("Tag", "a")
        .with("Empty", "")
        .with("Plus", "1+1");
    let body = br#"{"image":"...","threshold":0.8}"#.to_vec();
    let extra = owned(&[
        ("Content-Type", "application/json; charset=utf-8"),
        ("X-Acs-Security-Token", "sts-token"),
        ("User-Agent", "shiren-cli/0.1"),
        ("x-acs-date", "1999-01-01T00:00:00Z"), // generated headers win
    ]);
    let params = SignParams {
        method: "POST",
        host: "shiren.example:8443",
        path: &path,
        query: &query,
        body: &body,
        action: "CompareFaces",
        version: "2025-01-01",
        extra_headers: &extra,
    };
    let headers = Signer::new(ID, SECRET).sign_at(&params, NOW, "0123456789abcdef0123456789abcdef");
    Wire { method: "POST".into(), path, query: query.to_query_string(), headers, body }
}

fn check(wire: &Wire, secret: &str) -> Result<(), AuthError> {
    let credential = Credential::from_headers(&wire.headers)?;
    let query = QueryParams::parse(&wire.query);
    let request = Request {
        method: &wire.method,
        path: &wire.path,
        query: &query,
        headers: &wire.headers,
        payload: Payload::Body(&wire.body),
    };
    verify_at(&request, &credential, secret, NOW + 5, DEFAULT_MAX_SKEW_SECS)
}

fn set_header(wire: &mut Wire, name: &str, new_value: &str) {
    let slot = wire.headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    *slot.unwrap() = new_value.to_owned();
}

fn signature_mismatch(result: Result<(), AuthError>) -> bool {
    matches!(result, Err(AuthError::SignatureDoesNotMatch { .. }))
}

#[test]
fn round_trip() {
    let wire = signed_wire();
    assert_eq!(check(&wire, SECRET), Ok(()));

    let signed = parse_authorization(value(&wire.headers, "authorization")).unwrap().signed_headers;
    assert_eq!(
        signed,
        [
            "content-type",
            "host",
            "x-acs-action",
            "x-acs-content-sha256",
            "x-acs-date",
            "x-acs-security-token",
            "x-acs-signature-nonce",
            "x-acs-version"
        ]
    );
    assert_eq!(value(&wire.headers, "x-acs-date"), "2026-01-01T00:00:00Z");
    assert_eq!(value(&wire.headers, "User-Agent"), "shiren-cli/0.1");
    assert_eq!(value(&wire.headers, "x-acs-content-sha256"), sha256_hex(&wire.body));
    assert_eq!(wire.headers.last().map(|(n, _)| n.as_str()), Some("authorization"));
}

#[test]
fn a_server_sees_other_spellings_of_the_same_request() {
    let mut wire = signed_wire();
    for (name, _) in &mut wire.headers {
        *name = name.to_ascii_uppercase();
    }
    set_header(&mut wire, "host", "  shiren.example:8443 ");
    // The same path and query with escapes spelled differently, as a proxy might rewrite them.
    wire.path = wire.path.replace("%2A", "%2a").replace('~', "%7E");
    wire.query = wire.query.replace("cn-shanghai", "cn%2Dshanghai");
    assert_eq!(check(&wire, SECRET), Ok(()));
}

#[test]
fn every_tamper_is_caught() {
    let mut w = signed_wire();
    w.method = "PUT".into();
    assert!(signature_mismatch(check(&w, SECRET)), "method");

    let mut w = signed_wire();
    w.path = "/v1/faces/other".into();
    assert!(signature_mismatch(check(&w, SECRET)), "path");

    let mut w = signed_wire();
    w.query = w.query.replace("Plus=1%2B1", "Plus=1%2B2");
    assert!(signature_mismatch(check(&w, SECRET)), "query value");

    let mut w = signed_wire();
    w.query.push_str("&Extra=1");
    assert!(signature_mismatch(check(&w, SECRET)), "query parameter added");

    let mut w = signed_wire();
    w.query = w.query.replace("Tag=b&Tag=a", "Tag=a&Tag=b");
    assert!(signature_mismatch(check(&w, SECRET)), "repeated values reordered");

    let mut w = signed_wire();
    set_header(&mut w, "x-acs-action", "DeleteFaces");
    assert!(signature_mismatch(check(&w, SECRET)), "signed header");

    let mut w = signed_wire();
    set_header(&mut w, "content-type", "application/x-www-form-urlencoded");
    assert!(signature_mismatch(check(&w, SECRET)), "content-type");

    let mut w = signed_wire();
    set_header(&mut w, "x-acs-date", "2026-01-01T00:00:01Z");
    assert!(signature_mismatch(check(&w, SECRET)), "date");

    let mut w = signed_wire();
    w.body = b"{}".to_vec();
    assert_eq!(
        check(&w, SECRET),
        Err(AuthError::ContentSha256Mismatch {
            declared: value(&w.headers, "x-acs-content-sha256").to_owned(),
            computed: sha256_hex(b"{}"),
        }),
        "body"
    );

    let mut w = signed_wire();
    w.body = b"{}".to_vec();
    set_header(&mut w, "x-acs-content-sha256", &sha256_hex(b"{}"));
    assert!(signature_mismatch(check(&w, SECRET)), "body and its hash");

    let w = signed_wire();
    assert!(signature_mismatch(check(&w, "another-secret")), "secret");

    let mut w = signed_wire();
    let mut auth = value(&w.headers, "authorization").to_owned();
    let last = if auth.pop() == Some('0') { '1' } else { '0' };
    auth.push(last);
    set_header(&mut w, "authorization", &auth);
    assert!(signature_mismatch(check(&w, SECRET)), "signature");
}

#[test]
fn the_mismatch_error_shows_the_servers_canonical_request() {
    let mut w = signed_wire();
    w.method = "PUT".into();
    match check(&w, SECRET) {
        Err(AuthError::SignatureDoesNotMatch { canonical_request }) => {
            assert!(canonical_request.starts_with("PUT\n/v1/faces/Zh%C4%81ng%20S%C4%81n%2A~\n"), "{canonical_request}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsigned_headers_added_in_transit_are_ignored() {
    let mut w = signed_wire();
    w.headers.push(("X-Forwarded-For".into(), "10.0.0.1".into()));
    w.headers.push(("accept".into(), "application/json".into()));
    w.headers.insert(0, ("Via".into(), "1.1 proxy".into()));
    assert_eq!(check(&w, SECRET), Ok(()));
}

#[test]
fn unsigned_acs_headers_are_refused() {
    let mut w = signed_wire();
    w.headers.push(("X-Acs-Caller-Uid".into(), "1".into()));
    assert_eq!(check(&w, SECRET), Err(AuthError::MissingSignedHeader("x-acs-caller-uid".into())));
}

#[test]
fn a_repeated_signed_header_breaks_the_signature() {
    let mut w = signed_wire();
    w.headers.push(("x-acs-action".into(), "DeleteFaces".into()));
    assert!(signature_mismatch(check(&w, SECRET)));
}

#[test]
fn signed_headers_must_be_present() {
    let mut w = signed_wire();
    w.headers.retain(|(n, _)| n != "x-acs-version");
    assert_eq!(check(&w, SECRET), Err(AuthError::MissingSignedHeader("x-acs-version".into())));

    let mut w = signed_wire();
    w.headers.retain(|(n, _)| n != "x-acs-signature-nonce");
    assert_eq!(check(&w, SECRET), Err(AuthError::MissingSignedHeader("x-acs-signature-nonce".into())));
}

/// Signs by hand with a chosen list of signed headers, as a non-conforming client might.
fn sign_only(headers: &[(String, String)], names: &[&str], body: &[u8]) -> Vec<(String, String)> {
    let query = QueryParams::new();
    let request = Request { method: "GET", path: "/", query: &query, headers, payload: Payload::Body(body) };
    let to_sign = string_to_sign(&canonical_request(&request, names));
    let mut out = headers.to_vec();
    out.push((
        "Authorization".into(),
        format!(
            "{ALGORITHM} Credential={ID},SignedHeaders={},Signature={}",
            names.join(";"),
            signature(SECRET, &to_sign)
        ),
    ));
    out
}

#[test]
fn required_headers_must_be_signed() {
    let headers = owned(&[
        ("host", "h"),
        ("x-acs-date", "2026-01-01T00:00:00Z"),
        ("x-acs-signature-nonce", "n"),
        ("x-acs-content-sha256", EMPTY_PAYLOAD_SHA256),
    ]);
    let all = ["host", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce"];
    let wire = |names: &[&str]| Wire {
        method: "GET".into(),
        path: "/".into(),
        query: String::new(),
        headers: sign_only(&headers, names, b""),
        body: Vec::new(),
    };
    assert_eq!(check(&wire(&all), SECRET), Ok(()));
    for missing in all {
        let names: Vec<&str> = all.iter().copied().filter(|n| *n != missing).collect();
        // The header is still sent, just not signed.
        assert_eq!(check(&wire(&names), SECRET), Err(AuthError::MissingSignedHeader(missing.into())), "{missing}");
    }
}

#[test]
fn host_must_be_signed_even_if_absent() {
    let headers = owned(&[
        ("x-acs-date", "2026-01-01T00:00:00Z"),
        ("x-acs-signature-nonce", "n"),
        ("x-acs-content-sha256", EMPTY_PAYLOAD_SHA256),
    ]);
    let wire = Wire {
        method: "GET".into(),
        path: "/".into(),
        query: String::new(),
        headers: sign_only(&headers, &["x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce"], b""),
        body: Vec::new(),
    };
    assert_eq!(check(&wire, SECRET), Err(AuthError::MissingSignedHeader("host".into())));
}

#[test]
fn clock_skew_is_checked_after_the_signature() {
    let w = signed_wire();
    let credential = Credential::from_headers(&w.headers).unwrap();
    let query = QueryParams::parse(&w.query);
    let request = Request {
        method: &w.method,
        path: &w.path,
        query: &query,
        headers: &w.headers,
        payload: Payload::Body(&w.body),
    };
    assert_eq!(request_time(&request), Ok(NOW));
    assert_eq!(verify_at(&request, &credential, SECRET, NOW + 900, 900), Ok(()));
    assert_eq!(
        verify_at(&request, &credential, SECRET, NOW + 901, 900),
        Err(AuthError::RequestTimeTooSkewed { request_time: NOW, server_time: NOW + 901, max_skew_secs: 900 })
    );
    assert!(signature_mismatch(verify_at(&request, &credential, "wrong", NOW + 10_000, 900)));
}

#[test]
fn a_malformed_signed_date_is_reported_as_such() {
    let headers = owned(&[
        ("host", "h"),
        ("x-acs-date", "2026-13-01T00:00:00Z"),
        ("x-acs-signature-nonce", "n"),
        ("x-acs-content-sha256", EMPTY_PAYLOAD_SHA256),
    ]);
    let w = Wire {
        method: "GET".into(),
        path: "/".into(),
        query: String::new(),
        headers: sign_only(&headers, &["host", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce"], b""),
        body: Vec::new(),
    };
    assert_eq!(check(&w, SECRET), Err(AuthError::InvalidTimestamp("2026-13-01T00:00:00Z".into())));
}

#[test]
fn payload_hash_computed_while_streaming() {
    let w = signed_wire();
    let credential = Credential::from_headers(&w.headers).unwrap();
    let query = QueryParams::parse(&w.query);
    let hash = sha256_hex(&w.body).to_uppercase();
    let request = Request {
        method: &w.method,
        path: &w.path,
        query: &query,
        headers: &w.headers,
        payload: Payload::Sha256Hex(&hash),
    };
    assert_eq!(verify(&request, &credential, SECRET), Ok(()));
}

#[test]
fn authorization_with_and_without_spaces() {
    let sig = "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef";
    let expected = Credential {
        access_key_id: "AKID".into(),
        signed_headers: vec!["host".into(), "x-acs-date".into()],
        signature: sig.into(),
    };
    for header in [
        format!("ACS3-HMAC-SHA256 Credential=AKID,SignedHeaders=host;x-acs-date,Signature={sig}"),
        format!("ACS3-HMAC-SHA256 Credential=AKID, SignedHeaders=host;x-acs-date, Signature={sig}"),
        format!("  ACS3-HMAC-SHA256   Credential = AKID ,\tSignedHeaders=x-acs-date;Host ,Signature={sig}  "),
        format!("ACS3-HMAC-SHA256 Signature={sig},SignedHeaders=host;x-acs-date,Credential=AKID"),
    ] {
        assert_eq!(parse_authorization(&header), Ok(expected.clone()), "{header}");
    }
}

#[test]
fn malformed_authorization() {
    let sig = "a".repeat(64);
    assert_eq!(parse_authorization(""), Err(AuthError::MissingAuthorization));
    assert_eq!(parse_authorization("   "), Err(AuthError::MissingAuthorization));
    assert_eq!(Credential::from_headers(&owned(&[("host", "h")])), Err(AuthError::MissingAuthorization));

    for (header, algorithm) in [
        ("acs AKID:c2lnbmF0dXJl", "acs"),
        ("AWS4-HMAC-SHA256 Credential=a/b/c,SignedHeaders=host,Signature=x", "AWS4-HMAC-SHA256"),
        ("acs3-hmac-sha256 Credential=AKID", "acs3-hmac-sha256"),
        ("Bearer", "Bearer"),
    ] {
        assert_eq!(parse_authorization(header), Err(AuthError::UnsupportedAlgorithm(algorithm.into())), "{header}");
    }
    let long = format!("{} x", "X".repeat(1000));
    assert!(matches!(parse_authorization(&long), Err(AuthError::UnsupportedAlgorithm(a)) if a.len() == 64));

    for header in [
        "ACS3-HMAC-SHA256".to_owned(),
        "ACS3-HMAC-SHA256 ".to_owned(),
        "ACS3-HMAC-SHA256 Credential=AKID,SignedHeaders=host".to_owned(),
        format!("ACS3-HMAC-SHA256 Credential=AKID,Signature={sig}"),
        format!("ACS3-HMAC-SHA256 SignedHeaders=host,Signature={sig}"),
        format!("ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature={sig}"),
        format!("ACS3-HMAC-SHA256 Credential=A K,SignedHeaders=host,Signature={sig}"),
        format!("ACS3-HMAC-SHA256 Credential=AKID,SignedHeaders=,Signature={sig}"),
        format!("ACS3-HMAC-SHA256 Credential=AKID,SignedHeaders=host;;x-acs-date,Signature={sig}"),
        format!("ACS3-HMAC-SHA256 Credential=AKID,SignedHeaders=host x,Signature={sig}"),
        "ACS3-HMAC-SHA256 Credential=AKID,SignedHeaders=host,Signature=abc".to_owned(),
        format!("ACS3-HMAC-SHA256 Credential=AKID,SignedHeaders=host,Signature={}", "g".repeat(64)),
        format!("ACS3-HMAC-SHA256 Credential=AKID,SignedHeaders=host,Signature={sig},"),
        format!("ACS3-HMAC-SHA256 Credential=AKID,Credential=B,SignedHeaders=host,Signature={sig}"),
        format!("ACS3-HMAC-SHA256 Credential=AKID,SignedHeaders=host,Signature={sig},Region=cn"),
        format!("ACS3-HMAC-SHA256 Credential=AKID;SignedHeaders=host;Signature={sig}"),
    ] {
        assert!(matches!(parse_authorization(&header), Err(AuthError::InvalidAuthorization(_))), "{header}");
    }

    let twice = owned(&[
        ("Authorization", &format!("ACS3-HMAC-SHA256 Credential=A,SignedHeaders=host,Signature={sig}")),
        ("authorization", &format!("ACS3-HMAC-SHA256 Credential=B,SignedHeaders=host,Signature={sig}")),
    ]);
    assert!(matches!(Credential::from_headers(&twice), Err(AuthError::InvalidAuthorization(_))));
}

#[test]
fn errors_are_distinct_variants() {
    let w = signed_wire();
    assert!(matches!(check(&w, "x"), Err(AuthError::SignatureDoesNotMatch { .. })));
    assert_eq!(parse_authorization(""), Err(AuthError::MissingAuthorization));
    assert!(matches!(parse_authorization("acs x"), Err(AuthError::UnsupportedAlgorithm(_))));
    assert!(matches!(parse_authorization("ACS3-HMAC-SHA256 x"), Err(AuthError::InvalidAuthorization(_))));
    assert!(matches!(parse_acs_date("x"), Err(AuthError::InvalidTimestamp(_))));
}

#[test]
fn an_empty_secret_never_verifies() {
    let query = QueryParams::new();
    let params = SignParams {
        method: "GET",
        host: "h",
        path: "/",
        query: &query,
        body: b"",
        action: "A",
        version: "V",
        extra_headers: &[],
    };
    let headers = Signer::new(ID, "").sign_at(&params, NOW, "n");
    let wire = Wire { method: "GET".into(), path: "/".into(), query: String::new(), headers, body: Vec::new() };
    assert!(signature_mismatch(check(&wire, "")));
}

#[test]
fn head_is_verified_before_the_body_and_the_body_after() {
    let w = signed_wire();
    let credential = Credential::from_headers(&w.headers).unwrap();
    let query = QueryParams::parse(&w.query);
    let head = |headers: &[(String, String)]| {
        let request = Request { method: &w.method, path: &w.path, query: &query, headers, payload: Payload::Body(b"") };
        verify_head_at(&request, &credential, SECRET, NOW + 5, DEFAULT_MAX_SKEW_SECS)
    };
    // The right secret authenticates the head; only the signed body then passes.
    let declared = head(&w.headers).unwrap();
    assert_eq!(declared.check(&w.body), Ok(()));
    assert!(matches!(declared.check(b"{\"image\":\"swapped\"}"), Err(AuthError::ContentSha256Mismatch { .. })));
    // The wrong secret fails before any body is involved.
    let request =
        Request { method: &w.method, path: &w.path, query: &query, headers: &w.headers, payload: Payload::Body(b"") };
    assert!(matches!(verify_head(&request, &credential, "wrong"), Err(AuthError::SignatureDoesNotMatch { .. })));
    // Declaring another body's hash breaks the signature, since the header is signed.
    let mut other = w.clone();
    set_header(&mut other, "x-acs-content-sha256", &sha256_hex(b"other"));
    assert!(matches!(head(&other.headers), Err(AuthError::SignatureDoesNotMatch { .. })));
    // A declared hash that is not 64 lowercase hex digits can never match.
    for bad in ["", "abc", &sha256_hex(&w.body).to_uppercase(), &format!("{}0", sha256_hex(&w.body))] {
        let mut malformed = w.clone();
        set_header(&mut malformed, "x-acs-content-sha256", bad);
        assert!(matches!(head(&malformed.headers), Err(AuthError::MalformedContentSha256(_))), "{bad:?}");
    }
    // The clock is judged as in verify_at.
    let request =
        Request { method: &w.method, path: &w.path, query: &query, headers: &w.headers, payload: Payload::Body(b"") };
    assert!(matches!(
        verify_head_at(&request, &credential, SECRET, NOW + 10_000, 900),
        Err(AuthError::RequestTimeTooSkewed { .. })
    ));
}

mod fuzz {
    //! The header parser and the canonicaliser on arbitrary input: no panic, and the properties
    //! the signature relies on (one canonical form, stable under re-parsing).
    use proptest::prelude::*;

    use crate::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        #[test]
        fn authorization_headers_parse_or_fail_cleanly(value in "\\PC{0,300}") {
            if let Ok(c) = parse_authorization(&value) {
                prop_assert_eq!(c.signature.len(), 64);
                prop_assert!(!c.access_key_id.is_empty());
            }
        }

        #[test]
        fn structured_authorization_headers(
            id in "[ -~]{0,40}",
            names in proptest::collection::vec("[a-zA-Z0-9;,= -]{0,20}", 0..6),
            sig in "[0-9a-fA-Fg ]{0,70}",
            spaces in " {0,3}",
        ) {
            let value = format!("ACS3-HMAC-SHA256{spaces} Credential={id},SignedHeaders={},Signature={sig}", names.join(";"));
            let _ = parse_authorization(&value);
        }

        #[test]
        fn queries_have_one_canonical_form(raw in "[a-zA-Z0-9%=&+~*._ -]{0,120}") {
            let parsed = QueryParams::parse(&raw);
            let canonical = parsed.canonical();
            // The canonical form parses back to itself, and the wire form to the same parameters.
            prop_assert_eq!(QueryParams::parse(&canonical).canonical(), canonical.clone());
            prop_assert_eq!(QueryParams::parse(&parsed.to_query_string()), parsed);
        }

        #[test]
        fn arbitrary_parameters_round_trip(pairs in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..12), proptest::collection::vec(any::<u8>(), 0..12)), 0..8)) {
            let params: QueryParams = pairs.into_iter().collect();
            prop_assert_eq!(QueryParams::parse(&params.to_query_string()), params);
        }

        #[test]
        fn canonical_uris_are_idempotent(path in "\\PC{0,80}") {
            let once = canonical_uri(&path);
            prop_assert_eq!(canonical_uri(&once), once);
        }

        #[test]
        fn verification_never_panics(
            headers in proptest::collection::vec(("[a-zA-Z-]{1,24}", "\\PC{0,80}"), 0..10),
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let query = QueryParams::new();
            let request = Request { method: "POST", path: "/v1/compare", query: &query, headers: &headers, payload: Payload::Body(&body) };
            if let Ok(credential) = Credential::from_headers(&headers) {
                let _ = verify_at(&request, &credential, "secret", 0, 900);
                let _ = verify_head_at(&request, &credential, "secret", 0, 900);
            }
        }
    }
}
