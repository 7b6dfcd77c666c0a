//! `shiren calibrate DIR`: measures the FAR thresholds on an operator's own labelled photos (one
//! sub-folder per identity) and writes the calibration file the service reads, with a picture of
//! the genuine and impostor similarity distributions. The measurement rules and the file format
//! belong to the face engine (`shiren_face::calibration_file`); this module owns reading the
//! folders, embedding and pairing in parallel, the summary and the picture.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use shiren_face::calibration_file::{
    self, CalibrationFile, Counts, DEFAULT_GALLERY_SIZES, FORMAT, FpirEntry, Measured, SimilarityCounts,
};
use shiren_face::{DetectMode, Engine, FaceError};

/// Photo files taken; anything else in an identity folder is noted and ignored.
const PHOTO_EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "webp", "bmp"];

#[derive(Args)]
pub struct CalibrateArgs {
    /// Folder with one sub-folder per identity (the folder's name is the label) holding that
    /// identity's photos (jpg, png, webp, bmp).
    dir: PathBuf,
    /// The calibration file to write.
    #[arg(long, default_value = "calibration.toml")]
    out: PathBuf,
    /// The picture of the distributions (default: beside --out, with .svg).
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Gallery sizes for the 1:N thresholds (repeat the option or separate with commas).
    #[arg(long = "gallery-size", value_delimiter = ',', default_values_t = DEFAULT_GALLERY_SIZES,
          value_parser = clap::value_parser!(u64).range(1..))]
    gallery_sizes: Vec<u64>,
    /// Threads embedding photos and scoring pairs (default: every core).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    threads: Option<usize>,
}

/// One photo to embed, and the identity it belongs to.
struct Photo {
    identity: u32,
    path: PathBuf,
}

pub fn run(model_dir: &Option<PathBuf>, args: CalibrateArgs) -> anyhow::Result<()> {
    let (identities, photos) = list(&args.dir)?;
    if photos.is_empty() {
        anyhow::bail!("{} holds no photos in identity folders (one sub-folder per identity)", args.dir.display());
    }
    let threads =
        args.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
    // One engine whose model pools hold a session per thread: the threads share it, as the
    // service's workers do.
    let engine = super::load_engine(model_dir, DetectMode::Fast, false, threads)?;
    let embedded = embed_all(&engine, &photos, threads)?;
    let skipped = photos.len() - embedded.len();
    if embedded.is_empty() {
        anyhow::bail!("no face could be embedded from any of the {} photos", photos.len());
    }
    let (genuine, impostors) = score_pairs(&embedded, threads);
    let used: std::collections::BTreeSet<u32> = embedded.iter().map(|(identity, _)| *identity).collect();
    if used.len() < 2 {
        eprintln!("shiren: only one identity has usable photos: there are no impostor pairs to measure");
    }
    let (far, fpir) = calibration_file::measure_all(&impostors, &genuine, &args.gallery_sizes);
    let file = CalibrationFile {
        format: FORMAT,
        date: today_utc(),
        model: engine.config().models.recognizer.file_name().map(|n| n.to_string_lossy().into_owned()),
        counts: Counts {
            identities: used.len() as u64,
            photos: embedded.len() as u64,
            skipped: skipped as u64,
            genuine_pairs: genuine.total(),
            impostor_pairs: impostors.total(),
        },
        far,
        fpir,
    };
    file.save(&args.out)?;
    let svg_path = args.svg.unwrap_or_else(|| args.out.with_extension("svg"));
    std::fs::write(&svg_path, svg(&file, &genuine, &impostors))
        .with_context(|| format!("cannot write {}", svg_path.display()))?;
    summary(&file, identities.len());
    out!("wrote {} and {}", args.out.display(), svg_path.display());
    Ok(())
}

