#!/usr/bin/env python3
"""Resident memory and correctness of a running Shiren service under attack-like load.

A verification service takes large, untrusted uploads, so two things must hold when someone
abuses it: its memory stays bounded (an attacker should not be able to make it buffer or decode
without limit), and honest, correctly signed requests keep being answered. This tool measures
both against a service on 127.0.0.1: it samples the server's VmRSS from /proc/PID/status while
it attacks, and it sends valid signed requests alongside and records their status and latency.

    stress.py --url http://127.0.0.1:PORT --pid PID --key-id ID --key-secret SECRET \\
              --scene SCENE_ID --photos DIR SCENARIO [options]

Scenarios (every one is bounded in requests and time, and every socket operation has a timeout):

    check          a signed and a forged GET /v1/scenes: 200 proves the signer and the key work
    slow-uploads   sockets that announce a 12 MB body, send nearly all of it and stall
    big-png        a uniform 8000x5000 PNG (about 127 KB encoded, 120 MB decoded) sent in parallel
    mixed          valid compares, bad inputs and slow clients together for some minutes

Requests are signed with ACS3-HMAC-SHA256 exactly as crates/shiren-auth's Signer signs them.
Results are printed as plain-text tables; --json FILE writes them as JSON too. The exit status is
1 when a valid request went unanswered or the server process went away, else 0.
"""

import argparse
import base64
import binascii
import hashlib
import hmac
import http.client
import json
import math
import os
import secrets
import select
import socket
import statistics
import struct
import sys
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ALGORITHM = "ACS3-HMAC-SHA256"
UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
JSON = "application/json"


# --- signing (crates/shiren-auth: canonical.rs, encoding.rs, signer.rs) --------------------------


def percent_encode(data: bytes, keep: bytes = b"") -> str:
    """RFC 3986: every byte but the unreserved set (and `keep`) becomes %XX, uppercase."""
    return "".join(chr(b) if b in UNRESERVED or b in keep else f"%{b:02X}" for b in data)


def encode_path(path: str) -> str:
    """The path for the wire, which is also its canonical URI (slashes stay)."""
    return percent_encode(path.encode(), keep=b"/") or "/"


def canonical_query(params) -> str:
    """Pairs sorted (stably) by decoded name bytes, then encoded and joined with '&'."""
    pairs = sorted(((n.encode(), v.encode()) for n, v in params), key=lambda p: p[0])
    return "&".join(f"{percent_encode(n)}={percent_encode(v)}" for n, v in pairs)


class Signer:
    def __init__(self, key_id: str, secret: str, host: str, action: str = "Request", version: str = "v1"):
        self.key_id, self.secret, self.host = key_id, secret, host
        self.action, self.version = action, version

    def sign(self, method: str, path: str, body: bytes = b"", content_type: str | None = None, query=()):
        """Every header to send (host included), lowercase names, authorization last."""
        body_hash = hashlib.sha256(body).hexdigest()
        signed = {
            "host": self.host,
            "x-acs-action": self.action,
            "x-acs-version": self.version,
            "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "x-acs-signature-nonce": secrets.token_hex(16),
            "x-acs-content-sha256": body_hash,
        }
        if content_type is not None:
            signed["content-type"] = content_type
        names = sorted(signed)
        canonical = "\n".join([
            method,
            encode_path(path),
            canonical_query(query),
            "".join(f"{n}:{signed[n].strip()}\n" for n in names),
            ";".join(names),
            body_hash,
        ])
        to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self.secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        authorization = f"{ALGORITHM} Credential={self.key_id},SignedHeaders={';'.join(names)},Signature={signature}"
        return [(n, signed[n]) for n in names] + [("authorization", authorization)]


