//! Every error the service can answer with, in one table: its stable code, its HTTP status and a
//! fixed description. Codes follow one style, the vendors' (`PascalCase`, a dot before a
//! refinement: `InvalidImage.Truncated`). The description never quotes what the caller sent, so
//! it is what records and logs keep; the caller gets the specific message too.
//!
//! Library errors (engine, ID numbers and other elements, signatures, storage, the authority) are
//! mapped to codes here and nowhere else. Each surface turns a code into its own response: the
//! native API by `ErrorCode::status`, vendor facades by their own tables beside their routes.
//!
//! Also the SubCodes of a finished verification: `200` pass, `201`-`209` the documented
//! refusals, or the error code of a verification that failed on its input.

use std::fmt;

use serde::{Serialize, Serializer};
use shiren_auth::AuthError;
use shiren_face::FaceError;
use shiren_idcard::{BankCardError, IdNumberError, NameError, PhoneError};
use shiren_store::StoreError;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $status:literal, $description:literal; )*) => {
        /// A stable error code. See the module documentation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as callers see it.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The HTTP status the native API answers with.
            pub fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// What the code means, in words safe to store and to show anyone.
            pub fn description(self) -> &'static str {
                match self { $(ErrorCode::$variant => $description,)* }
            }
        }
    };
}

