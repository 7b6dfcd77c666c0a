//! Alibaba Cloud's codes and scales, from ours: which of our error codes the gateway answers with
//! an HTTP error (signatures, keys, limits: the SDK raises its exception) and which Cloudauth
//! answers as a business `Code` in an HTTP 200 body (the SDK returns it), and the comparison
//! score on Alibaba's scale.

use shiren_verify::ErrorCode;

/// How an error is answered: an HTTP status with Alibaba's gateway code, or a Cloudauth
/// business code (HTTP 200) with its documented message.
pub enum Answer {
    Gateway { status: u16, code: &'static str },
    Business { code: &'static str, message: &'static str },
}

pub fn answer(code: ErrorCode) -> Answer {
    use ErrorCode as E;
    let gateway = |status, code| Answer::Gateway { status, code };
    let business = |code, message| Answer::Business { code, message };
    match code {
        E::MissingAuthorization | E::InvalidAuthorization | E::MissingSignedHeader => {
            gateway(400, "IncompleteSignature")
        }
        E::UnsupportedSignatureAlgorithm => gateway(400, "InvalidSignatureMethod"),
        E::SignatureDoesNotMatch | E::ContentSha256Mismatch => gateway(400, "SignatureDoesNotMatch"),
        E::InvalidContentSha256 => gateway(400, "IncompleteSignature"),
        E::AccessKeyNotFound => gateway(404, "InvalidAccessKeyId.NotFound"),
        E::AccessKeyInactive => gateway(400, "InvalidAccessKeyId.Inactive"),
        E::InvalidTimestamp => gateway(400, "InvalidTimeStamp.Format"),
        E::RequestTimeTooSkewed => gateway(400, "InvalidTimeStamp.Expired"),
        E::InvalidSignatureNonce => gateway(400, "MissingSignatureNonce"),
        E::SignatureNonceUsed => gateway(400, "SignatureNonceUsed"),
        E::ReadOnlyKey => gateway(403, "Forbidden.RAM"),
        E::RequestTooLarge => gateway(413, "RequestEntityTooLarge"),
        E::RequestTimeout => gateway(408, "RequestTimeout"),
        E::InvalidQuery | E::InvalidBody | E::InvalidJson | E::InvalidMultipart | E::UnsupportedContentType => {
            gateway(400, "InvalidParameter")
        }
        E::ServiceBusy | E::DeadlineExceeded => gateway(503, "ServiceUnavailable"),
        E::InternalError => gateway(500, "InternalError"),
        E::MissingImage | E::MissingIdentity => business("400", "参数不能为空"),
        E::SceneNotFound | E::ProductNotEnabled => business("404", "认证场景配置不存在"),
        E::AmbiguousImage => business("420", "数据重复"),
        E::ImageBytesTooLarge | E::ImageTooLarge => business("421", "传入图片过大"),
        E::ImageUrlUnreachable => business("422", "下载图片超时"),
        E::EmptyImage
        | E::UnsupportedImageFormat
        | E::TruncatedImage
        | E::CorruptImage
        | E::ImageTooSmall
        | E::NoFace
        | E::ImageUrlNotAllowed
        | E::ImageUrlForbidden
        | E::InvalidImageUrl => business("419", "传入图片不可用"),
        E::AuthorityUnavailable | E::ElementNotSupported => business("417", "无法使用刷脸服务"),
        E::NotFound => business("406", "无效的certifyId"),
        E::SessionBusy => business("403", "认证未完成"),
        E::InvalidOperation => business("423", "状态错误"),
        _ => business("401", "参数非法"),
    }
}

/// Our comparison score (60, 70 and 80 at FAR 1e-3, 1e-4 and 1e-5, from the calibration) on
/// Alibaba's scale, which its CompareFaces documents as 70.02, 80.01 and 90.07 at FAR 1e-2,
/// 1e-3 and 1e-4, so that a caller's threshold keeps its meaning. Both scales are piecewise
/// linear between anchors; ours has none at 1e-2, so 70.02 falls at our 52.5 (a cosine of
/// 0.225 with the default calibration), which is stricter than the model's own 1e-2 point:
/// a threshold set there refuses more, never accepts more. Above 1e-4, Alibaba documents no
/// point; our 1e-5 maps to 95, keeping the scale increasing to 100.
pub fn alibaba_score(ours: f64) -> f64 {
    const ANCHORS: [(f64, f64); 5] = [(0.0, 0.0), (60.0, 80.01), (70.0, 90.07), (80.0, 95.0), (100.0, 100.0)];
    if !ours.is_finite() {
        return 0.0;
    }
    let s = ours.clamp(0.0, 100.0);
    let mut mapped = 100.0;
    for w in ANCHORS.windows(2) {
        let ((a0, b0), (a1, b1)) = (w[0], w[1]);
        if s <= a1 {
            mapped = b0 + (s - a0) / (a1 - a0) * (b1 - b0);
            break;
        }
    }
    (mapped * 1e4).round() / 1e4
}

/// CompareFaces' `ConfidenceThresholds`, as Alibaba documents them (and as [`alibaba_score`]
/// places our calibration on them).
pub const CONFIDENCE_THRESHOLDS: &str = r#"{"0.0001":"90.07","0.001":"80.01","0.01":"70.02"}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_far_anchors_land_on_alibabas() {
        assert_eq!(alibaba_score(60.0), 80.01);
        assert_eq!(alibaba_score(70.0), 90.07);
        assert_eq!(alibaba_score(0.0), 0.0);
        assert_eq!(alibaba_score(100.0), 100.0);
        assert_eq!(alibaba_score(f64::NAN), 0.0, "not a number fails closed");
        let mut last = -1.0;
        for i in 0..=1000 {
            let s = alibaba_score(f64::from(i) / 10.0);
            assert!(s >= last, "the scale increases");
            last = s;
        }
    }
}