def forge(headers):
    """The same headers with a well-formed but wrong signature."""
    auth = dict(headers)["authorization"]
    forged = auth.rsplit("Signature=", 1)[0] + "Signature=" + secrets.token_hex(32)
    return [(n, forged if n == "authorization" else v) for n, v in headers]


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int | None  # None: no answer (connection error or timeout)
    code: str  # the JSON body's `code`, or the client-side error
    seconds: float

    @property
    def label(self) -> str:
        return f"{self.status} {self.code}" if self.status is not None else f"no answer ({self.code})"


class Service:
    def __init__(self, url: str, key_id: str, secret: str):
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            sys.exit("stress.py only targets http:// on the loopback interface")
        self.host, self.port = parts.hostname, parts.port or 80
        self.signer = Signer(key_id, secret, parts.netloc)

    def connect(self, timeout: float) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=timeout)

    def send(self, method, path, body=b"", headers=(), timeout=30.0) -> Answer:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        start = time.monotonic()
        try:
            conn.request(method, path, body=body if method != "GET" else None, headers=dict(headers))
            response = conn.getresponse()
            data = response.read()
            return Answer(response.status, json_code(data), time.monotonic() - start)
        except (OSError, http.client.HTTPException) as e:
            return Answer(None, type(e).__name__, time.monotonic() - start)
        finally:
            conn.close()

    def signed(self, method, path, body=b"", content_type=JSON, timeout=30.0) -> Answer:
        headers = self.signer.sign(method, path, body, content_type if body else None)
        return self.send(method, path, body, headers, timeout)


def json_code(data: bytes) -> str:
    try:
        return str(json.loads(data).get("code", "-"))
    except (ValueError, AttributeError):
        return "non-JSON"


def status_of(first_bytes: bytes) -> str:
    """'401' from the first bytes of an HTTP response, or what they were."""
    line = first_bytes.split(b"\r\n", 1)[0].split()
    return line[1].decode(errors="replace") if len(line) > 1 and line[0].startswith(b"HTTP/") else "garbage"


def compare_body(scene: str, image_a: bytes | str, image_b: bytes | str) -> bytes:
    def source(image):
        return {"base64": image if isinstance(image, str) else base64.b64encode(image).decode()}

    return json.dumps({"scene_id": scene, "image_a": source(image_a), "image_b": source(image_b)}).encode()


def uniform_png(width: int, height: int, rgb=(90, 140, 200)) -> bytes:
    """An RGB PNG of one colour; zlib squeezes its width*height*3 bytes to a few hundred KB."""
    row = b"\x00" + bytes(rgb) * width  # filter type 0 (None), then the pixels
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", binascii.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, truecolour
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# --- measuring ------------------------------------------------------------------------------------


class RssSampler(threading.Thread):
    """Reads the server's VmRSS every `interval` seconds; notices when the process is gone."""

    def __init__(self, pid: int, interval: float, t0: float):
        super().__init__(daemon=True)
        self.pid, self.interval, self.t0 = pid, interval, t0
        self.samples: list[tuple[float, float]] = []  # (seconds since t0, MiB)
        self.gone_at: float | None = None
        self._halt = threading.Event()

    def rss_mib(self) -> float | None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None

    def run(self):
        while True:
            rss = self.rss_mib()
            if rss is None:
                self.gone_at = time.monotonic() - self.t0
                return
            self.samples.append((time.monotonic() - self.t0, rss))
            if self._halt.wait(self.interval):
                return

    def stop(self):
        self._halt.set()
        self.join(5)

    def window(self, start=float("-inf"), end=float("inf")) -> list[float]:
        return [mib for t, mib in self.samples if start <= t < end]

    def summary(self, attack_start: float, attack_end: float) -> list[list]:
        before, during = self.window(end=attack_start), self.window(attack_start, attack_end)
        after = self.window(attack_end)
        return [
            ["baseline (median before)", mib(statistics.median(before) if before else None)],
            ["peak during attack", mib(max(during) if during else None)],
            ["after (last sample)", mib(after[-1] if after else None)],
        ]


