//! FaceID 2018-03-01 actions, each mapped onto a native product or session of the verification
//! core. Similarity (`Sim`) is our score as it is: Tencent documents 70 as FAR 1e-4, and so is
//! ours (60 at 1e-3, 80 at 1e-5, from the calibration).
//!
//! | Action | Native |
//! |---|---|
//! | DetectAuth | a session (ID_PRO with IdCard and Name, PV_FV with ImageBase64, else LR_FR) in the scene whose number is RuleId |
//! | GetDetectInfoEnhanced | the session's outcome |
//! | IdCardVerification | ID_2META, in the first scene enabling it |
//! | ImageRecognition, ImageRecognitionV2 | ID_MIN, in the first scene enabling it |
//! | PhoneVerification | ID_3META_PHONE, in the first scene enabling it |
//! | BankCardVerification, BankCard4EVerification | ID_4META_BANK, in the first scene enabling it |

use serde_json::{Map, Value, json};
use shiren_verify::images::ImageSource;
use shiren_verify::products::{self, Detail, ElementsRequest, IdentityRequest};
use shiren_verify::scenes::{self, Product};
use shiren_verify::sessions::{self, SessionProduct, SessionRequest};
use shiren_verify::{Caller, Error, ErrorCode};

use crate::App;

/// Actions a read-only key may call.
pub const READS: &[&str] = &["GetDetectInfoEnhanced"];

pub const SUPPORTED: &[&str] = &[
    "DetectAuth",
    "GetDetectInfoEnhanced",
    "IdCardVerification",
    "ImageRecognition",
    "ImageRecognitionV2",
    "PhoneVerification",
    "BankCardVerification",
    "BankCard4EVerification",
];

pub struct Context<'a> {
    pub app: &'a App,
    pub caller: &'a Caller,
    pub params: &'a Map<String, Value>,
    pub base: Option<String>,
}

impl Context<'_> {
    /// A text parameter; empty counts as absent.
    fn text(&self, name: &str) -> Option<String> {
        match self.params.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }

    fn required(&self, name: &str) -> Result<String, Error> {
        self.text(name).ok_or_else(|| Error::new(ErrorCode::MissingIdentity, format!("{name} is required")))
    }

    /// `RuleId`: a scene's number, or its native id.
    async fn scene(&self) -> Result<String, Error> {
        let rule = self.required("RuleId")?;
        match rule.parse::<i64>() {
            Ok(alias) => scenes::id_of_alias(&self.app.services.store, alias).await,
            Err(_) => Ok(scenes::get(&self.app.services.store, &rule).await?.id),
        }
    }
}

pub async fn run(action: &str, cx: &Context<'_>) -> Result<Value, Error> {
    match action {
        "DetectAuth" => detect_auth(cx).await,
        "GetDetectInfoEnhanced" => get_detect_info_enhanced(cx).await,
        "IdCardVerification" => id_card_verification(cx).await,
        "ImageRecognition" | "ImageRecognitionV2" => image_recognition(cx).await,
        "PhoneVerification" => phone_verification(cx).await,
        "BankCardVerification" => bank_card_verification(cx, false).await,
        "BankCard4EVerification" => bank_card_verification(cx, true).await,
        _ => Err(Error::new(ErrorCode::NotFound, "no such action")),
    }
}

async fn detect_auth(cx: &Context<'_>) -> Result<Value, Error> {
    let base = cx.base.clone().ok_or_else(|| {
        Error::new(ErrorCode::InvalidParameter, "no usable Host header: configure public_url for capture links")
    })?;
    let (name, id_number) = (cx.text("Name"), cx.text("IdCard"));
    let image = cx.text("ImageBase64");
    let product = match (&name, &id_number, &image) {
        (_, _, Some(_)) => SessionProduct::PvFv,
        (Some(_), Some(_), None) => SessionProduct::IdPro,
        (None, None, None) => SessionProduct::LrFr,
        _ => return Err(Error::new(ErrorCode::MissingIdentity, "give both IdCard and Name, or neither")),
    };
    // The caller's Extra comes back with the result; it is kept as the order number.
    let extra = cx.text("Extra");
    let mut request: SessionRequest = serde_json::from_value(json!({
        "scene_id": cx.scene().await?,
        "product": product,
        "liveness": "LIVENESS",
        "order_no": extra,
        "name": if product == SessionProduct::IdPro { name } else { None },
        "id_number": if product == SessionProduct::IdPro { id_number } else { None },
        "return_url": cx.text("RedirectUrl"),
    }))
    .map_err(|e| Error::new(ErrorCode::InvalidParameter, e.to_string()))?;
    request.reference_image = image.map(ImageSource::from_base64);
    let created = sessions::create(&cx.app.services, cx.caller, request).await?;
    Ok(json!({
        "Url": format!("{base}/h5/{}", created.capture_token),
        "BizToken": created.verification_id,
    }))
}

