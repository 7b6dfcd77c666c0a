//! Accepting connections. Plain TCP or TLS (rustls; client certificates required when a client
//! CA is configured), HTTP/1.1 with a deadline for a request's headers that also bounds how long a
//! kept-alive connection may sit idle, the peer address on every request, and a cap on open
//! connections. At the cap the connection idle the longest (no request in flight: a silent
//! socket, a slow-header trickle, a finished keep-alive) is closed to make room, so idle and slow
//! sockets cannot crowd out clients that send requests; only when every connection is busy is a
//! new one turned away. On stop, no new connection is accepted and those open finish the request
//! in flight, then close.
//!
//! Written against hyper directly because `axum::serve` exposes neither timeouts nor a cap.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use shiren_verify::metrics::Metrics;

/// Bounds on connections, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    /// A request's headers must arrive within this time, counted from the connection's opening
    /// or from the end of the previous response.
    pub header_timeout: Duration,
    /// How long requests in flight may take to finish after a stop.
    pub shutdown_grace: Duration,
}

/// One open connection, as the cap sees it.
struct Connection {
    in_flight: AtomicUsize,
    /// Milliseconds since the server started at which the connection last had nothing to do.
    idle_since_ms: AtomicU64,
    evict: Notify,
}

/// The open connections.
struct Registry {
    started: Instant,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
    next_id: AtomicU64,
}

impl Registry {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn len(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or(usize::MAX)
    }

    fn add(&self) -> (u64, Arc<Connection>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection {
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(self.now_ms()),
            evict: Notify::new(),
        });
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, connection.clone());
        }
        (id, connection)
    }

    fn remove(&self, id: u64) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&id);
        }
    }

    /// Closes the connection idle the longest; `false` when every connection is busy.
    fn evict_idlest(&self) -> bool {
        let Ok(mut open) = self.open.lock() else { return false };
        let idlest = open
            .iter()
            .filter(|(_, c)| c.in_flight.load(Ordering::Acquire) == 0)
            .min_by_key(|(_, c)| c.idle_since_ms.load(Ordering::Relaxed))
            .map(|(id, _)| *id);
        match idlest.and_then(|id| open.remove(&id)) {
            Some(connection) => {
                connection.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Serves `app` on `listener` until `stop` resolves, then lets connections finish.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: ConnectionLimits,
    metrics: Metrics,
    stop: impl Future<Output = ()>,
) {
    let registry = Arc::new(Registry { started: Instant::now(), open: Mutex::default(), next_id: AtomicU64::new(0) });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let mut tasks = JoinSet::new();
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors or a connection reset before it was accepted: not
                    // fatal. A pause keeps an exhausted limit from turning into a busy loop.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        // Reap finished tasks so the set does not grow with every connection ever accepted.
        while tasks.try_join_next().is_some() {}
        if registry.len() >= limits.max_connections {
            if registry.evict_idlest() {
                metrics.connections_evicted.inc();
            } else {
                metrics.connections_refused.inc();
                drop(tcp);
                continue;
            }
        }
        let _ = tcp.set_nodelay(true);
        let (id, connection) = registry.add();
        let (app, builder, registry, shutdown, tls, metrics) =
            (app.clone(), builder.clone(), registry.clone(), shutdown_rx.clone(), tls.clone(), metrics.clone());
        tasks.spawn(async move {
            metrics.connections_open.inc();
            match tls {
                None => run(tcp, peer, app, &builder, &connection, &registry, shutdown).await,
                Some(acceptor) => {
                    // The handshake counts against the header deadline, and a connection still
                    // shaking hands is idle: eviction and a stop end it at once.
                    let mut stopping = shutdown.clone();
                    let handshake = tokio::select! {
                        shaken = tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp)) => Some(shaken),
                        _ = connection.evict.notified() => None,
                        _ = stopping.wait_for(|stop| *stop) => None,
                    };
                    match handshake {
                        Some(Ok(Ok(stream))) => {
                            run(stream, peer, app, &builder, &connection, &registry, shutdown).await
                        }
                        Some(Ok(Err(e))) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Some(Err(_)) => tracing::debug!(%peer, "TLS handshake timed out"),
                        None => tracing::debug!(%peer, "connection closed during its TLS handshake"),
                    }
                }
            }
            registry.remove(id);
            metrics.connections_open.dec();
        });
    }
    drop(listener);
    let _ = shutdown_tx.send(true);
    let drained =
        tokio::time::timeout(limits.shutdown_grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(left = tasks.len(), "connections still open after the shutdown grace period; closing them");
        tasks.abort_all();
    }
}

