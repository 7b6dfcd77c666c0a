//! `/v1/audit`: the audit log.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use shiren_store::{AuditEntry, Page};
use shiren_verify::audit::{self, AuditQuery};

use crate::App;
use crate::http::extract::QueryParams;
use crate::http::response::{Envelope, Reply, ok};

pub fn routes() -> Router<App> {
    Router::new().route("/v1/audit", get(audit_log))
}

/// A page of audit entries (the store's own type, as the API shows it).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = AuditPage)]
pub struct AuditPage {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<AuditEntry>,
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
}

impl From<Page<AuditEntry>> for AuditPage {
    fn from(p: Page<AuditEntry>) -> Self {
        AuditPage { items: p.items, total: p.total, page: p.page, page_size: p.page_size }
    }
}

/// The audit log: administrative actions, reads of records and images, failed authentications.
#[utoipa::path(get, path = "/v1/audit", tag = "records", params(AuditQuery), responses((status = 200, body = Envelope<AuditPage>)))]
pub async fn audit_log(State(app): State<App>, QueryParams(query): QueryParams<AuditQuery>) -> Reply<AuditPage> {
    ok(audit::list(&app.services.store, &query).await?.into())
}
