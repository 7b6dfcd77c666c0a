//! The capture page (`/h5/{token}`) in a real browser, end to end: headless Chromium driven
//! through chromedriver (both ensured by tools/browser/ensure-chromium.sh) runs the page exactly
//! as served by the real `shiren serve`, and every verdict is read from the signed API
//! (`GET /v1/verifications/{id}`), never from the page.
//!
//! - `every_liveness_model_passes_with_a_simulated_camera`: an injected script replaces
//!   `getUserMedia` with a canvas stream showing a person made from a test photo (shiren-synth
//!   sprites: neutral, eyes closed, mouth open, head turned, nodding) who watches the page's
//!   prompt and colour flashes and answers them like a person would (after a reaction time,
//!   the screen's colour reflected on the face); each of the four liveness models passes.
//! - `a_still_photo_through_the_fake_camera_fails`: Chromium's own fake camera plays a still
//!   frame (Y4M); the capture works (timing, one face, same person) but liveness fails (205).
//! - `id_plus_reads_the_card_then_the_face`: ID_PLUS end to end: the simulated camera first
//!   holds up photographs of a generated ID card (shiren-cardsynth, the actor's photo as its
//!   portrait) — the wrong side first, which the page's hint corrects, then the front and the
//!   back — and then the person performs the challenge; the verdict (read from the API) passes
//!   with the card's fields, and the card screens are photographed.
//! - `sessions_made_through_the_vendor_sdks_complete_in_the_browser`: Alibaba Cloud's Python SDK
//!   creates a PV_FV session (InitFaceVerify) and Tencent Cloud's SDK another (DetectAuth); the
//!   person completes each link in the browser, and DescribeFaceVerify (through the Node.js SDK)
//!   and GetDetectInfoEnhanced return the outcome on each vendor's scale.
//! - `every_page_state_is_photographed`: every screen at phone and desktop size, written to
//!   `SHIREN_SCREENSHOTS=DIR` (relative to the workspace root) or a temporary directory, as
//!   `capture-<state>-<phone|desktop>.png`; the network-lost screen's retry delivers the result.
//!
//! What this proves: the page's whole mechanism — consent, camera, hints, the challenge shown at
//! the issued times, frames captured with the page's clock, the multipart upload, its retry, and
//! every error screen — works in a real browser against the real server, and the server's
//! judgement accepts a performance that follows the page and refuses a still picture. What it
//! cannot prove: anything about real people and real cameras (pass rates, lighting, skin tones,
//! phone browsers' camera quirks). The synthetic faces prove the mechanics end to end, not a pass
//! rate on real people.
//!
//! The page's own script runs unmodified under its own Content-Security-Policy; the test only
//! replaces what a browser gets from outside: `getUserMedia` (the camera) and, for the network
//! screens, the upload's `XMLHttpRequest.send`. Any error or CSP violation in the page fails a walk.
//!
//! Every wait is bounded; chromedriver and every Chromium process it started are killed when a
//! test ends, whether it passed or not.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::sdk::{self, Sdk};
use common::{Api, Server};
use serde_json::{Value, json};
use shiren_synth::{Actor, Camera, Expression, Y4mWriter, encode_jpeg};

/// Installing Chromium and chromedriver with apt-get, when the script has to.
const INSTALL_LIMIT: Duration = Duration::from_secs(900);
/// chromedriver listening, and one browser starting.
const START_LIMIT: Duration = Duration::from_secs(30);
/// One WebDriver command (a navigation waits for the page's load event).
const COMMAND_LIMIT: Duration = Duration::from_secs(60);
/// From pressing "begin" to the result screen: the challenge (at most about 13 s), the upload
/// and the server's judgement on a busy machine.
const RESULT_LIMIT: Duration = Duration::from_secs(60);
/// A screen change that needs no server work.
const SCREEN_LIMIT: Duration = Duration::from_secs(15);

/// Phone and desktop viewports of the screenshots: label, width, height, mobile emulation.
const VIEWPORTS: [(&str, u32, u32, bool); 2] = [("phone", 375, 667, true), ("desktop", 1280, 800, false)];

/// The frame the simulated and the fake camera show, as a laptop's webcam would.
const FRAME: (usize, usize) = (640, 480);
const FACE_WIDTH: f32 = 0.42;

// ---------------------------------------------------------------------------------------------
// Tools: the workspace, the browser binaries, processes.

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// Kills a process group (chromedriver and what it started in its group).
fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Kills every process whose command line contains `marker` (a unique temporary path given to
/// the browsers this test started, so nothing else matches): Chromium's helpers can outlive
/// chromedriver's process group.
fn kill_marked(marker: &str) {
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    let me = std::process::id();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if String::from_utf8_lossy(&cmdline).contains(marker) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs tools/browser/ensure-chromium.sh (with `args`), bounded, and returns the path it prints.
fn ensure(args: &[&str]) -> PathBuf {
    let root = workspace_root();
    let mut child = Command::new("bash")
        .arg(root.join("tools/browser/ensure-chromium.sh"))
        .args(args)
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("bash runs ensure-chromium.sh");
    // Read both pipes while it runs (apt-get's log, shown on failure, can fill a pipe).
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + INSTALL_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for ensure-chromium.sh") {
            break status;
        }
        if Instant::now() > deadline {
            kill_group(child.id());
            let _ = child.wait();
            panic!("ensure-chromium.sh {args:?} did not finish within {INSTALL_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = out.join().expect("stdout reader");
    let err = err.join().expect("stderr reader");
    assert!(status.success(), "ensure-chromium.sh {args:?} failed: {err}");
    let path = PathBuf::from(out.trim());
    assert!(path.is_file(), "ensure-chromium.sh {args:?} printed {path:?}");
    path
}

fn chromium() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| ensure(&[]))
}

fn chromedriver() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| ensure(&["--driver"]))
}

// ---------------------------------------------------------------------------------------------
// A small WebDriver client: chromedriver on a loopback port, one browser per `Browser`.

