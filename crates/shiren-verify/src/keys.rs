//! Access keys: created with a secret shown once, listed without secrets, disabled, enabled and
//! deleted, by full-access keys over the API or by an administrator at the command line. Every
//! change is audited.

use serde::{Deserialize, Serialize};
use shiren_store::{AccessKey, Policy, Store};

use crate::caller::Caller;
use crate::error::{Error, ErrorCode};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyInput {
    /// `full` or `readonly`.
    #[schema(value_type = String, example = "readonly")]
    pub policy: Policy,
    #[serde(default)]
    pub description: String,
}

/// A new key; the secret is shown only here.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    pub access_key_id: String,
    pub access_key_secret: String,
    #[schema(value_type = String)]
    pub policy: Policy,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub access_key_id: String,
    #[schema(value_type = String)]
    pub policy: Policy,
    /// `enabled` or `disabled`.
    pub status: String,
    pub description: String,
    pub created_at: i64,
    /// When the key last authenticated a request, to the minute (Unix milliseconds).
    pub last_used_at: Option<i64>,
}

impl From<AccessKey> for KeyView {
    fn from(k: AccessKey) -> Self {
        KeyView {
            access_key_id: k.id,
            policy: k.policy,
            status: k.status,
            description: k.description,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        }
    }
}

/// A key's new status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyStatus {
    pub access_key_id: String,
    pub status: String,
}

fn full_access(caller: &Caller, what: &str) -> Result<(), Error> {
    if caller.policy == Policy::Full {
        Ok(())
    } else {
        Err(Error::new(ErrorCode::ReadOnlyKey, format!("only full-access keys may {what}")))
    }
}

pub async fn create(store: &Store, caller: &Caller, input: &KeyInput) -> Result<CreatedKey, Error> {
    full_access(caller, "create keys")?;
    if input.description.chars().count() > 200 {
        return Err(Error::new(ErrorCode::InvalidDescription, "description must be at most 200 characters"));
    }
    let (key, secret) = store.create_access_key(input.policy, &input.description).await?;
    caller.audit(store, "key.create", &key.id, serde_json::json!({ "policy": key.policy })).await?;
    Ok(CreatedKey { access_key_id: key.id, access_key_secret: secret, policy: key.policy })
}

pub async fn list(store: &Store, caller: &Caller) -> Result<Vec<KeyView>, Error> {
    full_access(caller, "list keys")?;
    Ok(store.list_access_keys().await?.into_iter().map(KeyView::from).collect())
}

/// Disables or enables a key; a disabled key's requests (and image links) are refused.
pub async fn set_enabled(store: &Store, caller: &Caller, id: &str, enabled: bool) -> Result<KeyStatus, Error> {
    full_access(caller, "change keys")?;
    if id == caller.actor && !enabled {
        return Err(Error::new(ErrorCode::InvalidOperation, "a key cannot disable itself"));
    }
    if !store.set_access_key_status(id, enabled).await? {
        return Err(Error::not_found("access key"));
    }
    let status = if enabled { "enabled" } else { "disabled" };
    caller.audit(store, if enabled { "key.enable" } else { "key.disable" }, id, serde_json::json!({})).await?;
    Ok(KeyStatus { access_key_id: id.to_string(), status: status.into() })
}

/// Deletes a key for good.
pub async fn delete(store: &Store, caller: &Caller, id: &str) -> Result<(), Error> {
    full_access(caller, "delete keys")?;
    if id == caller.actor {
        return Err(Error::new(ErrorCode::InvalidOperation, "a key cannot delete itself"));
    }
    if !store.delete_access_key(id).await? {
        return Err(Error::not_found("access key"));
    }
    caller.audit(store, "key.delete", id, serde_json::json!({})).await
}