/// The identity folders (sorted, so runs are reproducible) and their photos.
fn list(dir: &Path) -> anyhow::Result<(Vec<String>, Vec<Photo>)> {
    let sorted = |dir: &Path| -> anyhow::Result<Vec<PathBuf>> {
        let mut paths = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the folder {}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("cannot list {}", dir.display()))?;
        paths.sort();
        Ok(paths)
    };
    let (mut identities, mut photos) = (Vec::new(), Vec::new());
    for folder in sorted(dir)? {
        if !folder.is_dir() {
            eprintln!("note: ignoring {} (photos belong in one folder per identity)", folder.display());
            continue;
        }
        let identity = identities.len() as u32;
        identities.push(folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        for path in sorted(&folder)? {
            let is_photo = path.is_file()
                && path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| PHOTO_EXTENSIONS.iter().any(|p| e.eq_ignore_ascii_case(p)));
            if is_photo {
                photos.push(Photo { identity, path });
            } else {
                eprintln!("note: ignoring {} (not a jpg, png, webp or bmp file)", path.display());
            }
        }
    }
    Ok((identities, photos))
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(&format!("{what} [{{bar:30}}] {{pos}}/{{len}} ({{eta}} left)")) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Embeds every photo's subject (its largest face, as a comparison takes it) on `threads`
/// threads. Photos without a face, or that cannot be read or decoded, are reported and left
/// out; anything else (models, runtime) stops the run.
fn embed_all(engine: &Engine, photos: &[Photo], threads: usize) -> anyhow::Result<Vec<(u32, Vec<f32>)>> {
    let progress = bar(photos.len() as u64, "embedding photos");
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Vec<f32>)>> = Mutex::new(Vec::with_capacity(photos.len()));
    let fatal: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(photo) = photos.get(i) else { break };
                    let skip = |reason: String| {
                        progress.suspend(|| eprintln!("shiren: skipped {}: {reason}", photo.path.display()))
                    };
                    match std::fs::read(&photo.path) {
                        Err(e) => skip(format!("cannot read it: {e}")),
                        Ok(bytes) => match engine.subject_embedding(&bytes) {
                            Ok((embedding, _)) => mine.push((i, embedding)),
                            Err(FaceError::NoFace) => skip("no face found".into()),
                            Err(e) if e.is_bad_input() => skip(e.to_string()),
                            Err(e) => {
                                let mut slot = fatal.lock().unwrap_or_else(|p| p.into_inner());
                                slot.get_or_insert(
                                    anyhow::Error::from(e).context(format!("embedding {}", photo.path.display())),
                                );
                                // Stop every thread: the engine itself is failing.
                                next.store(photos.len(), Ordering::Relaxed);
                                break;
                            }
                        },
                    }
                    progress.inc(1);
                }
                results.lock().unwrap_or_else(|p| p.into_inner()).extend(mine);
            });
        }
    });
    progress.finish_and_clear();
    if let Some(e) = fatal.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, _)| *i);
    Ok(results.into_iter().filter_map(|(i, e)| photos.get(i).map(|p| (p.identity, unit(e)))).collect())
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Dot product in eight independent sums, which the compiler can keep in vector registers
/// (a single running sum must be added in order and is not vectorised).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Every pair's cosine similarity, counted as genuine (same identity) or impostor. Rows are
/// dealt to threads in turn (row i has n-1-i pairs, so contiguous blocks would be unequal).
fn score_pairs(embedded: &[(u32, Vec<f32>)], threads: usize) -> (SimilarityCounts, SimilarityCounts) {
    let n = embedded.len();
    let pairs = (n as u64) * (n as u64).saturating_sub(1) / 2;
    let progress = bar(pairs, "scoring pairs");
    let totals = Mutex::new((SimilarityCounts::default(), SimilarityCounts::default()));
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (progress, totals) = (&progress, &totals);
            scope.spawn(move || {
                let (mut genuine, mut impostors) = (SimilarityCounts::default(), SimilarityCounts::default());
                for i in (t..n).step_by(threads) {
                    let (label, a) = &embedded[i];
                    for (other, b) in &embedded[i + 1..] {
                        let s = dot(a, b);
                        if other == label { genuine.add(s) } else { impostors.add(s) }
                    }
                    progress.inc((n - 1 - i) as u64);
                }
                let mut totals = totals.lock().unwrap_or_else(|p| p.into_inner());
                totals.0.merge(&genuine);
                totals.1.merge(&impostors);
            });
        }
    });
    progress.finish_and_clear();
    totals.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// Today's date (UTC) as `YYYY-MM-DD`, from the days since 1970 by the proleptic Gregorian
