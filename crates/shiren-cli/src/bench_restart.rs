//! `shiren bench restart`: how long a node takes to serve searches again after a restart, with a
//! gallery of synthetic faces in a real database (SQLite in a temporary directory, or
//! `--database-url`). It fills the gallery through the store (templates encrypted, change log
//! written, as enrolment does), then times what a starting node does: read every face, open its
//! template and build the indexes ([`SearchIndexes::load`]), and a first search; then writes the
//! index's encrypted snapshot to object storage (a directory here) and times a second start that
//! loads it instead.

use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use shiren_index::synthetic::Gallery;
use shiren_store::images::ImageStore;
use shiren_store::{Keyring, NewFace, Store};
use shiren_verify::galleries::SearchIndexes;

#[derive(Args, Debug, Clone)]
pub struct RestartBenchArgs {
    /// Identities in the gallery (1 to 5 faces each, 3 on average).
    #[arg(long, default_value_t = 333_334)]
    pub identities: u32,
    /// Database (default: SQLite in a temporary directory).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Threads building the index (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn run(args: &RestartBenchArgs) -> anyhow::Result<()> {
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let dir = tempfile::tempdir().context("temporary directory")?;
    let url = args.database_url.clone().unwrap_or_else(|| Store::sqlite_url(dir.path()));
    crate::service::runtime()?.block_on(async {
        let store = Store::connect(&url, Keyring::from_bytes(rand_key()?)).await.context("opening the database")?;
        let name = format!("bench-{}", shiren_store::new_id(""));
        let gallery = store.create_gallery(&name, "restart bench").await?.context("gallery name taken")?;
        let synthetic = Gallery::generate(args.identities, 1..=5, 11);
        let faces = synthetic.faces().len();
        let bar = ProgressBar::new(faces as u64);
        bar.set_style(
            ProgressStyle::with_template("filling {bar:40} {pos}/{len} faces  {per_sec}  eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let filling = Instant::now();
        let persons: Vec<String> = (0..args.identities).map(|i| format!("p{i}")).collect();
        for chunk in synthetic.faces().chunks(5000) {
            let templates: Vec<Vec<u8>> =
                chunk.iter().map(|f| f.vector.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
            let batch: Vec<NewFace> = chunk
                .iter()
                .zip(&templates)
                .map(|(face, template)| NewFace::template_only(&gallery.id, &persons[face.identity as usize], template))
                .collect();
            store.add_faces(&batch).await?;
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        let fill_secs = filling.elapsed().as_secs_f64();
        drop(synthetic);

        let objects = ImageStore::local(&dir.path().join("objects"), store.keys().clone())?;
        let probe = Gallery::generate(args.identities, 1..=5, 11).probe(7, 99);
        println!(
            "restart bench: {faces} faces in {} ({threads} threads)",
            if args.database_url.is_some() { "the given database" } else { "SQLite" }
        );
        println!("  fill (encrypt + insert + change log): {fill_secs:.1} s ({:.0} faces/s)", faces as f64 / fill_secs);

        let rss_before = resident_bytes();
        let starting = Instant::now();
        let indexes = SearchIndexes::load(store.clone(), threads, Some(objects.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let rebuild_secs = starting.elapsed().as_secs_f64();
        let info = indexes.info(&gallery.id);
        let rss_grew = resident_bytes().saturating_sub(rss_before);
        let first = first_search(&indexes, &gallery.id, &probe)?;
        println!(
            "  start without a snapshot: read, open and index every face: {rebuild_secs:.1} s; first search {:.1} ms ({} hits)",
            first.0, first.1
        );
        println!(
            "  index: {} with {} faces, {:.0} MB counted, resident set grew {:.0} MB",
            info.kind,
            info.faces,
            info.memory_bytes as f64 / 1e6,
            rss_grew as f64 / 1e6
        );

        let writing = Instant::now();
        let written = indexes.write_snapshots(true).await;
        let write_secs = writing.elapsed().as_secs_f64();
        drop(indexes);
        let stored: u64 = std::fs::read_dir(dir.path().join("objects/index-snapshots"))
            .map(|entries| entries.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0);
        println!("  snapshot: {written} written in {write_secs:.1} s, {:.0} MB encrypted", stored as f64 / 1e6);

        let starting = Instant::now();
        let indexes = SearchIndexes::load(store.clone(), threads, Some(objects))
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let reload_secs = starting.elapsed().as_secs_f64();
        let report = indexes.load_report().clone();
        let again = first_search(&indexes, &gallery.id, &probe)?;
        anyhow::ensure!(report.from_snapshots == 1, "the second start did not use the snapshot: {report:?}");
        anyhow::ensure!(again.2 == first.2, "the snapshot answers differently from the rebuilt index");
        println!(
            "  start from the snapshot: {reload_secs:.1} s ({:.0}x faster); first search {:.1} ms, same answer",
            rebuild_secs / reload_secs.max(1e-9),
            again.0
        );
        store.close().await;
        Ok(())
    })
}

/// Time of a first search, its hit count and its hits' keys.
fn first_search(indexes: &SearchIndexes, gallery_id: &str, probe: &[f32]) -> anyhow::Result<(f64, usize, Vec<u64>)> {
    let searching = Instant::now();
    let hits = indexes.search(gallery_id, probe, 10).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let ms = searching.elapsed().as_secs_f64() * 1000.0;
    Ok((ms, hits.len(), hits.iter().map(|h| h.key).collect()))
}

fn rand_key() -> anyhow::Result<[u8; 32]> {
    let text = shiren_store::random_token(32)?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&text.as_bytes()[..32]);
    Ok(key)
}

/// Resident set size from `/proc/self/statm` (0 where it cannot be read).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}
