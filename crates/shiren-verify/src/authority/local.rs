//! The local registry provider: rows imported with `shiren authority import`. It keeps no
//! names, numbers or photos: a keyed hash of the ID number is the key, a keyed hash of the name
//! answers "does the name match", and the reference is a face template encrypted at rest. Phone
//! numbers and bank cards are not held, so 3- and 4-element checks need the HTTP provider.

use shiren_store::{Purpose, Store};

use super::{AuthorityAnswer, AuthorityError, AuthorityQuery, Reference, id_hash, name_matches, template_from_bytes};

pub struct LocalRegistry {
    store: Store,
}

impl LocalRegistry {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub async fn lookup(&self, query: &AuthorityQuery) -> Result<AuthorityAnswer, AuthorityError> {
        let keys = self.store.keys();
        let hash = id_hash(keys, &query.id_number);
        let entry = self.store.authority(&hash).await.map_err(|e| AuthorityError::Internal(e.to_string()))?;
        let Some(entry) = entry else { return Ok(AuthorityAnswer::NotFound) };
        let name_matches = name_matches(keys, &query.name, &entry.name_hash);
        let reference = match (&entry.template_enc, query.want_reference) {
            (Some(sealed), true) => {
                let plain = keys
                    .open(Purpose::Templates, &format!("authority:{hash}"), sealed)
                    .map_err(|e| AuthorityError::Internal(e.to_string()))?;
                let template = template_from_bytes(&plain)
                    .ok_or_else(|| AuthorityError::Internal("stored face template is malformed".into()))?;
                Some(Reference::Template(template))
            }
            _ => None,
        };
        Ok(AuthorityAnswer::Found { name_matches, phone_matches: None, bank_card_matches: None, reference })
    }
}

/// How one identity's import went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// Kept with a face template from its reference photo.
    WithReference,
    /// Kept without one (no photo, or none with a usable face).
    WithoutReference,
}

/// The face template a reference photo is kept as.
pub fn template_of(engine: &shiren_face::Engine, photo: &[u8]) -> Result<Vec<f32>, shiren_face::FaceError> {
    engine.subject_embedding(photo).map(|(embedding, _)| embedding)
}

/// Adds (or replaces) one validated identity in the local registry: the name and ID number only
/// as keyed hashes (plus masked forms), the reference only as an encrypted face template. An
/// identity without a template answers ID_MIN with 203.
pub async fn import(
    store: &Store,
    name: &str,
    id_number: &shiren_idcard::IdNumber,
    template: Option<&[f32]>,
) -> Result<Imported, AuthorityError> {
    let keys = store.keys();
    let hash = id_hash(keys, id_number.number());
    let sealed = template
        .map(|t| keys.seal(Purpose::Templates, &format!("authority:{hash}"), &super::template_to_bytes(t)))
        .transpose()
        .map_err(|e| AuthorityError::Internal(e.to_string()))?;
    let imported = if sealed.is_some() { Imported::WithReference } else { Imported::WithoutReference };
    store
        .upsert_authority(&shiren_store::AuthorityEntry {
            id_number_hash: hash,
            name_hash: super::name_hash(keys, name),
            id_number_masked: shiren_idcard::mask_id_number(id_number.number()),
            name_masked: shiren_idcard::mask_name(name),
            template_enc: sealed,
            created_at: shiren_store::now_ms(),
        })
        .await
        .map_err(|e| AuthorityError::Internal(e.to_string()))?;
    Ok(imported)
}
