//! ONNX Runtime for every engine (face, OCR): the shared library is loaded once per process from
//! the provisioned file, and each model is held as a small pool of single-threaded sessions. One
//! intra-op thread per session and parallelism across requests is what measured best on small
//! CPUs (two intra-op threads gain only 1.1-1.6x and are erratic), and `ort` needs exclusive
//! access to a session while it runs, so concurrent callers each take a free copy.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

thread_local! {
    /// Time this thread has spent inside model runs, for benchmarks.
    static INFERENCE_TIME: std::cell::Cell<Duration> = const { std::cell::Cell::new(Duration::ZERO) };
}

/// Returns and resets the time the calling thread has spent in model inference.
pub fn take_inference_time() -> Duration {
    INFERENCE_TIME.with(|t| t.replace(Duration::ZERO))
}

/// What can go wrong below an engine: the runtime library or one model.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("model {model}: {detail}")]
    Model { model: String, detail: String },
    #[error("inference runtime: {0}")]
    Runtime(String),
}

static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// Loads the runtime library once; later calls with another path are ignored.
pub fn init_runtime(dylib: &Path) -> Result<(), OnnxError> {
    let result = ENVIRONMENT.get_or_init(|| {
        if !dylib.is_file() {
            return Err(format!("ONNX Runtime library not found at {}", dylib.display()));
        }
        ort::init_from(dylib)
            .map_err(|e| format!("cannot load {}: {e}", dylib.display()))?
            .with_name("shiren")
            .build()
            .map_err(|e| e.to_string())
    });
    result.as_ref().map(|_| ()).map_err(|e| OnnxError::Runtime(e.clone()))
}

/// One output tensor, copied out of the runtime.
#[derive(Debug, Clone)]
pub struct Output {
    pub shape: Vec<i64>,
    pub data: Vec<f32>,
}

/// A model loaded `copies` times, each copy used by one caller at a time.
pub struct ModelPool {
    name: String,
    input_name: String,
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for ModelPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModelPool({}, {} sessions)", self.name, self.sessions.len())
    }
}

impl ModelPool {
    pub fn load(name: &str, path: &Path, copies: usize) -> Result<Self, OnnxError> {
        let model_err = |detail: String| OnnxError::Model { model: format!("{name} ({})", path.display()), detail };
        if !path.is_file() {
            return Err(model_err("file not found".into()));
        }
        let environment = match ENVIRONMENT.get() {
            Some(Ok(env)) => env,
            _ => return Err(OnnxError::Runtime("the ONNX Runtime library is not loaded".into())),
        };
        let mut sessions = Vec::with_capacity(copies.max(1));
        for _ in 0..copies.max(1) {
            let session = Session::builder(environment)
                .map_err(|e| model_err(e.to_string()))?
                .with_intra_threads(1)
                .map_err(|e| model_err(e.to_string()))?
                .with_inter_threads(1)
                .map_err(|e| model_err(e.to_string()))?
                .with_optimization_level(GraphOptimizationLevel::All)
                .map_err(|e| model_err(e.to_string()))?
                .commit_from_file(path)
                .map_err(|e| model_err(e.to_string()))?;
            sessions.push(Mutex::new(session));
        }
        let input_name = sessions[0]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .inputs()
            .first()
            .map(|i| i.name().to_string())
            .ok_or_else(|| model_err("the model has no input".into()))?;
        Ok(Self { name: name.to_string(), input_name, sessions, next: AtomicUsize::new(0) })
    }

    /// A free session if there is one, else waits for the next in turn.
    fn acquire(&self) -> MutexGuard<'_, Session> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.sessions.len();
        for i in 0..n {
            if let Ok(guard) = self.sessions[(start + i) % n].try_lock() {
                return guard;
            }
        }
        // A panic while a session was locked leaves the session itself intact.
        self.sessions[start % n].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs the model on one float tensor and copies every output out.
    pub fn run(&self, shape: &[usize], data: &[f32]) -> Result<Vec<Output>, OnnxError> {
        let err = |e: ort::Error| OnnxError::Model { model: self.name.clone(), detail: e.to_string() };
        let shape: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let tensor = TensorRef::from_array_view((shape, data)).map_err(err)?;
        let mut session = self.acquire();
        let started = Instant::now();
        let outputs = session.run(ort::inputs![self.input_name.as_str() => tensor]).map_err(err)?;
        let elapsed = started.elapsed();
        INFERENCE_TIME.with(|t| t.set(t.get() + elapsed));
        let mut result = Vec::with_capacity(outputs.len());
        for (_, value) in outputs.iter() {
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(err)?;
            result.push(Output { shape: shape.to_vec(), data: data.to_vec() });
        }
        Ok(result)
    }
}