/// One HTTP/1.1 exchange with chromedriver (JSON both ways); errors instead of panics, so that
/// it can be used while cleaning up after a failure.
fn exchange(
    host: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    limit: Duration,
) -> Result<(u16, Value), String> {
    let addr: SocketAddr = host.parse().map_err(|e| format!("{host}: {e}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(limit)).map_err(|e| e.to_string())?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\
         content-type: application/json; charset=utf-8\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes())).map_err(|e| e.to_string())?;
    // chromedriver keeps the connection open whatever the request says: read the head, then
    // as many bytes as it announces (or to the end when it announces none).
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut read_more = |raw: &mut Vec<u8>| -> Result<bool, String> {
        let n = stream.read(&mut buf).map_err(|e| format!("{method} {path}: {e}"))?;
        raw.extend_from_slice(&buf[..n]);
        Ok(n > 0)
    };
    let split = loop {
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break split;
        }
        if !read_more(&mut raw)? {
            return Err(format!("{method} {path}: no HTTP response head"));
        }
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or("no HTTP status")?;
    let length =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok());
    while length.is_none_or(|n| raw.len() - (split + 4) < n) {
        if !read_more(&mut raw)? {
            break;
        }
    }
    let mut payload = raw[split + 4..].to_vec();
    payload.truncate(length.unwrap_or(payload.len()));
    let json =
        if payload.is_empty() { Value::Null } else { serde_json::from_slice(&payload).map_err(|e| e.to_string())? };
    Ok((status, json))
}

/// chromedriver, in its own process group on a free loopback port.
struct Driver {
    child: Child,
    host: String,
    /// A directory only this driver's browsers use: their profiles live in it, so its path
    /// marks every process they started.
    home: tempfile::TempDir,
}

impl Driver {
    fn start() -> Driver {
        let binary = chromedriver();
        let _ = chromium();
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let home = tempfile::Builder::new().prefix("shiren-capture-browser-").tempdir().expect("temporary directory");
        let log = std::fs::File::create(home.path().join("chromedriver.log")).expect("chromedriver log");
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let driver = Driver { child, host: format!("127.0.0.1:{port}"), home };
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Ok((200, status)) = exchange(&driver.host, "GET", "/status", None, Duration::from_secs(5))
                && status["value"]["ready"] == true
            {
                return driver;
            }
            assert!(Instant::now() < deadline, "chromedriver did not get ready: {}", driver.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(self.home.path().join("chromedriver.log")).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        kill_group(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        kill_marked(&self.home.path().to_string_lossy());
    }
}

/// One Chromium session: a fresh profile, the test's flags, scripts injected before every page.
struct Browser<'d> {
    driver: &'d Driver,
    session: String,
    profile: PathBuf,
}

impl<'d> Browser<'d> {
    /// Starts Chromium with the standard headless flags plus `extra`.
    fn launch(driver: &'d Driver, extra: &[String]) -> Browser<'d> {
        let profile = tempfile::Builder::new().prefix("profile-").tempdir_in(driver.home.path()).expect("profile");
        let profile = profile.keep();
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--use-fake-ui-for-media-stream",
            "--hide-scrollbars",
            // The page opens in Chinese, its first language (it follows navigator.language).
            "--lang=zh-CN",
            "--accept-lang=zh-CN,zh",
            "--window-size=1280,800",
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend_from_slice(extra);
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium(), "args": args },
            "timeouts": { "pageLoad": 30_000, "script": 30_000, "implicit": 0 },
        } } });
        let (status, reply) = exchange(&driver.host, "POST", "/session", Some(&capabilities), START_LIMIT)
            .unwrap_or_else(|e| panic!("starting a browser: {e}\n{}", driver.log()));
        let session = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session ({status}): {reply}\n{}", driver.log()))
            .to_string();
        Browser { driver, session, profile }
    }

    /// A WebDriver command on this session; its `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let full = format!("/session/{}{path}", self.session);
        let (status, reply) = exchange(&self.driver.host, method, &full, body.as_ref(), COMMAND_LIMIT)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        assert_eq!(status, 200, "WebDriver {method} {path}: {reply}");
        reply["value"].clone()
    }

    /// A DevTools command through chromedriver's passthrough.
    fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.call("POST", "/goog/cdp/execute", Some(json!({ "cmd": cmd, "params": params })))
    }

    /// Runs `source` in every page this browser opens from now on, before the page's own code.
    fn inject(&self, source: &str) {
        self.cdp("Page.addScriptToEvaluateOnNewDocument", json!({ "source": source }));
    }

    fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// Evaluates `body` (a function body: `return ...;`).
    fn js(&self, body: &str) -> Value {
        self.call("POST", "/execute/sync", Some(json!({ "script": body, "args": [] })))
    }

    fn holds(&self, condition: &str) -> bool {
        truthy(&self.js(&format!("return ({condition});")))
    }

    /// Polls the JavaScript `condition` until it is truthy; fails with what the page shows.
    fn wait_for(&self, what: &str, condition: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.js(&format!("return ({condition});"));
            if truthy(&value) {
                return value;
            }
            if Instant::now() > deadline {
                panic!("waited {limit:?} for {what} ({condition}); the page: {}", self.diagnosis());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_screen(&self, screen: &str, limit: Duration) {
        self.wait_for(&format!("the {screen} screen"), &format!("document.body.dataset.screen === '{screen}'"), limit);
    }

    /// What the page shows and what went wrong in it, for failure messages.
    fn diagnosis(&self) -> String {
        let report = self.js(
            "return JSON.stringify({ screen: document.body.dataset.screen, \
               text: (document.querySelector('.screen.active') || document.body).innerText.slice(0, 300), \
               prompt: (document.getElementById('prompt') || {}).textContent, \
               errors: window.__shirenErrors || [], camera: window.__shirenCamera ? window.__shirenCamera.log : null });",
        );
        report.as_str().unwrap_or_default().to_string()
    }

    /// Clicks an element through WebDriver (it must be displayed and enabled, as for a person).
    fn click(&self, css: &str) {
        let found = self.call("POST", "/element", Some(json!({ "using": "css selector", "value": css })));
        let id = found["element-6066-11e4-a52e-4f735466cecf"].as_str().unwrap_or_else(|| panic!("no {css}: {found}"));
        self.call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    fn viewport(&self, width: u32, height: u32, mobile: bool) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        );
        // Two animation frames: the new layout is painted.
        self.call(
            "POST",
            "/execute/async",
            Some(json!({ "script": "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));", "args": [] })),
        );
    }

    fn screenshot(&self) -> Vec<u8> {
        let value = self.call("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD.decode(value.as_str().expect("a base64 screenshot")).expect("base64")
    }

    /// The page's language ("zh" or "en"), switched with the page's own button when needed.
    fn language(&self, wanted: &str) {
        let current = |b: &Self| b.js("return document.documentElement.lang;").as_str().unwrap_or_default().to_string();
        if !current(self).starts_with(wanted) {
            self.click("#lang");
        }
        assert!(current(self).starts_with(wanted), "the page did not switch to {wanted}");
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = exchange(&self.driver.host, "DELETE", &path, None, Duration::from_secs(10));
        kill_marked(&self.profile.to_string_lossy());
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

// ---------------------------------------------------------------------------------------------
// Scripts injected into the page.

/// Records the page's uncaught errors (read in failure messages).
const ERROR_LOG: &str = r#"(() => {
  const errors = [];
  window.__shirenErrors = errors;
  addEventListener("error", (e) => errors.push(`${e.message} (${e.filename}:${e.lineno})`));
  addEventListener("unhandledrejection", (e) => errors.push(`unhandled rejection: ${e.reason && (e.reason.stack || e.reason)}`));
  // The page runs under its own Content-Security-Policy (not bypassed): a violation is an error.
  addEventListener("securitypolicyviolation", (e) => errors.push(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
})();"#;

/// The person on camera, as sprites: shiren-synth renders of one test photo, as JPEG data URLs.
struct Sprites {
    /// Name → data URL.
    images: Vec<(&'static str, String)>,
    /// The face area in the frame: centre x, y and radii x, y (pixels).
    face: [f32; 4],
}

/// The sprites' names and expressions. Turns: the person's left shows as a turn toward the
/// image's right (positive yaw); the nod goes chin down (negative pitch).
fn poses() -> Vec<(&'static str, Expression)> {
    let n = Expression::default();
    vec![
        ("neutral", n),
        ("eyes_closed", Expression { eye_closure: 1.0, ..n }),
        // Half open: wider, the jaw's drop also moves the engine's pitch by about 6 degrees,
        // which the judge would take for a nod inside the mouth's slot.
        ("mouth_open", Expression { mouth_open: 0.5, ..n }),
        ("yaw+12", Expression { yaw_deg: 12.0, ..n }),
        ("yaw+25", Expression { yaw_deg: 25.0, ..n }),
        ("yaw-12", Expression { yaw_deg: -12.0, ..n }),
        ("yaw-25", Expression { yaw_deg: -25.0, ..n }),
        ("pitch-10", Expression { pitch_deg: -10.0, ..n }),
        ("pitch-20", Expression { pitch_deg: -20.0, ..n }),
    ]
}

fn camera(seed: u64) -> Camera {
    Camera {
        width: FRAME.0,
        height: FRAME.1,
        face_width_fraction: FACE_WIDTH,
        offset: [0.0, 0.0],
        brightness: 1.0,
        tint: [1.0, 1.0, 1.0],
        noise_sigma: 1.5,
        seed,
    }
}

/// The actor: obama.jpg rigged by the face engine (loaded once, for rendering only).
fn actor() -> &'static Actor {
    static ACTOR: OnceLock<Actor> = OnceLock::new();
    ACTOR.get_or_init(|| {
        let mut config = shiren_face::EngineConfig::new(shiren_face::ModelPaths::in_dir(common::model_dir()));
        config.attributes = false;
        let engine = shiren_face::Engine::load(config).expect("the face engine loads");
        Actor::from_photo(&engine, &common::photo("obama.jpg")).expect("obama.jpg rigs as an actor")
    })
}

fn sprites() -> &'static Sprites {
    static SPRITES: OnceLock<Sprites> = OnceLock::new();
    SPRITES.get_or_init(|| {
        let actor = actor();
        let images = poses()
            .into_iter()
            .enumerate()
            .map(|(i, (name, expression))| {
                let frame = actor.render(&expression, &camera(7 + i as u64), 0);
                let jpeg = encode_jpeg(&frame, 90);
                assert!(!jpeg.is_empty(), "sprite {name} encodes");
                (name, format!("data:image/jpeg;base64,{}", base64::engine::general_purpose::STANDARD.encode(jpeg)))
            })
            .collect();
        // The face box where the camera frames it, widened to the head.
        let (centre, scale) = actor.framing(&camera(0));
        let b = actor.face_box();
        let (w, h) = ((b[2] - b[0]) * scale, (b[3] - b[1]) * scale);
        Sprites { images, face: [centre[0], centre[1], 0.6 * w, 0.62 * h] }
    })
}

/// What the simulated person does.
#[derive(Clone, Copy, PartialEq)]
enum Person {
    /// Answers every prompt and reflects every flash.
    Performs,
    /// Looks at the camera and does nothing (a live face that ignores the challenge).
    Ignores,
}

/// The simulated camera: `getUserMedia` answers with `canvas.captureStream(30)`; the canvas
/// shows the sprites, and the person reacts to the page's prompt (`#prompt.dataset.action`)
/// and colour flashes (`#flash`) as a person in front of a screen would.
fn simulated_camera(person: Person) -> String {
    simulated_camera_with_cards(person, &[])
}

/// The simulated camera, which also holds up card photos (JPEG) when the page asks for the
/// back camera: the first until the page has taken a photo, then the next, and so on.
fn simulated_camera_with_cards(person: Person, cards: &[Vec<u8>]) -> String {
    let sprites = sprites();
    let cards: Vec<Value> = cards
        .iter()
        .map(|jpeg| {
            Value::String(format!("data:image/jpeg;base64,{}", base64::engine::general_purpose::STANDARD.encode(jpeg)))
        })
        .collect();
    let images: serde_json::Map<String, Value> =
        sprites.images.iter().map(|(name, url)| (name.to_string(), Value::String(url.clone()))).collect();
    SIMULATED_CAMERA
        .replace("__SPRITES__", &Value::Object(images).to_string())
        .replace("__FACE__", &json!(sprites.face).to_string())
        .replace("__SIZE__", &json!([FRAME.0, FRAME.1]).to_string())
        .replace("__PERFORMS__", if person == Person::Performs { "true" } else { "false" })
        .replace("__CARDS__", &Value::Array(cards).to_string())
}

const SIMULATED_CAMERA: &str = r##"(() => {
  "use strict";
  const SPRITES = __SPRITES__;
  const [CX, CY, RX, RY] = __FACE__;
  const [W, H] = __SIZE__;
  const PERFORMS = __PERFORMS__;
  const CARDS = __CARDS__;
  // From a prompt appearing to the movement starting, and from a colour appearing on screen to
  // the camera seeing it on the face.
  const REACTION_MS = 350;
  const FLASH_DELAY_MS = 120;
  // How strongly the screen's light shows on the face ('screen' compositing at this alpha).
  const TINT_ALPHA = 0.18;
  const COLOURS = { red: "#ff0000", green: "#00ff00", blue: "#0000ff", yellow: "#ffff00", cyan: "#00ffff", magenta: "#ff00ff" };
  // Each action as (ms after the movement starts, sprite) keyframes, back to neutral at the end.
  const MOVES = {
    blink: [[0, "eyes_closed"], [200, "neutral"]],
    open_mouth: [[0, "mouth_open"], [700, "neutral"]],
    turn_left: [[0, "yaw+12"], [130, "yaw+25"], [670, "yaw+12"], [800, "neutral"]],
    turn_right: [[0, "yaw-12"], [130, "yaw-25"], [670, "yaw-12"], [800, "neutral"]],
    nod: [[0, "pitch-10"], [130, "pitch-20"], [670, "pitch-10"], [800, "neutral"]],
  };
  const images = {};
  const loaded = Promise.all(Object.entries(SPRITES).map(([name, url]) => new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = resolve;
    img.onerror = () => reject(new Error(`sprite ${name} did not load`));
    img.src = url;
    images[name] = img;
  })));
  const canvas = document.createElement("canvas");
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext("2d");
  let sprite = "neutral";
  let tint = null;
  let seenAction;
  let seenColour = null;
  let pending = [];
  const log = [];
  window.__shirenCamera = { log };

  function later(at, apply) { pending.push({ at, apply }); }

  // What the screen asks for, as the person sees it.
  function watch(now) {
    const prompt = document.getElementById("prompt");
    const flash = document.getElementById("flash");
    const action = prompt ? prompt.dataset.action : undefined;
    if (action !== seenAction) {
      seenAction = action;
      if (action) log.push(`${Math.round(now)} prompt ${action}`);
      if (PERFORMS && MOVES[action]) {
        for (const [offset, name] of MOVES[action]) later(now + REACTION_MS + offset, () => { sprite = name; });
      }
    }
    const colour = flash && !flash.classList.contains("hidden") ? (flash.dataset.colour || null) : null;
    if (colour !== seenColour) {
      seenColour = colour;
      log.push(`${Math.round(now)} flash ${colour}`);
      if (PERFORMS) later(now + FLASH_DELAY_MS, () => { tint = colour; });
    }
    // The start button must stay disabled while the challenge runs (a second press would
    // start a second capture); noted for the failure messages.
    const begin = document.getElementById("begin");
    if (begin && begin.dataset.running && !begin.disabled && !log.includes("begin enabled while running")) {
      log.push("begin enabled while running");
    }
    const due = pending.filter((p) => p.at <= now);
    pending = pending.filter((p) => p.at > now);
    due.forEach((p) => p.apply());
  }

  function draw() {
    ctx.globalCompositeOperation = "source-over";
    ctx.globalAlpha = 1;
    ctx.drawImage(images[sprite], 0, 0, W, H);
    if (tint) {
      // The screen's light on the face: added light of its colour, strongest where the face is.
      ctx.globalCompositeOperation = "screen";
      ctx.globalAlpha = TINT_ALPHA;
      ctx.fillStyle = COLOURS[tint];
      ctx.beginPath();
      ctx.ellipse(CX, CY, RX, RY, 0, 0, 2 * Math.PI);
      ctx.fill();
      ctx.globalCompositeOperation = "source-over";
      ctx.globalAlpha = 1;
    }
    // Sensor noise along the bottom edge: no two frames are byte-identical, as from a real
    // camera (the server refuses frames it has seen in another session).
    for (let i = 0; i < 6; i++) {
      const v = 35 + Math.floor(Math.random() * 30);
      ctx.fillStyle = `rgb(${v},${v},${v + 2})`;
      ctx.fillRect(Math.floor(Math.random() * (W - 2)), H - 2 - Math.floor(Math.random() * 6), 2, 2);
    }
  }

  // Every animation frame the person watches the screen; the canvas is redrawn at the stream's
  // 30 fps (drawing more often would only cost CPU).
  let lastDraw = -1e9;
  function frame() {
    const now = performance.now();
    watch(now);
    if (now - lastDraw >= 30) { draw(); lastDraw = now; }
    requestAnimationFrame(frame);
  }

  // The card photos, shown one after another on a canvas of their own size: the next one each
  // time the page has sent a photo (its "reading" screen came and went).
  const cardImages = CARDS.map((url) => { const img = new Image(); img.src = url; return img; });
  let cardCanvas = null;
  let cardIndex = 0;
  let wasReading = false;
  function drawCard() {
    const reading = document.body.dataset.screen === "reading";
    if (wasReading && !reading) {
      cardIndex = Math.min(cardIndex + 1, cardImages.length - 1);
      log.push(`card ${cardIndex}`);
    }
    wasReading = reading;
    const img = cardImages[cardIndex];
    if (img && img.complete) {
      // Whole and undistorted (the photos differ in size and orientation), on a dark desk.
      const ctx = cardCanvas.getContext("2d");
      const scale = Math.min(cardCanvas.width / img.naturalWidth, cardCanvas.height / img.naturalHeight);
      const [w, h] = [img.naturalWidth * scale, img.naturalHeight * scale];
      ctx.fillStyle = "#2a2a2a";
      ctx.fillRect(0, 0, cardCanvas.width, cardCanvas.height);
      ctx.drawImage(img, (cardCanvas.width - w) / 2, (cardCanvas.height - h) / 2, w, h);
    }
    setTimeout(drawCard, 40);
  }
  async function cardStream() {
    await Promise.all(cardImages.map((img) => img.decode()));
    if (!cardCanvas) {
      cardCanvas = document.createElement("canvas");
      // A 4:3 camera at the resolution the page asks for the card.
      cardCanvas.width = 1280;
      cardCanvas.height = 960;
      drawCard();
    }
    return cardCanvas.captureStream(30);
  }

  let started = false;
  async function getUserMedia(constraints) {
    const facing = constraints && constraints.video && constraints.video.facingMode;
    const wantsBack = facing === "environment" || (facing && facing.ideal === "environment");
    if (wantsBack && CARDS.length) return cardStream();
    await loaded;
    if (!started) {
      started = true;
      draw();
      requestAnimationFrame(frame);
    }
    return canvas.captureStream(30);
  }
  Object.defineProperty(MediaDevices.prototype, "getUserMedia", { value: getUserMedia, configurable: true, writable: true });
})();"##;

