//! Prometheus metrics at `/metrics`: requests and latency per product, errors by code, the
//! inference queue depth, decode memory in use, and connections (open, evicted, refused).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProductLabels {
    pub product: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub product: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub code: String,
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub requests: Family<ProductLabels, Counter>,
    pub latency: Family<LatencyLabels, Histogram>,
    pub errors: Family<ErrorLabels, Counter>,
    pub queue_depth: Gauge,
    pub decode_memory: Gauge,
    pub connections_open: Gauge,
    pub connections_evicted: Counter,
    pub connections_refused: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let requests = Family::<ProductLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0])
        });
        let errors = Family::<ErrorLabels, Counter>::default();
        let queue_depth = Gauge::default();
        let decode_memory = Gauge::default();
        let connections_open = Gauge::default();
        let connections_evicted = Counter::default();
        let connections_refused = Counter::default();
        let mut registry = Registry::with_prefix("shiren");
        registry.register("verifications", "Verification requests by product and outcome", requests.clone());
        registry.register("verification_seconds", "Verification latency by product", latency.clone());
        registry.register("errors", "Error responses by code", errors.clone());
        registry.register(
            "inference_queue_depth",
            "Requests running or waiting for an inference worker",
            queue_depth.clone(),
        );
        registry.register(
            "decode_memory_bytes",
            "Memory reserved by images being decoded and examined",
            decode_memory.clone(),
        );
        registry.register("connections_open", "Open client connections", connections_open.clone());
        registry.register(
            "connections_evicted",
            "Idle connections closed to make room at the connection cap",
            connections_evicted.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections turned away at the cap because every open one was busy",
            connections_refused.clone(),
        );
        Self {
            registry: Arc::new(registry),
            requests,
            latency,
            errors,
            queue_depth,
            decode_memory,
            connections_open,
            connections_evicted,
            connections_refused,
        }
    }

    pub fn observe(&self, product: &str, outcome: &str, seconds: f64) {
        self.requests.get_or_create(&ProductLabels { product: product.into(), outcome: outcome.into() }).inc();
        self.latency.get_or_create(&LatencyLabels { product: product.into() }).observe(seconds);
    }

    pub fn error(&self, code: &str) {
        self.errors.get_or_create(&ErrorLabels { code: code.into() }).inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
