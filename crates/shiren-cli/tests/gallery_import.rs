//! `shiren gallery import` as a user runs it: a folder per person, per-file errors reported and
//! skipped, kill -9 in the middle, a re-run that adds only what is missing, and a server that
//! then holds exactly the faces the database holds.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use common::{Server, bin, photo, private_dir};
use serde_json::json;

/// Photos of the test faces, each saved in several slightly different versions (different bytes,
/// same face), one folder per person, plus a file that is not a photo.
fn photo_folder(dir: &Path, versions: u8) -> usize {
    let mut written = 0;
    for (person, names) in [("obama", &["obama.jpg", "obama2.jpg", "obama3.jpg"][..]), ("biden", &["biden.jpg"][..])] {
        let folder = dir.join(person);
        std::fs::create_dir_all(&folder).unwrap();
        for name in names {
            let img = image::load_from_memory(&photo(name)).unwrap().to_rgb8();
            for v in 0..versions {
                let mut version = img.clone();
                for p in version.pixels_mut() {
                    p.0 = p.0.map(|c| c.saturating_add(v * 3));
                }
                version.save(folder.join(format!("{}-{v}.png", name.trim_end_matches(".jpg")))).unwrap();
                written += 1;
            }
        }
    }
    std::fs::write(dir.join("biden").join("notes.jpg"), b"not a photo").unwrap();
    written
}

fn import(data_dir: &Path, source: &Path) -> std::process::Command {
    let mut cmd = bin();
    cmd.args(["gallery", "import", "staff", "--create", "--list", "--threads", "2", "--data-dir"])
        .arg(data_dir)
        .arg(source);
    cmd
}

#[test]
fn an_interrupted_import_resumes_without_losing_or_doubling_a_face() {
    let data = private_dir();
    let photos = tempfile::tempdir().unwrap();
    let written = photo_folder(photos.path(), 6);

    // Kill -9 once a few faces are acknowledged.
    let mut child = import(data.path(), photos.path()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acknowledged = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("added ") {
            acknowledged.push(rest.to_string());
        }
        if acknowledged.len() >= 5 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(acknowledged.len() >= 5, "the import stored nothing before it was killed");

    // The re-run adds only what is missing and reports the file that is not a photo.
    let out = import(data.path(), photos.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("notes.jpg"), "the bad file is named: {stderr}");
    let added_again: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("added ")).collect();
    for done in &acknowledged {
        let path = done.rsplit_once(' ').unwrap().0;
        assert!(!added_again.iter().any(|l| l.starts_with(path)), "{path} was added twice");
    }
    assert!(stdout.contains(&format!("{written} faces")), "every photo once: {stdout}");

    // A third run has nothing to do.
    let out = import(data.path(), photos.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("0 added") && stdout.contains(&format!("{written} already there")), "{stdout}");

    // A server built from the database holds exactly those faces, and finds Obama.
    let server = Server::start_in(data.path(), &[]);
    let api = server.client(server.key("full"));
    let gallery = api.call("GET", "/v1/galleries/staff", None);
    assert_eq!(gallery.status, 200, "{}", gallery.json);
    assert_eq!(gallery.json["data"]["faces"], json!(written), "{}", gallery.json);
    assert_eq!(gallery.json["data"]["index"]["faces"], json!(written), "{}", gallery.json);
    assert_eq!(gallery.json["data"]["persons"], json!(2), "{}", gallery.json);
    let scene = api.scene(json!({}));
    let body = json!({ "scene_id": scene, "gallery_ids": ["staff"], "image": common::b64(&photo("obama2.jpg")) });
    let found = api.call("POST", "/v1/search", Some(&body));
    assert_eq!(found.status, 200, "{}", found.json);
    assert_eq!(found.json["data"]["detail"]["candidates"][0]["external_id"], "obama", "{}", found.json);
}
