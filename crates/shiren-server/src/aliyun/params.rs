//! An Alibaba Cloud call's parameters: the query string and a form body, merged into one set of
//! names (the SDKs put some parameters in each, as the API description says). A name given twice
//! is refused rather than one of its values picked, so that what was signed and what is acted on
//! cannot differ.

use std::collections::BTreeMap;

use shiren_verify::error::echo;
use shiren_verify::images::ImageSource;
use shiren_verify::{Error, ErrorCode};

use crate::gateway::VendorCall;

/// The most parameters a call may carry (the largest action takes about forty).
const MAX_PARAMS: usize = 200;

#[derive(Debug, Default)]
pub struct Params(BTreeMap<String, String>);

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidParameter, message)
}

impl Params {
    /// The query's and the form body's parameters. A body of another type carries none (the
    /// V3 signature still covers it).
    pub fn of(call: &VendorCall) -> Result<Params, Error> {
        let mut params = Params::default();
        for (k, v) in form_urlencoded::parse(call.raw_query.as_bytes()) {
            params.insert(&k, &v)?;
        }
        if call.has_form_body() {
            for (k, v) in form_urlencoded::parse(&call.body) {
                params.insert(&k, &v)?;
            }
        }
        Ok(params)
    }

    pub fn insert(&mut self, name: &str, value: &str) -> Result<(), Error> {
        if self.0.len() >= MAX_PARAMS {
            return Err(invalid(format!("more than {MAX_PARAMS} parameters")));
        }
        if self.0.insert(name.to_string(), value.to_string()).is_some() {
            return Err(invalid(format!("parameter {name} is given more than once")));
        }
        Ok(())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A parameter's value; an empty value counts as absent, as the SDKs send unset fields so.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    pub fn required(&self, name: &str) -> Result<String, Error> {
        self.text(name).ok_or_else(|| Error::new(ErrorCode::MissingIdentity, format!("{name} is required")))
    }

    /// An optional parameter that, when given, must be one of `allowed`.
    pub fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v.to_string())),
            Some(v) => Err(invalid(format!("{name} {} is not supported here; use {}", echo(v), allowed.join(" or ")))),
        }
    }

    /// A scene number (`SceneId`).
    pub fn scene_alias(&self, name: &str) -> Result<i64, Error> {
        let text = self.required(name)?;
        text.parse().map_err(|_| invalid(format!("{name} must be a number")))
    }

    /// A photo given as `{prefix}FaceContrastPicture` (base64) or
    /// `{prefix}FaceContrastPictureUrl`; OSS bucket names are refused (no OSS here) and a
    /// `{prefix}CertifyId` is answered by the caller (it needs the record's stored image).
    pub fn picture(&self, prefix: &str) -> Result<PictureParam, Error> {
        let base64 = self.text(&format!("{prefix}FaceContrastPicture"));
        let url = self.text(&format!("{prefix}FaceContrastPictureUrl"));
        let certify = self.text(&format!("{prefix}CertifyId"));
        let oss = self.get(&format!("{prefix}OssBucketName")).is_some()
            || self.get(&format!("{prefix}OssObjectName")).is_some();
        let given = [base64.is_some(), url.is_some(), certify.is_some(), oss].iter().filter(|g| **g).count();
        if given > 1 {
            return Err(Error::new(
                ErrorCode::AmbiguousImage,
                format!("give the {prefix}photo one way only: picture, picture URL or CertifyId"),
            ));
        }
        if oss {
            return Err(invalid("OSS buckets are Alibaba Cloud storage: send the photo as base64 or an http(s) URL"));
        }
        Ok(match (base64, url, certify) {
            (Some(b), _, _) => PictureParam::Image(ImageSource::from_base64(b)),
            (_, Some(u), _) => PictureParam::Image(ImageSource::from_url(u)),
            (_, _, Some(c)) => PictureParam::Earlier(c),
            _ => PictureParam::None,
        })
    }
}

/// How a photo was given.
pub enum PictureParam {
    None,
    Image(ImageSource),
    /// The best frame or photo of an earlier verification, by its id.
    Earlier(String),
}
