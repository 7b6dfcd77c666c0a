//! The `/docs` page in a real browser: headless Chromium (installed by
//! tools/browser/ensure-chromium.sh when missing) loads the page from the real `shiren serve`,
//! runs its script, which fetches `/openapi.json`, and the rendered DOM must list every operation
//! of the live document. Screenshots at phone and desktop width go to a temporary directory, or to
//! `SHIREN_SCREENSHOTS=DIR` (relative to the workspace root) to regenerate the ones committed in
//! docs/screenshots.

mod common;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Server, http};
use serde_json::Value;

/// How long one Chromium run may take before it is killed.
const BROWSER_LIMIT: Duration = Duration::from_secs(60);
/// Installing Chromium with apt-get, when the script has to.
const INSTALL_LIMIT: Duration = Duration::from_secs(900);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Runs `cmd` in its own process group with stdout and stderr captured; the whole group is
/// killed when it outlives `limit` (the test then fails), and after it exits (browser helpers).
fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let kill_group = |pid: u32| {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            kill_group(child.id());
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?} and was killed");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    kill_group(child.id());
    Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

/// The Chromium binary, installed by the project's script when there is none.
fn chromium() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let root = workspace_root();
        let mut cmd = Command::new("bash");
        cmd.arg(root.join("tools/browser/ensure-chromium.sh")).current_dir(&root);
        let out = run_bounded(cmd, INSTALL_LIMIT);
        assert!(out.status.success(), "ensure-chromium.sh failed: {}", String::from_utf8_lossy(&out.stderr));
        let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        assert!(path.is_file(), "ensure-chromium.sh printed {path:?}");
        path
    })
}

/// Headless Chromium on `url` with a fresh profile; `extra` says what to produce. The virtual
/// time budget lets the page's fetch of /openapi.json finish before the DOM or picture is taken.
fn headless(url: &str, extra: &[String]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--virtual-time-budget=5000",
        // Raster every tile before the screenshot is taken (otherwise parts of a long page can
        // come out blank).
        "--run-all-compositor-stages-before-draw",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(url);
    let out = run_bounded(cmd, BROWSER_LIMIT);
    assert!(out.status.success(), "chromium failed on {url}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn openapi(server: &Server) -> Value {
    let (status, _, body) = http(&server.host, "GET", "/openapi.json", &[], b"");
    assert_eq!(status, 200);
    serde_json::from_slice(&body).unwrap()
}

/// Text as Chromium serializes it inside an element.
fn html_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\u{a0}', "&nbsp;")
}

#[test]
fn docs_page_renders_every_operation_of_the_live_openapi_document() {
    let server = Server::start(&[]);
    let doc = openapi(&server);
    let out = headless(&format!("{}/docs", server.url), &["--dump-dom".to_string()]);
    let dom = String::from_utf8(out.stdout).unwrap();
    let log = String::from_utf8_lossy(&out.stderr);

    // The script ran to the end: the placeholder ("Loading the API description…") gave way to the
    // document's own description, not to the error the page shows when the fetch fails.
    assert!(!log.contains("Uncaught"), "script error in the page:\n{log}");
    let intro = dom
        .split_once("<p id=\"intro\">")
        .and_then(|(_, rest)| rest.split_once("</p>"))
        .map(|(text, _)| text)
        .unwrap_or_else(|| panic!("no intro paragraph:\n{dom}"));
    let description = doc["info"]["description"].as_str().expect("info.description");
    assert!(!description.is_empty());
    assert_eq!(intro, html_text(description), "the page did not render /openapi.json");

    // One entry per operation, with its method and path, each once, under one heading per tag.
    let content = dom
        .split_once("<main id=\"content\">")
        .and_then(|(_, rest)| rest.split_once("</main>"))
        .map(|(content, _)| content)
        .unwrap_or_else(|| panic!("no content:\n{dom}"));
    let mut operations = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            operations += 1;
            let entry = format!(
                "<span class=\"method {method}\">{}</span><span class=\"path\">{}</span>",
                method.to_uppercase(),
                html_text(path)
            );
            assert!(content.contains(&entry), "{} {path} is missing from the page", method.to_uppercase());
        }
    }
    assert_eq!(content.matches("<span class=\"method ").count(), operations, "{content}");
    for product in ["/v1/compare", "/v1/liveness", "/v1/identity", "/v1/scenes", "/v1/records", "/v1/records/{id}"] {
        assert!(content.contains(&format!("<span class=\"path\">{product}</span>")), "{product} is not on the page");
    }
    let headings: Vec<&str> =
        content.split("<h2>").skip(1).filter_map(|h| h.split_once("</h2>")).map(|h| h.0).collect();
    let unique: std::collections::BTreeSet<_> = headings.iter().collect();
    assert_eq!(unique.len(), headings.len(), "a heading appears twice: {headings:?}");
    for tag in doc["tags"].as_array().into_iter().flatten() {
        assert!(headings.contains(&tag["name"].as_str().unwrap()), "no heading for tag {tag}: {headings:?}");
    }
    assert_eq!(headings.last(), Some(&"Schemas"), "{headings:?}");
    assert!(content.contains("<th>field</th><th>type</th><th>meaning</th>"), "no field table rendered");
}

#[test]
fn docs_page_screenshots_at_phone_and_desktop_width() {
    let server = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = match std::env::var_os("SHIREN_SCREENSHOTS") {
        // Relative to the workspace root (cargo runs tests in the crate's directory).
        Some(dir) => workspace_root().join(dir),
        None => tmp.path().to_path_buf(),
    };
    std::fs::create_dir_all(&dir).unwrap();
    // The page as it opens, and with every operation opened (`#all`).
    let states = [("docs", ""), ("docs-open", "#all")];
    for ((name, fragment), (width, height)) in states.into_iter().flat_map(|s| [(s, (375, 667)), (s, (1280, 900))]) {
        let file = dir.join(format!("{name}-{width}x{height}.png"));
        let _ = std::fs::remove_file(&file);
        headless(
            &format!("{}/docs{fragment}", server.url),
            &[format!("--screenshot={}", file.display()), format!("--window-size={width},{height}")],
        );
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("no screenshot {}: {e}", file.display()));
        assert!(bytes.len() > 10_000, "{} is only {} bytes", file.display(), bytes.len());
        let picture = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).unwrap().to_rgb8();
        assert_eq!(picture.dimensions(), (width, height), "{}", file.display());
        // Not a blank page: the dark header and the light page are both there.
        let dark = picture.pixels().filter(|p| p.0.iter().all(|&c| c < 100)).count();
        let light = picture.pixels().filter(|p| p.0.iter().all(|&c| c > 200)).count();
        let area = (width * height) as usize;
        assert!(dark > area / 50 && light > area / 4, "{}: {dark} dark, {light} light pixels", file.display());
    }
}
