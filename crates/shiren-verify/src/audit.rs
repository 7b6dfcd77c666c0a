//! Reading the audit log: administrative actions, reads of records and images, failed
//! authentications and retention, newest first. (Writing is `Caller::audit`.)

use serde::Deserialize;
use shiren_store::{AuditEntry, Page, Store};

use crate::error::Error;
use crate::records::{paging, parse_time};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Unix milliseconds or `YYYY-MM-DD` (UTC).
    pub from: Option<String>,
    pub to: Option<String>,
    pub page: Option<i64>,
    /// At most 200 (default 50).
    pub page_size: Option<i64>,
}

pub async fn list(store: &Store, query: &AuditQuery) -> Result<Page<AuditEntry>, Error> {
    let from = parse_time("from", query.from.as_deref(), false)?.unwrap_or(0);
    let to = parse_time("to", query.to.as_deref(), true)?.unwrap_or(i64::MAX);
    Ok(store.list_audit(from, to, paging(query.page, query.page_size, 50, 200)?).await?)
}
