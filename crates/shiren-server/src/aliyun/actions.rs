//! Cloudauth 2019-03-07 actions, each mapped onto a native product or session of the
//! verification core: parameters in, the core's typed request, its `Verification` (or session)
//! back into the action's `ResultObject`. No verdict is made here; only names and scales change.
//!
//! | Action | Native |
//! |---|---|
//! | InitFaceVerify | a session: ID_PRO, LR_FR, PV_FV or ID_PLUS |
//! | DescribeFaceVerify | the session's outcome |
//! | ContrastFaceVerify | ID_MIN |
//! | LivenessFaceVerify | LR_FR_MIN |
//! | CompareFaceVerify | PV_FC |
//! | CompareFaces | PV_FC, in the first scene enabling it |
//! | Id2MetaVerify | ID_2META, in the first scene enabling it |
//! | Mobile3MetaSimpleVerify | ID_3META_PHONE, in the first scene enabling it |
//! | BankMetaVerify | ID_4META_BANK (and its 3-element form), in the first scene enabling it |
//! | DeleteFaceVerifyResult | deletes the record and its images |

use serde_json::{Value, json};
use shiren_verify::error::echo;
use shiren_verify::products::{self, CompareRequest, Detail, ElementsRequest, IdentityRequest, PhotoRequest};
use shiren_verify::scenes::{self, Product};
use shiren_verify::sessions::{self, SessionProduct, SessionRequest};
use shiren_verify::{Caller, Error, ErrorCode, records};

use super::codes::{CONFIDENCE_THRESHOLDS, alibaba_score};
use super::params::{Params, PictureParam};
use crate::App;
use shiren_verify::images::ImageSource;

/// Actions a read-only key may call: they change nothing.
pub const READS: &[&str] = &["DescribeFaceVerify"];

/// Every action served, for the unknown-action answer and the docs.
pub const SUPPORTED: &[&str] = &[
    "InitFaceVerify",
    "DescribeFaceVerify",
    "ContrastFaceVerify",
    "LivenessFaceVerify",
    "CompareFaceVerify",
    "CompareFaces",
    "Id2MetaVerify",
    "Mobile3MetaSimpleVerify",
    "BankMetaVerify",
    "DeleteFaceVerifyResult",
];

/// What an action answers besides `RequestId`, `Code` and `Message`.
pub struct Context<'a> {
    pub app: &'a App,
    pub caller: &'a Caller,
    pub params: &'a Params,
    /// Where people reach this service, for capture and image links.
    pub base: Option<String>,
}

pub async fn run(action: &str, cx: &Context<'_>) -> Result<Value, Error> {
    match action {
        "InitFaceVerify" => init_face_verify(cx).await,
        "DescribeFaceVerify" => describe_face_verify(cx).await,
        "ContrastFaceVerify" => contrast_face_verify(cx).await,
        "LivenessFaceVerify" => liveness_face_verify(cx).await,
        "CompareFaceVerify" => compare_face_verify(cx).await,
        "CompareFaces" => compare_faces(cx).await,
        "Id2MetaVerify" => id2_meta_verify(cx).await,
        "Mobile3MetaSimpleVerify" => mobile3_meta_simple_verify(cx).await,
        "BankMetaVerify" => bank_meta_verify(cx).await,
        "DeleteFaceVerifyResult" => delete_face_verify_result(cx).await,
        _ => Err(Error::new(ErrorCode::NotFound, "no such action")),
    }
}

fn flag(passed: bool) -> &'static str {
    if passed { "T" } else { "F" }
}

async fn scene_of(cx: &Context<'_>) -> Result<String, Error> {
    scenes::id_of_alias(&cx.app.services.store, cx.params.scene_alias("SceneId")?).await
}

/// A photo parameter as an image source; a CertifyId brings the photo that verification kept.
async fn picture(cx: &Context<'_>, prefix: &str) -> Result<Option<ImageSource>, Error> {
    Ok(match cx.params.picture(prefix)? {
        PictureParam::None => None,
        PictureParam::Image(source) => Some(source),
        PictureParam::Earlier(id) => {
            Some(ImageSource::from_bytes(records::passed_photo(&cx.app.services, cx.caller, &id).await?))
        }
    })
}

