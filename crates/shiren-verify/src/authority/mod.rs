//! The authority data source (权威数据源): what a national identity service answers about a
//! name, an ID number (and a phone or bank card), and its reference face, behind one interface
//! with two providers:
//!
//! - [`local`]: a registry imported with `shiren authority import`, keeping no names, numbers or
//!   photos, only keyed hashes and encrypted face templates;
//! - [`http`]: an external gateway speaking a small JSON contract.

pub mod http;
pub mod local;

use serde::{Deserialize, Serialize};
use shiren_store::{Keyring, Purpose, Store};

/// Which provider answers, from configuration (`[authority]` in the server's file).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase", deny_unknown_fields)]
pub enum AuthorityConfig {
    /// The registry imported with `shiren authority import`.
    #[default]
    Local,
    /// An external gateway speaking the JSON contract in the README.
    Http {
        url: String,
        /// Sent as `Authorization: Bearer TOKEN`.
        #[serde(default)]
        token: Option<String>,
        #[serde(default = "default_timeout_ms")]
        timeout_ms: u64,
    },
}

fn default_timeout_ms() -> u64 {
    3000
}

/// What the caller claims.
#[derive(Debug, Clone)]
pub struct AuthorityQuery {
    pub name: String,
    pub id_number: String,
    pub phone: Option<String>,
    pub bank_card: Option<String>,
    pub want_reference: bool,
}

/// The authority's reference face.
#[derive(Debug, Clone)]
pub enum Reference {
    /// A template computed at import time.
    Template(Vec<f32>),
    /// A photo the caller must embed.
    Photo(Vec<u8>),
}

#[derive(Debug, Clone)]
pub enum AuthorityAnswer {
    NotFound,
    Found {
        name_matches: bool,
        phone_matches: Option<bool>,
        bank_card_matches: Option<bool>,
        reference: Option<Reference>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error("the authority data source is unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

pub enum Authority {
    Local(local::LocalRegistry),
    Http(http::Gateway),
}

impl Authority {
    pub fn from_config(config: &AuthorityConfig, store: Store) -> Result<Self, AuthorityError> {
        Ok(match config {
            AuthorityConfig::Local => Authority::Local(local::LocalRegistry::new(store)),
            AuthorityConfig::Http { url, token, timeout_ms } => {
                Authority::Http(http::Gateway::new(url, token.clone(), *timeout_ms)?)
            }
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Authority::Local(_) => "local",
            Authority::Http(_) => "http",
        }
    }

    /// Whether this provider can check phone numbers and bank cards.
    pub fn answers_phone_and_card(&self) -> bool {
        matches!(self, Authority::Http(_))
    }

    pub async fn lookup(&self, query: &AuthorityQuery) -> Result<AuthorityAnswer, AuthorityError> {
        match self {
            Authority::Local(registry) => registry.lookup(query).await,
            Authority::Http(gateway) => gateway.lookup(query).await,
        }
    }
}

/// What a name is hashed as: trimmed, Latin case folded (CJK names are compared as written).
fn name_text(name: &str) -> String {
    format!("name:{}", name.trim().to_lowercase())
}

/// The keyed hash of an ID number that records and the local registry are searched by.
pub fn id_hash(keys: &Keyring, id_number: &str) -> String {
    keys.keyed_hash(Purpose::PersonalDataHash, &format!("id:{}", id_number.trim().to_ascii_uppercase()))
}

pub fn name_hash(keys: &Keyring, name: &str) -> String {
    keys.keyed_hash(Purpose::PersonalDataHash, &name_text(name))
}

/// Whether `name` is the one `hash` was made from (in constant time).
pub fn name_matches(keys: &Keyring, name: &str, hash: &str) -> bool {
    keys.verify_keyed_hash(Purpose::PersonalDataHash, &name_text(name), hash)
}

pub fn template_to_bytes(template: &[f32]) -> Vec<u8> {
    template.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn template_from_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    (bytes.len().is_multiple_of(4) && !bytes.is_empty())
        .then(|| bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}
