//! Scenes (认证场景): a named set of rules every verification is judged by (which products it
//! allows, the false-accept level, single-photo liveness rules, whether images are kept and for
//! how long, whether images may come by URL), and their administration. Every change is audited.

use serde::{Deserialize, Serialize};
use shiren_face::FarLevel;
use shiren_store::{SceneRow, Store};

use crate::caller::Caller;
use crate::error::{Error, ErrorCode, echo};
use crate::sessions::{ConsentText, InteractiveSettings};

/// The verification products, with the vendors' codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Product {
    /// Two photos, 1:1 comparison.
    #[serde(rename = "PV_FC")]
    PvFc,
    /// One photo, passive liveness with quality checks.
    #[serde(rename = "LR_FR_MIN")]
    LrFrMin,
    /// Name + ID number + photo against the authority's reference.
    #[serde(rename = "ID_MIN")]
    IdMin,
    /// Face attributes and quality.
    #[serde(rename = "FACE_ATTRIBUTES")]
    FaceAttributes,
    /// Name + ID number.
    #[serde(rename = "ID_2META")]
    Id2Meta,
    /// Name + ID number + mobile phone.
    #[serde(rename = "ID_3META_PHONE")]
    Id3MetaPhone,
    /// Name + ID number + bank card (+ phone).
    #[serde(rename = "ID_4META_BANK")]
    Id4MetaBank,
    /// Interactive liveness in a capture session.
    #[serde(rename = "LR_FR")]
    LrFr,
    /// Name + ID number, then interactive liveness and the best frame against the authority.
    #[serde(rename = "ID_PRO")]
    IdPro,
    /// A reference photo, then interactive liveness and the best frame against it.
    #[serde(rename = "PV_FV")]
    PvFv,
    /// ID card photos (front, back or both): printed fields, cross-checks, warnings.
    #[serde(rename = "ID_OCR")]
    IdOcr,
    /// A bank card photo: number, expiry, issuer and card type.
    #[serde(rename = "BANKCARD_OCR")]
    BankCardOcr,
    /// A capture session: both sides of the ID card photographed and read, interactive
    /// liveness, the best frame against the card's portrait (and the authority's, by scene).
    #[serde(rename = "ID_PLUS")]
    IdPlus,
    /// One photo against one or more face galleries: the top persons (1:N).
    #[serde(rename = "FACE_SEARCH")]
    FaceSearch,
    /// One photo and a claimed identity against a gallery: persons enrolled under another
    /// identity with the same face.
    #[serde(rename = "FACE_DUPLICATION")]
    FaceDuplication,
}

impl Product {
    pub const ALL: [Product; 15] = [
        Product::PvFc,
        Product::LrFrMin,
        Product::IdMin,
        Product::FaceAttributes,
        Product::Id2Meta,
        Product::Id3MetaPhone,
        Product::Id4MetaBank,
        Product::LrFr,
        Product::IdPro,
        Product::PvFv,
        Product::IdOcr,
        Product::BankCardOcr,
        Product::IdPlus,
        Product::FaceSearch,
        Product::FaceDuplication,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Product::PvFc => "PV_FC",
            Product::LrFrMin => "LR_FR_MIN",
            Product::IdMin => "ID_MIN",
            Product::FaceAttributes => "FACE_ATTRIBUTES",
            Product::Id2Meta => "ID_2META",
            Product::Id3MetaPhone => "ID_3META_PHONE",
            Product::Id4MetaBank => "ID_4META_BANK",
            Product::LrFr => "LR_FR",
            Product::IdPro => "ID_PRO",
            Product::PvFv => "PV_FV",
            Product::IdOcr => "ID_OCR",
            Product::BankCardOcr => "BANKCARD_OCR",
            Product::IdPlus => "ID_PLUS",
            Product::FaceSearch => "FACE_SEARCH",
            Product::FaceDuplication => "FACE_DUPLICATION",
        }
    }

    pub fn parse(code: &str) -> Option<Product> {
        Product::ALL.into_iter().find(|p| p.code() == code)
    }
}