/// A camera that cannot be had: `getUserMedia` rejects with a DOMException named `name`
/// (`NotAllowedError`: refused; `NotFoundError`: none).
fn failing_camera(name: &str) -> String {
    format!(
        r#"(() => {{
  const fail = () => Promise.reject(new DOMException("the test's camera refuses", "{name}"));
  Object.defineProperty(MediaDevices.prototype, "getUserMedia", {{ value: fail, configurable: true, writable: true }});
}})();"#
    )
}

/// What happens to the page's upload of its frames (`XMLHttpRequest` to `.../frames`).
enum Upload {
    /// The first attempt fails as a lost connection would (an `error` event, nothing sent).
    LoseFirst,
    /// Every attempt takes this long longer (a slow network: it reports some progress, then
    /// sends).
    Delay(u32),
}

fn upload_network(upload: Upload) -> String {
    let (lose_first, delay_ms) = match upload {
        Upload::LoseFirst => (true, 0),
        Upload::Delay(ms) => (false, ms),
    };
    format!(
        r#"(() => {{
  const open = XMLHttpRequest.prototype.open;
  const send = XMLHttpRequest.prototype.send;
  let lose = {lose_first};
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {{
    this.__shirenUrl = String(url);
    return open.call(this, method, url, ...rest);
  }};
  XMLHttpRequest.prototype.send = function (body) {{
    if (!(this.__shirenUrl || "").endsWith("/frames")) return send.call(this, body);
    if (lose) {{
      lose = false;
      setTimeout(() => this.dispatchEvent(new ProgressEvent("error")), 50);
      return;
    }}
    // A slow network: part of the body goes out (the page's progress bar moves), then the rest.
    const progress = (share) => this.upload.dispatchEvent(
      new ProgressEvent("progress", {{ lengthComputable: true, loaded: share * 1000, total: 1000 }}));
    progress(0.3);
    setTimeout(() => progress(0.6), {delay_ms} / 2);
    setTimeout(() => send.call(this, body), {delay_ms});
  }};
}})();"#
    )
}

