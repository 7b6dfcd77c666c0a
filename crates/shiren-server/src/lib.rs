//! `shiren serve`: the native API over HTTP(S). This crate is a thin surface over the verification
//! core (`shiren-verify`): it owns the connection layer (`connections`), the HTTP plumbing every
//! `/v1` resource shares (`http`: request ids, signatures, extraction, responses), the resources
//! themselves (`v1`, one module each) and the capture page (`h5`, authenticated by its link's
//! token), and composes them here. Products, scenes, records, sessions and the rest live in the
//! core. The cloud-API drop-ins sit beside `v1/` with their own authentication, parameters and
//! error mapping: `aliyun` (Cloudauth 2019-03-07) and `tencent` (FaceID 2018-03-01), both at
//! the root address `/`, which `gateway` hands to one or the other.

pub mod aliyun;
pub mod config;
pub mod connections;
pub mod gateway;
pub mod h5;
pub mod http;
pub mod tencent;
pub mod v1;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use shiren_store::Store;
use shiren_store::images::ImageStore;
use shiren_verify::{ErrorCode, Services};
use tokio::sync::Semaphore;

use crate::config::ServerConfig;
use crate::http::response::ApiError;
use crate::http::signature::AuthFailureLog;

/// What the HTTP layer holds: the core's services and its own limits and guards.
#[derive(Clone)]
pub struct App {
    pub services: Services,
    pub limits: Arc<HttpLimits>,
    /// Request bodies in memory, in KiB (see `upload_buffer_mb`).
    pub uploads: Arc<Semaphore>,
    /// Request bodies read before any authentication (Tencent's older form signing), in KiB: a
    /// quarter of `uploads`, apart from it.
    pub unauthenticated_uploads: Arc<Semaphore>,
    pub auth_failures: Arc<AuthFailureLog>,
}

/// The HTTP layer's own limits.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
    /// The most a request may take, body and work included (see [`http::response::deadline`]).
    pub request_deadline: Duration,
    pub signature_skew_secs: u64,
    pub max_capture_bytes: usize,
    pub public_url: Option<String>,
    /// Whether this service speaks HTTPS (for capture links made from the request's host).
    pub tls: bool,
}

impl App {
    pub fn new(services: Services, config: &ServerConfig) -> Self {
        let upload_kib = (config.upload_buffer_mb << 10).min(Semaphore::MAX_PERMITS as u64) as usize;
        App {
            services,
            limits: Arc::new(HttpLimits {
                max_body_bytes: config.max_body_bytes,
                body_timeout: Duration::from_secs(config.body_timeout_secs),
                request_deadline: Duration::from_secs(config.request_timeout_secs),
                signature_skew_secs: config.signature_skew_secs,
                max_capture_bytes: config.max_capture_bytes,
                public_url: config.public_url.clone().map(|u| u.trim_end_matches('/').to_string()),
                tls: config.tls.is_some(),
            }),
            uploads: Arc::new(Semaphore::new(upload_kib)),
            unauthenticated_uploads: Arc::new(Semaphore::new(upload_kib / 4)),
            auth_failures: Arc::default(),
        }
    }
}

/// The whole API: signed `/v1` routes behind the signature middleware, image links and
/// operations endpoints, and a JSON 404 for anything else; every request gets an id first.
pub fn router(app: App) -> Router {
    let max_body_bytes = app.limits.max_body_bytes;
    let signed = v1::signed_routes().route_layer(from_fn_with_state(app.clone(), http::signature::require_signature));
    Router::new()
        .merge(signed)
        .merge(v1::open_routes())
        .merge(h5::routes(app.clone()))
        .merge(gateway::routes())
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such endpoint; see /docs").into_response() })
        .layer(from_fn_with_state(app.clone(), http::response::deadline))
        .layer(from_fn_with_state(app.clone(), http::response::count_errors))
        .layer(from_fn(http::request_id::assign))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(app)
}

/// Opens the store and starts the core (fetching missing models first).
pub async fn build(config: &ServerConfig) -> anyhow::Result<App> {
    // TLS for outbound calls (image URLs, HTTP authority, S3) uses ring; install it once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    config.validate()?;
    // Read before anything slow starts, so that a broken file fails the start at once.
    let calibration = config.calibration()?;
    let store_config = config.store_config();
    let store = Store::open(&store_config).await.context("opening the database")?;
    let images = ImageStore::open_config(&store_config, store.keys().clone()).context("opening image storage")?;
    let services =
        Services::start(config.verify_config(calibration), store, images).await.context("starting the service")?;
    if let Some(path) = &config.calibration_file {
        tracing::info!(file = %path.display(), ?calibration, "face thresholds from the calibration file");
    }
    Ok(App::new(services, config))
}

/// Deletes records past their retention, retries image deletions that failed, forgets expired
/// nonces, old sessions and frame digests, periodically.
async fn sweep(services: Services, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        shiren_verify::records::sweep(&services).await;
        shiren_verify::sessions::sweep(&services).await;
    }
}

/// Delivers the callbacks that are due, every second.
async fn deliver_callbacks(services: Services) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        shiren_verify::sessions::callbacks::deliver_due(&services).await;
    }
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
    let app = build(&config).await?;
    let limits = connections::ConnectionLimits {
        max_connections: connections::fit_connection_cap(config.max_connections),
        header_timeout: Duration::from_secs(config.header_timeout_secs),
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
    let services = app.services.clone();
    tracing::info!(%local, database = ?services.store.kind(), workers = services.pool.workers(), "serving");
    let sweeper = tokio::spawn(sweep(services.clone(), Duration::from_secs(config.sweep_interval_secs.max(1))));
    let callbacks = tokio::spawn(deliver_callbacks(services.clone()));
    // Searches catch up on their own; this keeps an idle node's indexes warm.
    let follower = services.galleries.follow(Duration::from_secs(1));
    connections::serve(listener, tls, router(app), limits, services.metrics.clone(), stop).await;
    sweeper.abort();
    callbacks.abort();
    follower.abort();
    services.store.close().await;
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
