//! Reading requests into the core's typed inputs, with every refusal a coded error: product
//! requests from JSON or from a multipart form (text fields, and files attached to the image
//! fields they are named after), plain JSON bodies, and query strings.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Multipart, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use shiren_verify::ErrorCode;
use shiren_verify::error::echo;
use shiren_verify::images::HasImages;

use super::response::ApiError;

/// A product request from JSON or multipart form data.
pub struct ProductInput<T>(pub T);

impl<T, S> FromRequest<S> for ProductInput<T>
where
    T: DeserializeOwned + HasImages,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.starts_with("multipart/form-data") {
            from_multipart(req, state).await.map(ProductInput)
        } else if content_type.starts_with("application/json") {
            let bytes = axum::body::Bytes::from_request(req, state)
                .await
                .map_err(|e| ApiError::new(ErrorCode::InvalidBody, format!("cannot read the body: {e}")))?;
            serde_json::from_slice::<T>(&bytes)
                .map(ProductInput)
                .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("request body: {e}")))
        } else {
            Err(ApiError::new(ErrorCode::UnsupportedContentType, "send application/json or multipart/form-data"))
        }
    }
}

async fn from_multipart<T, S>(req: Request, state: &S) -> Result<T, ApiError>
where
    T: DeserializeOwned + HasImages,
    S: Send + Sync,
{
    let invalid = |message: String| ApiError::new(ErrorCode::InvalidMultipart, message);
    let mut form =
        Multipart::from_request(req, state).await.map_err(|e| invalid(format!("not a valid multipart form: {e}")))?;
    let mut text = serde_json::Map::new();
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    while let Some(field) = form.next_field().await.map_err(|e| invalid(e.to_string()))? {
        let name = field.name().unwrap_or_default().to_string();
        if field.file_name().is_some() {
            let bytes = field.bytes().await.map_err(|e| invalid(e.to_string()))?;
            files.insert(name, bytes.to_vec());
        } else {
            let value = field.text().await.map_err(|e| invalid(e.to_string()))?;
            text.insert(name, serde_json::Value::String(value));
        }
    }
    let mut body: T = serde_json::from_value(serde_json::Value::Object(text))
        .map_err(|e| ApiError::new(ErrorCode::InvalidParameter, format!("form fields: {e}")))?;
    for (name, source) in body.image_fields() {
        if let Some(bytes) = files.remove(name) {
            source.attach_upload(bytes);
        }
    }
    if let Some(extra) = files.keys().next() {
        return Err(ApiError::new(ErrorCode::InvalidParameter, format!("unexpected file field {}", echo(extra))));
    }
    Ok(body)
}

/// A JSON body; anything else is `InvalidJson`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|axum::Json(v)| JsonBody(v))
            .map_err(|e| ApiError::new(ErrorCode::InvalidJson, e.body_text()))
    }
}

/// Query parameters; anything unexpected is `InvalidParameter`.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| QueryParams(v))
            .map_err(|e| ApiError::new(ErrorCode::InvalidParameter, e.body_text()))
    }
}
