//! Access keys and request nonces: the `access_keys` table (secrets stored only encrypted,
//! bound to their key id) and `request_nonces`, which refuses a signed request seen before.

use serde::{Deserialize, Serialize};
use sqlx::any::{Any, AnyTypeInfo, AnyValueRef};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, FromRow};
use thiserror::Error;

use crate::{Purpose, Result, Store, StoreError, now_ms, random_token};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Everything: verifications and changes.
    Full,
    /// Records, statistics and queries only.
    Readonly,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Full => "full",
            Policy::Readonly => "readonly",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(Policy::Full),
            "readonly" => Some(Policy::Readonly),
            _ => None,
        }
    }
}

/// A `policy` column holding neither `full` nor `readonly`.
#[derive(Debug, Error)]
#[error("unknown access-key policy {0:?}")]
struct UnknownPolicy(String);

// The `policy` column is text. sqlx derives enum decoding for each database but not for its `Any`
// driver, and a `#[sqlx(try_from = "String")]` field would work but sqlx 0.9 reports its failures
// as "unprintable error", losing the stored value; so `Policy` is a column type of its own.
impl sqlx::Type<Any> for Policy {
    fn type_info() -> AnyTypeInfo {
        <str as sqlx::Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <str as sqlx::Type<Any>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, Any> for Policy {
    fn decode(value: AnyValueRef<'r>) -> std::result::Result<Self, BoxDynError> {
        let name = <&str as sqlx::Decode<Any>>::decode(value)?;
        Ok(Policy::parse(name).ok_or_else(|| UnknownPolicy(name.to_owned()))?)
    }
}

impl sqlx::Encode<'_, Any> for Policy {
    fn encode_by_ref(&self, buf: &mut <Any as Database>::ArgumentBuffer) -> std::result::Result<IsNull, BoxDynError> {
        <&str as sqlx::Encode<Any>>::encode(self.as_str(), buf)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, FromRow)]
pub struct AccessKey {
    pub id: String,
    pub policy: Policy,
    /// `enabled` or `disabled`.
    pub status: String,
    pub description: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A whole `access_keys` row: the key and its sealed secret, which only
/// [`Store::access_key_with_secret`] reads.
#[derive(FromRow)]
struct SealedAccessKey {
    #[sqlx(flatten)]
    key: AccessKey,
    secret_enc: Vec<u8>,
}

/// The secret of key `id` is sealed to this context, so a secret copied onto another key's row
/// does not decrypt.
fn secret_context(id: &str) -> String {
    format!("access_key:{id}")
}

impl Store {
    /// Creates a key; the secret is returned once and stored only encrypted.
    pub async fn create_access_key(&self, policy: Policy, description: &str) -> Result<(AccessKey, String)> {
        let id = format!("SR{}", random_token(22)?);
        let secret = random_token(32)?;
        let sealed = self.keys.seal(Purpose::Secrets, &secret_context(&id), secret.as_bytes())?;
        let key = AccessKey {
            id: id.clone(),
            policy,
            status: "enabled".into(),
            description: description.to_string(),
            created_at: now_ms(),
            last_used_at: None,
        };
        sqlx::query(
            "INSERT INTO access_keys (id, secret_enc, policy, status, description, created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(&key.id)
        .bind(sealed)
        .bind(policy)
        .bind(&key.status)
        .bind(&key.description)
        .bind(key.created_at)
        .execute(&self.pool)
        .await?;
        Ok((key, secret))
    }

    /// The key, without its secret.
    pub async fn access_key(&self, id: &str) -> Result<Option<AccessKey>> {
        Ok(sqlx::query_as("SELECT * FROM access_keys WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
    }

    /// The key and its decrypted secret.
    pub async fn access_key_with_secret(&self, id: &str) -> Result<Option<(AccessKey, String)>> {
        let row = sqlx::query_as::<_, SealedAccessKey>("SELECT * FROM access_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(SealedAccessKey { key, secret_enc }) = row else { return Ok(None) };
        let secret = self.keys.open(Purpose::Secrets, &secret_context(id), &secret_enc)?;
        let secret = String::from_utf8(secret).map_err(|_| StoreError::Corrupt("secret is not UTF-8".into()))?;
        Ok(Some((key, secret)))
    }

    pub async fn list_access_keys(&self) -> Result<Vec<AccessKey>> {
        Ok(sqlx::query_as("SELECT * FROM access_keys ORDER BY created_at, id").fetch_all(&self.pool).await?)
    }

    pub async fn set_access_key_status(&self, id: &str, enabled: bool) -> Result<bool> {
        let status = if enabled { "enabled" } else { "disabled" };
        let done = sqlx::query("UPDATE access_keys SET status = $1 WHERE id = $2")
            .bind(status)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete_access_key(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM access_keys WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn touch_access_key(&self, id: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE access_keys SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a request nonce; `false` when this key already used it (a replay).
    pub async fn remember_nonce(&self, key_id: &str, nonce: &str, expires_at: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO request_nonces (key_id, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT (key_id, nonce) DO NOTHING",
        )
        .bind(key_id)
        .bind(nonce)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn purge_nonces(&self, now: i64) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM request_nonces WHERE expires_at < $1").bind(now).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
