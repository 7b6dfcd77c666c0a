//! Who is asking: an access key authenticated by a surface, the command line, or the service
//! itself (the retention sweep). Records name the caller's key; the audit log names the caller,
//! the server's request id, the caller's own request id and the source address.

use std::net::IpAddr;

use serde::Serialize;
use shiren_store::{AuditEvent, Policy, Store};

use crate::error::Error;

#[derive(Debug, Clone)]
pub struct Caller {
    /// The access key id, `cli:USER`, or a service task such as `retention`.
    pub actor: String,
    pub policy: Policy,
    /// The server's id of the request.
    pub request_id: String,
    /// The caller's own request id, kept for correlation only (unsigned, not unique).
    pub client_request_id: Option<String>,
    pub source: Option<IpAddr>,
}

impl Caller {
    /// An administrator at the command line.
    pub fn command_line() -> Self {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Self::internal(&format!("cli:{user}"))
    }

    /// The service acting on its own (`retention`, ...).
    pub fn internal(actor: &str) -> Self {
        Self {
            actor: actor.to_string(),
            policy: Policy::Full,
            request_id: shiren_store::new_id("in"),
            client_request_id: None,
            source: None,
        }
    }

    /// Writes an entry to the audit log in this caller's name.
    pub async fn audit(&self, store: &Store, action: &str, target: &str, detail: impl Serialize) -> Result<(), Error> {
        let detail = serde_json::to_string(&detail).map_err(Error::internal)?;
        let source = self.source.map(|s| s.to_string());
        let event = AuditEvent {
            actor: &self.actor,
            action,
            target,
            detail: &detail,
            request_id: &self.request_id,
            client_request_id: self.client_request_id.as_deref(),
            source: source.as_deref(),
        };
        store.audit(&event).await?;
        Ok(())
    }
}