/// A request counted as in flight on its connection, from its first byte until its response
/// body is gone; dropping it stamps the connection idle.
struct InFlight {
    connection: Arc<Connection>,
    clock: Arc<Registry>,
}

impl InFlight {
    fn begin(connection: Arc<Connection>, clock: Arc<Registry>) -> Self {
        connection.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight { connection, clock }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.connection.idle_since_ms.store(self.clock.now_ms(), Ordering::Relaxed);
        self.connection.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves one connection until the client closes it, it is evicted, or the server stops.
async fn run<S>(
    io: S,
    peer: SocketAddr,
    app: Router,
    builder: &hyper::server::conn::http1::Builder,
    connection: &Arc<Connection>,
    registry: &Arc<Registry>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tracked, clock) = (connection.clone(), registry.clone());
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_flight = InFlight::begin(tracked.clone(), clock.clone());
        let app = app.clone();
        async move {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            let response = app.oneshot(request).await?;
            // The request stays in flight until its response body has been sent (or dropped):
            // the body owns the guard, and hyper drops a body once it has written it.
            Ok::<_, std::convert::Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _in_flight = &in_flight;
                    frame
                }))
            }))
        }
    });
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = connection.evict.notified(), if !closing => {
                // Chosen while idle, but a request may have begun since: hyper finishes it (each
                // request has a deadline) and then closes. A connection still idle after a
                // moment (a silent socket, a trickle of headers) is dropped, so that evicted
                // sockets do not pile up beyond the cap.
                conn.as_mut().graceful_shutdown();
                loop {
                    match tokio::time::timeout(Duration::from_secs(1), conn.as_mut()).await {
                        Err(_) if connection.in_flight.load(Ordering::Acquire) > 0 => continue,
                        _ => return,
                    }
                }
            }
            changed = shutdown.changed(), if !closing => {
                if changed.is_ok() {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// The TLS acceptor for a certificate chain and key (PEM files), requiring client certificates
/// signed by `client_ca` when one is given.
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
    client_ca: Option<&std::path::Path>,
) -> anyhow::Result<TlsAcceptor> {
    use anyhow::Context;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading the certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing the certificate {}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("{} holds no certificate", cert.display());
    }
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading the private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in CertificateDer::pem_file_iter(path).with_context(|| format!("reading {}", path.display()))? {
                roots.add(ca.with_context(|| format!("parsing {}", path.display()))?)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .context("client certificate verifier")?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).context("the certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Raises the open-file limit towards what `max_connections` needs and returns the cap that fits
/// (with room for the database, image files and outbound connections).
pub fn fit_connection_cap(max_connections: usize) -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    const RESERVED: u64 = 128;
    let mut limit = getrlimit(Resource::Nofile);
    let wanted = max_connections as u64 + RESERVED;
    if limit.current.is_some_and(|soft| soft < wanted) {
        let raised = limit.maximum.map_or(wanted, |hard| hard.min(wanted));
        limit.current = Some(raised);
        if setrlimit(Resource::Nofile, limit).is_err() {
            limit = getrlimit(Resource::Nofile);
        }
    }
    match limit.current {
        Some(soft) if soft < wanted => {
            let fitted = soft.saturating_sub(RESERVED).max(16) as usize;
            tracing::warn!(
                configured = max_connections,
                fitted,
                open_file_limit = soft,
                "max_connections lowered to fit the open-file limit"
            );
            fitted
        }
        _ => max_connections,
    }
}
