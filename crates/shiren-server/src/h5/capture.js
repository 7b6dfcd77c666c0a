// Shiren's capture page. It shows the consent; for ID_PLUS it has both sides of the ID card
// photographed (each read on the server, which accepts it or says what to fix); it runs the
// camera, shows the challenge the server issued (prompts and colour flashes at the issued
// times), captures frames with the page's high-resolution clock, and uploads them. It judges
// nothing: the server decides.
"use strict";

const TEXT = {
  zh: {
    loading: "正在加载…", version: "授权书版本", agree: "同意并开始", decline: "不同意",
    begin: "开始认证", hint_wait: "请将面部放入框内", uploading: "正在上传并核验，请稍候…",
    continue: "返回", retry: "重新上传", hold_still: "请保持不动，正视屏幕",
    step_front: "人像面", step_back: "国徽面", step_face: "人脸",
    card_title: { front: "拍摄身份证人像面", back: "拍摄身份证国徽面" },
    card_label: { front: "人像面", back: "国徽面" },
    card_guide: "将证件平放，完整置于框内，避开反光", shoot: "拍照", reading: "正在识别证件，请稍候…",
    front_done: "人像面已识别，请翻到国徽面", photos_left: (n) => `还可拍摄 ${n} 次`,
    card_hints: { no_card: "未找到证件，请将证件放入框内", not_an_id_card: "未识别为居民身份证，请重拍",
      wrong_side: "拍成了另一面，请翻面", unsupported_document: "本认证只支持居民身份证和港澳台居民居住证", card_cut_off: "证件不完整，请让四个角都在画面内", too_far: "证件太小，请靠近一点",
      blurry: "图像模糊，请对焦并保持稳定", glare: "有反光，请调整角度避开灯光", unreadable: "文字不清晰，请在光线充足处重拍",
      portrait_unclear: "证件上的照片不清晰，请重拍" },
    hints: { ok: "很好，请保持", no_face: "未检测到人脸", several_faces: "画面中只能有一张脸", too_far: "请靠近一点",
      too_close: "请离远一点", too_dark: "光线太暗", too_bright: "光线太亮", off_centre: "请将面部移到框中央",
      face_the_camera: "请正对屏幕" },
    actions: { blink: "请眨眨眼", open_mouth: "请张张嘴", turn_left: "请向左转头", turn_right: "请向右转头", nod: "请点点头" },
    lead_in: "请保持不动", seconds: "秒",
    passed: "认证通过", failed: "认证未通过",
    reasons: { passed: "您已完成实人认证。", liveness: "未能确认是真人实时操作，请在光线充足处重试。",
      face_mismatch: "人脸与所核验的身份不一致。", identity: "身份信息核验未通过。", quality: "图像质量不足，请在光线充足处重试。",
      document: "证件核验未通过。",
      error: "认证过程中出现问题。" },
    errors: { camera_denied: ["无法使用摄像头", "请在浏览器设置中允许本页面使用摄像头，然后刷新页面。"],
      no_camera: ["未找到摄像头", "请使用带前置摄像头的设备打开此链接。"],
      expired: ["链接已过期", "此认证链接已失效，请重新发起认证。"],
      used: ["链接已使用", "此认证链接已经使用过，不能再次使用。"],
      invalid: ["链接无效", "请检查链接是否完整。"],
      declined: ["已拒绝授权", "您未同意授权，本次认证已结束。"],
      network: ["网络连接中断", "采集已完成，请检查网络后重新上传，无需重新拍摄。"],
      failed: ["出现问题", "请稍后重试。"] },
    lang: "English",
  },
  en: {
    loading: "Loading…", version: "Consent version", agree: "Agree and start", decline: "Decline",
    begin: "Start", hint_wait: "Place your face inside the frame", uploading: "Uploading and checking, please wait…",
    continue: "Continue", retry: "Upload again", hold_still: "Hold still and look at the screen",
    step_front: "Photo side", step_back: "Emblem side", step_face: "Face",
    card_title: { front: "Photograph the photo side of your ID card", back: "Photograph the emblem side of your ID card" },
    card_label: { front: "Photo side", back: "Emblem side" },
    card_guide: "Lay the card flat, wholly inside the frame, away from reflections", shoot: "Take photo",
    reading: "Reading the card, please wait…",
    front_done: "Photo side read. Now turn the card over", photos_left: (n) => `${n} photos left`,
    card_hints: { no_card: "No card found. Place the card inside the frame", not_an_id_card: "This is not a resident ID card. Try again",
      wrong_side: "That is the other side. Turn the card over",
      unsupported_document: "Only resident ID cards and Hong Kong, Macao and Taiwan residence permits are accepted here", card_cut_off: "Part of the card is outside the frame: keep all four corners in view",
      too_far: "The card is too small. Come closer", blurry: "The photo is blurred. Focus and hold steady",
      glare: "There is glare. Tilt the card away from the light", unreadable: "The text is not clear. Try again in good light",
      portrait_unclear: "The photo on the card is not clear. Try again" },
    hints: { ok: "Good, hold it there", no_face: "No face found", several_faces: "Only one face, please", too_far: "Come a little closer",
      too_close: "Move back a little", too_dark: "Too dark", too_bright: "Too bright", off_centre: "Move your face to the centre",
      face_the_camera: "Face the screen" },
    actions: { blink: "Blink", open_mouth: "Open your mouth", turn_left: "Turn your head left", turn_right: "Turn your head right", nod: "Nod" },
    lead_in: "Hold still", seconds: "s",
    passed: "Verified", failed: "Not verified",
    reasons: { passed: "You have completed the verification.", liveness: "We could not confirm a live person. Please retry in good light.",
      face_mismatch: "The face does not match the identity being verified.", identity: "The identity check did not pass.",
      quality: "The images were not clear enough. Please retry in good light.", document: "The ID card could not be verified.",
      error: "Something went wrong during the verification." },
    errors: { camera_denied: ["Camera not allowed", "Allow this page to use the camera in your browser's settings, then reload."],
      no_camera: ["No camera found", "Open this link on a device with a front camera."],
      expired: ["Link expired", "This verification link is no longer valid. Please start a new verification."],
      used: ["Link already used", "This verification link has already been used."],
      invalid: ["Invalid link", "Check that the link is complete."],
      declined: ["Consent declined", "You did not agree, so the verification has ended."],
      network: ["Connection lost", "Your capture is saved. Check the network and upload again; no need to repeat it."],
      failed: ["Something went wrong", "Please try again later."] },
    lang: "中文",
  },
};