// ---------------------------------------------------------------------------------------------
// Sessions through the signed API.

struct Service {
    server: Server,
    api: Api,
    scene: String,
}

impl Service {
    fn start() -> Service {
        let server = Server::start(&[]);
        let api = server.client(server.key("full"));
        let scene = api.scene(json!({}));
        Service { server, api, scene }
    }

    /// A new verification session: its id and capture link.
    fn session(&self, liveness: &str, return_url: Option<&str>) -> (String, String) {
        let mut body = json!({ "scene_id": self.scene, "product": "LR_FR", "liveness": liveness });
        if let Some(url) = return_url {
            body["return_url"] = json!(url);
        }
        let r = self.api.call("POST", "/v1/verifications", Some(&body));
        assert_eq!(r.status, 200, "{}", r.json);
        let id = r.json["data"]["verification_id"].as_str().expect("verification_id").to_string();
        let url = r.json["data"]["capture_url"].as_str().expect("capture_url").to_string();
        assert!(url.starts_with(&format!("{}/h5/", self.server.url)), "{url}");
        (id, url)
    }

    /// `GET /v1/verifications/{id}`: its `data`.
    fn verification(&self, id: &str) -> Value {
        let r = self.api.call("GET", &format!("/v1/verifications/{id}"), None);
        assert_eq!(r.status, 200, "{}", r.json);
        r.json["data"].clone()
    }

