//! The cloud-API drop-ins driven by the vendors' own SDKs, unmodified and installed from the
//! registries (tools/sdk): Alibaba Cloud's Python SDK (V3 signing) and Node.js SDK, its older
//! Python SDK (RPC signing), and Tencent Cloud's Python SDK (TC3 and the older form signing),
//! against the real `shiren serve`. Every supported action returns a parsed answer with the
//! right values (real photos compared, real ID numbers checked against a local authority
//! registry); a wrong secret makes each SDK raise its signature error; an unknown action gets
//! the vendor's error; what the facades did shows in the native records.
//!
//! The sessions that InitFaceVerify and DetectAuth create are completed in a real browser by
//! `capture_browser.rs`.

mod common;

use base64::Engine as _;
use common::sdk::{Outcome, Sdk, call};
use common::{Server, bin, photo};
use serde_json::{Value, json};
use shiren_auth::Signer;

/// A valid 18-character ID number for a 1990 birth date in Beijing's Dongcheng district.
fn id_number(sequence: u16) -> String {
    let first17 = format!("11010119900307{sequence:03}");
    let check = shiren_idcard::check_character(&first17).expect("17 digits");
    format!("{first17}{check}")
}

fn b64(name: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(photo(name))
}

/// A server with a scene that keeps images, a full and a read-only key, and one identity
/// (`name`, `id_number(1)`, Obama's photo) in its local authority registry.
struct Setup {
    server: Server,
    full: Signer,
    readonly: Signer,
    alias: i64,
    endpoint: String,
}

const NAME: &str = "张三";

fn setup() -> Setup {
    let server = Server::start(&[]);
    let full = server.key("full");
    let readonly = server.key("readonly");
    let api = server.client(full.clone());
    let created =
        api.call("POST", "/v1/scenes", Some(&json!({ "name": "drop-in", "settings": { "store_images": true } })));
    assert_eq!(created.status, 200, "{}", created.json);
    let alias = created.json["data"]["alias"].as_i64().expect("a scene number");

    let dir = common::private_dir();
    let csv = dir.path().join("registry.csv");
    let photo_path = common::model_dir().join("testdata/obama.jpg");
    std::fs::write(&csv, format!("name,id_number,photo_path\n{NAME},{},{}\n", id_number(1), photo_path.display()))
        .expect("registry CSV");
    let out = bin().args(["authority", "import", "--data-dir"]).arg(&server.data_dir).arg(&csv).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let endpoint = server.host.clone();
    Setup { server, full, readonly, alias, endpoint }
}

impl Setup {
    fn call(&self, sdk: Sdk, action: &str, params: Value) -> Outcome {
        call(sdk, &self.endpoint, &self.full, action, params)
    }

    fn result(&self, sdk: Sdk, action: &str, params: Value) -> Value {
        let body = self.call(sdk, action, params).body();
        assert_eq!(body["Code"], "200", "{sdk:?} {action}: {body}");
        assert!(body["RequestId"].as_str().is_some_and(|r| !r.is_empty()), "{body}");
        body["ResultObject"].clone()
    }

    /// The record the native API keeps of a verification.
    fn record(&self, id: &str) -> Value {
        let r = self.server.client(self.full.clone()).call("GET", &format!("/v1/records/{id}"), None);
        assert_eq!(r.status, 200, "{}", r.json);
        r.json["data"].clone()
    }
}

/// The SceneId as each SDK's model types it (an integer; the old SDK sends what it is given).
fn scene(sdk: Sdk, alias: i64) -> Value {
    match sdk {
        Sdk::AlibabaRpc => json!(alias.to_string()),
        _ => json!(alias),
    }
}