fn require_image(source: Option<ImageSource>, prefix: &str) -> Result<ImageSource, Error> {
    source.ok_or_else(|| {
        Error::new(ErrorCode::MissingImage, format!("{prefix}FaceContrastPicture, its Url or a CertifyId is required"))
    })
}

fn check_product(cx: &Context<'_>, expected: &str) -> Result<(), Error> {
    cx.params.one_of("ProductCode", &[expected]).map(|_| ())
}

fn check_cert_type(cx: &Context<'_>) -> Result<(), Error> {
    cx.params.one_of("CertType", &["IDENTITY_CARD"]).map(|_| ())
}

/// `MaterialInfo`: Alibaba's JSON-in-a-string of what was found about the face.
fn material_info(attack: bool, quality: Option<f64>, score: Option<f64>, picture: Option<&str>) -> String {
    let mut front = serde_json::Map::new();
    if let Some(q) = quality {
        front.insert("qualityScore".into(), json!(q));
    }
    if let Some(s) = score {
        front.insert("verifyScore".into(), json!(alibaba_score(s)));
    }
    if let Some(url) = picture {
        front.insert("pictureUrl".into(), json!(url));
    }
    json!({ "faceAttack": flag(attack), "facialPictureFront": front }).to_string()
}

fn photo_result(v: &products::Verification) -> Value {
    let attack = v.sub_code.as_str() == "205";
    json!({
        "CertifyId": v.verification_id,
        "Passed": flag(v.passed),
        "SubCode": v.sub_code.as_str(),
        "MaterialInfo": material_info(attack, v.quality_score, v.score, None),
    })
}

async fn init_face_verify(cx: &Context<'_>) -> Result<Value, Error> {
    let p = cx.params;
    let product = match p.required("ProductCode")?.as_str() {
        "ID_PRO" => SessionProduct::IdPro,
        "LR_FR" => SessionProduct::LrFr,
        "PV_FV" => SessionProduct::PvFv,
        "ID_PLUS" => SessionProduct::IdPlus,
        other => {
            return Err(Error::new(
                ErrorCode::InvalidProduct,
                format!("ProductCode {} is not served here; use ID_PRO, LR_FR, PV_FV or ID_PLUS", echo(other)),
            ));
        }
    };
    check_cert_type(cx)?;
    let model = p
        .one_of("Model", &["LIVENESS", "PHOTINUS_LIVENESS", "MULTI_ACTION", "MULTI_PHOTINUS"])?
        .unwrap_or_else(|| "LIVENESS".into());
    let base = cx.base.clone().ok_or_else(|| {
        Error::new(ErrorCode::InvalidParameter, "no usable Host header: configure public_url for capture links")
    })?;
    let mut request: SessionRequest = serde_json::from_value(json!({
        "scene_id": scene_of(cx).await?,
        "product": product,
        "liveness": model,
        "order_no": p.text("OuterOrderNo"),
        "name": p.text("CertName"),
        "id_number": p.text("CertNo"),
        "return_url": p.text("ReturnUrl"),
        "callback_url": p.text("CallbackUrl"),
        "callback_token": p.text("CallbackToken"),
    }))
    .map_err(|e| Error::new(ErrorCode::InvalidParameter, e.to_string()))?;
    request.reference_image = picture(cx, "").await?;
    let created = sessions::create(&cx.app.services, cx.caller, request).await?;
    Ok(json!({ "ResultObject": {
        "CertifyId": created.verification_id,
        "CertifyUrl": format!("{base}/h5/{}", created.capture_token),
    }}))
}