const token = location.pathname.split("/").filter(Boolean)[1] || "";
const $ = (id) => document.getElementById(id);
let lang = (navigator.language || "zh").toLowerCase().startsWith("zh") ? "zh" : "en";
let session = null;
let stream = null;
let hintTimer = null;
let pendingUpload = null;
let shownScreen = "loading";
let errorKey = null;
let resultData = null;
// ID_PLUS: the card side being photographed, and the last answer's hints for it.
let cardSide = null;
let cardHints = null;
let cardNote = null;
let photosLeft = null;

// The texts in the current language (never shadow this name with a local `t`).
function t() { return TEXT[lang]; }

function render() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t()[el.dataset.t]; });
  $("lang").textContent = t().lang;
  if (session) {
    const c = session.consent;
    $("purpose").textContent = lang === "zh" ? c.purpose_zh : c.purpose_en;
    $("consent-text").textContent = lang === "zh" ? c.text_zh : c.text_en;
    $("consent-version").textContent = c.version;
  }
  if (errorKey) {
    const [title, text] = t().errors[errorKey];
    $("error-title").textContent = title;
    $("error-text").textContent = text;
  }
  if (cardSide) {
    document.querySelector(".card-stage").dataset.side = cardSide;
    $("card-title").textContent = t().card_title[cardSide];
    $("card-label").textContent = t().card_label[cardSide];
    const hint = $("card-hint");
    if (cardHints && cardHints.length) {
      hint.textContent = cardHints.map((h) => t().card_hints[h] || h).join(" · ");
      hint.className = "hint warn";
    } else {
      hint.textContent = cardNote ? t()[cardNote] : t().card_guide;
      hint.className = "hint" + (cardNote ? " ok" : "");
    }
    $("photos-left").textContent = photosLeft === null ? "" : t().photos_left(photosLeft);
    document.querySelectorAll(".steps li[data-step]").forEach((li) => {
      const order = ["front", "back", "face"];
      const at = order.indexOf(cardSide);
      const mine = order.indexOf(li.dataset.step);
      li.classList.toggle("done", mine < at);
      li.classList.toggle("current", mine === at);
    });
  }
  if (resultData) {
    $("result-title").textContent = resultData.passed ? t().passed : t().failed;
    $("result-text").textContent = t().reasons[resultData.reason] || t().reasons.error;
  }
}

