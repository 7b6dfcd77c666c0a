//! Service configuration: defaults that work on a fresh machine, overridden by a TOML file,
//! then by `SHIREN_*` environment variables (and `DATABASE_URL`), then by command-line flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use shiren_face::{Calibration, CalibrationFile};
use shiren_store::StoreConfig;
use shiren_verify::authority::AuthorityConfig;
use shiren_verify::{ImageLimits, VerifyConfig};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the embedded database, the master key file and stored images live.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; default: `shiren.db` in the data directory.
    pub database_url: Option<String>,
    /// Base64 of 32 random bytes; default: `master.key` in the data directory, created once.
    pub master_key: Option<String>,
    /// Where stored images go: a directory or `s3://BUCKET`; default: `images/` in the data dir.
    pub object_store: Option<String>,
    /// Model directory; default: `SHIREN_MODEL_DIR` or the user's data directory.
    pub model_dir: Option<PathBuf>,
    /// Thresholds measured by `shiren calibrate`; default: the engine's provisional ones.
    pub calibration_file: Option<PathBuf>,
    /// Inference workers (default: one per core) and how many requests may wait for one.
    pub workers: Option<usize>,
    pub queue: usize,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Largest single image, bytes (after base64 decoding).
    pub max_image_bytes: usize,
    /// Allowed clock difference between a signed request and the server, seconds.
    pub signature_skew_secs: u64,
    /// Lifetime of image links, seconds.
    pub image_link_secs: i64,
    /// Image URLs: time limit, and whether private/loopback addresses may be fetched.
    pub url_fetch_timeout_ms: u64,
    pub url_fetch_allow_private: bool,
    pub authority: AuthorityConfig,
    /// Optional licensed presentation-attack-detection model for LR_FR_MIN and ID_MIN.
    pub pad: Option<shiren_face::pad::PadSettings>,
    /// How often expired records and nonces are swept, seconds.
    pub sweep_interval_secs: u64,
    /// Open connections at most; at the cap the longest-idle connection is closed for a new one.
    pub max_connections: usize,
    /// A request's headers must arrive within this many seconds of the connection opening or of
    /// the previous response (so it is also the keep-alive idle timeout).
    pub header_timeout_secs: u64,
    /// An authenticated request's body must arrive within this many seconds.
    pub body_timeout_secs: u64,
    /// The most a request may take, body and work included, seconds; past it the answer is 503
    /// `DeadlineExceeded`. More than `body_timeout_secs`, so that a slow body gets its 408.
    pub request_timeout_secs: u64,
    /// Request bodies held in memory at once (being received or handled), MiB; past it requests
    /// wait up to `body_timeout_secs`, then get 503.
    pub upload_buffer_mb: u64,
    /// Memory that images being decoded and examined may take at once, MiB (estimated from each
    /// image's header before decoding); past it requests wait, then get 503.
    pub decode_memory_mb: u64,
    /// Largest decoded image, width × height (larger JPEGs are decoded at a reduced scale first).
    pub max_image_pixels: u64,
    /// Serve HTTPS: a certificate chain and key (PEM), and optionally a CA whose client
    /// certificates are then required.
    pub tls: Option<TlsConfig>,
    /// The address people reach this service at (`https://verify.example.com`), used to build
    /// capture links; default: the scheme and `Host` of the request that creates the session.
    pub public_url: Option<String>,
    /// Largest capture upload (the frames of one challenge), bytes.
    pub max_capture_bytes: usize,
    /// How long a capture link stays valid, seconds.
    pub session_lifetime_secs: i64,
    /// The first callback retry waits this long, each next one three times longer, seconds.
    pub callback_retry_secs: i64,
}

/// TLS settings (JR/T 0171 asks for face data to be encrypted in transit).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Require client certificates issued by this CA (PEM).
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("shiren-data"),
            database_url: None,
            master_key: None,
            object_store: None,
            model_dir: None,
            calibration_file: None,
            workers: None,
            queue: 16,
            max_body_bytes: 12 << 20,
            max_image_bytes: 5 << 20,
            signature_skew_secs: 900,
            image_link_secs: 300,
            url_fetch_timeout_ms: 5000,
            url_fetch_allow_private: false,
            authority: AuthorityConfig::default(),
            pad: None,
            sweep_interval_secs: 300,
            max_connections: 1024,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            request_timeout_secs: 120,
            upload_buffer_mb: 256,
            decode_memory_mb: 384,
            max_image_pixels: shiren_face::DecodeLimits::default().max_pixels,
            tls: None,
            public_url: None,
            max_capture_bytes: 48 << 20,
            session_lifetime_secs: 1800,
            callback_retry_secs: 15,
        }
    }
}