async fn describe_face_verify(cx: &Context<'_>) -> Result<Value, Error> {
    let id = cx.params.required("CertifyId")?;
    // The scene is checked before the session is read (and the read audited).
    if let Some(alias) = cx.params.get("SceneId") {
        let scene = scenes::id_of_alias(&cx.app.services.store, cx.params.scene_alias("SceneId")?).await?;
        if scene != sessions::scene_of(&cx.app.services, &id).await? {
            return Err(Error::new(ErrorCode::NotFound, format!("verification {id} is not in scene {}", echo(alias))));
        }
    }
    let view = sessions::describe(&cx.app.services, cx.caller, &id).await?;
    let Some(passed) = view.passed else {
        let message = match view.state.as_str() {
            "expired" | "declined" => format!("the verification ended without a result: {}", view.state),
            _ => "the verification is not finished yet".to_string(),
        };
        return Err(Error::new(ErrorCode::SessionBusy, message));
    };
    if view.material.is_none() {
        // DeleteFaceVerifyResult erased its record: the result is gone, as the cloud's would be.
        return Err(Error::new(ErrorCode::NotFound, format!("the result of {id} was deleted")));
    }
    let sub_code = view.sub_code.clone().unwrap_or_default();
    let picture = view.images.first().map(|link| format!("{}{link}", cx.base.as_deref().unwrap_or("")));
    Ok(json!({ "ResultObject": {
        "Passed": flag(passed),
        "SubCode": sub_code,
        "MaterialInfo": material_info(sub_code == "205", None, view.score, picture.as_deref()),
        "IdentityInfo": Value::Null,
        "Success": "True",
    }}))
}

async fn contrast_face_verify(cx: &Context<'_>) -> Result<Value, Error> {
    let p = cx.params;
    check_product(cx, "ID_MIN")?;
    check_cert_type(cx)?;
    let request = IdentityRequest {
        scene_id: scene_of(cx).await?,
        order_no: p.text("OuterOrderNo"),
        name: p.required("CertName")?,
        id_number: p.required("CertNo")?,
        image: require_image(picture(cx, "").await?, "")?,
    };
    let v = products::identity(&cx.app.services, cx.caller, request).await?;
    let mut result = photo_result(&v);
    result["IdentityInfo"] = Value::Null;
    Ok(json!({ "ResultObject": result }))
}

async fn liveness_face_verify(cx: &Context<'_>) -> Result<Value, Error> {
    check_product(cx, "LR_FR_MIN")?;
    let request = PhotoRequest {
        scene_id: scene_of(cx).await?,
        order_no: cx.params.text("OuterOrderNo"),
        image: require_image(picture(cx, "").await?, "")?,
    };
    let v = products::liveness(&cx.app.services, cx.caller, request).await?;
    Ok(json!({ "ResultObject": photo_result(&v) }))
}

async fn compare_face_verify(cx: &Context<'_>) -> Result<Value, Error> {
    check_product(cx, "PV_FC")?;
    let request = CompareRequest {
        scene_id: scene_of(cx).await?,
        order_no: cx.params.text("OuterOrderNo"),
        image_a: require_image(picture(cx, "Source").await?, "Source")?,
        image_b: require_image(picture(cx, "Target").await?, "Target")?,
    };
    let v = products::compare(&cx.app.services, cx.caller, request).await?;
    Ok(json!({ "ResultObject": {
        "CertifyId": v.verification_id,
        "Passed": flag(v.passed),
        "VerifyScore": v.score.map(alibaba_score),
    }}))
}

/// CompareFaces' images: `FacePic` only, each an http(s) URL or base64.
fn image_value(cx: &Context<'_>, side: &str) -> Result<ImageSource, Error> {
    cx.params.one_of(&format!("{side}ImageType"), &["FacePic"])?;
    let value = cx
        .params
        .get(&format!("{side}ImageValue"))
        .ok_or_else(|| Error::new(ErrorCode::MissingImage, format!("{side}ImageValue is required")))?;
    Ok(if value.starts_with("http://") || value.starts_with("https://") {
        ImageSource::from_url(value.to_string())
    } else {
        ImageSource::from_base64(value.to_string())
    })
}