function show(name) {
  shownScreen = name;
  document.querySelectorAll(".screen").forEach((s) => s.classList.toggle("active", s.dataset.screen === name));
  document.body.dataset.screen = name;
}

function showError(key) {
  errorKey = key;
  $("retry").classList.toggle("hidden", key !== "network");
  stopCamera();
  render();
  show("error");
}

function showResult(result) {
  resultData = result;
  stopCamera();
  $("result-icon").textContent = result.passed ? "✓" : "✕";
  $("result-icon").classList.toggle("fail", !result.passed);
  const go = $("continue");
  if (result.return_url) { go.href = result.return_url; go.classList.remove("hidden"); } else { go.classList.add("hidden"); }
  render();
  show("result");
}

async function api(path, options) {
  // Every request gives up in time (a card photo is read on the server in about a second;
  // a busy server may queue it): the page then says so instead of waiting for ever.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 60000);
  let response;
  try {
    response = await fetch(`/h5/${encodeURIComponent(token)}/${path}`,
      Object.assign({ cache: "no-store", signal: controller.signal }, options || {}));
  } finally {
    clearTimeout(timer);
  }
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) {
    const error = new Error((body && body.message) || `HTTP ${response.status}`);
    error.code = body && body.code;
    throw error;
  }
  return body.data;
}

function errorFor(code) {
  switch (code) {
    case "SessionExpired": return "expired";
    case "SessionAlreadyUsed": return "used";
    case "CaptureLinkInvalid": return "invalid";
    default: return "failed";
  }
}

async function load() {
  try {
    session = await api("session");
  } catch (e) {
    return showError(errorFor(e.code));
  }
  render();
  switch (session.state) {
    case "created": return show("consent");
    case "consented": return needsCards() ? openCardCamera() : openCamera();
    case "capturing": return openCamera();
    case "judging":
      // Another tab or an earlier upload is being judged: look again until it ends.
      show("uploading");
      return setTimeout(load, 2000);
    case "finished": return session.result ? showResult(session.result) : showError("used");
    case "declined": return showError("declined");
    case "expired": return showError("expired");
    default: return showError("failed");
  }
}

async function answerConsent(agree) {
  $("agree").disabled = true;
  $("decline").disabled = true;
  try {
    session = await api("consent", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ agree }) });
  } catch (e) {
    return showError(errorFor(e.code));
  }
  if (!agree) return showError("declined");
  if (needsCards()) return openCardCamera();
  openCamera();
}

// ---- ID_PLUS: the card steps

function needsCards() {
  return !!(session && session.cards && !(session.cards.front && session.cards.back));
}

// Starts the camera `video` asks for into the element `videoId`; false (with the error screen
// shown) when there is none or it is refused.
async function startCamera(video, videoId) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { showError("no_camera"); return false; }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video, audio: false });
  } catch (e) {
    showError(e && (e.name === "NotAllowedError" || e.name === "SecurityError") ? "camera_denied" : "no_camera");
    return false;
  }
  const element = $(videoId);
  element.srcObject = stream;
  try { await element.play(); } catch (_) { /* autoplay of a muted stream is allowed */ }
  return true;
}