/// The widest clock window a signature may be accepted in.
const MAX_SIGNATURE_SKEW_SECS: u64 = 86_400;

impl ServerConfig {
    /// Defaults, then the file (if any), then the environment.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read configuration {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("configuration {}: {e}", path.display()))?
            }
            None => ServerConfig::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        Ok(config)
    }

    fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let parse_err = |k: &str, v: &str| anyhow::anyhow!("environment variable {k}={v:?} is not valid");
        if let Some(v) = get("SHIREN_LISTEN") {
            self.listen = v.parse().map_err(|_| parse_err("SHIREN_LISTEN", &v))?;
        }
        if let Some(v) = get("SHIREN_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("DATABASE_URL").filter(|v| !v.is_empty()) {
            self.database_url = Some(v);
        }
        if let Some(v) = get("SHIREN_MASTER_KEY").filter(|v| !v.is_empty()) {
            self.master_key = Some(v);
        }
        if let Some(v) = get("SHIREN_OBJECT_STORE").filter(|v| !v.is_empty()) {
            self.object_store = Some(v);
        }
        if let Some(v) = get("SHIREN_CALIBRATION_FILE").filter(|v| !v.is_empty()) {
            self.calibration_file = Some(v.into());
        }
        if let Some(v) = get("SHIREN_WORKERS") {
            self.workers = Some(v.parse().map_err(|_| parse_err("SHIREN_WORKERS", &v))?);
        }
        if let Some(v) = get("SHIREN_QUEUE") {
            self.queue = v.parse().map_err(|_| parse_err("SHIREN_QUEUE", &v))?;
        }
        if let Some(v) = get("SHIREN_PUBLIC_URL").filter(|v| !v.is_empty()) {
            self.public_url = Some(v);
        }
        if let Some(v) = get("SHIREN_MAX_CONNECTIONS") {
            self.max_connections = v.parse().map_err(|_| parse_err("SHIREN_MAX_CONNECTIONS", &v))?;
        }
        Ok(())
    }

    /// Settings that would make the service unusable or unsafe.
    pub fn validate(&self) -> anyhow::Result<()> {
        let positive = [
            ("max_connections", self.max_connections as u64),
            ("header_timeout_secs", self.header_timeout_secs),
            ("body_timeout_secs", self.body_timeout_secs),
            ("upload_buffer_mb", self.upload_buffer_mb),
            ("decode_memory_mb", self.decode_memory_mb),
            ("max_image_pixels", self.max_image_pixels),
            ("max_body_bytes", self.max_body_bytes as u64),
            ("max_image_bytes", self.max_image_bytes as u64),
            ("max_capture_bytes", self.max_capture_bytes as u64),
            ("session_lifetime_secs", self.session_lifetime_secs.max(0) as u64),
            ("callback_retry_secs", self.callback_retry_secs.max(0) as u64),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            anyhow::bail!("configuration: {name} must be greater than 0");
        }
        if self.signature_skew_secs > MAX_SIGNATURE_SKEW_SECS {
            anyhow::bail!(
                "configuration: signature_skew_secs must be at most {MAX_SIGNATURE_SKEW_SECS} (a day): a signed request \
                 could be replayed for as long, and its nonce must be kept as long"
            );
        }
        if self.request_timeout_secs <= self.body_timeout_secs || self.request_timeout_secs > 3600 {
            anyhow::bail!("configuration: request_timeout_secs must be more than body_timeout_secs and at most 3600");
        }
        if self.upload_buffer_mb << 20 < self.max_body_bytes.max(self.max_capture_bytes) as u64 {
            anyhow::bail!(
                "configuration: upload_buffer_mb must hold at least one request of max_body_bytes and one capture of \
                 max_capture_bytes"
            );
        }
        if self.session_lifetime_secs > 86_400 {
            anyhow::bail!("configuration: session_lifetime_secs must be at most 86400 (a day)");
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            anyhow::bail!("configuration: public_url must be an http(s) URL");
        }
        Ok(())
    }

    /// Where the store's data lives: the data directory and the database, master key and object
    /// storage settings, with the store's defaults inside the data directory.
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            master_key: self.master_key.clone(),
            object_store: self.object_store.clone(),
        }
    }

    /// What the verification core is told; `calibration` is [`ServerConfig::calibration`],
    /// read by the caller so that a broken file fails the start before anything slow.
    pub fn verify_config(&self, calibration: Calibration) -> VerifyConfig {
        VerifyConfig {
            calibration,
            model_dir: self.model_dir.clone(),
            workers: self.workers(),
            queue: self.queue,
            decode_memory_bytes: self.decode_memory_mb << 20,
            max_image_pixels: self.max_image_pixels,
            images: ImageLimits {
                max_image_bytes: self.max_image_bytes,
                url_fetch_timeout: std::time::Duration::from_millis(self.url_fetch_timeout_ms),
                url_fetch_allow_private: self.url_fetch_allow_private,
            },
            image_link_secs: self.image_link_secs,
            authority: self.authority.clone(),
            pad: self.pad.clone(),
            sessions: shiren_verify::config::SessionLimits {
                lifetime_secs: self.session_lifetime_secs,
                callback_retry_secs: self.callback_retry_secs,
                ..Default::default()
            },
            ..VerifyConfig::default()
        }
    }

    /// The face engine's calibration: the measured thresholds of `calibration_file` over the
    /// engine's defaults (for levels the file could not measure), or the defaults alone.
    pub fn calibration(&self) -> anyhow::Result<Calibration> {
        let base = Calibration::default();
        match &self.calibration_file {
            None => Ok(base),
            Some(path) => Ok(CalibrationFile::load(path)
                .map_err(|e| anyhow::anyhow!("configuration calibration_file: {e}"))?
                .calibration(base)),
        }
    }

    /// The database in use: the configured one, or SQLite `shiren.db` in the data directory.
    pub fn database_url(&self) -> String {
        self.store_config().database_url()
    }

    pub fn workers(&self) -> usize {
        self.workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        let config: ServerConfig =
            toml::from_str("queue = 3\n[authority]\nprovider = \"http\"\nurl = \"http://127.0.0.1:9/check\"\n")
                .unwrap();
        assert_eq!(config.queue, 3);
        assert!(matches!(config.authority, AuthorityConfig::Http { timeout_ms: 3000, .. }));
        let mut config = config;
        config
            .apply_env(|k| match k {
                "SHIREN_QUEUE" => Some("7".into()),
                "DATABASE_URL" => Some("postgres://x/y".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.queue, 7);
        assert_eq!(config.database_url(), "postgres://x/y");
        assert!(config.apply_env(|k| (k == "SHIREN_LISTEN").then(|| "nonsense".into())).is_err());
        assert!(toml::from_str::<ServerConfig>("unknown_setting = 1").is_err());
    }

    /// A calibration file as `shiren calibrate` writes it, with 1e-3 and 1e-4 measured.
    fn calibration_text() -> String {
        let measured = |s: Option<f32>| shiren_face::calibration_file::Measured {
            measurable: s.is_some(),
            impostor_pairs: 200_000,
            pairs_needed: 100_000,
            similarity: s,
            false_accepts: s.map(|_| 15),
            tar: s.map(|_| 0.99),
        };
        let file = CalibrationFile {
            format: shiren_face::calibration_file::FORMAT,
            date: "2025-06-01".into(),
            model: None,
            counts: shiren_face::calibration_file::Counts {
                identities: 700,
                photos: 1400,
                skipped: 0,
                genuine_pairs: 700,
                impostor_pairs: 200_000,
            },
            far: shiren_face::calibration_file::FarTable {
                e3: measured(Some(0.27)),
                e4: measured(Some(0.33)),
                e5: measured(None),
                e6: measured(None),
            },
            fpir: vec![],
        };
        file.to_toml().unwrap()
    }

    #[test]
    fn calibration_file_sets_the_engine_thresholds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.toml");
        std::fs::write(&path, calibration_text()).unwrap();
        let config: ServerConfig =
            toml::from_str(&format!("calibration_file = {:?}\n", path.to_str().unwrap())).unwrap();
        let cal = config.calibration().unwrap();
        // Measured levels replace the defaults; 1e-5 was not measurable and keeps 0.42.
        assert_eq!(cal, Calibration { far_1e3: 0.27, far_1e4: 0.33, far_1e5: 0.42, far_1e6: None });
        // The environment names the file too.
        let mut from_env = ServerConfig::default();
        assert_eq!(from_env.calibration().unwrap(), Calibration::default());
        from_env.apply_env(|k| (k == "SHIREN_CALIBRATION_FILE").then(|| path.to_string_lossy().into_owned())).unwrap();
        assert_eq!(from_env.calibration().unwrap(), cal);
        // A broken file is a start-up error naming it.
        std::fs::write(&path, "format = 1\n").unwrap();
        let err = format!("{:#}", config.calibration().unwrap_err());
        assert!(err.contains("calibration_file") && err.contains("site.toml"), "{err}");
    }
}