/// Single-photo liveness settings.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LivenessSettings {
    /// Overall quality (0-100) a photo needs.
    pub min_quality: f32,
    /// Attack probability at or above which a photo is refused (only with a PAD model).
    pub max_attack_score: f32,
    /// Refuse photos showing more than one face.
    pub reject_multiple_faces: bool,
    /// Refuse photos where the subject's eyes are closed.
    pub require_open_eyes: bool,
}

impl Default for LivenessSettings {
    fn default() -> Self {
        Self { min_quality: 40.0, max_attack_score: 0.5, reject_multiple_faces: true, require_open_eyes: true }
    }
}

/// ID_PLUS settings.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct IdPlusSettings {
    /// Also compare the live face with the authority's reference photo of the card's identity
    /// (looked up by the name and number read from the card); both comparisons must pass. On by
    /// default: without it the card is only as trustworthy as the photo the page sent, and a
    /// forged card image with the presenter's own face in its portrait would pass. Turn it off
    /// only where no authority source exists, knowing that.
    pub compare_with_authority: bool,
    /// Card photos a session may take, both sides together; the session ends unread (209)
    /// when they run out. Each photo costs about a second of one core.
    pub max_card_photos: u32,
}

impl Default for IdPlusSettings {
    fn default() -> Self {
        Self { compare_with_authority: true, max_card_photos: 8 }
    }
}

/// A scene's settings.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SceneSettings {
    /// Products callers may use in this scene.
    pub products: Vec<Product>,
    /// The false-accept rate that sets the pass threshold: `1e-3`, `1e-4` or `1e-5`.
    #[schema(value_type = String, example = "1e-4")]
    pub far_level: FarLevel,
    pub liveness: LivenessSettings,
    /// Keep the submitted images (encrypted) with the record. Off by default: raw face images
    /// are deleted right after verification unless the scene opts in.
    pub store_images: bool,
    /// Days a record (and its images) is kept; 0 keeps records until deleted.
    pub retention_days: u32,
    /// Accept images by URL in this scene.
    pub allow_image_urls: bool,
    /// Thresholds of the interactive liveness judgement (LR_FR, ID_PRO, PV_FV).
    pub interactive: InteractiveSettings,
    /// The authorisation text the capture page shows before the camera starts.
    pub consent: ConsentText,
    /// ID_PLUS: the card steps and the second comparison.
    pub id_plus: IdPlusSettings,
}

impl Default for SceneSettings {
    fn default() -> Self {
        Self {
            products: Product::ALL.to_vec(),
            far_level: FarLevel::E4,
            liveness: LivenessSettings::default(),
            store_images: false,
            retention_days: 30,
            allow_image_urls: false,
            interactive: InteractiveSettings::default(),
            consent: ConsentText::default(),
            id_plus: IdPlusSettings::default(),
        }
    }
}

impl SceneSettings {
    pub fn validate(&self) -> Result<(), Error> {
        if self.retention_days > 3650 {
            return Err(Error::new(ErrorCode::InvalidRetentionDays, "retention_days must be at most 3650"));
        }
        let l = &self.liveness;
        // `contains` is false for NaN, so a NaN threshold is refused too.
        if !(0.0..=100.0).contains(&l.min_quality) || !(0.0..=1.0).contains(&l.max_attack_score) {
            return Err(Error::new(
                ErrorCode::InvalidLivenessSettings,
                "min_quality must be 0-100 and max_attack_score 0-1",
            ));
        }
        self.interactive.validate()?;
        if !(2..=20).contains(&self.id_plus.max_card_photos) {
            return Err(Error::new(ErrorCode::InvalidParameter, "id_plus.max_card_photos must be 2 to 20"));
        }
        let c = &self.consent;
        let fits = |t: &str, max: usize| !t.trim().is_empty() && t.chars().count() <= max;
        if !(fits(&c.version, 32)
            && fits(&c.purpose_zh, 64)
            && fits(&c.purpose_en, 64)
            && fits(&c.text_zh, 4000)
            && fits(&c.text_en, 4000))
        {
            return Err(Error::new(
                ErrorCode::InvalidParameter,
                "consent: version (at most 32 characters), purposes (64) and texts (4000) must not be empty",
            ));
        }
        Ok(())
    }
}