error_codes! {
    // -- signatures and access keys
    MissingAuthorization = "MissingAuthorization", 401, "the request is not signed";
    InvalidAuthorization = "InvalidAuthorization", 400, "the Authorization header is malformed";
    UnsupportedSignatureAlgorithm = "UnsupportedSignatureAlgorithm", 400, "only ACS3-HMAC-SHA256 signatures are accepted";
    AccessKeyNotFound = "InvalidAccessKeyId.NotFound", 401, "no such access key";
    AccessKeyInactive = "InvalidAccessKeyId.Inactive", 403, "the access key is disabled";
    MissingSignedHeader = "MissingSignedHeader", 400, "a header that must be signed is missing or unsigned";
    InvalidTimestamp = "InvalidTimestamp", 400, "x-acs-date is not a UTC timestamp";
    RequestTimeTooSkewed = "RequestTimeTooSkewed", 401, "the request time is too far from the server's clock";
    SignatureDoesNotMatch = "SignatureDoesNotMatch", 401, "the signature does not match";
    ContentSha256Mismatch = "ContentSha256Mismatch", 400, "the body is not the one that was signed";
    InvalidContentSha256 = "InvalidContentSha256", 400, "x-acs-content-sha256 is not a lowercase hex SHA-256";
    InvalidSignatureNonce = "InvalidSignatureNonce", 400, "the signature nonce must be 1-128 characters";
    SignatureNonceUsed = "SignatureNonceUsed", 401, "the signature nonce was already used (a replay)";
    ReadOnlyKey = "Forbidden.ReadOnlyKey", 403, "a read-only key may not change anything";

    // -- the request itself
    InvalidQuery = "InvalidQuery", 400, "the query string is ambiguous or not UTF-8";
    RequestTooLarge = "RequestTooLarge", 413, "the request body is too large";
    RequestTimeout = "RequestTimeout", 408, "the request body did not arrive in time";
    UnsupportedContentType = "UnsupportedContentType", 415, "send application/json or multipart/form-data";
    InvalidJson = "InvalidJson", 400, "the body is not the JSON this endpoint takes";
    InvalidBody = "InvalidBody", 400, "the body cannot be read";
    InvalidMultipart = "InvalidMultipart", 400, "the multipart form is malformed";
    InvalidParameter = "InvalidParameter", 400, "a parameter is invalid";
    InvalidName = "InvalidParameter.Name", 400, "the name is invalid";
    InvalidDescription = "InvalidParameter.Description", 400, "the description is too long";
    InvalidRetentionDays = "InvalidParameter.RetentionDays", 400, "retention_days is out of range";
    InvalidLivenessSettings = "InvalidParameter.Liveness", 400, "a liveness setting is out of range";
    InvalidOrderNo = "InvalidParameter.OrderNo", 400, "the order number is too long or not printable";
    InvalidProduct = "InvalidParameter.Product", 400, "no such product";
    InvalidTime = "InvalidParameter.Time", 400, "a time is neither Unix milliseconds nor YYYY-MM-DD";
    InvalidRange = "InvalidParameter.Range", 400, "the statistics range is invalid";
    InvalidPage = "InvalidParameter.Page", 400, "the page is out of range";
    InvalidOperation = "InvalidOperation", 400, "the operation is not allowed";
    NotFound = "NotFound", 404, "no such resource";
    InvalidLink = "InvalidLink", 403, "the image link is not valid";
    LinkExpired = "LinkExpired", 410, "the image link has expired";

    // -- verifications
    SceneNotFound = "SceneNotFound", 404, "no such scene";
    ProductNotEnabled = "ProductNotEnabled", 403, "the scene does not enable this product";
    MissingImage = "MissingImage", 400, "an image is missing";
    AmbiguousImage = "AmbiguousImage", 400, "an image was given in more than one form";
    InvalidBase64 = "InvalidBase64", 400, "an image is not valid base64";
    ImageUrlNotAllowed = "ImageUrlNotAllowed", 403, "the scene does not accept image URLs";
    ImageUrlForbidden = "ImageUrlForbidden", 403, "the image URL leads to an address that is not fetched";
    InvalidImageUrl = "InvalidImageUrl", 400, "the image URL is invalid";
    ImageUrlUnreachable = "ImageUrlUnreachable", 502, "the image URL could not be fetched";
    EmptyImage = "InvalidImage.Empty", 400, "an image is empty";
    ImageBytesTooLarge = "InvalidImage.BytesTooLarge", 413, "an image file is too large";
    UnsupportedImageFormat = "InvalidImage.UnsupportedFormat", 400, "an image is not JPEG, PNG, WebP or BMP";
    TruncatedImage = "InvalidImage.Truncated", 400, "an image is truncated";
    CorruptImage = "InvalidImage.Corrupt", 400, "an image is corrupt";
    ImageTooLarge = "InvalidImage.TooLarge", 413, "an image has too many pixels";
    ImageTooSmall = "InvalidImage.TooSmall", 400, "an image is too small to hold a face";
    NoFace = "NoFace", 422, "no face was found in an image";
    IdNumberWrongLength = "InvalidIdNumber.WrongLength", 400, "an ID number has 18 characters";
    IdNumberFirstGeneration = "InvalidIdNumber.FirstGeneration", 400, "15-digit ID numbers are not accepted";
    IdNumberInvalidCharacter = "InvalidIdNumber.InvalidCharacter", 400, "the ID number has a character that is not allowed";
    IdNumberWrongCheckCharacter = "InvalidIdNumber.WrongCheckCharacter", 400, "the ID number's check character is wrong";
    IdNumberInvalidBirthDate = "InvalidIdNumber.InvalidBirthDate", 400, "the ID number's birth date does not exist";
    IdNumberBirthDateTooEarly = "InvalidIdNumber.BirthDateTooEarly", 400, "the ID number's birth date is too early";
    IdNumberBirthDateInFuture = "InvalidIdNumber.BirthDateInFuture", 400, "the ID number's birth date is in the future";
    IdNumberUnknownRegion = "InvalidIdNumber.UnknownRegion", 400, "the ID number's region code does not exist";
    NameEmpty = "InvalidName.Empty", 400, "the name is empty";
    NameTooLong = "InvalidName.TooLong", 400, "the name is too long";
    NameInvalidCharacter = "InvalidName.InvalidCharacter", 400, "the name has a character that is not allowed";
    NameMisplacedSeparator = "InvalidName.MisplacedSeparator", 400, "a separator in the name is misplaced";
    PhoneWrongLength = "InvalidPhone.WrongLength", 400, "a mobile number has 11 digits";
    PhoneInvalidCharacter = "InvalidPhone.InvalidCharacter", 400, "the mobile number has a character that is not a digit";
    PhoneInvalidPrefix = "InvalidPhone.InvalidPrefix", 400, "the mobile number's prefix is not a mainland one";
    BankCardWrongLength = "InvalidBankCard.WrongLength", 400, "a bank card number has 12 to 19 digits";
    BankCardInvalidCharacter = "InvalidBankCard.InvalidCharacter", 400, "the bank card number has a character that is not a digit";
    BankCardWrongCheckDigit = "InvalidBankCard.WrongCheckDigit", 400, "the bank card number fails its check digit";
    AuthorityUnavailable = "AuthorityUnavailable", 503, "the authority data source is unavailable";
    ElementNotSupported = "ElementNotSupported", 501, "the authority cannot check phone numbers or bank cards";

    // -- interactive sessions and the capture page
    InvalidUrl = "InvalidParameter.Url", 400, "a return or callback URL is not a valid http(s) URL";
    InvalidCallbackToken = "InvalidParameter.CallbackToken", 400, "the callback token is too long or not printable";
    MissingIdentity = "MissingParameter.Identity", 400, "this product needs name and id_number";
    UnexpectedParameter = "InvalidParameter.NotForProduct", 400, "a parameter was given that this product does not take";
    CaptureLinkInvalid = "CaptureLinkInvalid", 404, "the capture link is not valid";
    SessionExpired = "SessionExpired", 410, "the verification session has expired";
    SessionAlreadyUsed = "SessionAlreadyUsed", 409, "the verification session has already ended";
    SessionBusy = "SessionBusy", 409, "the session's frames are being judged";
    ConsentRequired = "ConsentRequired", 409, "the person has not agreed to the verification";
    InvalidNonce = "InvalidNonce", 403, "the upload does not carry the session's challenge nonce";
    InvalidFrames = "InvalidFrames", 400, "the uploaded frames or their description are invalid";
    CardsRequired = "CardsRequired", 409, "both sides of the ID card must be photographed before the liveness challenge";
    NotACardStep = "InvalidOperation.NoCardStep", 400, "this session's product takes no card photos";

    // -- galleries and 1:N search
    GalleryNotFound = "GalleryNotFound", 404, "no such gallery";
    GalleryAlreadyExists = "GalleryAlreadyExists", 409, "a gallery with this name already exists";
    GalleryEmpty = "GalleryEmpty", 409, "the gallery has no faces to search";
    PersonNotFound = "PersonNotFound", 404, "the gallery has no such person";
    FaceNotFound = "FaceNotFound", 404, "the gallery has no such face";
    FaceAlreadyEnrolled = "FaceAlreadyEnrolled", 409, "this photo is already enrolled in the gallery";
    EnrolmentQualityTooLow = "InvalidImage.LowQuality", 422, "the face's quality is too low to enrol";
    InvalidExternalId = "InvalidParameter.ExternalId", 400, "the external id is empty, too long or not printable";
    InvalidAttributes = "InvalidParameter.Attributes", 400, "the attributes are not a JSON object of at most 4 KB";
    InvalidTopK = "InvalidParameter.TopK", 400, "top_k is out of range";

    // -- the service
    ServiceBusy = "ServiceBusy", 503, "the service is busy; retry later";
    DeadlineExceeded = "DeadlineExceeded", 503, "the request took longer than the service allows; retry later";
    InternalError = "InternalError", 500, "internal error; see the server log";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An error with its code and a message for the caller (which may quote the input; store the
/// code's description instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    /// For `ServiceBusy`: when to retry.
    pub retry_after_secs: Option<u64>,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after_secs: None }
    }

    /// The code with its own description as the message.
    pub fn of(code: ErrorCode) -> Self {
        Self::new(code, code.description())
    }

    pub fn busy(retry_after_secs: u64, message: &str) -> Self {
        Self { retry_after_secs: Some(retry_after_secs), ..Self::new(ErrorCode::ServiceBusy, message) }
    }

    /// An error of ours: logged with its cause, answered without it.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::of(ErrorCode::InternalError)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// The same error with `what: ` before its message (which field or image it concerns).
    pub fn about(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

/// A caller-supplied value quoted in a message: at most 64 characters, so that an 11 MB field
/// is not sent back (or logged) whole.
pub fn echo(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}… ({} characters)", &value[..cut], value.chars().count()),
    }
}