#[test]
fn alibaba_sdks_drive_every_supported_action() {
    let s = setup();
    for sdk in Sdk::ALIBABA {
        let scene = scene(sdk, s.alias);

        // PV_FC: a real compare of real photos, on Alibaba's scale (90.07 is FAR 1e-4, the
        // scene's level), and the record the native API shows for it.
        let same = s.result(
            sdk,
            "CompareFaceVerify",
            json!({
                "SceneId": scene, "ProductCode": "PV_FC", "OuterOrderNo": format!("order-{sdk:?}"),
                "SourceFaceContrastPicture": b64("obama.jpg"), "TargetFaceContrastPicture": b64("obama2.jpg"),
            }),
        );
        assert_eq!(same["Passed"], "T", "{sdk:?}: {same}");
        assert!(same["VerifyScore"].as_f64().unwrap() >= 90.07, "{same}");
        let record = s.record(same["CertifyId"].as_str().unwrap());
        assert_eq!(record["product"], "PV_FC");
        assert_eq!(record["order_no"], format!("order-{sdk:?}"));
        let other = s.result(
            sdk,
            "CompareFaceVerify",
            json!({
                "SceneId": scene, "ProductCode": "PV_FC",
                "SourceFaceContrastPicture": b64("obama.jpg"), "TargetFaceContrastPicture": b64("biden.jpg"),
            }),
        );
        assert_eq!(other["Passed"], "F", "{sdk:?}: {other}");
        assert!(other["VerifyScore"].as_f64().unwrap() < 70.02, "{other}");

        // ID_MIN against the registry: the right person passes, a wrong name is 201.
        let passed = s.result(
            sdk,
            "ContrastFaceVerify",
            json!({
                "SceneId": scene, "ProductCode": "ID_MIN", "CertType": "IDENTITY_CARD",
                "CertName": NAME, "CertNo": id_number(1), "FaceContrastPicture": b64("obama2.jpg"),
            }),
        );
        assert_eq!((passed["Passed"].as_str(), passed["SubCode"].as_str()), (Some("T"), Some("200")), "{passed}");
        let material: Value =
            serde_json::from_str(passed["MaterialInfo"].as_str().unwrap()).expect("MaterialInfo is JSON text");
        assert_eq!(material["faceAttack"], "F");
        let wrong_name = s.result(
            sdk,
            "ContrastFaceVerify",
            json!({
                "SceneId": scene, "ProductCode": "ID_MIN", "CertName": "李四", "CertNo": id_number(1),
                "FaceContrastPicture": b64("obama2.jpg"),
            }),
        );
        assert_eq!((wrong_name["Passed"].as_str(), wrong_name["SubCode"].as_str()), (Some("F"), Some("201")));

        // A passed verification's kept photo as the reference, by its CertifyId.
        let by_reference = s.result(
            sdk,
            "CompareFaceVerify",
            json!({
                "SceneId": scene, "ProductCode": "PV_FC",
                "SourceCertifyId": passed["CertifyId"], "TargetFaceContrastPicture": b64("obama3.jpg"),
            }),
        );
        assert_eq!(by_reference["Passed"], "T", "{by_reference}");
        let failed_reference = s.call(
            sdk,
            "CompareFaceVerify",
            json!({
                "SceneId": scene, "ProductCode": "PV_FC",
                "SourceCertifyId": other["CertifyId"], "TargetFaceContrastPicture": b64("obama3.jpg"),
            }),
        );
        assert_eq!(failed_reference.body()["Code"], "423", "a failed verification's photo is no reference");

        // LR_FR_MIN.
        let live = s.result(
            sdk,
            "LivenessFaceVerify",
            json!({
                "SceneId": scene, "ProductCode": "LR_FR_MIN", "FaceContrastPicture": b64("obama.jpg"),
            }),
        );
        assert_eq!(live["Passed"] == "T", live["SubCode"] == "200", "{live}");

        // CompareFaces' scale and documented thresholds.
        let body = s
            .call(
                sdk,
                "CompareFaces",
                json!({
                    "SourceImageType": "FacePic", "SourceImageValue": b64("obama.jpg"),
                    "TargetImageType": "FacePic", "TargetImageValue": b64("obama3.jpg"),
                }),
            )
            .body();
        assert_eq!(body["Code"], "200", "{body}");
        assert!(body["Data"]["SimilarityScore"].as_f64().unwrap() > 90.07, "{body}");
        let thresholds: Value = serde_json::from_str(body["Data"]["ConfidenceThresholds"].as_str().unwrap()).unwrap();
        assert_eq!(thresholds["0.0001"], "90.07");

        // ID_2META.
        let meta = |name: &str, number: &str| {
            s.result(sdk, "Id2MetaVerify", json!({ "ParamType": "normal", "UserName": name, "IdentifyNum": number }))
                ["BizCode"]
                .clone()
        };
        assert_eq!(meta(NAME, &id_number(1)), "1");
        assert_eq!(meta("李四", &id_number(1)), "2");
        assert_eq!(meta(NAME, &id_number(2)), "3");

        // A session: its link, and DescribeFaceVerify before it is done (capture_browser.rs
        // completes one in Chromium).
        let init = s.result(
            sdk,
            "InitFaceVerify",
            json!({
                "SceneId": scene, "ProductCode": "ID_PRO", "Model": "MULTI_ACTION", "OuterOrderNo": "init-1",
                "CertName": NAME, "CertNo": id_number(1), "MetaInfo": "{}",
            }),
        );
        let url = init["CertifyUrl"].as_str().unwrap();
        assert!(url.starts_with(&format!("{}/h5/", s.server.url)), "{url}");
        let pending =
            s.call(sdk, "DescribeFaceVerify", json!({ "SceneId": scene, "CertifyId": init["CertifyId"] })).body();
        assert_eq!(pending["Code"], "403", "not finished yet: {pending}");

        // Business refusals come back as Cloudauth's codes in a parsed answer.
        let refused = |params: Value| s.call(sdk, "CompareFaceVerify", params).body()["Code"].clone();
        assert_eq!(refused(json!({ "SceneId": 999, "ProductCode": "PV_FC" })), "404", "no such scene");
        assert_eq!(
            refused(json!({ "SceneId": scene, "ProductCode": "PV_FC", "SourceFaceContrastPicture": "@@not base64@@",
                            "TargetFaceContrastPicture": b64("obama.jpg") })),
            "401"
        );
        assert_eq!(
            refused(json!({ "SceneId": scene, "ProductCode": "PV_FC", "SourceFaceContrastPicture": b64("obama.jpg") })),
            "400",
            "a missing photo"
        );

        // Erasure.
        let id = same["CertifyId"].clone();
        let deleted = s.result(sdk, "DeleteFaceVerifyResult", json!({ "CertifyId": id }));
        assert_eq!(deleted["DeleteResult"], "Y");
        let again = s.result(sdk, "DeleteFaceVerifyResult", json!({ "CertifyId": id }));
        assert_eq!(
            (again["DeleteResult"].as_str(), again["FailReason"].as_str()),
            (Some("N"), Some("NOT_DELETE_REPEATEDLY"))
        );

        // What the SDKs raise: a wrong secret, an unknown action, a read-only key verifying.
        let wrong = Signer::new(s.full.access_key_id.clone(), "not-the-secret");
        let (kind, code) = call(
            sdk,
            &s.endpoint,
            &wrong,
            "Id2MetaVerify",
            json!({ "ParamType": "normal", "UserName": NAME, "IdentifyNum": id_number(1) }),
        )
        .raised();
        assert_eq!(code, "SignatureDoesNotMatch", "{sdk:?} raised {kind}");
        if sdk != Sdk::AlibabaNode {
            let (_, code) = s.call(sdk, "DescribeNothing", json!({ "A": "1" })).raised();
            assert_eq!(code, "InvalidAction.NotFound");
        }
        let (_, code) = call(
            sdk,
            &s.endpoint,
            &s.readonly,
            "Id2MetaVerify",
            json!({ "ParamType": "normal", "UserName": NAME, "IdentifyNum": id_number(1) }),
        )
        .raised();
        assert_eq!(code, "Forbidden.RAM");
    }
}