/// A scene as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Scene {
    pub id: String,
    pub name: String,
    pub settings: SceneSettings,
    pub created_at: i64,
    pub updated_at: i64,
    /// The scene's number for the cloud-API facades: Alibaba Cloud's `SceneId` and Tencent
    /// Cloud's `RuleId` name the scene by it.
    pub alias: Option<i64>,
}

impl Scene {
    fn from_row(row: SceneRow) -> Result<Self, Error> {
        let settings = serde_json::from_str(&row.config).map_err(Error::internal)?;
        Ok(Self {
            id: row.id,
            name: row.name,
            settings,
            created_at: row.created_at,
            updated_at: row.updated_at,
            alias: row.alias,
        })
    }
}

/// A scene to create, or a scene's new name and settings.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SceneInput {
    pub name: String,
    #[serde(default)]
    pub settings: SceneSettings,
}

impl SceneInput {
    /// The trimmed name and the settings as stored.
    fn checked(&self) -> Result<(&str, String), Error> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(Error::new(ErrorCode::InvalidName, "name must be 1-64 characters"));
        }
        self.settings.validate()?;
        Ok((name, serde_json::to_string(&self.settings).map_err(Error::internal)?))
    }
}

pub async fn create(store: &Store, caller: &Caller, input: &SceneInput) -> Result<Scene, Error> {
    let (name, config) = input.checked()?;
    let row = store.create_scene(name, &config).await?;
    caller.audit(store, "scene.create", &row.id, serde_json::json!({ "name": row.name })).await?;
    Scene::from_row(row)
}

pub async fn list(store: &Store) -> Result<Vec<Scene>, Error> {
    store.list_scenes().await?.into_iter().map(Scene::from_row).collect()
}

pub async fn get(store: &Store, id: &str) -> Result<Scene, Error> {
    Scene::from_row(store.scene(id).await?.ok_or_else(|| Error::not_found("scene"))?)
}

pub async fn update(store: &Store, caller: &Caller, id: &str, input: &SceneInput) -> Result<Scene, Error> {
    let (name, config) = input.checked()?;
    let row = store.update_scene(id, name, &config).await?.ok_or_else(|| Error::not_found("scene"))?;
    caller.audit(store, "scene.update", id, serde_json::json!({ "name": row.name })).await?;
    Scene::from_row(row)
}

/// Deletes a scene; its records stay until their retention ends.
pub async fn delete(store: &Store, caller: &Caller, id: &str) -> Result<(), Error> {
    if !store.delete_scene(id).await? {
        return Err(Error::not_found("scene"));
    }
    caller.audit(store, "scene.delete", id, serde_json::json!({})).await
}

/// The native id of the scene with this alias (the facades' `SceneId` and `RuleId`).
pub async fn id_of_alias(store: &Store, alias: i64) -> Result<String, Error> {
    match store.scene_by_alias(alias).await? {
        Some(row) => Ok(row.id),
        None => Err(Error::new(ErrorCode::SceneNotFound, format!("no scene has the number {alias}"))),
    }
}

/// The scene with the lowest alias that enables `product`: where a facade's action names no
/// scene (Alibaba Cloud's element checks), its verification is recorded there.
pub async fn first_for_product(store: &Store, product: Product) -> Result<Scene, Error> {
    let mut scenes = list(store).await?;
    scenes.retain(|s| s.settings.products.contains(&product));
    scenes.sort_by_key(|s| s.alias.unwrap_or(i64::MAX));
    scenes
        .into_iter()
        .next()
        .ok_or_else(|| Error::new(ErrorCode::SceneNotFound, format!("no scene enables product {}", product.code())))
}

/// The scene a verification names, which must exist and enable the product.
pub async fn for_product(store: &Store, scene_id: &str, product: Product) -> Result<Scene, Error> {
    let row = store
        .scene(scene_id)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::SceneNotFound, format!("scene {} does not exist", echo(scene_id))))?;
    let scene = Scene::from_row(row)?;
    if !scene.settings.products.contains(&product) {
        return Err(Error::new(
            ErrorCode::ProductNotEnabled,
            format!("product {} is not enabled in scene {}", product.code(), scene.id),
        ));
    }
    Ok(scene)
}
