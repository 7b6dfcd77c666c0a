//! Everything a verification needs, in one bundle shared by every surface and request: the
//! configuration, the face and OCR engines and the optional PAD model behind the bounded
//! inference pool, the database and image storage, the authority provider, the region and BIN
//! tables and the metrics.

use std::sync::Arc;

use shiren_documents::Lexicon;
use shiren_documents::LexiconError;
use shiren_documents::bankcard::{BinTable, BinTableError};
use shiren_face::pad::PadModel;
use shiren_face::{Engine, EngineConfig, FaceError, ModelPaths};
use shiren_idcard::{RegionTable, RegionTableError};
use shiren_models::{Group, ModelStore, PipFetcher, Progress, ProvisionError};
use shiren_ocr::{OcrEngine, OcrError, OcrModelPaths, OcrSettings};
use shiren_store::Store;
use shiren_store::images::ImageStore;

use crate::authority::{Authority, AuthorityError};
use crate::config::VerifyConfig;
use crate::galleries::SearchIndexes;
use crate::metrics::Metrics;
use crate::pool::InferencePool;

#[derive(Clone)]
pub struct Services {
    pub config: Arc<VerifyConfig>,
    pub engine: Arc<Engine>,
    pub pad: Option<Arc<PadModel>>,
    pub store: Store,
    pub images: ImageStore,
    pub authority: Arc<Authority>,
    pub regions: Arc<RegionTable>,
    /// The region table's names by level and the common surnames, for checking and mending
    /// what the card reader read.
    pub lexicon: Arc<Lexicon>,
    pub ocr: Arc<OcrEngine>,
    pub bins: Arc<BinTable>,
    pub pool: InferencePool,
    pub metrics: Metrics,
    /// This node's search index of every face gallery, following the database.
    pub galleries: Arc<SearchIndexes>,
}

/// Why the core could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("provisioning models: {0}")]
    Models(#[from] ProvisionError),
    #[error("loading the face engine: {0}")]
    Engine(#[source] FaceError),
    #[error("loading the PAD model: {0}")]
    Pad(#[source] FaceError),
    #[error("loading region codes: {0}")]
    Regions(#[from] RegionTableError),
    #[error("loading the OCR engine: {0}")]
    Ocr(#[from] OcrError),
    #[error("loading the bank BIN table: {0}")]
    Bins(#[from] BinTableError),
    #[error("loading the card-reading lexicon (surnames, traditional forms, countries): {0}")]
    Lexicon(#[from] LexiconError),
    #[error("the authority provider: {0}")]
    Authority(#[from] AuthorityError),
    #[error("a start-up task failed: {0}")]
    Task(String),
}

impl Services {
    /// Fetches missing models (with a progress bar), loads the engine, the PAD model, the
    /// region table and the authority provider, over an opened store.
    pub async fn start(config: VerifyConfig, store: Store, images: ImageStore) -> Result<Services, StartError> {
        let models = match &config.model_dir {
            Some(dir) => ModelStore::at(dir, shiren_models::Manifest::builtin()?),
            None => ModelStore::from_env()?,
        };
        let workers = config.workers.max(1);
        let mut engine_config = EngineConfig::new(ModelPaths::in_dir(models.root()));
        engine_config.sessions_per_model = workers;
        engine_config.limits.max_pixels = config.max_image_pixels;
        engine_config.calibration = config.calibration;
        // The photos of one verification run on threads of their own: idle cores then cut
        // latency, and busy ones lose nothing (the pool still bounds requests, and sessions
        // bound model runs).
        engine_config.parallel_compare = workers > 1;
        let pad_settings = config.pad.clone();
        let loaded = tokio::task::spawn_blocking(move || -> Result<_, StartError> {
            models.ensure(Group::SERVICE, &PipFetcher::default(), Progress::Bar)?;
            let engine = Engine::load(engine_config).map_err(StartError::Engine)?;
            let pad = pad_settings.map(|s| PadModel::load(s, workers)).transpose().map_err(StartError::Pad)?;
            let regions = RegionTable::load(models.path("data/cn-regions.dat"))?;
            let ocr_settings = OcrSettings { sessions_per_model: workers, ..OcrSettings::default() };
            let ocr = OcrEngine::load(&OcrModelPaths::in_dir(models.root()), ocr_settings)?;
            let bins = BinTable::load(&models.path("ocr/cardbin.py"))?;
            let lexicon = Lexicon::load(&regions, models.root())?;
            Ok((engine, pad, regions, ocr, bins, lexicon))
        })
        .await
        .map_err(|e| StartError::Task(e.to_string()))??;
        let (engine, pad, regions, ocr, bins, lexicon) = loaded;
        let authority = Authority::from_config(&config.authority, store.clone())?;
        let galleries = SearchIndexes::load(store.clone(), workers, Some(images.clone()))
            .await
            .map_err(|e| StartError::Task(format!("building the gallery indexes: {}", e.message)))?;
        Ok(Services {
            pool: InferencePool::new(workers, config.queue, config.decode_memory_bytes, config.decode_memory_wait),
            config: Arc::new(config),
            engine: Arc::new(engine),
            pad: pad.map(Arc::new),
            store,
            images,
            authority: Arc::new(authority),
            lexicon: Arc::new(lexicon),
            regions: Arc::new(regions),
            ocr: Arc::new(ocr),
            bins: Arc::new(bins),
            metrics: Metrics::new(),
            galleries,
        })
    }
}