async fn get_detect_info_enhanced(cx: &Context<'_>) -> Result<Value, Error> {
    let token = cx.required("BizToken")?;
    // The scene is checked before the session is read (and the read audited).
    if cx.scene().await? != sessions::scene_of(&cx.app.services, &token).await? {
        return Err(Error::new(ErrorCode::NotFound, "this BizToken was not issued under this RuleId"));
    }
    let view = sessions::describe(&cx.app.services, cx.caller, &token).await?;
    // The record `describe` just read (and audited): its masked name and number.
    let record = cx.app.services.store.record(&token).await?;
    let (name, id_card) = record.map(|r| (r.name_masked, r.id_number_masked)).unwrap_or_default();
    // The core's SubCodes say which stage refused: 205 liveness, 204 the comparison.
    let liveness_failed = view.sub_code.as_deref() == Some("205");
    let compare_failed = view.sub_code.as_deref() == Some("204");
    let text = match view.passed {
        None => json!({
            "ErrCode": Value::Null,
            "ErrMsg": format!("not finished: {}", view.state),
            "Extra": view.order_no,
        }),
        Some(passed) => {
            let sub_code = view.sub_code.clone().unwrap_or_default();
            json!({
                "ErrCode": if passed { 0 } else { sub_code.parse::<i64>().unwrap_or(-1) },
                "ErrMsg": if passed { "成功".to_string() } else { format!("未通过 (SubCode {sub_code})") },
                "IdCard": id_card,
                "Name": name,
                "LiveStatus": if liveness_failed { 205 } else { 0 },
                "LiveMsg": if liveness_failed { "活体检测未通过" } else { "成功" },
                "Comparestatus": if compare_failed { 204 } else { 0 },
                "Comparemsg": if compare_failed { "比对相似度未达到阈值" } else { "成功" },
                "Sim": view.score.map(|s| format!("{s:.2}")),
                "Extra": view.order_no,
            })
        }
    };
    Ok(json!({ "Text": text }))
}

/// How an element check came out, for the per-action result tables.
enum Elements {
    Match,
    Mismatch,
    NotFound,
    BadName,
    BadIdNumber,
    BadPhone,
    BadBankCard,
    Unavailable,
}

/// An element check in the lowest-numbered scene enabling its product (these actions name no
/// scene); invalid elements and an unavailable authority are results, not errors.
async fn element_check(cx: &Context<'_>, phone: Option<String>, bank_card: Option<String>) -> Result<Elements, Error> {
    let request = ElementsRequest {
        scene_id: String::new(),
        order_no: None,
        name: cx.required("Name")?,
        id_number: cx.required("IdCard")?,
        phone,
        bank_card,
    };
    let scene = scenes::first_for_product(&cx.app.services.store, request.product()).await?;
    let request = ElementsRequest { scene_id: scene.id, ..request };
    Ok(match products::elements(&cx.app.services, cx.caller, request).await {
        Ok(v) => match &v.detail {
            Detail::Elements(d) if !d.found => Elements::NotFound,
            _ if v.passed => Elements::Match,
            _ => Elements::Mismatch,
        },
        Err(e) => match e.code.as_str().split('.').next() {
            Some("InvalidIdNumber") => Elements::BadIdNumber,
            Some("InvalidName") => Elements::BadName,
            Some("InvalidPhone") => Elements::BadPhone,
            Some("InvalidBankCard") => Elements::BadBankCard,
            Some("AuthorityUnavailable") => Elements::Unavailable,
            _ => return Err(e),
        },
    })
}