def mib(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def percentile(values, p: float):
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def tally(labels) -> str:
    """'401 SignatureDoesNotMatch x3, 200 OK x1': each distinct label with its count, most common first."""
    return ", ".join(f"{label} x{n}" for label, n in Counter(labels).most_common()) or "-"


class Report:
    """Prints plain-text tables and keeps them for --json."""

    def __init__(self):
        self.tables: dict[str, list[dict]] = {}

    def table(self, title: str, headers: list[str], rows: list[list]):
        cells = [["-" if c is None else str(c) for c in row] for row in rows]
        widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
        line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        print(f"\n{title}\n" + "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells]))
        self.tables[title] = [dict(zip(headers, row)) for row in rows]


class Context:
    def __init__(self, args):
        self.args = args
        self.service = Service(args.url, args.key_id, args.key_secret)
        self.report = Report()
        self.t0 = time.monotonic()
        self.failed = False  # set when a valid request goes unanswered or the server dies

    def now(self) -> float:
        return time.monotonic() - self.t0

    def photo(self, name: str) -> bytes:
        if not self.args.photos:
            sys.exit("this scenario needs --photos DIR")
        return (Path(self.args.photos) / name).read_bytes()

    def scene(self) -> str:
        if not self.args.scene:
            sys.exit("this scenario needs --scene SCENE_ID")
        return self.args.scene

    def sampler(self, interval: float) -> RssSampler:
        sampler = RssSampler(self.args.pid, interval, self.t0)
        if sampler.rss_mib() is None:
            sys.exit(f"no process {self.args.pid} to measure")
        sampler.start()
        return sampler

    def note_exit(self, sampler: RssSampler):
        if sampler.gone_at is not None:
            print(f"\n!! server process {self.args.pid} disappeared at t={sampler.gone_at:.1f} s")
            self.failed = True


# --- scenario: check ------------------------------------------------------------------------------


def run_check(ctx: Context):
    svc = ctx.service
    answer = svc.signed("GET", "/v1/scenes", timeout=10)
    forged = svc.send("GET", "/v1/scenes", headers=forge(svc.signer.sign("GET", "/v1/scenes")), timeout=10)
    ctx.report.table("signer check", ["request", "status", "code", "ms"], [
        ["signed GET /v1/scenes", answer.status, answer.code, ms(answer.seconds)],
        ["forged GET /v1/scenes", forged.status, forged.code, ms(forged.seconds)],
    ])
    ctx.failed |= answer.status != 200


# --- scenario: slow-uploads -----------------------------------------------------------------------


class SlowUpload(threading.Thread):
    """One socket announcing a 12 MB JSON body, sending all but its last 1000 bytes, then waiting."""

    LENGTH, WITHHELD, CHUNK = 12_000_000, 1000, 64 * 1024

    def __init__(self, ctx: Context, head: bytes):
        super().__init__(daemon=True)
        self.ctx, self.head = ctx, head
        self.sock: socket.socket | None = None
        self.sent = 0
        self.closing = False  # set when we close the socket ourselves
        self.ended: tuple[float, str] | None = None  # (when, how) if the server answered or closed

    def run(self):
        try:
            self.sock = self.ctx.service.connect(timeout=10)
            self.sock.sendall(self.head)
            chunk = b"A" * self.CHUNK
            while self.sent < self.LENGTH - self.WITHHELD and not self.poll():
                n = min(self.CHUNK, self.LENGTH - self.WITHHELD - self.sent)
                self.sock.sendall(chunk[:n])
                self.sent += n
        except socket.timeout:
            pass  # the server stopped reading but kept the socket: it is held like the others
        except OSError as e:
            if not self.closing:
                self.ended = self.ended or (self.ctx.now(), f"reset while sending ({type(e).__name__})")

    def poll(self) -> bool:
        """Records an answer or a close from the server, if one has come; True once ended."""
        if self.ended or self.sock is None:
            return self.ended is not None
        try:
            if select.select([self.sock], [], [], 0)[0]:
                data = self.sock.recv(4096)
                self.ended = (self.ctx.now(), f"answered {status_of(data)}" if data else "closed")
        except OSError as e:
            self.ended = (self.ctx.now(), f"reset ({type(e).__name__})")
        return self.ended is not None


def run_slow_uploads(ctx: Context, count: int, mode: str, hold: float):
    svc = ctx.service
    head = ["POST /v1/compare HTTP/1.1", f"host: {svc.signer.host}", "content-type: application/json",
            f"content-length: {SlowUpload.LENGTH}"]
    sampler = ctx.sampler(0.5)
    time.sleep(2)
    probes: list[tuple[float, Answer]] = []
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            at = ctx.now()
            probes.append((at, svc.signed("GET", "/v1/scenes", timeout=10)))
            stop.wait(max(0.0, 2.0 - (ctx.now() - at)))

    prober = threading.Thread(target=probe, daemon=True)
    attack_start = ctx.now()
    uploads = []
    body_hash = hashlib.sha256(b"A" * SlowUpload.LENGTH).hexdigest()  # of the body announced
    for _ in range(count):
        lines = list(head)
        if mode == "forged":
            for name, value in forge(svc.signer.sign("POST", "/v1/compare", b"", JSON)):
                if name not in ("host", "content-type"):
                    lines.append(f"{name}: {body_hash if name == 'x-acs-content-sha256' else value}")
        uploads.append(SlowUpload(ctx, ("\r\n".join(lines) + "\r\n\r\n").encode()))
    prober.start()
    for upload in uploads:
        upload.start()
    for upload in uploads:
        upload.join(120)
    sent_at = ctx.now()
    while ctx.now() < sent_at + hold and not all(u.poll() for u in uploads):
        time.sleep(0.2)
    closed_at = ctx.now()
    for upload in uploads:
        upload.poll()
        upload.closing = True
        if upload.sock:
            upload.sock.close()
    time.sleep(3)
    stop.set()
    prober.join(15)
    sampler.stop()

    r = ctx.report
    r.table(f"slow-uploads ({mode}, {count} sockets, hold {hold:g} s): server RSS (MiB)", ["when", "RSS MiB"],
            sampler.summary(attack_start, closed_at + 1.0))
    early = [u for u in uploads if u.ended]
    r.table("attack sockets (times since the attack began)", ["what", "value"], [
        ["sockets", count],
        ["bytes sent per socket (min / max)", f"{min(u.sent for u in uploads)} / {max(u.sent for u in uploads)}"],
        ["all sent (all but 1000 bytes) after", f"{sent_at - attack_start:.1f} s"],
        ["held until", f"{closed_at - attack_start:.1f} s"],
        ["ended early by the server", len(early)],
        ["how", tally(u.ended[1] for u in early)],
        ["when (first / last)", f"{min(u.ended[0] for u in early) - attack_start:.1f} s / "
                                f"{max(u.ended[0] for u in early) - attack_start:.1f} s" if early else "-"],
    ])
    answered = [a.seconds for _, a in probes if a.status is not None]
    r.table("valid signed GET /v1/scenes every 2 s", ["requests", "statuses", "p50 ms", "max ms"], [
        [len(probes), tally(a.label for _, a in probes), ms(percentile(answered, 50)), ms(max(answered, default=None))],
    ])
    ctx.failed |= any(a.status is None for _, a in probes)
    ctx.note_exit(sampler)


# --- scenario: big-png ----------------------------------------------------------------------------


def run_big_png(ctx: Context, parallel: int, width: int, height: int):
    png = uniform_png(width, height)
    print(f"uniform PNG {width}x{height}: {len(png)} bytes encoded, {width * height * 3 / 1e6:.0f} MB decoded")
    body = compare_body(ctx.scene(), png, png)
    sampler = ctx.sampler(0.2)
    time.sleep(2)
    gate = threading.Barrier(parallel)
    answers: list[Answer | None] = [None] * parallel

    def send(i: int):
        headers = ctx.service.signer.sign("POST", "/v1/compare", body, JSON)
        gate.wait(30)
        answers[i] = ctx.service.send("POST", "/v1/compare", body, headers, timeout=120)

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(parallel)]
    attack_start = ctx.now()
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    attack_end = ctx.now()
    time.sleep(3)
    sampler.stop()
    r = ctx.report
    r.table(f"big-png ({parallel} parallel compares of a {width}x{height} PNG): server RSS (MiB)",
            ["when", "RSS MiB"], sampler.summary(attack_start, attack_end))
    r.table("responses", ["#", "status", "code", "ms"],
            [[i + 1, a.status, a.code, ms(a.seconds)] if a else [i + 1, None, "unfinished", None]
             for i, a in enumerate(answers)])
    ctx.note_exit(sampler)


# --- scenario: mixed ------------------------------------------------------------------------------


def bad_inputs(ctx: Context):
    """(name, action) pairs; each action sends one bad request and returns [(name, Answer)]."""
    svc, scene = ctx.service, ctx.scene()
    a, b = ctx.photo("obama.jpg"), ctx.photo("obama2.jpg")
    png = uniform_png(8000, 5000)

    def compare(image_a, image_b=b, scene_id=scene):
        return lambda: svc.signed("POST", "/v1/compare", compare_body(scene_id, image_a, image_b), timeout=60)

    body = compare_body(scene, a, b)

    def forged():
        return svc.send("POST", "/v1/compare", body, forge(svc.signer.sign("POST", "/v1/compare", body, JSON)), 60)

    def replay():
        headers = svc.signer.sign("POST", "/v1/compare", body, JSON)
        first = svc.send("POST", "/v1/compare", body, headers, 60)
        again = svc.send("POST", "/v1/compare", body, headers, 60)
        return [("replay: first send", first), ("replay: same headers again", again)]

    def raw(body: bytes, content_type: str):
        return lambda: svc.signed("POST", "/v1/compare", body, content_type, timeout=60)

    return [
        ("JPEG truncated at 50%", compare(a[: len(a) // 2])),
        ("truncated at 50% + FF D9", compare(a[: len(a) // 2] + b"\xff\xd9")),
        ("malformed base64", compare("@@not*base64!!")),
        ("random bytes as image", compare(os.urandom(len(a)))),
        ("uniform 8000x5000 PNG", compare(png, png)),
        ("forged signature", forged),
        ("replay", replay),
        ("unknown scene_id", compare(a, b, "sc_no_such_scene")),
        ("wrong content-type", raw(body, "text/plain")),
        ("body not JSON", raw(b"this is { not json", JSON)),
    ]


@dataclass
class SlowConn:
    kind: str
    sock: socket.socket
    opened: float
    pending: list[bytes]  # what is still to send, one piece per `every` seconds
    every: float
    next_send: float
    ended: tuple[float, str] | None = None


class SlowClients(threading.Thread):
    """Slowloris, a slow signed body and up to 50 idle connections, replaced when closed."""

    IDLE = 50

    def __init__(self, ctx: Context, deadline: float):
        super().__init__(daemon=True)
        self.ctx, self.deadline = ctx, deadline
        self.body = compare_body(ctx.scene(), ctx.photo("obama.jpg"), ctx.photo("obama2.jpg"))
        self.live: list[SlowConn] = []
        self.done: list[SlowConn] = []
        self.connect_errors: list[str] = []

    def open(self, kind: str):
        svc, now = self.ctx.service, self.ctx.now()
        if kind == "slowloris":
            first = f"GET /v1/scenes HTTP/1.1\r\nhost: {svc.signer.host}\r\n".encode()
            pending, every = [f"x-slow-{i}: {i}\r\n".encode() for i in range(1000)], 5.0
        elif kind == "slow body":
            headers = svc.signer.sign("POST", "/v1/compare", self.body, JSON)
            lines = [f"{n}: {v}" for n, v in headers] + [f"content-length: {len(self.body)}"]
            first = ("POST /v1/compare HTTP/1.1\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode()
            pending, every = [self.body[i : i + 1024] for i in range(0, len(self.body), 1024)], 1.0
        else:
            first, pending, every = b"", [], 0.0
        try:
            sock = svc.connect(timeout=5)
            sock.sendall(first)
        except OSError as e:
            self.connect_errors.append(f"{kind}: {type(e).__name__}")
            return
        self.live.append(SlowConn(kind, sock, now, pending, every, now + every))

    def end(self, conn: SlowConn, how: str):
        conn.ended = (self.ctx.now(), how)
        conn.sock.close()
        self.live.remove(conn)
        self.done.append(conn)

    def run(self):
        while self.ctx.now() < self.deadline:
            kinds = [c.kind for c in self.live]
            for kind, wanted in (("slowloris", 1), ("slow body", 1), ("idle", self.IDLE)):
                for _ in range(wanted - kinds.count(kind)):
                    self.open(kind)
            now = self.ctx.now()
            for conn in [c for c in self.live if c.pending and c.next_send <= now]:
                try:
                    conn.sock.sendall(conn.pending.pop(0))
                    conn.next_send = now + conn.every
                except OSError as e:
                    self.end(conn, f"send failed ({type(e).__name__})")
            readable = select.select([c.sock for c in self.live], [], [], 0.5)[0] if self.live else []
            for conn in [c for c in self.live if c.sock in readable]:
                try:
                    data = conn.sock.recv(4096)
                    self.end(conn, f"answered {status_of(data)}" if data else "closed by server")
                except OSError as e:
                    self.end(conn, f"reset ({type(e).__name__})")
            time.sleep(0.5)  # at most two replacement rounds a second, whatever the server does
        for conn in list(self.live):
            self.end(conn, "still open at the end")


def run_mixed(ctx: Context, minutes: float):
    duration = minutes * 60
    svc, scene = ctx.service, ctx.scene()
    valid_body = compare_body(scene, ctx.photo("obama.jpg"), ctx.photo("obama2.jpg"))
    cases = bad_inputs(ctx)
    sampler = ctx.sampler(10)
    start = ctx.now()
    deadline = start + duration
    valid: list[tuple[float, Answer]] = []
    bad: list[tuple[str, Answer]] = []

    def valid_loop():
        while ctx.now() < deadline:
            at = ctx.now()
            answer = svc.signed("POST", "/v1/compare", valid_body, timeout=60)
            valid.append((at, answer))
            if answer.status is None:
                time.sleep(1)  # a refusing server must not turn this into a busy loop

    def bad_loop():
        i = 0
        while ctx.now() < deadline:
            name, action = cases[i % len(cases)]
            result = action()
            result = result if isinstance(result, list) else [(name, result)]
            bad.extend(result)
            if any(a.status is None for _, a in result):
                time.sleep(1)
            i += 1

    slow = SlowClients(ctx, deadline)
    threads = [threading.Thread(target=valid_loop, daemon=True) for _ in range(2)]
    threads += [threading.Thread(target=bad_loop, daemon=True), slow]
    print(f"mixed: {minutes:g} min of 2 valid-compare threads, 1 bad-input thread, 1 slow-client thread")
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, deadline - ctx.now()) + 180)
    sampler.stop()

    r = ctx.report
    rss = sampler.window()
    r.table("mixed: server RSS (MiB, sampled every 10 s)", ["at start", "peak", "at end"],
            [[mib(rss[0] if rss else None), mib(max(rss, default=None)), mib(rss[-1] if rss else None)]])
    rows = []
    for m in range(max(1, math.ceil(duration / 60))):
        lo, hi = start + 60 * m, start + 60 * (m + 1)
        answers = [a for t, a in valid if lo <= t < hi]
        rss = sampler.window(lo, hi)
        latencies = [a.seconds for a in answers if a.status is not None]
        rows.append([m + 1, mib(max(rss) if rss else None), sum(a.status == 200 for a in answers),
                     sum(a.status not in (200, None) for a in answers), sum(a.status is None for a in answers),
                     ms(percentile(latencies, 50)), ms(percentile(latencies, 99))])
    r.table("mixed: per minute (valid compares by start time; RSS = max of 10 s samples)",
            ["minute", "RSS MiB", "200", "other", "no answer", "p50 ms", "p99 ms"], rows)
    others = [a.label for _, a in valid if a.status not in (200, None)]
    if others:
        print(f"valid compares not answered 200: {tally(others)}")
    names = list(dict.fromkeys(name for name, _ in bad))
    r.table("mixed: bad inputs", ["input", "sent", "status code", "p50 ms"], [
        [name, sum(n == name for n, _ in bad), tally(a.label for n, a in bad if n == name),
         ms(percentile([a.seconds for n, a in bad if n == name], 50))] for name in names])
    rows = []
    for kind in ("slowloris", "slow body", "idle"):
        conns = [c for c in slow.done if c.kind == kind]
        lifetimes = [c.ended[0] - c.opened for c in conns if c.ended[1] != "still open at the end"]
        spread = "-"
        if lifetimes:
            spread = f"{min(lifetimes):.1f} / {statistics.median(lifetimes):.1f} / {max(lifetimes):.1f}"
        rows.append([kind, len(conns), tally(c.ended[1] for c in conns), spread])
    r.table("mixed: slow clients", ["kind", "opened", "outcome", "lifetime s min / median / max (closed ones)"], rows)
    if slow.connect_errors:
        print(f"connections refused: {tally(slow.connect_errors)}")
    ctx.failed |= any(a.status is None for _, a in valid)
    ctx.note_exit(sampler)


# --- command line ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("--pid", required=True, type=int, help="the server's process id (for VmRSS)")
    parser.add_argument("--key-id", required=True)
    parser.add_argument("--key-secret", required=True)
    parser.add_argument("--scene", help="a scene id for /v1/compare")
    parser.add_argument("--photos", help="a directory with obama.jpg, obama2.jpg and biden.jpg")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    scenarios = parser.add_subparsers(dest="scenario", required=True)
    scenarios.add_parser("check", help="one signed and one forged GET /v1/scenes")
    slow = scenarios.add_parser("slow-uploads", help="stalled 12 MB uploads")
    slow.add_argument("--count", type=int, default=20)
    slow.add_argument("--mode", choices=["unsigned", "forged"], default="unsigned")
    slow.add_argument("--hold", type=float, default=30)
    png = scenarios.add_parser("big-png", help="parallel compares of a huge uniform PNG")
    png.add_argument("--parallel", type=int, default=4)
    png.add_argument("--width", type=int, default=8000)
    png.add_argument("--height", type=int, default=5000)
    mixed = scenarios.add_parser("mixed", help="valid, bad and slow clients together")
    mixed.add_argument("--minutes", type=float, default=10)
    args = parser.parse_args()

    ctx = Context(args)
    if args.scenario == "check":
        run_check(ctx)
    elif args.scenario == "slow-uploads":
        run_slow_uploads(ctx, max(1, min(args.count, 500)), args.mode, min(args.hold, 600))
    elif args.scenario == "big-png":
        run_big_png(ctx, max(1, min(args.parallel, 64)), args.width, args.height)
    else:
        run_mixed(ctx, min(args.minutes, 120))
    if args.json:
        options = {k: v for k, v in vars(args).items() if k not in ("key_secret", "json")}
        Path(args.json).write_text(json.dumps({"options": options, "failed": ctx.failed, "tables": ctx.report.tables},
                                              indent=2, default=str) + "\n")
    return 1 if ctx.failed else 0


if __name__ == "__main__":
    sys.exit(main())
