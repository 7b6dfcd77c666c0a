//! The local authority registry (the `local` provider): the `authority_registry` table, filled
//! by `shiren authority import`. It holds keyed hashes of ID numbers and names, their masked
//! forms for display, and an encrypted face template, never a photo or a clear number.

use sqlx::FromRow;

use crate::{Result, Store};

#[derive(Debug, Clone, FromRow)]
pub struct AuthorityEntry {
    pub id_number_hash: String,
    pub name_hash: String,
    pub id_number_masked: String,
    pub name_masked: String,
    /// Encrypted face template, when a usable reference photo was imported.
    pub template_enc: Option<Vec<u8>>,
    pub created_at: i64,
}

impl Store {
    pub async fn upsert_authority(&self, entry: &AuthorityEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO authority_registry (id_number_hash, name_hash, id_number_masked, name_masked, template_enc, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id_number_hash) DO UPDATE SET name_hash = excluded.name_hash, \
             id_number_masked = excluded.id_number_masked, name_masked = excluded.name_masked, \
             template_enc = excluded.template_enc, created_at = excluded.created_at",
        )
        .bind(&entry.id_number_hash)
        .bind(&entry.name_hash)
        .bind(&entry.id_number_masked)
        .bind(&entry.name_masked)
        .bind(entry.template_enc.clone())
        .bind(entry.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn authority(&self, id_number_hash: &str) -> Result<Option<AuthorityEntry>> {
        Ok(sqlx::query_as("SELECT * FROM authority_registry WHERE id_number_hash = $1")
            .bind(id_number_hash)
            .fetch_optional(&self.pool)
            .await?)
    }
}