async function openCardCamera() {
  cardSide = session.cards.front ? "back" : "front";
  photosLeft = session.cards.photos_left;
  // The back camera where there is one, at the resolution the card's small print needs.
  const card = { facingMode: { ideal: "environment" }, width: { ideal: 1920 }, height: { ideal: 1080 } };
  if (!(await startCamera(card, "card-video"))) return;
  const video = $("card-video");
  show("card");
  render();
  const ready = () => { $("shoot").disabled = !(video.videoWidth > 0); };
  video.onloadedmetadata = ready;
  ready();
}

async function shoot() {
  const button = $("shoot");
  button.disabled = true;
  const video = $("card-video");
  const blob = await grab(video, Math.min(video.videoWidth || 1280, 1920), 0.92);
  if (!blob) { button.disabled = false; return; }
  show("reading");
  let answer;
  try {
    answer = await api(`card/${cardSide}`, { method: "POST", headers: { "content-type": "image/jpeg" }, body: blob });
  } catch (e) {
    if (["SessionExpired", "SessionAlreadyUsed", "CaptureLinkInvalid"].includes(e.code)) return showError(errorFor(e.code));
    // The session moved on elsewhere (another tab, another photo being read): start over
    // from what the server says it is.
    if (["SessionBusy", "InvalidOperation", "ConsentRequired", "CardsRequired"].includes(e.code)) {
      stopCamera();
      return load();
    }
    cardHints = null;
    cardNote = null;
    show("card");
    render();
    $("card-hint").textContent = t().errors.failed[1];
    $("card-hint").className = "hint warn";
    button.disabled = false;
    return;
  }
  photosLeft = answer.photos_left;
  if (answer.next === "finished") {
    if (answer.result) return showResult(answer.result);
    return load();
  }
  if (answer.next === "liveness") {
    stopCamera();
    cardSide = null;
    return openCamera();
  }
  cardHints = answer.accepted ? null : answer.hints;
  cardNote = answer.accepted ? "front_done" : null;
  cardSide = answer.next;
  show("card");
  render();
  button.disabled = false;
}

async function openCamera() {
  $("face-steps").classList.toggle("hidden", !(session && session.product === "ID_PLUS"));
  const face = { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } };
  if (!(await startCamera(face, "video"))) return;
  show("camera");
  render();
  startHints();
}

function stopCamera() {
  if (hintTimer) { clearInterval(hintTimer); hintTimer = null; }
  if (stream) { stream.getTracks().forEach((track) => track.stop()); stream = null; }
}

function grab(video, width, quality) {
  const w = video.videoWidth || 640;
  const h = video.videoHeight || 480;
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = Math.round((h * width) / w);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
}

function startHints() {
  let okSeen = false;
  const started = Date.now();
  const once = async () => {
    if (shownScreen !== "camera" || $("begin").dataset.running) return;
    const blob = await grab($("video"), 320, 0.7);
    if (!blob) return;
    try {
      const answer = await api("hint", { method: "POST", headers: { "content-type": "image/jpeg" }, body: blob });
      const first = answer.hints[0];
      const hint = $("hint");
      hint.textContent = answer.hints.map((h) => t().hints[h] || h).join(" · ");
      hint.className = "hint " + (first === "ok" ? "ok" : "warn");
      okSeen = okSeen || first === "ok";
    } catch (e) {
      if (["SessionExpired", "SessionAlreadyUsed", "CaptureLinkInvalid"].includes(e.code)) return showError(errorFor(e.code));
    }
    // Hints guide; they do not gate. After a few seconds the person may start anyway.
    $("begin").disabled = !(okSeen || Date.now() - started > 6000);
  };
  once();
  hintTimer = setInterval(once, 800);
}

async function begin() {
  const button = $("begin");
  button.disabled = true;
  button.dataset.running = "1";
  let started;
  try {
    started = await api("start", { method: "POST" });
  } catch (e) {
    return showError(errorFor(e.code));
  }
  if (hintTimer) { clearInterval(hintTimer); hintTimer = null; }
  $("hint").textContent = "";
  const { frames, times } = await perform(started.challenge);
  stopCamera();
  const form = new FormData();
  form.append("meta", new Blob([JSON.stringify({ nonce: started.nonce, frames: times.map((t_ms) => ({ t_ms })) })], { type: "application/json" }), "meta.json");
  frames.forEach((blob, i) => form.append("frame", blob, `${i}.jpg`));
  pendingUpload = form;
  upload();
}

