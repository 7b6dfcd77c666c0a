//! The real `shiren` binary: JSON shapes, text output and exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shiren"))
}

/// Fetches models and test photos once (the binary's own provisioning) and returns the
/// directory of test photos.
fn testdata() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = bin().args(["models", "fetch", "--test-data", "--quiet"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let path = bin().args(["models", "path"]).output().unwrap();
        PathBuf::from(String::from_utf8(path.stdout).unwrap().trim()).join("testdata")
    })
}

fn photo(name: &str) -> String {
    testdata().join(name).to_string_lossy().into_owned()
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn compare_json_has_similarity_score_and_thresholds() {
    let v = json(&run(&["compare", "--json", &photo("obama.jpg"), &photo("obama2.jpg")]));
    let similarity = v["similarity"].as_f64().unwrap();
    assert!((0.6..1.0).contains(&similarity), "{v}");
    let score = v["score"].as_f64().unwrap();
    assert!(score > v["thresholds"]["1e-4"].as_f64().unwrap(), "{v}");
    for far in ["1e-3", "1e-4", "1e-5"] {
        assert!(v["thresholds"][far].is_number(), "{v}");
    }
    let v = json(&run(&["compare", "--json", &photo("obama.jpg"), &photo("biden.jpg")]));
    assert!(v["score"].as_f64().unwrap() < v["thresholds"]["1e-3"].as_f64().unwrap(), "{v}");
}

#[test]
fn embed_json_lists_each_face_with_a_unit_embedding() {
    let v = json(&run(&["embed", "--json", &photo("obama.jpg")]));
    let faces = v["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 1);
    let face = &faces[0];
    assert_eq!(face["box"].as_array().unwrap().len(), 4);
    assert!(face["score"].as_f64().unwrap() > 0.5);
    assert_eq!(face["landmarks"].as_array().unwrap().len(), 5);
    let embedding: Vec<f64> = face["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(embedding.len(), 512);
    let norm: f64 = embedding.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "{norm}");
}

#[test]
fn text_output_is_readable() {
    let out = run(&["detect", &photo("obama.jpg")]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("1 face(s)"), "{text}");
    let out = run(&["quality", &photo("obama.jpg")]);
    assert!(String::from_utf8(out.stdout).unwrap().starts_with("quality "));
    let out = run(&["attributes", "--json", &photo("biden.jpg")]);
    let v = json(&out);
    assert_eq!(v["attributes"]["gender"]["value"], "male", "{v}");
    assert_eq!(v["attributes"]["glasses"]["available"], false, "{v}");
}

#[test]
fn exit_codes_tell_no_face_from_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a photo\n").unwrap();
    let out = run(&["detect", text.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("InvalidImage.UnsupportedFormat"));

    let missing = dir.path().join("missing.jpg");
    assert_eq!(run(&["detect", missing.to_str().unwrap()]).status.code(), Some(4));

    // A plain grey JPEG has no face in it.
    let grey = dir.path().join("grey.jpg");
    image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128])).save(&grey).unwrap();
    let out = run(&["compare", grey.to_str().unwrap(), &photo("obama.jpg")]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NoFace"));

    assert_eq!(run(&["compare", &photo("obama.jpg")]).status.code(), Some(2));
}

#[test]
fn json_mode_reports_failures_as_json_too() {
    let dir = tempfile::tempdir().unwrap();
    let grey = dir.path().join("grey.png");
    image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128])).save(&grey).unwrap();
    let out = run(&["compare", grey.to_str().unwrap(), &photo("obama.jpg"), "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["error"]["code"].as_str(), v["error"]["exit_code"].as_u64()), (Some("NoFace"), Some(3)), "{v}");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a photo\n").unwrap();
    let out = run(&["quality", text.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(4));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "InvalidImage.UnsupportedFormat");
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    // `shiren embed PHOTO | true`: the reader is gone before the first line is written.
    let mut child = bin()
        .args(["embed", &photo("obama.jpg"), "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// Every tag closed in order, attributes quoted: enough to catch a broken writer.
fn assert_well_formed_svg(svg: &str) {
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"), "{svg}");
    let mut open: Vec<&str> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("unclosed tag") + start;
        let tag = &rest[start + 1..end];
        assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes in <{tag}>");
        assert!(!tag.contains('<') && !rest[..start].contains('>'), "stray bracket near <{tag}>");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop(), Some(name.trim()), "closing </{name}>");
        } else if !tag.ends_with('/') {
            open.push(tag.split_whitespace().next().unwrap_or(""));
        }
        rest = &rest[end + 1..];
    }
    assert!(open.is_empty(), "left open: {open:?}");
}

#[test]
fn calibrate_measures_labelled_folders_and_says_what_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    for (who, names) in [("obama", &["obama.jpg", "obama2.jpg"][..]), ("biden", &["biden.jpg"][..])] {
        std::fs::create_dir_all(photos.join(who)).unwrap();
        for name in names {
            std::fs::copy(photo(name), photos.join(who).join(name)).unwrap();
        }
    }
    std::fs::write(photos.join("biden/corrupt.jpg"), b"\xff\xd8 not really a JPEG").unwrap();
    std::fs::write(photos.join("biden/notes.txt"), "who is who\n").unwrap();
    let out_file = dir.path().join("site.toml");
    let out = run(&[
        "calibrate",
        photos.to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
        "--threads",
        "2",
        "--gallery-size",
        "100,10000",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("corrupt.jpg") && stderr.contains("notes.txt"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAR 1e-4: not measurable (2 impostor pairs, 100000 needed)"), "{stdout}");

    let file = shiren_face::CalibrationFile::load(&out_file).unwrap();
    let c = file.counts;
    assert_eq!((c.identities, c.photos, c.skipped, c.genuine_pairs, c.impostor_pairs), (2, 3, 1, 1, 2), "{c:?}");
    assert!(file.far.levels().iter().all(|(_, m)| !m.measurable && m.similarity.is_none()));
    assert_eq!(file.fpir.len(), 6);
    assert!(file.fpir.iter().all(|e| !e.measurable));
    // Nothing measurable: the engine keeps its defaults.
    assert_eq!(file.calibration(shiren_face::Calibration::default()), shiren_face::Calibration::default());
    let svg = std::fs::read_to_string(dir.path().join("site.svg")).unwrap();
    assert_well_formed_svg(&svg);
    assert!(svg.contains("no FAR level measurable"));

    // `compare --calibration` takes measured thresholds from such a file.
    let text = std::fs::read_to_string(&out_file).unwrap().replacen(
        "[far.1e-3]\nmeasurable = false\n",
        "[far.1e-3]\nmeasurable = true\nsimilarity = 0.25\n",
        1,
    );
    std::fs::write(&out_file, text).unwrap();
    let v = json(&run(&[
        "compare",
        "--json",
        "--calibration",
        out_file.to_str().unwrap(),
        &photo("obama.jpg"),
        &photo("obama2.jpg"),
    ]));
    assert!((v["threshold_similarity"]["1e-3"].as_f64().unwrap() - 0.25).abs() < 1e-6, "{v}");
    assert!((v["threshold_similarity"]["1e-4"].as_f64().unwrap() - 0.36).abs() < 1e-6, "{v}");

    // The service refuses to start on a broken calibration file, naming it.
    std::fs::write(&out_file, "format = 1\n").unwrap();
    let data = dir.path().join("data");
    let out = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()])
        .env("SHIREN_CALIBRATION_FILE", &out_file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("site.toml"), "{stderr}");
}