// ---------------------------------------------------------------- library errors

/// The code of an engine error: image and face problems are the caller's, engine failures ours.
pub fn face_code(e: &FaceError) -> ErrorCode {
    match e {
        FaceError::EmptyImage => ErrorCode::EmptyImage,
        FaceError::ImageBytesTooLarge { .. } => ErrorCode::ImageBytesTooLarge,
        FaceError::UnsupportedFormat(_) => ErrorCode::UnsupportedImageFormat,
        FaceError::TruncatedImage(_) => ErrorCode::TruncatedImage,
        FaceError::CorruptImage(_) => ErrorCode::CorruptImage,
        FaceError::ImageTooLarge { .. } | FaceError::DecodeLimit(_) => ErrorCode::ImageTooLarge,
        FaceError::ImageTooSmall { .. } => ErrorCode::ImageTooSmall,
        FaceError::NoFace => ErrorCode::NoFace,
        FaceError::Model { .. } | FaceError::Runtime(_) => ErrorCode::InternalError,
    }
}

impl From<FaceError> for Error {
    fn from(e: FaceError) -> Self {
        match face_code(&e) {
            ErrorCode::InternalError => Error::internal(e),
            code => Error::new(code, e.to_string()),
        }
    }
}

/// An error of work that runs both engines (the OCR products decode with the face engine's
/// bounded decoder and look for the portrait's face).
#[derive(Debug)]
pub enum EngineError {
    Face(FaceError),
    Ocr(shiren_ocr::OcrError),
}

