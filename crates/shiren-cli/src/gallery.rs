//! `shiren gallery ...`: face galleries managed directly on the service's data directory
//! (no running server needed; running servers pick the changes up from the change log).
//!
//! `import` enrols a folder or a CSV of photos on every core: each photo is read, hashed,
//! skipped when the gallery already holds it (so a re-run adds only what is missing), embedded
//! and stored in one transaction (a face is wholly there or not at all, whenever the process
//! dies). Per-file problems are reported and skipped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use shiren_store::{FaceAdded, Store};
use shiren_verify::Caller;
use shiren_verify::galleries::{self, DEFAULT_MIN_ENROL_QUALITY, Enrolment};

use crate::service::{ServiceArgs, runtime};

#[derive(Subcommand)]
pub enum GalleryCommand {
    /// Create a gallery.
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List the galleries with their numbers of persons and faces.
    List,
    /// Enrol photos: DIR holds a folder per person (the folder's name is the external id) or
    /// photos named after their person (the file's stem); a CSV has `external_id,path` rows
    /// (paths relative to the CSV; a header row is allowed).
    Import {
        /// Gallery id or name.
        gallery: String,
        source: PathBuf,
        /// Create the gallery when there is none of that name.
        #[arg(long)]
        create: bool,
        /// Photos embedded at once (default: every core).
        #[arg(long)]
        threads: Option<usize>,
        /// Lowest face quality (0-100) enrolled.
        #[arg(long, default_value_t = DEFAULT_MIN_ENROL_QUALITY)]
        min_quality: f32,
        /// Print each photo as its face is stored (`added PATH FACE_ID`).
        #[arg(long)]
        list: bool,
    },
}

/// One photo to enrol.
struct Photo {
    external_id: String,
    path: PathBuf,
}

const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "bmp"];

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_entries(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    Ok(entries)
}

/// The photos a folder or CSV names, in a stable order.
fn photos_of(source: &Path) -> anyhow::Result<Vec<Photo>> {
    if source.is_dir() {
        let mut photos = Vec::new();
        for entry in sorted_entries(source)? {
            let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if name.starts_with('.') {
                continue;
            }
            if entry.is_dir() {
                for file in sorted_entries(&entry)? {
                    if is_image(&file) {
                        photos.push(Photo { external_id: name.clone(), path: file });
                    }
                }
            } else if is_image(&entry) {
                let stem = entry.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
                photos.push(Photo { external_id: stem, path: entry });
            }
        }
        return Ok(photos);
    }
    let base = source.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(source)
        .with_context(|| format!("cannot read {}", source.display()))?;
    let mut photos = Vec::new();
    for (line, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("{}: line {}", source.display(), line + 1))?;
        let (external_id, path) = (row.get(0).unwrap_or(""), row.get(1).unwrap_or(""));
        if line == 0 && external_id.eq_ignore_ascii_case("external_id") {
            continue;
        }
        if external_id.is_empty() || path.is_empty() {
            bail!("{}: line {}: expected external_id,path", source.display(), line + 1);
        }
        let path = if Path::new(path).is_absolute() { PathBuf::from(path) } else { base.join(path) };
        photos.push(Photo { external_id: external_id.to_string(), path });
    }
    Ok(photos)
}

/// How one photo went.
enum Outcome {
    Added(i64),
    AlreadyThere,
    Skipped(String),
}

