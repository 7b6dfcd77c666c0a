//! The cloud vendors' official SDKs, run as their users run them: installed (pinned) by
//! tools/sdk/ensure-sdks.sh into a virtual environment and an npm folder under the target
//! directory, and driven one call per process by tools/sdk/drive.py (Python) and drive.cjs
//! (Node.js). The SDKs are unmodified; only their endpoint, protocol and keys are set.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};
use shiren_auth::Signer;

/// Where the SDKs are installed, once per test binary (the script skips the work when the pins
/// have not changed, and takes a lock, so test binaries share it safely).
pub fn sdk_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vendor-sdks");
        let out = Command::new("bash")
            .arg(root.join("tools/sdk/ensure-sdks.sh"))
            .arg(&target)
            .stderr(Stdio::inherit())
            .output()
            .expect("running tools/sdk/ensure-sdks.sh");
        assert!(out.status.success(), "installing the vendor SDKs failed");
        PathBuf::from(String::from_utf8(out.stdout).expect("a path").trim())
    })
}

/// Which SDK, and which of its signing methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sdk {
    /// PyPI alibabacloud_cloudauth20190307 (ACS3-HMAC-SHA256).
    AlibabaPython,
    /// PyPI aliyun-python-sdk-cloudauth (RPC, HMAC-SHA1).
    AlibabaRpc,
    /// npm @alicloud/cloudauth20190307 (ACS3-HMAC-SHA256).
    AlibabaNode,
    /// PyPI tencentcloud-sdk-python-faceid with TC3-HMAC-SHA256.
    TencentTc3,
    /// The same SDK with the older HmacSHA256 form signing.
    TencentHmac256,
    /// The same SDK with the older HmacSHA1 form signing.
    TencentHmac1,
}

impl Sdk {
    pub const ALIBABA: [Sdk; 3] = [Sdk::AlibabaPython, Sdk::AlibabaRpc, Sdk::AlibabaNode];
    pub const TENCENT: [Sdk; 3] = [Sdk::TencentTc3, Sdk::TencentHmac256, Sdk::TencentHmac1];

    fn name(self) -> &'static str {
        match self {
            Sdk::AlibabaPython => "alibaba-v3",
            Sdk::AlibabaRpc => "alibaba-rpc",
            Sdk::AlibabaNode => "alibaba-node",
            Sdk::TencentTc3 => "tencent-tc3",
            Sdk::TencentHmac256 => "tencent-hmac256",
            Sdk::TencentHmac1 => "tencent-hmac1",
        }
    }
}

/// What one SDK call gave: the parsed body, or the exception the SDK raised.
#[derive(Debug)]
pub enum Outcome {
    Body(Value),
    Raised { kind: String, code: String, message: String },
}

impl Outcome {
    /// The body, failing the test with what was raised instead.
    pub fn body(self) -> Value {
        match self {
            Outcome::Body(v) => v,
            Outcome::Raised { kind, code, message } => panic!("the SDK raised {kind} {code}: {message}"),
        }
    }

    /// The raised error's code, failing the test if the call returned instead.
    pub fn raised(self) -> (String, String) {
        match self {
            Outcome::Raised { kind, code, .. } => (kind, code),
            Outcome::Body(v) => panic!("expected the SDK to raise, it returned {v}"),
        }
    }
}

/// Runs `action` with `params` (the API's own names) through `sdk` against `endpoint`
/// (host:port, plain HTTP), signed with `signer`'s key.
pub fn call(sdk: Sdk, endpoint: &str, signer: &Signer, action: &str, params: Value) -> Outcome {
    let dir = sdk_dir();
    let mut command = match sdk {
        Sdk::AlibabaNode => {
            let mut c = Command::new("node");
            c.arg(dir.join("node/drive.cjs"));
            c
        }
        _ => {
            let mut c = Command::new(dir.join("python/bin/python"));
            c.arg(dir.join("drive.py"));
            c
        }
    };
    // The SDKs would send loopback traffic to a proxy; static keys keep every credential chain
    // away from metadata addresses.
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"] {
        command.env_remove(var);
    }
    let job = json!({
        "sdk": sdk.name(),
        "endpoint": endpoint,
        "key": signer.access_key_id,
        "secret": signer.access_key_secret,
        "action": action,
        "params": params,
    });
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("SDK runner");
    child.stdin.take().expect("stdin").write_all(job.to_string().as_bytes()).expect("job sent");
    let out = child.wait_with_output().expect("SDK runner finished");
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed: Value = serde_json::from_str(&text).unwrap_or_else(|_| {
        panic!("{sdk:?} {action}: no answer from the runner: {text}\n{}", String::from_utf8_lossy(&out.stderr))
    });
    match parsed.get("error") {
        Some(e) => Outcome::Raised {
            kind: e["kind"].as_str().unwrap_or_default().to_string(),
            code: e["code"].as_str().unwrap_or_default().to_string(),
            message: e["message"].as_str().unwrap_or_default().to_string(),
        },
        None => Outcome::Body(parsed["body"].clone()),
    }
}