impl From<FaceError> for EngineError {
    fn from(e: FaceError) -> Self {
        EngineError::Face(e)
    }
}

impl From<shiren_ocr::OcrError> for EngineError {
    fn from(e: shiren_ocr::OcrError) -> Self {
        EngineError::Ocr(e)
    }
}

impl From<EngineError> for Error {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Face(e) => e.into(),
            EngineError::Ocr(e @ shiren_ocr::OcrError::ImageTooSmall { .. }) => {
                Error::new(ErrorCode::ImageTooSmall, e.to_string())
            }
            EngineError::Ocr(e) => Error::internal(e),
        }
    }
}

impl From<IdNumberError> for Error {
    fn from(e: IdNumberError) -> Self {
        let code = match e {
            IdNumberError::WrongLength { .. } => ErrorCode::IdNumberWrongLength,
            IdNumberError::FirstGeneration => ErrorCode::IdNumberFirstGeneration,
            IdNumberError::InvalidCharacter { .. } => ErrorCode::IdNumberInvalidCharacter,
            IdNumberError::WrongCheckCharacter { .. } => ErrorCode::IdNumberWrongCheckCharacter,
            IdNumberError::InvalidBirthDate { .. } => ErrorCode::IdNumberInvalidBirthDate,
            IdNumberError::BirthDateTooEarly { .. } => ErrorCode::IdNumberBirthDateTooEarly,
            IdNumberError::BirthDateInFuture { .. } => ErrorCode::IdNumberBirthDateInFuture,
            IdNumberError::UnknownRegion { .. } => ErrorCode::IdNumberUnknownRegion,
        };
        Error::new(code, e.to_string())
    }
}

impl From<NameError> for Error {
    fn from(e: NameError) -> Self {
        let code = match e {
            NameError::Empty => ErrorCode::NameEmpty,
            NameError::TooLong { .. } => ErrorCode::NameTooLong,
            NameError::InvalidCharacter { .. } => ErrorCode::NameInvalidCharacter,
            NameError::MisplacedSeparator { .. } => ErrorCode::NameMisplacedSeparator,
        };
        Error::new(code, e.to_string())
    }
}

impl From<PhoneError> for Error {
    fn from(e: PhoneError) -> Self {
        let code = match e {
            PhoneError::WrongLength { .. } => ErrorCode::PhoneWrongLength,
            PhoneError::InvalidCharacter { .. } => ErrorCode::PhoneInvalidCharacter,
            PhoneError::InvalidPrefix { .. } => ErrorCode::PhoneInvalidPrefix,
        };
        Error::new(code, e.to_string())
    }
}

impl From<BankCardError> for Error {
    fn from(e: BankCardError) -> Self {
        let code = match e {
            BankCardError::WrongLength { .. } => ErrorCode::BankCardWrongLength,
            BankCardError::InvalidCharacter { .. } => ErrorCode::BankCardInvalidCharacter,
            BankCardError::WrongCheckDigit => ErrorCode::BankCardWrongCheckDigit,
        };
        Error::new(code, e.to_string())
    }
}

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        let code = match &e {
            AuthError::MissingAuthorization => ErrorCode::MissingAuthorization,
            AuthError::InvalidAuthorization(_) => ErrorCode::InvalidAuthorization,
            AuthError::UnsupportedAlgorithm(_) => ErrorCode::UnsupportedSignatureAlgorithm,
            AuthError::InvalidAccessKeyId(_) => ErrorCode::AccessKeyNotFound,
            AuthError::MissingSignedHeader(_) => ErrorCode::MissingSignedHeader,
            AuthError::InvalidTimestamp(_) => ErrorCode::InvalidTimestamp,
            AuthError::RequestTimeTooSkewed { .. } => ErrorCode::RequestTimeTooSkewed,
            AuthError::MalformedContentSha256(_) => ErrorCode::InvalidContentSha256,
            AuthError::ContentSha256Mismatch { .. } => ErrorCode::ContentSha256Mismatch,
            AuthError::SignatureDoesNotMatch { .. } => ErrorCode::SignatureDoesNotMatch,
        };
        Error::new(code, e.to_string())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::internal(e)
    }
}