async fn compare_faces(cx: &Context<'_>) -> Result<Value, Error> {
    let scene = scenes::first_for_product(&cx.app.services.store, Product::PvFc).await?;
    let request = CompareRequest {
        scene_id: scene.id,
        order_no: None,
        image_a: image_value(cx, "Source")?,
        image_b: image_value(cx, "Target")?,
    };
    let v = products::compare(&cx.app.services, cx.caller, request).await?;
    Ok(json!({
        "Success": true,
        "Data": {
            "SimilarityScore": v.score.map(alibaba_score),
            "ConfidenceThresholds": CONFIDENCE_THRESHOLDS,
        },
    }))
}

/// An element check in the lowest-numbered scene enabling its product (these actions name no
/// scene); plaintext parameters only (`ParamType` normal).
async fn element_check(
    cx: &Context<'_>,
    phone: Option<String>,
    bank_card: Option<String>,
) -> Result<products::Verification, Error> {
    let p = cx.params;
    p.one_of("ParamType", &["normal"])?;
    let request = ElementsRequest {
        scene_id: String::new(),
        order_no: None,
        name: p.required("UserName")?,
        id_number: p.required("IdentifyNum")?,
        phone,
        bank_card,
    };
    let scene = scenes::first_for_product(&cx.app.services.store, request.product()).await?;
    products::elements(&cx.app.services, cx.caller, ElementsRequest { scene_id: scene.id, ..request }).await
}

/// Alibaba's BizCode: 1 consistent, 2 inconsistent, 3 no record.
fn biz_code(v: &products::Verification) -> &'static str {
    match &v.detail {
        Detail::Elements(d) if !d.found => "3",
        _ if v.passed => "1",
        _ => "2",
    }
}

async fn id2_meta_verify(cx: &Context<'_>) -> Result<Value, Error> {
    let v = element_check(cx, None, None).await?;
    Ok(json!({ "ResultObject": { "BizCode": biz_code(&v) } }))
}

async fn mobile3_meta_simple_verify(cx: &Context<'_>) -> Result<Value, Error> {
    let v = element_check(cx, Some(cx.params.required("Mobile")?), None).await?;
    Ok(json!({ "ResultObject": { "BizCode": biz_code(&v) } }))
}

async fn bank_meta_verify(cx: &Context<'_>) -> Result<Value, Error> {
    let p = cx.params;
    p.one_of("VerifyMode", &["VERIFY_BANK_CARD"])?;
    // The bank card with name and ID number (3), and the phone (4); the 2-element form (card and
    // name alone) has no ID number to check against the authority here.
    let mobile = match p.one_of("ProductType", &["BANK_CARD_3_META", "BANK_CARD_4_META"])?.as_deref() {
        Some("BANK_CARD_4_META") => Some(p.required("Mobile")?),
        Some(_) => None,
        None => return Err(Error::new(ErrorCode::MissingIdentity, "ProductType is required")),
    };
    let v = element_check(cx, mobile, Some(p.required("BankCard")?)).await?;
    let sub_code = match biz_code(&v) {
        "1" => "101",
        "2" => "201",
        _ => "305",
    };
    Ok(json!({ "ResultObject": { "BizCode": biz_code(&v), "SubCode": sub_code } }))
}

async fn delete_face_verify_result(cx: &Context<'_>) -> Result<Value, Error> {
    let id = cx.params.required("CertifyId")?;
    // A session still under way has no result to delete yet; deleting then would let it write one.
    if let Ok(view) = sessions::describe(&cx.app.services, cx.caller, &id).await
        && view.passed.is_none()
        && !matches!(view.state.as_str(), "expired" | "declined")
    {
        return Ok(json!({ "ResultObject": { "CertifyId": id, "DeleteResult": "N", "FailReason": "NOT_FINISHED" } }));
    }
    let outcome = records::delete(&cx.app.services, cx.caller, &id).await;
    Ok(json!({ "ResultObject": match outcome {
        Ok(_) => json!({ "CertifyId": id, "DeleteResult": "Y" }),
        Err(e) if e.code == ErrorCode::NotFound => {
            json!({ "CertifyId": id, "DeleteResult": "N", "FailReason": "NOT_DELETE_REPEATEDLY" })
        }
        Err(e) => return Err(e),
    }}))
}