/// calendar's 400-year cycle (no date library is needed for one date).
fn today_utc() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (y, m, d) = civil_date((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

fn civil_date(days: i64) -> (i64, u32, u32) {
    // Count from 0000-03-01 so that the leap day ends a year; 146097 days make 400 years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn far_label(far: f64) -> String {
    // 1e-3 .. 1e-6 as the file and the API spell them.
    format!("{far:e}")
}

fn describe(m: &Measured) -> String {
    match (m.measurable, m.similarity) {
        (true, Some(s)) => {
            let tar = m.tar.map(|t| format!(", genuine pass rate {:.2}%", t * 100.0)).unwrap_or_default();
            let pairs = match m.false_accepts {
                Some(k) => format!("{k} of {} impostor pairs at or above", m.impostor_pairs),
                None => format!("{} impostor pairs", m.impostor_pairs),
            };
            format!("similarity {s:.4} ({pairs}){tar}")
        }
        _ => format!("not measurable ({} impostor pairs, {} needed)", m.impostor_pairs, m.pairs_needed),
    }
}

fn summary(file: &CalibrationFile, folders: usize) {
    let c = &file.counts;
    out!(
        "{} identities ({} folders), {} photos used, {} skipped: {} genuine pairs, {} impostor pairs",
        c.identities,
        folders,
        c.photos,
        c.skipped,
        c.genuine_pairs,
        c.impostor_pairs
    );
    for (far, m) in file.far.levels() {
        out!("  FAR {}: {}", far_label(far), describe(m));
    }
    for e in &file.fpir {
        let m = fpir_measured(e);
        out!(
            "  1:N gallery {} at FPIR {} (per-pair FAR {:.1e}): {}",
            e.gallery_size,
            far_label(e.fpir),
            e.far_per_pair,
            describe(&m)
        );
    }
}

fn fpir_measured(e: &FpirEntry) -> Measured {
    Measured {
        measurable: e.measurable,
        impostor_pairs: e.impostor_pairs,
        pairs_needed: e.pairs_needed,
        similarity: e.similarity,
        false_accepts: None,
        tar: e.tar,
    }
}

// --- The picture ---------------------------------------------------------------------------
//
// Written by hand: two histograms, a few axes and labels are a couple of hundred lines of SVG
// text, simpler to keep right than a charting dependency and its own idea of log axes.

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 550.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 870.0;
const TOP: f64 = 70.0;
const BOTTOM: f64 = 460.0;
/// Cosine range shown; impostor scores below it are rare and uninteresting, and are counted in
/// the first bar so that nothing disappears.
const X_MIN: f64 = -0.2;
const X_MAX: f64 = 1.0;
/// Bar width in cosine, as a number of the file's 1e-4 bins.
const BAR_BINS: i64 = 100;
const BARS: usize = 120; // (X_MAX - X_MIN) / 0.01
const GENUINE_COLOUR: &str = "#2e8b3e";
const IMPOSTOR_COLOUR: &str = "#c8322f";

/// The share of pairs in each 0.01-wide bar from X_MIN to X_MAX.
fn bars(counts: &SimilarityCounts) -> Vec<f64> {
    let mut bars = vec![0u64; BARS];
    let first_bin = ((X_MIN + 1.0) * 10_000.0).round() as i64;
    for (j, &c) in counts.bins().iter().enumerate() {
        let bar = ((j as i64 - first_bin).max(0) / BAR_BINS).min(BARS as i64 - 1) as usize;
        bars[bar] += c;
    }
    let total = counts.total().max(1) as f64;
    bars.into_iter().map(|c| c as f64 / total).collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn x_of(cosine: f64) -> f64 {
    LEFT + (cosine - X_MIN) / (X_MAX - X_MIN) * (RIGHT - LEFT)
}

/// The picture: both distributions on a log scale (the impostor tail, where the thresholds
/// are, is several decades below the peak) and a line at each measured FAR threshold.
fn svg(file: &CalibrationFile, genuine: &SimilarityCounts, impostors: &SimilarityCounts) -> String {
    let series =
        [(bars(genuine), GENUINE_COLOUR, genuine.total()), (bars(impostors), IMPOSTOR_COLOUR, impostors.total())];
    // The y axis runs from the decade below the smallest share drawn up to 1.
    let smallest = series.iter().flat_map(|(b, _, _)| b.iter().copied()).filter(|&s| s > 0.0).fold(1.0, f64::min);
    let low_decade = (smallest.log10().ceil() as i32 - 1).clamp(-12, -1);
    let y_of = |share: f64| BOTTOM - (share.log10() - f64::from(low_decade)) / -f64::from(low_decade) * (BOTTOM - TOP);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#);
    let c = &file.counts;
    let title = format!(
        "Pair similarities: {} identities, {} photos ({} skipped){}",
        c.identities,
        c.photos,
        c.skipped,
        file.model.as_deref().map(|m| format!(", model {m}")).unwrap_or_default()
    );
    let _ = writeln!(s, r#"<text x="{LEFT}" y="28" font-size="16" font-weight="bold">{}</text>"#, escape(&title));
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="48" fill="#555">measured {}; share of each kind's pairs per 0.01 of cosine (log scale); below {X_MIN} counted in the first bar</text>"##,
        escape(&file.date)
    );

    // Grid and axes.
    for decade in low_decade..=0 {
        let y = y_of(10f64.powi(decade));
        let _ = writeln!(s, r##"<line x1="{LEFT}" y1="{y:.1}" x2="{RIGHT}" y2="{y:.1}" stroke="#e4e4e4"/>"##);
        let label = if decade == 0 { "1".to_string() } else { format!("1e{decade}") };
        let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"#, LEFT - 6.0, y + 4.0);
    }
    for tenth in -2..=10 {
        let cosine = f64::from(tenth) / 10.0;
        let x = x_of(cosine);
        let _ = writeln!(s, r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{BOTTOM}" stroke="#f0f0f0"/>"##);
        let _ = writeln!(s, r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{cosine:.1}</text>"#, BOTTOM + 18.0);
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">cosine similarity</text>"#,
        (LEFT + RIGHT) / 2.0,
        BOTTOM + 40.0
    );
    let _ = writeln!(
        s,
        r#"<text x="24" y="{:.1}" text-anchor="middle" transform="rotate(-90 24 {:.1})">share of pairs (log scale)</text>"#,
        (TOP + BOTTOM) / 2.0,
        (TOP + BOTTOM) / 2.0
    );

    // The histograms: translucent bars, so that where they overlap both stay visible.
    let bar_width = (RIGHT - LEFT) / BARS as f64;
    for (shares, colour, _) in &series {
        let _ = writeln!(s, r#"<g fill="{colour}" fill-opacity="0.55" stroke="{colour}" stroke-width="0.5">"#);
        for (i, &share) in shares.iter().enumerate() {
            if share > 0.0 {
                let y = y_of(share);
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.2}" y="{y:.2}" width="{bar_width:.2}" height="{:.2}"/>"#,
                    LEFT + i as f64 * bar_width,
                    BOTTOM - y
                );
            }
        }
        let _ = writeln!(s, "</g>");
    }
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}" fill="none" stroke="#333"/>"##,
        RIGHT - LEFT,
        BOTTOM - TOP
    );

    // Thresholds: a dashed line each, labels stacked from the top so they never overlap.
    let mut row = 0;
    for (far, m) in file.far.levels() {
        let Some(t) = m.similarity.filter(|_| m.measurable) else { continue };
        let x = x_of(f64::from(t).clamp(X_MIN, X_MAX));
        let y = TOP + 16.0 + 16.0 * f64::from(row);
        row += 1;
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{BOTTOM}" stroke="#1f3f8f" stroke-dasharray="5 3"/>"##
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{y:.1}" fill="#1f3f8f" stroke="white" stroke-width="3" paint-order="stroke">FAR {} = {t:.3}</text>"##,
            x + 4.0,
            far_label(far)
        );
    }
    if row == 0 {
        let needed = file.far.e3.pairs_needed;
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" fill="#1f3f8f">no FAR level measurable: {} impostor pairs, {needed} needed for 1e-3</text>"##,
            LEFT + 10.0,
            TOP + 18.0,
            c.impostor_pairs
        );
    }

    // Legend below the axis title, outside the plot, where no bar can hide it.
    for (k, (label, colour, total)) in [
        ("genuine (same identity)", GENUINE_COLOUR, genuine.total()),
        ("impostor (different identities)", IMPOSTOR_COLOUR, impostors.total()),
    ]
    .into_iter()
    .enumerate()
    {
        let (x, y) = (LEFT + 330.0 * k as f64, HEIGHT - 16.0);
        let _ = writeln!(
            s,
            r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{colour}" fill-opacity="0.55" stroke="{colour}"/>"#,
            y - 10.0
        );
        let _ = writeln!(s, r#"<text x="{:.1}" y="{y:.1}">{label}: {total} pairs</text>"#, x + 18.0);
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(20_088), (2024, 12, 31));
        assert_eq!(civil_date(-1), (1969, 12, 31));
    }

    #[test]
    fn dot_matches_a_plain_sum() {
        let a: Vec<f32> = (0..515).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..515).map(|i| (i as f32 * 0.11).cos()).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-3);
    }

    #[test]
    fn pairs_are_split_by_identity() {
        let e = |identity, v: [f32; 2]| (identity, unit(v.to_vec()));
        let embedded = [e(0, [1.0, 0.0]), e(0, [1.0, 0.1]), e(1, [0.0, 1.0]), e(2, [-1.0, 0.0])];
        for threads in [1, 3] {
            let (genuine, impostors) = score_pairs(&embedded, threads);
            assert_eq!((genuine.total(), impostors.total()), (1, 5));
        }
    }

    /// Roughly bell-shaped counts around `centre`, `n` of them, by a fixed sequence.
    fn bell(centre: f32, spread: f32, n: usize) -> SimilarityCounts {
        let mut c = SimilarityCounts::default();
        let mut state = 12345u64;
        for _ in 0..n {
            // Sum of four uniforms: close enough to normal for a picture and a tail.
            let mut sum = 0.0;
            for _ in 0..4 {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                sum += (state >> 40) as f32 / (1u64 << 24) as f32;
            }
            c.add(centre + (sum - 2.0) * spread);
        }
        c
    }

    #[test]
    fn picture_is_well_formed_and_marks_measured_thresholds() {
        let genuine = bell(0.65, 0.15, 20_000);
        let impostors = bell(0.02, 0.12, 2_000_000);
        let (far, fpir) = calibration_file::measure_all(&impostors, &genuine, &[1000]);
        let file = CalibrationFile {
            format: FORMAT,
            date: "2025-01-02".into(),
            model: Some("a<b>&c".into()),
            counts: Counts {
                identities: 2000,
                photos: 20_000,
                skipped: 3,
                genuine_pairs: 20_000,
                impostor_pairs: 2_000_000,
            },
            far,
            fpir,
        };
        let picture = svg(&file, &genuine, &impostors);
        assert!(picture.starts_with("<svg ") && picture.ends_with("</svg>\n"));
        assert_eq!(picture.matches("<g ").count(), picture.matches("</g>").count());
        assert_eq!(picture.matches('"').count() % 2, 0);
        assert!(picture.contains("a&lt;b&gt;&amp;c"));
        for level in ["1e-3", "1e-4", "1e-5"] {
            assert!(picture.contains(&format!("FAR {level} = ")), "{level}");
        }
        assert!(!picture.contains("FAR 1e-6"));
    }

    #[test]
    fn bars_keep_every_pair() {
        let mut c = SimilarityCounts::default();
        for s in [-0.9, -0.2, 0.0, 0.005, 0.5, 1.0] {
            c.add(s);
        }
        let b = bars(&c);
        assert_eq!(b.len(), BARS);
        assert!((b.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        // -0.9 and -0.2 in the first bar; 0 and 0.005 share the bar starting at 0.
        assert!((b[0] - 2.0 / 6.0).abs() < 1e-9);
        assert!((b[20] - 2.0 / 6.0).abs() < 1e-9);
        assert!((b[BARS - 1] - 1.0 / 6.0).abs() < 1e-9);
    }
}