    /// Makes a session's link expire, in the service's own database.
    fn expire(&self, id: &str) {
        use sqlx::Connection as _;
        let url = format!("sqlite://{}", self.server.data_dir.join("shiren.db").display());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime for sqlx");
        runtime.block_on(async {
            let mut db = sqlx::sqlite::SqliteConnection::connect(&url).await.expect("the service's database");
            let done = sqlx::query("UPDATE verification_sessions SET expires_at = 1 WHERE id = ?")
                .bind(id)
                .execute(&mut db)
                .await
                .expect("expiring the session");
            assert_eq!(done.rows_affected(), 1);
            db.close().await.expect("closing the database");
        });
    }
}

/// The checks of a finished verification, one line each.
fn checks(v: &Value) -> String {
    v["material"]["checks"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|c| {
                    format!(
                        "  {} {} value {} threshold {} {}",
                        if c["passed"] == true { "ok  " } else { "FAIL" },
                        c["name"].as_str().unwrap_or("?"),
                        c["value"],
                        c["threshold"],
                        c["measured"]
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_else(|| format!("  no checks: {v}"))
}

fn check<'v>(v: &'v Value, name: &str) -> &'v Value {
    v["material"]["checks"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name}:\n{}", checks(v)))
}

/// A person's walk through the page up to pressing "begin": consent, then the camera.
fn walk_to_begin(browser: &Browser, url: &str) {
    browser.open(url);
    browser.wait_screen("consent", SCREEN_LIMIT);
    browser.click("#agree");
    browser.wait_screen("camera", SCREEN_LIMIT);
    // Enabled once a hint says the face is fine, or after 6 s whatever the hints say.
    browser.wait_for("#begin enabled", "!document.getElementById('begin').disabled", SCREEN_LIMIT);
    browser.click("#begin");
}

/// A person's walk through the page: consent, camera, begin, then the result screen.
fn walk_to_result(browser: &Browser, url: &str) {
    walk_to_begin(browser, url);
    browser.wait_screen("result", RESULT_LIMIT);
    let errors = browser.js("return window.__shirenErrors || [];");
    assert_eq!(errors, json!([]), "the page reported errors: {}", browser.diagnosis());
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// One test at a time: each films a real-time capture (16 frames a second, judged on its
/// timing), which two browsers and two servers sharing a small machine would disturb.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A failed test poisons the lock; the next one may still run.
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn every_liveness_model_passes_with_a_simulated_camera() {
    let _serial = one_at_a_time();
    let began = Instant::now();
    let service = Service::start();
    let camera = simulated_camera(Person::Performs);
    let driver = Driver::start();
    let browser = Browser::launch(&driver, &[]);
    browser.inject(ERROR_LOG);
    browser.inject(&camera);
    let mut failures = Vec::new();
    for liveness in ["LIVENESS", "MULTI_ACTION", "PHOTINUS_LIVENESS", "MULTI_PHOTINUS"] {
        let started = Instant::now();
        let (id, url) = service.session(liveness, None);
        walk_to_result(&browser, &url);
        let v = service.verification(&id);
        println!(
            "{liveness}: state {} passed {} sub_code {} in {:.1} s; actions {} colours {}\n{}\n  camera: {}",
            v["state"],
            v["passed"],
            v["sub_code"],
            started.elapsed().as_secs_f64(),
            v["material"]["actions"],
            v["material"]["colours"],
            checks(&v),
            browser.diagnosis()
        );
        if v["state"] != "finished" || v["passed"] != true {
            failures.push(format!("{liveness}: {} {} {}", v["state"], v["passed"], v["sub_code"]));
        }
    }
    println!("every liveness model: {:.1} s", began.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "not passed: {failures:#?}");
}

#[test]
fn sessions_made_through_the_vendor_sdks_complete_in_the_browser() {
    let _serial = one_at_a_time();
    let service = Service::start();
    let scene = service.api.call("GET", &format!("/v1/scenes/{}", service.scene), None);
    let alias = scene.json["data"]["alias"].as_i64().expect("the scene's number");
    let key = service.server.key("full");
    let endpoint = service.server.host.clone();
    let b64 = |name: &str| base64::engine::general_purpose::STANDARD.encode(common::photo(name));
    let driver = Driver::start();
    let browser = Browser::launch(&driver, &[]);
    browser.inject(ERROR_LOG);
    browser.inject(&simulated_camera(Person::Performs));

    // Alibaba Cloud: InitFaceVerify (PV_FV against another photo of the person), the link
    // walked in the browser, DescribeFaceVerify through another of Alibaba's SDKs.
    let init = sdk::call(
        Sdk::AlibabaPython,
        &endpoint,
        &key,
        "InitFaceVerify",
        json!({
            "SceneId": alias, "ProductCode": "PV_FV", "Model": "LIVENESS", "OuterOrderNo": "browser-1",
            "FaceContrastPicture": b64("obama2.jpg"), "MetaInfo": "{}",
        }),
    )
    .body();
    assert_eq!(init["Code"], "200", "{init}");
    let certify_id = init["ResultObject"]["CertifyId"].as_str().expect("CertifyId").to_string();
    walk_to_result(&browser, init["ResultObject"]["CertifyUrl"].as_str().expect("CertifyUrl"));
    let described = sdk::call(
        Sdk::AlibabaNode,
        &endpoint,
        &key,
        "DescribeFaceVerify",
        json!({
            "SceneId": alias, "CertifyId": certify_id,
        }),
    )
    .body();
    let native = service.verification(&certify_id);
    assert_eq!(described["Code"], "200", "{described}\n{}", checks(&native));
    let result = &described["ResultObject"];
    assert_eq!((result["Passed"].as_str(), result["SubCode"].as_str()), (Some("T"), Some("200")), "{described}");
    let material: Value =
        serde_json::from_str(result["MaterialInfo"].as_str().expect("MaterialInfo")).expect("JSON text");
    assert!(material["facialPictureFront"]["verifyScore"].as_f64().expect("verifyScore") >= 90.07, "{material}");
    assert_eq!(native["passed"], true, "the native API tells the same");

    // Tencent Cloud: DetectAuth by RuleId with a photo to compare with, the link walked,
    // GetDetectInfoEnhanced.
    let auth = sdk::call(
        Sdk::TencentTc3,
        &endpoint,
        &key,
        "DetectAuth",
        json!({
            "RuleId": alias.to_string(), "ImageBase64": b64("obama3.jpg"), "Extra": "browser-2",
        }),
    )
    .body();
    let token = auth["BizToken"].as_str().expect("BizToken").to_string();
    walk_to_result(&browser, auth["Url"].as_str().expect("Url"));
    let info = sdk::call(
        Sdk::TencentTc3,
        &endpoint,
        &key,
        "GetDetectInfoEnhanced",
        json!({
            "BizToken": token, "RuleId": alias.to_string(), "InfoType": "0",
        }),
    )
    .body();
    let native = service.verification(&token);
    assert_eq!(info["Text"]["ErrCode"], 0, "{info}\n{}", checks(&native));
    assert_eq!((info["Text"]["LiveStatus"].as_i64(), info["Text"]["Comparestatus"].as_i64()), (Some(0), Some(0)));
    let sim: f64 = info["Text"]["Sim"].as_str().expect("Sim").parse().expect("a number");
    assert!(sim >= 70.0, "{info}");
    assert_eq!(info["Text"]["Extra"], "browser-2");
}

#[test]
fn a_still_photo_through_the_fake_camera_fails() {
    let _serial = one_at_a_time();
    let began = Instant::now();
    let service = Service::start();
    let driver = Driver::start();
    // Chromium's own fake camera playing 40 identical frames of the actor, in a loop.
    let still = driver.home.path().join("still.y4m");
    {
        let frame = actor().render(&Expression::default(), &camera(3), 0);
        let file = std::io::BufWriter::new(std::fs::File::create(&still).expect("still.y4m"));
        let mut y4m = Y4mWriter::new(file, FRAME.0, FRAME.1, 15).expect("a Y4M stream");
        for _ in 0..40 {
            y4m.write_frame(&frame).expect("a Y4M frame");
        }
        y4m.finish().expect("still.y4m written");
    }
    let browser = Browser::launch(
        &driver,
        &[
            "--use-fake-device-for-media-stream".to_string(),
            format!("--use-file-for-fake-video-capture={}", still.display()),
        ],
    );
    browser.inject(ERROR_LOG);
    let (id, url) = service.session("PHOTINUS_LIVENESS", None);
    walk_to_result(&browser, &url);
    let v = service.verification(&id);
    println!("still photo: {} {} {}\n{}", v["state"], v["passed"], v["sub_code"], checks(&v));
    assert_eq!(v["state"], "finished", "{v}");
    assert_eq!(v["passed"], false, "a still photo passed:\n{}", checks(&v));
    assert_eq!(v["sub_code"], "205", "{}", checks(&v));
    // The capture itself worked (the failure is the liveness, not the mechanics): a face in
    // every frame, captured in real time, the same person throughout; no blink, no colour.
    for name in ["timing", "one_face", "face_size", "same_person"] {
        assert_eq!(check(&v, name)["passed"], true, "{name} failed:\n{}", checks(&v));
    }
    for name in ["action:blink", "colour_response"] {
        assert_eq!(check(&v, name)["passed"], false, "{name} passed on a still photo:\n{}", checks(&v));
    }
    // The page said so too.
    assert!(browser.holds("document.getElementById('result-icon').classList.contains('fail')"));
    println!("still photo: {:.1} s", began.elapsed().as_secs_f64());
}

#[test]
fn id_plus_reads_the_card_then_the_face() {
    let _serial = one_at_a_time();
    let began = Instant::now();
    let service = Service::start();
    // A generated card with the actor's own photo as its portrait, photographed upright.
    let regions = shiren_idcard::RegionTable::load(common::model_dir().join("data/cn-regions.dat")).expect("regions");
    let synth = shiren_cardsynth::CardSynth::new(shiren_cardsynth::Fonts::discover().expect("CJK fonts"), &regions)
        .expect("a card synth");
    let truth = synth.id_card_truth(ID_PLUS_CARD_SEED);
    let portrait = image::load_from_memory(&common::photo("obama.jpg")).expect("the portrait").to_rgb8();
    let settings = shiren_cardsynth::PhotoSettings::default();
    let shoot =
        |card: &image::RgbImage, seed| shiren_cardsynth::photograph(card, seed, &settings).expect("a photo").jpeg;
    let front = shoot(&synth.render_id_front(&truth, &portrait), ID_PLUS_CARD_SEED);
    let back = shoot(&synth.render_id_back(&truth), ID_PLUS_CARD_SEED + 1);
    // The person shows the back first (the page says so), then the front, then the back.
    let camera = simulated_camera_with_cards(Person::Performs, &[back.clone(), front, back]);

    let driver = Driver::start();
    let browser = Browser::launch(&driver, &[]);
    browser.inject(ERROR_LOG);
    browser.inject(&camera);
    let mut album = Album::new();
    // No authority registry here: the card's portrait is the only reference (the scene says so).
    let scene = service.api.scene(json!({ "id_plus": { "compare_with_authority": false } }));
    let body = json!({ "scene_id": scene, "product": "ID_PLUS", "liveness": "LIVENESS" });
    let r = service.api.call("POST", "/v1/verifications", Some(&body));
    assert_eq!(r.status, 200, "{}", r.json);
    let id = r.json["data"]["verification_id"].as_str().expect("verification_id").to_string();
    let url = r.json["data"]["capture_url"].as_str().expect("capture_url").to_string();
    let on = |screen: &str| format!("document.body.dataset.screen === '{screen}'");
    let side = |s: &str| format!("document.querySelector('.card-stage').dataset.side === '{s}'");
    let shoot_ready = "!document.getElementById('shoot').disabled";

    browser.open(&url);
    browser.wait_screen("consent", SCREEN_LIMIT);
    browser.click("#agree");
    browser.wait_screen("card", SCREEN_LIMIT);
    album.shoot(&browser, "card-front", &format!("{} && {}", on("card"), side("front")));
    browser.wait_for("#shoot enabled", shoot_ready, SCREEN_LIMIT);
    browser.click("#shoot");
    // The wrong side: the page stays on the front and says to turn the card over.
    let warned = "document.getElementById('card-hint').classList.contains('warn')";
    browser.wait_for("the wrong-side hint", &format!("{} && {warned}", on("card")), RESULT_LIMIT);
    assert_eq!(
        browser.js("return document.getElementById('card-hint').textContent;"),
        "拍成了另一面，请翻面",
        "{}",
        browser.diagnosis()
    );
    assert!(browser.holds(&side("front")), "{}", browser.diagnosis());
    album.shoot(&browser, "card-hint", &format!("{} && {warned}", on("card")));
    browser.wait_for("#shoot enabled", shoot_ready, SCREEN_LIMIT);
    browser.click("#shoot");
    browser.wait_for("the back's step", &format!("{} && {}", on("card"), side("back")), RESULT_LIMIT);
    album.shoot(&browser, "card-back", &format!("{} && {}", on("card"), side("back")));
    browser.wait_for("#shoot enabled", shoot_ready, SCREEN_LIMIT);
    browser.click("#shoot");
    // Both sides in: the face camera with the steps shown, then the challenge.
    browser.wait_screen("camera", RESULT_LIMIT);
    assert!(browser.holds("!document.getElementById('face-steps').classList.contains('hidden')"));
    album.shoot(&browser, "card-face", &on("camera"));
    browser.wait_for("#begin enabled", "!document.getElementById('begin').disabled", SCREEN_LIMIT);
    browser.click("#begin");
    browser.wait_screen("result", RESULT_LIMIT);
    let errors = browser.js("return window.__shirenErrors || [];");
    assert_eq!(errors, json!([]), "the page reported errors: {}", browser.diagnosis());

    let v = service.verification(&id);
    println!(
        "ID_PLUS: {} {} {} score {}
{}",
        v["state"],
        v["passed"],
        v["sub_code"],
        v["score"],
        checks(&v)
    );
    assert_eq!(v["state"], "finished", "{v}");
    assert_eq!(
        v["passed"],
        true,
        "ID_PLUS did not pass: {}
{}",
        v["sub_code"],
        checks(&v)
    );
    assert_eq!(v["document"]["front"]["id_number"]["text"], truth.id_number.as_str(), "{}", v["document"]);
    assert_eq!(v["document"]["front"]["name"]["text"], truth.name.as_str(), "{}", v["document"]);
    println!("ID_PLUS in the browser: {:.1} s; screenshots {:?}", began.elapsed().as_secs_f64(), album.files);
}

/// A generated card whose photographs read whole at the first try.
const ID_PLUS_CARD_SEED: u64 = 4;

/// Screenshots of page states at both viewports.
struct Album {
    dir: PathBuf,
    _tmp: tempfile::TempDir,
    files: Vec<String>,
}

impl Album {
    fn new() -> Album {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let dir = match std::env::var_os("SHIREN_SCREENSHOTS") {
            // Relative to the workspace root (cargo runs tests in the crate's directory).
            Some(dir) => workspace_root().join(dir),
            None => tmp.path().to_path_buf(),
        };
        std::fs::create_dir_all(&dir).expect("the screenshot directory");
        Album { dir, _tmp: tmp, files: Vec::new() }
    }

    /// Photographs `state` at phone and desktop size while the JavaScript `holds` is true
    /// (checked before and after each picture, retried while time allows: some states last
    /// only a moment).
    fn shoot(&mut self, browser: &Browser, state: &str, holds: &str) {
        for (label, width, height, mobile) in VIEWPORTS {
            browser.viewport(width, height, mobile);
            let deadline = Instant::now() + SCREEN_LIMIT;
            let png = loop {
                browser.wait_for(&format!("{state} to photograph"), holds, SCREEN_LIMIT);
                let png = browser.screenshot();
                if browser.holds(holds) {
                    break png;
                }
                assert!(Instant::now() < deadline, "{state} did not hold still for a picture: {}", browser.diagnosis());
            };
            let picture =
                image::load_from_memory_with_format(&png, image::ImageFormat::Png).expect("a PNG screenshot").to_rgb8();
            assert_eq!(picture.dimensions(), (width, height), "{state} {label}");
            // Not blank: more than a handful of distinct colours.
            let mut colours: Vec<[u8; 3]> = picture.pixels().step_by(7).map(|p| p.0).collect();
            colours.sort_unstable();
            colours.dedup();
            assert!(colours.len() > 8, "{state} {label} looks blank ({} colours)", colours.len());
            let name = format!("capture-{state}-{label}.png");
            std::fs::write(self.dir.join(&name), &png).expect("writing a screenshot");
            self.files.push(name);
        }
    }
}

const ERROR_TITLE: &str = "document.getElementById('error-title').textContent";

#[test]
fn every_page_state_is_photographed() {
    let _serial = one_at_a_time();
    let began = Instant::now();
    let service = Service::start();
    let driver = Driver::start();
    let mut album = Album::new();
    let back = Some("https://example.com/account/verified");
    let on = |screen: &str| format!("document.body.dataset.screen === '{screen}'");

    // Consent in both languages, the camera with a hint, a prompt, a flash, and the upload (held
    // back 4 s, as on a slow network, so that the picture does not race the server).
    {
        let browser = Browser::launch(&driver, &[]);
        browser.inject(ERROR_LOG);
        browser.inject(&simulated_camera(Person::Performs));
        browser.inject(&upload_network(Upload::Delay(4000)));
        let (id, url) = service.session("MULTI_PHOTINUS", back);
        browser.open(&url);
        browser.wait_screen("consent", SCREEN_LIMIT);
        browser.language("zh");
        album.shoot(&browser, "consent-zh", &on("consent"));
        browser.language("en");
        album.shoot(&browser, "consent-en", &on("consent"));
        browser.language("zh");
        browser.click("#agree");
        browser.wait_screen("camera", SCREEN_LIMIT);
        let hint = "document.getElementById('hint').classList.contains('ok')";
        album.shoot(&browser, "camera", &format!("{} && {hint}", on("camera")));
        browser.wait_for("#begin enabled", "!document.getElementById('begin').disabled", SCREEN_LIMIT);
        browser.click("#begin");
        // A prompt, once its appearing animation (0.35 s) is over.
        let prompted = "!!document.getElementById('prompt').dataset.action";
        browser.wait_for("a prompt", prompted, SCREEN_LIMIT);
        std::thread::sleep(Duration::from_millis(400));
        album.shoot(&browser, "action", prompted);
        let flashing = "!document.getElementById('flash').classList.contains('hidden')";
        album.shoot(&browser, "flash", flashing);
        album.shoot(&browser, "uploading", &on("uploading"));
        browser.wait_screen("result", RESULT_LIMIT);
        // Pictures taken during the challenge may have cost the capture frames; the verdict
        // is not this walk's point, only that there is one.
        let v = service.verification(&id);
        assert_eq!(v["state"], "finished", "{v}");
        println!("photographed walk: passed {} sub_code {}\n{}", v["passed"], v["sub_code"], checks(&v));
    }

    // The network lost on upload: the error screen offers to upload again, which delivers the
    // result (passed); the link opened again shows that result ("used"). A declined session,
    // an expired link, an invalid link.
    {
        let browser = Browser::launch(&driver, &[]);
        browser.inject(ERROR_LOG);
        browser.inject(&simulated_camera(Person::Performs));
        browser.inject(&upload_network(Upload::LoseFirst));
        let (id, url) = service.session("LIVENESS", back);
        walk_to_begin(&browser, &url);
        browser.wait_screen("error", RESULT_LIMIT);
        assert_eq!(browser.js(&format!("return {ERROR_TITLE};")), "网络连接中断");
        let retry = "!document.getElementById('retry').classList.contains('hidden')";
        album.shoot(&browser, "network-lost", &format!("{} && {retry}", on("error")));
        browser.click("#retry");
        browser.wait_screen("result", RESULT_LIMIT);
        let v = service.verification(&id);
        assert_eq!(v["state"], "finished", "{v}");
        assert_eq!(v["passed"], true, "the retried upload did not pass:\n{}", checks(&v));
        album.shoot(&browser, "result-passed", &on("result"));

        browser.open(&url);
        browser.wait_screen("result", SCREEN_LIMIT);
        album.shoot(&browser, "used", &on("result"));

        let (declined, url) = service.session("LIVENESS", back);
        browser.open(&url);
        browser.wait_screen("consent", SCREEN_LIMIT);
        browser.click("#decline");
        browser.wait_screen("error", SCREEN_LIMIT);
        assert_eq!(service.verification(&declined)["state"], "declined");
        browser.open(&url);
        browser.wait_screen("error", SCREEN_LIMIT);
        assert_eq!(browser.js(&format!("return {ERROR_TITLE};")), "已拒绝授权");
        album.shoot(&browser, "declined", &on("error"));

        let (expired, url) = service.session("LIVENESS", back);
        service.expire(&expired);
        assert_eq!(service.verification(&expired)["state"], "expired");
        browser.open(&url);
        browser.wait_screen("error", SCREEN_LIMIT);
        assert_eq!(browser.js(&format!("return {ERROR_TITLE};")), "链接已过期");
        album.shoot(&browser, "expired", &on("error"));

        let invalid = format!("{}/h5/{}", service.server.url, "x".repeat(43));
        browser.open(&invalid);
        browser.wait_screen("error", SCREEN_LIMIT);
        assert_eq!(browser.js(&format!("return {ERROR_TITLE};")), "链接无效");
        album.shoot(&browser, "invalid", &on("error"));
    }

    // A live face that ignores the challenge: the result screen says no, and so does the API.
    {
        let browser = Browser::launch(&driver, &[]);
        browser.inject(ERROR_LOG);
        browser.inject(&simulated_camera(Person::Ignores));
        let (id, url) = service.session("LIVENESS", back);
        walk_to_result(&browser, &url);
        let v = service.verification(&id);
        assert_eq!((&v["state"], &v["passed"], &v["sub_code"]), (&json!("finished"), &json!(false), &json!("205")));
        album.shoot(&browser, "result-failed", &on("result"));
    }

    // The camera refused, and no camera at all.
    for (state, error, title) in
        [("camera-denied", "NotAllowedError", "无法使用摄像头"), ("no-camera", "NotFoundError", "未找到摄像头")]
    {
        let browser = Browser::launch(&driver, &[]);
        browser.inject(ERROR_LOG);
        browser.inject(&failing_camera(error));
        let (_, url) = service.session("LIVENESS", back);
        browser.open(&url);
        browser.wait_screen("consent", SCREEN_LIMIT);
        browser.click("#agree");
        browser.wait_screen("error", SCREEN_LIMIT);
        assert_eq!(browser.js(&format!("return {ERROR_TITLE};")), title);
        album.shoot(&browser, state, &on("error"));
    }

    println!("{} screenshots in {}:", album.files.len(), album.dir.display());
    for f in &album.files {
        println!("  {f}");
    }
    println!("every page state: {:.1} s", began.elapsed().as_secs_f64());
}
