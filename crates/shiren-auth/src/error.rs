use thiserror::Error;

/// Why a request failed authentication.
///
/// Each variant is a distinct failure a server maps to its own HTTP status and error code; none
/// of them carries the secret or anything derived from it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// The request has no `Authorization` header (or an empty one).
    #[error("the request has no Authorization header")]
    MissingAuthorization,

    /// The `Authorization` header is not `ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`.
    #[error("malformed Authorization header: {0}")]
    InvalidAuthorization(String),

    /// The `Authorization` header names an algorithm other than ACS3-HMAC-SHA256.
    #[error("unsupported signature algorithm `{0}`, only ACS3-HMAC-SHA256 is accepted")]
    UnsupportedAlgorithm(String),

    /// The AccessKey ID in `Credential=` is not known to the server (or is disabled).
    ///
    /// Produced by the server's key lookup, not by this crate; here so it gets its own code.
    #[error("unknown AccessKey ID `{0}`")]
    InvalidAccessKeyId(String),

    /// A header that must be signed is absent from the request or not listed in `SignedHeaders`.
    #[error("header `{0}` must be present in the request and listed in SignedHeaders")]
    MissingSignedHeader(String),

    /// `x-acs-date` is not a valid `YYYY-MM-DDTHH:MM:SSZ` UTC timestamp.
    #[error("invalid x-acs-date `{0}`, expected YYYY-MM-DDTHH:MM:SSZ in UTC")]
    InvalidTimestamp(String),

    /// `x-acs-date` is further from the server's clock than the allowed window.
    #[error(
        "request time {request_time} is more than {max_skew_secs} s away from server time {server_time} \
         (seconds since the Unix epoch)"
    )]
    RequestTimeTooSkewed {
        /// The request's `x-acs-date`, in seconds since the Unix epoch.
        request_time: i64,
        /// The server's clock, in seconds since the Unix epoch.
        server_time: i64,
        /// The window that was exceeded.
        max_skew_secs: u64,
    },

    /// `x-acs-content-sha256` is not 64 lowercase hex digits, so no body can match it.
    #[error("x-acs-content-sha256 must be the lowercase hex SHA-256 of the body (64 digits), not `{0}`")]
    MalformedContentSha256(String),

    /// `x-acs-content-sha256` does not match the body that actually arrived.
    #[error("x-acs-content-sha256 is `{declared}` but the body hashes to `{computed}`")]
    ContentSha256Mismatch {
        /// The value the client sent.
        declared: String,
        /// The lowercase hex SHA-256 of the body the server received.
        computed: String,
    },

    /// The signature does not match the one computed from the request and the secret.
    ///
    /// Carries the server's canonical request so a client can diff it against its own, as
    /// Alibaba Cloud's error message does with its string to sign.
    #[error("the request signature does not match the server's calculation")]
    SignatureDoesNotMatch {
        /// The canonical request the server signed.
        canonical_request: String,
    },
}
