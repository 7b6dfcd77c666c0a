//! The audit log: the `audit_log` table, append-only from the service's side. Every
//! administrative action, every read of a record or image and every failed authentication is
//! written here, with the server's request id beside the caller's own.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use crate::{Page, Paging, Result, Store, new_id, now_ms};

#[derive(Debug, Clone, Serialize, Deserialize, FromRow)]
pub struct AuditEntry {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    /// The server's id of the request that did it.
    pub request_id: String,
    /// The caller's own `x-request-id`, if it sent one (unsigned: for correlation only).
    pub client_request_id: Option<String>,
    /// The peer address the request came from.
    pub source: Option<String>,
}

/// Something to write to the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent<'a> {
    /// The access key, `cli:USER`, `retention`, or `anonymous` for a failed authentication.
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    /// JSON.
    pub detail: &'a str,
    pub request_id: &'a str,
    pub client_request_id: Option<&'a str>,
    pub source: Option<&'a str>,
}

impl Store {
    pub async fn audit(&self, event: &AuditEvent<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, target, detail, request_id, client_request_id, source) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new_id("au"))
        .bind(now_ms())
        .bind(event.actor)
        .bind(event.action)
        .bind(event.target)
        .bind(event.detail)
        .bind(event.request_id)
        .bind(event.client_request_id)
        .bind(event.source)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn list_audit(&self, from_ms: i64, to_ms: i64, paging: Paging) -> Result<Page<AuditEntry>> {
        let Paging { page, page_size } = paging;
        let offset = paging.checked_offset()?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE at >= $1 AND at < $2")
            .bind(from_ms)
            .bind(to_ms)
            .fetch_one(&self.pool)
            .await?;
        let items = sqlx::query_as(
            "SELECT * FROM audit_log WHERE at >= $1 AND at < $2 ORDER BY at DESC, id DESC LIMIT $3 OFFSET $4",
        )
        .bind(from_ms)
        .bind(to_ms)
        .bind(page_size)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok(Page { items, total, page, page_size })
    }
}