// Shows the challenge and captures frames until it ends. The capture clock starts as the
// challenge appears; every time the server issued is measured from that moment.
function perform(challenge) {
  return new Promise((resolve) => {
    const prompt = $("prompt");
    const countdown = $("countdown");
    const flash = $("flash");
    const frames = [];
    const times = [];
    const pending = [];
    const t0 = performance.now();
    const interval = Math.floor(1000 / Math.max(15, challenge.frame_rate)) - 6;
    const capture = setInterval(() => {
      const at = performance.now() - t0;
      const index = times.length;
      times.push(Math.round(at * 10) / 10);
      pending.push(grab($("video"), 640, 0.8).then((blob) => { frames[index] = blob; }));
    }, interval);
    let lastKey = "";
    const tick = () => {
      const elapsed = performance.now() - t0;
      if (elapsed >= challenge.duration_ms) {
        clearInterval(capture);
        flash.classList.add("hidden");
        prompt.textContent = "";
        countdown.textContent = "";
        Promise.all(pending).then(() => {
          // A frame the encoder could not make is dropped with its time.
          const kept = frames.map((f, i) => [f, times[i]]).filter(([f]) => f);
          resolve({ frames: kept.map(([f]) => f), times: kept.map(([, time]) => time) });
        });
        return;
      }
      const step = challenge.steps.find((s) => elapsed >= s.at_ms && elapsed < s.at_ms + s.window_ms);
      const colour = challenge.flashes.find((f) => elapsed >= f.at_ms && elapsed < f.at_ms + f.duration_ms);
      if (colour) {
        flash.style.background = COLOURS[colour.colour];
        flash.dataset.colour = colour.colour;
        flash.classList.remove("hidden");
      } else {
        flash.classList.add("hidden");
        delete flash.dataset.colour;
      }
      const key = step ? step.action : colour ? "flash" : "still";
      if (key !== lastKey) {
        prompt.dataset.action = step ? step.action : "";
        prompt.textContent = step ? t().actions[step.action] : colour ? "" : t().lead_in;
        prompt.classList.remove("animate");
        void prompt.offsetWidth;
        prompt.classList.add("animate");
        lastKey = key;
      }
      const remaining = step ? (step.at_ms + step.window_ms - elapsed) / 1000 : (challenge.duration_ms - elapsed) / 1000;
      countdown.textContent = `${Math.ceil(remaining)} ${t().seconds}`;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}

const COLOURS = { red: "#ff0000", green: "#00ff00", blue: "#0000ff", yellow: "#ffff00", cyan: "#00ffff", magenta: "#ff00ff" };

function upload() {
  show("uploading");
  $("progress-bar").style.width = "0";
  const request = new XMLHttpRequest();
  request.open("POST", `/h5/${encodeURIComponent(token)}/frames`);
  request.upload.onprogress = (e) => { if (e.lengthComputable) $("progress-bar").style.width = `${(100 * e.loaded) / e.total}%`; };
  request.onerror = () => showError("network");
  request.ontimeout = () => showError("network");
  request.onload = () => {
    let body = null;
    try { body = JSON.parse(request.responseText); } catch (_) { body = null; }
    if (request.status === 200 && body) return showResult(body.data);
    if (request.status === 0 || request.status >= 502) return showError("network");
    showError(errorFor(body && body.code));
  };
  request.send(pendingUpload);
}

document.addEventListener("DOMContentLoaded", () => {
  $("lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; render(); });
  $("agree").addEventListener("click", () => answerConsent(true));
  $("decline").addEventListener("click", () => answerConsent(false));
  $("begin").addEventListener("click", begin);
  $("shoot").addEventListener("click", shoot);
  $("retry").addEventListener("click", () => { if (pendingUpload) upload(); });
  render();
  load();
});