#[test]
fn tencent_sdk_drives_every_supported_action() {
    let s = setup();
    for sdk in Sdk::TENCENT {
        let body = |action: &str, params: Value| {
            let body = s.call(sdk, action, params).body();
            assert!(body["RequestId"].as_str().is_some_and(|r| !r.is_empty()), "{body}");
            body
        };
        let check = |name: &str, number: &str| {
            body("IdCardVerification", json!({ "IdCard": number, "Name": name }))["Result"].clone()
        };
        assert_eq!(check(NAME, &id_number(1)), "0");
        assert_eq!(check("李四", &id_number(1)), "-1");
        assert_eq!(check(NAME, &id_number(2)), "-5");
        assert_eq!(check(NAME, "110101199003070000"), "-2");

        // ID_MIN with Sim on Tencent's scale (70 = FAR 1e-4).
        for action in ["ImageRecognition", "ImageRecognitionV2"] {
            let same = body(action, json!({ "IdCard": id_number(1), "Name": NAME, "ImageBase64": b64("obama3.jpg") }));
            assert_eq!(same["Result"], "Success", "{same}");
            assert!(same["Sim"].as_f64().unwrap() >= 70.0, "{same}");
            let other = body(action, json!({ "IdCard": id_number(1), "Name": NAME, "ImageBase64": b64("biden.jpg") }));
            assert_eq!(other["Result"], "FailedOperation.CompareLowSimilarity", "{other}");
            assert!(other["Sim"].as_f64().unwrap() < 70.0);
        }

        // A session by RuleId (the scene's number), and its result before it is done.
        let auth = body("DetectAuth", json!({ "RuleId": s.alias.to_string(), "IdCard": id_number(1), "Name": NAME }));
        assert!(auth["Url"].as_str().unwrap().starts_with(&format!("{}/h5/", s.server.url)), "{auth}");
        let token = auth["BizToken"].as_str().unwrap();
        let info = body("GetDetectInfoEnhanced", json!({ "BizToken": token, "RuleId": s.alias.to_string() }));
        assert!(info["Text"]["ErrCode"].is_null(), "not finished: {info}");
        let native = s.server.client(s.full.clone()).call("GET", &format!("/v1/verifications/{token}"), None);
        assert_eq!(native.json["data"]["product"], "ID_PRO", "{}", native.json);

        // Errors the SDK raises from the `Error` object.
        let (_, code) = s.call(sdk, "DetectAuth", json!({ "RuleId": "424242" })).raised();
        assert_eq!(code, "InvalidParameterValue.RuleIdNotExist");
        let wrong = Signer::new(s.full.access_key_id.clone(), "not-the-secret");
        let (kind, code) =
            call(sdk, &s.endpoint, &wrong, "IdCardVerification", json!({ "IdCard": id_number(1), "Name": NAME }))
                .raised();
        assert_eq!((kind.as_str(), code.as_str()), ("TencentCloudSDKException", "AuthFailure.SignatureFailure"));
        let (_, code) = s.call(sdk, "LivenessNothing", json!({})).raised();
        assert_eq!(code, "InvalidAction");
        let (_, code) =
            call(sdk, &s.endpoint, &s.readonly, "DetectAuth", json!({ "RuleId": s.alias.to_string() })).raised();
        assert_eq!(code, "AuthFailure.UnauthorizedOperation");
        let read = call(
            sdk,
            &s.endpoint,
            &s.readonly,
            "GetDetectInfoEnhanced",
            json!({ "BizToken": token, "RuleId": s.alias.to_string() }),
        );
        assert!(read.body()["Text"].is_object(), "a read-only key may read results");
    }
}