async fn id_card_verification(cx: &Context<'_>) -> Result<Value, Error> {
    let (result, description) = match element_check(cx, None, None).await? {
        Elements::Match => ("0", "姓名和身份证号一致"),
        Elements::Mismatch => ("-1", "姓名和身份证号不一致"),
        Elements::BadIdNumber => ("-2", "非法身份证号"),
        Elements::BadName => ("-3", "非法姓名"),
        Elements::Unavailable => ("-4", "证件库服务异常"),
        Elements::NotFound | Elements::BadPhone | Elements::BadBankCard => ("-5", "证件库中无此身份证记录"),
    };
    Ok(json!({ "Result": result, "Description": description }))
}

async fn phone_verification(cx: &Context<'_>) -> Result<Value, Error> {
    let (result, description) = match element_check(cx, Some(cx.required("Phone")?), None).await? {
        Elements::Match => ("0", "三要素信息一致"),
        Elements::Mismatch => ("-4", "三要素信息不一致"),
        Elements::BadPhone => ("-6", "手机号码不合法"),
        Elements::BadIdNumber => ("-7", "身份证号码有误"),
        Elements::BadName => ("-8", "姓名校验不通过"),
        Elements::NotFound | Elements::BadBankCard => ("-9", "没有记录"),
        Elements::Unavailable => ("-11", "验证中心服务繁忙"),
    };
    Ok(json!({ "Result": result, "Description": description }))
}

/// BankCardVerification (3 elements) and BankCard4EVerification (with the phone): their
/// tables differ from -5 on.
async fn bank_card_verification(cx: &Context<'_>, with_phone: bool) -> Result<Value, Error> {
    let phone = if with_phone { Some(cx.required("Phone")?) } else { None };
    let outcome = element_check(cx, phone, Some(cx.required("BankCard")?)).await?;
    let (result, description) = match (outcome, with_phone) {
        (Elements::Match, _) => ("0", "认证通过"),
        (Elements::Mismatch, _) => ("-1", "认证未通过"),
        (Elements::BadName, _) => ("-2", "姓名校验不通过"),
        (Elements::BadIdNumber, _) => ("-3", "身份证号码有误"),
        (Elements::BadBankCard, _) => ("-4", "银行卡号码有误"),
        (Elements::BadPhone, _) => ("-5", "手机号码不合法"),
        (Elements::NotFound, false) => ("-5", "持卡人信息有误"),
        (Elements::NotFound, true) => ("-6", "持卡人信息有误"),
        (Elements::Unavailable, false) => ("-17", "验证中心服务繁忙"),
        (Elements::Unavailable, true) => ("-18", "验证中心服务繁忙"),
    };
    Ok(json!({ "Result": result, "Description": description }))
}

async fn image_recognition(cx: &Context<'_>) -> Result<Value, Error> {
    let scene = scenes::first_for_product(&cx.app.services.store, Product::IdMin).await?;
    let request = IdentityRequest {
        scene_id: scene.id,
        order_no: None,
        name: cx.required("Name")?,
        id_number: cx.required("IdCard")?,
        image: ImageSource::from_base64(cx.required("ImageBase64")?),
    };
    let extra = cx.text("Extra");
    let (sim, result, description) = match products::identity(&cx.app.services, cx.caller, request).await {
        Ok(v) => {
            let (result, description) = match v.sub_code.as_str() {
                "200" => ("Success", "成功"),
                "201" => ("FailedOperation.IdNameMisMatch", "姓名和身份证号不一致"),
                "202" => ("FailedOperation.IdNoExistSystem", "库中无此号"),
                "203" => ("FailedOperation.IdPhotoNoExist", "库中无此号照片"),
                "204" => ("FailedOperation.CompareLowSimilarity", "比对相似度未达到阈值"),
                "206" => ("FailedOperation.ImageBlur", "图片质量不合格"),
                _ => ("FailedOperation.CompareFail", "比对失败"),
            };
            (v.score.unwrap_or(0.0), result, description)
        }
        Err(e) if e.code == ErrorCode::NoFace => (0.0, "FailedOperation.ImageNoFace", "图片未检测到人脸"),
        Err(e) if e.code.as_str().starts_with("InvalidImage") => {
            (0.0, "FailedOperation.ImageDecodeFailed", "图片解码失败")
        }
        Err(e) if e.code.as_str().starts_with("InvalidIdNumber") => (0.0, "InvalidParameterValue", "身份证号不合法"),
        Err(e) => return Err(e),
    };
    Ok(json!({ "Sim": (sim * 100.0).round() / 100.0, "Result": result, "Description": description, "Extra": extra }))
}