impl From<crate::authority::AuthorityError> for Error {
    fn from(e: crate::authority::AuthorityError) -> Self {
        match e {
            crate::authority::AuthorityError::Unavailable(m) => {
                Error::new(ErrorCode::AuthorityUnavailable, format!("the authority data source is unavailable: {m}"))
            }
            crate::authority::AuthorityError::Internal(m) => Error::internal(m),
        }
    }
}

// ---------------------------------------------------------------- SubCodes

/// How a finished verification came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubCode {
    /// `200`: passed.
    Pass,
    /// `201`: the name and the ID number do not match.
    NameMismatch,
    /// `202`: the authority has no such identity.
    IdentityNotFound,
    /// `203`: the authority has no usable reference photo.
    NoReference,
    /// `204`: the faces do not match.
    FaceMismatch,
    /// `205`: liveness risk (attack score, closed eyes, a failed interactive check).
    LivenessRisk,
    /// `206`: photo quality too low.
    LowQuality,
    /// `207`: more than one face.
    MultipleFaces,
    /// `208`: document risk: a copy, a screen recapture, printed fields that contradict each
    /// other or the number, or two sides of different cards.
    DocumentRisk,
    /// `209`: the document could not be read: not the document asked for, or a field
    /// unreadable.
    DocumentUnreadable,
    /// `210`: the face is enrolled under another identity (duplicate-identity check).
    DuplicateIdentity,
    /// The verification failed on its input or the service: the error's code.
    Failed(ErrorCode),
}

impl SubCode {
    pub fn as_str(self) -> &'static str {
        match self {
            SubCode::Pass => "200",
            SubCode::NameMismatch => "201",
            SubCode::IdentityNotFound => "202",
            SubCode::NoReference => "203",
            SubCode::FaceMismatch => "204",
            SubCode::LivenessRisk => "205",
            SubCode::LowQuality => "206",
            SubCode::MultipleFaces => "207",
            SubCode::DocumentRisk => "208",
            SubCode::DocumentUnreadable => "209",
            SubCode::DuplicateIdentity => "210",
            SubCode::Failed(code) => code.as_str(),
        }
    }

    pub fn passed(self) -> bool {
        self == SubCode::Pass
    }
}

impl fmt::Display for SubCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SubCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_in_one_style() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            let first = code.as_str().chars().next().unwrap();
            assert!(first.is_ascii_uppercase(), "{code}");
            assert!(code.as_str().chars().all(|c| c.is_ascii_alphanumeric() || c == '.'), "{code}");
            assert!(!code.as_str().contains('_'), "{code}");
            assert!((400..=599).contains(&code.status()), "{code}");
            assert!(!code.description().is_empty());
        }
    }

    /// The README's table lists every code (a code added here must be documented there).
    #[test]
    fn the_readme_lists_every_code_under_its_status() {
        let readme = include_str!("../../../README.md");
        // The table's rows: `| STATUS | `Code`, `Code` ... |`.
        let rows: Vec<(u16, &str)> = readme
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("| ")?;
                let (status, codes) = rest.split_once(" | ")?;
                Some((status.parse().ok()?, codes))
            })
            .collect();
        for code in ErrorCode::ALL {
            let listed = rows.iter().any(|(status, codes)| {
                *status == code.status()
                    && codes.split(", ").any(|c| c.trim_end_matches(" |").starts_with(&format!("`{code}`")))
            });
            assert!(listed, "{code} is not in the README's table of error codes under {}", code.status());
        }
        let total: usize = rows.iter().map(|(_, codes)| codes.split(", ").count()).sum();
        assert_eq!(total, ErrorCode::ALL.len(), "the README's table lists a code that does not exist");
    }

    #[test]
    fn echoes_are_short() {
        assert_eq!(echo("abc"), "\"abc\"");
        let long = echo(&"x".repeat(100_000));
        assert!(long.len() < 100 && long.ends_with("(100000 characters)"), "{long}");
    }
}
