//! 2-, 3- and 4-element checks: name + ID number, + mobile phone, + bank card, against the
//! authority. Every element is validated before the authority is asked.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::identity::checked_identity;
use super::{Detail, Verification};
use crate::authority::{AuthorityAnswer, AuthorityQuery};
use crate::call::{Call, Verdict};
use crate::caller::Caller;
use crate::error::{Error, ErrorCode, SubCode};
use crate::images::{HasImages, ImageSource};
use crate::scenes::Product;
use crate::services::Services;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ElementsRequest {
    pub scene_id: String,
    #[serde(default)]
    pub order_no: Option<String>,
    pub name: String,
    pub id_number: String,
    /// Adds the mobile phone: a 3-element check.
    #[serde(default)]
    pub phone: Option<String>,
    /// Adds the bank card: a 4-element check.
    #[serde(default)]
    pub bank_card: Option<String>,
}

impl HasImages for ElementsRequest {
    fn image_fields(&mut self) -> Vec<(&'static str, &mut ImageSource)> {
        Vec::new()
    }
}

impl ElementsRequest {
    /// ID_2META, ID_3META_PHONE or ID_4META_BANK, by the elements given.
    pub fn product(&self) -> Product {
        match (&self.phone, &self.bank_card) {
            (_, Some(_)) => Product::Id4MetaBank,
            (Some(_), None) => Product::Id3MetaPhone,
            (None, None) => Product::Id2Meta,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ElementsDetail {
    /// Whether the authority has the ID number at all.
    pub found: bool,
    #[serde(flatten)]
    pub matches: Option<ElementMatches>,
}

/// What matched, when the identity was found; `null` for an element not asked about (or that the
/// authority could not judge).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ElementMatches {
    pub name_match: bool,
    pub phone_match: Option<bool>,
    pub bank_card_match: Option<bool>,
}

pub async fn elements(services: &Services, caller: &Caller, request: ElementsRequest) -> Result<Verification, Error> {
    let mut call =
        Call::begin(services, caller, request.product(), &request.scene_id, request.order_no.clone()).await?;
    let outcome = judge(&mut call, &request).await;
    call.conclude(outcome).await
}

async fn judge(call: &mut Call<'_>, request: &ElementsRequest) -> Result<Verdict, Error> {
    let services = call.services;
    let (name, number) = checked_identity(services, &request.name, &request.id_number)?;
    let phone = request.phone.as_deref().map(shiren_idcard::validate_phone).transpose()?.map(str::to_string);
    let card = request.bank_card.as_deref().map(shiren_idcard::validate_bank_card).transpose()?.map(str::to_string);
    if (phone.is_some() || card.is_some()) && !services.authority.answers_phone_and_card() {
        return Err(Error::new(
            ErrorCode::ElementNotSupported,
            format!(
                "the {} authority provider holds names and ID numbers only; configure an http gateway for phone and bank card checks",
                services.authority.name()
            ),
        ));
    }
    call.claim_identity(name.clone(), number.clone());
    let query = AuthorityQuery { name, id_number: number, phone, bank_card: card, want_reference: false };
    let asked = Instant::now();
    let answer = services.authority.lookup(&query).await;
    call.time("authority", asked);
    Ok(match answer? {
        AuthorityAnswer::NotFound => {
            Verdict::new(SubCode::IdentityNotFound, Detail::Elements(ElementsDetail { found: false, matches: None }))
        }
        AuthorityAnswer::Found { name_matches, phone_matches, bank_card_matches, .. } => {
            let phone_ok = query.phone.is_none() || phone_matches == Some(true);
            let card_ok = query.bank_card.is_none() || bank_card_matches == Some(true);
            let matches = ElementMatches {
                name_match: name_matches,
                phone_match: query.phone.as_ref().and(phone_matches),
                bank_card_match: query.bank_card.as_ref().and(bank_card_matches),
            };
            let code = if name_matches && phone_ok && card_ok { SubCode::Pass } else { SubCode::NameMismatch };
            Verdict::new(code, Detail::Elements(ElementsDetail { found: true, matches: Some(matches) }))
        }
    })
}