pub fn run(args: &ServiceArgs, model_dir: &Option<PathBuf>, cmd: GalleryCommand) -> anyhow::Result<()> {
    let config = args.load(model_dir)?;
    match cmd {
        GalleryCommand::Create { name, description } => runtime()?.block_on(async {
            let store = Store::open(&config.store_config()).await.context("opening the store")?;
            let input = galleries::GalleryInput { name, description };
            let gallery = galleries::create(&store, &Caller::command_line(), &input).await?;
            out!("{}  {}", gallery.id, gallery.name);
            store.close().await;
            Ok(())
        }),
        GalleryCommand::List => runtime()?.block_on(async {
            let store = Store::open(&config.store_config()).await.context("opening the store")?;
            for g in galleries::list(&store).await? {
                out!("{}  {:24}  {:>9} persons  {:>9} faces", g.id, g.name, g.persons, g.faces);
            }
            store.close().await;
            Ok(())
        }),
        GalleryCommand::Import { gallery, source, create, threads, min_quality, list } => {
            let photos = photos_of(&source)?;
            let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
            let model_dir = config.model_dir.clone().or(model_dir.clone());
            let engine = Arc::new(super::load_engine(&model_dir, shiren_face::DetectMode::Fast, false, threads)?);
            runtime()?.block_on(async {
                let store = Store::open(&config.store_config()).await.context("opening the store")?;
                let images =
                    shiren_store::images::ImageStore::open_config(&config.store_config(), store.keys().clone())
                        .context("opening image storage")?;
                let admin = Caller::command_line();
                let gallery = match store.gallery(&gallery).await? {
                    Some(g) => g,
                    None if create => {
                        let input = galleries::GalleryInput { name: gallery.clone(), description: String::new() };
                        let made = galleries::create(&store, &admin, &input).await?;
                        galleries::find(&store, &made.id).await?
                    }
                    None => bail!("no gallery {gallery:?} (add --create to make it)"),
                };
                let bar = ProgressBar::new(photos.len() as u64);
                bar.set_style(
                    ProgressStyle::with_template("{bar:40} {pos}/{len} photos  {per_sec}  eta {eta}  {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                let permits = Arc::new(tokio::sync::Semaphore::new(threads));
                let mut tasks = tokio::task::JoinSet::new();
                let mut tally = Tally::default();
                for photo in photos {
                    let permit = permits.clone().acquire_owned().await.context("import stopped")?;
                    let (store, images, engine, gallery_id) =
                        (store.clone(), images.clone(), engine.clone(), gallery.id.clone());
                    tasks.spawn(async move {
                        let outcome = enrol(&store, &images, engine, &gallery_id, &photo, min_quality).await;
                        drop(permit);
                        (photo, outcome)
                    });
                    while let Some(done) = tasks.try_join_next() {
                        tally.count(&bar, done?, list);
                    }
                }
                while let Some(done) = tasks.join_next().await {
                    tally.count(&bar, done?, list);
                }
                bar.finish_and_clear();
                let faces = store.gallery_stats(&gallery.id).await?.map_or(0, |s| s.faces);
                admin
                    .audit(
                        &store,
                        "gallery.import",
                        &gallery.id,
                        serde_json::json!({ "source": source.display().to_string() }),
                    )
                    .await?;
                store.close().await;
                out!(
                    "gallery {} ({}): {faces} faces; this run: {} added, {} already there, {} skipped",
                    gallery.name,
                    gallery.id,
                    tally.added,
                    tally.present,
                    tally.skipped
                );
                Ok(())
            })
        }
    }
}

/// What a run did, photo by photo.
#[derive(Default)]
struct Tally {
    added: usize,
    present: usize,
    skipped: usize,
}

impl Tally {
    fn count(&mut self, bar: &ProgressBar, (photo, outcome): (Photo, Outcome), list: bool) {
        match &outcome {
            Outcome::Added(face_id) => {
                self.added += 1;
                if list {
                    // Stdout, a line per stored face: what a script (or a test) counts as done.
                    bar.suspend(|| out!("added {} {face_id}", photo.path.display()));
                }
            }
            Outcome::AlreadyThere => self.present += 1,
            Outcome::Skipped(why) => {
                self.skipped += 1;
                bar.suspend(|| eprintln!("skipped {}: {why}", photo.path.display()));
            }
        }
        bar.inc(1);
    }
}

async fn enrol(
    store: &Store,
    images: &shiren_store::images::ImageStore,
    engine: Arc<shiren_face::Engine>,
    gallery_id: &str,
    photo: &Photo,
    min_quality: f32,
) -> Outcome {
    let bytes = match tokio::fs::read(&photo.path).await {
        Ok(b) => b,
        Err(e) => return Outcome::Skipped(format!("cannot read it: {e}")),
    };
    let hash = galleries::photo_hash(store, &bytes);
    match store.has_face_from(gallery_id, &hash).await {
        Ok(true) => return Outcome::AlreadyThere,
        Ok(false) => {}
        Err(e) => return Outcome::Skipped(format!("database: {e}")),
    }
    let embedded = tokio::task::spawn_blocking(move || {
        let result = galleries::enrolment_template(&engine, &bytes, min_quality);
        result.map(|(template, quality)| (template, quality, bytes))
    })
    .await;
    let (template, quality, _bytes) = match embedded {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return Outcome::Skipped(format!("{}: {}", e.code, e.message)),
        Err(e) => return Outcome::Skipped(format!("worker failed: {e}")),
    };
    let enrolment = Enrolment {
        gallery_id,
        external_id: &photo.external_id,
        attributes_enc: None,
        template: &template,
        quality,
        source_hash: hash,
        keep_photo: None,
    };
    match galleries::store_face(store, images, enrolment).await {
        Ok(FaceAdded::Added { face_key, .. }) => Outcome::Added(face_key),
        Ok(FaceAdded::AlreadyEnrolled { .. }) => Outcome::AlreadyThere,
        Ok(FaceAdded::NoSuchGallery) => Outcome::Skipped("the gallery was deleted".into()),
        Err(e) => Outcome::Skipped(format!("{}: {}", e.code, e.message)),
    }
}
