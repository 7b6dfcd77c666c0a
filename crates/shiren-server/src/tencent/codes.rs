//! Tencent Cloud's error codes, from ours. Every error is answered HTTP 200 with
//! `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`, as the cloud answers it.

use shiren_verify::ErrorCode;

pub fn code(code: ErrorCode) -> &'static str {
    use ErrorCode as E;
    match code {
        E::MissingAuthorization
        | E::InvalidAuthorization
        | E::MissingSignedHeader
        | E::UnsupportedSignatureAlgorithm => "AuthFailure.InvalidAuthorization",
        E::SignatureDoesNotMatch
        | E::SignatureNonceUsed
        | E::InvalidSignatureNonce
        | E::ContentSha256Mismatch
        | E::InvalidContentSha256 => "AuthFailure.SignatureFailure",
        E::AccessKeyNotFound | E::AccessKeyInactive => "AuthFailure.SecretIdNotFound",
        E::InvalidTimestamp | E::RequestTimeTooSkewed => "AuthFailure.SignatureExpire",
        E::ReadOnlyKey => "AuthFailure.UnauthorizedOperation",
        E::RequestTooLarge => "RequestSizeLimitExceeded",
        E::ServiceBusy => "RequestLimitExceeded",
        E::MissingImage | E::MissingIdentity => "MissingParameter",
        E::SceneNotFound | E::ProductNotEnabled => "InvalidParameterValue.RuleIdNotExist",
        E::NotFound => "InvalidParameterValue.BizTokenIllegal",
        E::SessionBusy => "FailedOperation.BizTokenNotFinished",
        E::NoFace => "FailedOperation.ImageNoFace",
        E::ImageBytesTooLarge | E::ImageTooLarge => "FailedOperation.ImageSizeTooLarge",
        E::EmptyImage | E::UnsupportedImageFormat | E::TruncatedImage | E::CorruptImage | E::ImageTooSmall => {
            "FailedOperation.ImageDecodeFailed"
        }
        E::AuthorityUnavailable => "FailedOperation.UnKnown",
        E::ElementNotSupported => "UnsupportedOperation",
        E::DeadlineExceeded | E::InternalError => "InternalError",
        _ => "InvalidParameterValue",
    }
}
