//! The bounded inference pool. Face work runs on blocking threads, at most `workers` at a
//! time (one per core: each model session is single-threaded), with at most `queue` more
//! waiting. Past that a request is refused at once with 503 and Retry-After instead of joining
//! an unbounded queue whose latency nobody wants.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct InferencePool {
    running: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
    capacity: usize,
    workers: usize,
}

/// Releases the admission slot when the work is done or abandoned.
struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl InferencePool {
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            running: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(AtomicUsize::new(0)),
            capacity: workers + queue,
            workers,
        }
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Requests admitted and not finished (running plus waiting).
    pub fn depth(&self) -> usize {
        self.admitted.load(Ordering::SeqCst)
    }

    /// Runs `work` on a blocking thread once a worker is free, or refuses when the queue is full.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let previous = self.admitted.fetch_add(1, Ordering::SeqCst);
        let admission = Admission(self.admitted.clone());
        if previous >= self.capacity {
            return Err(ApiError::busy(1));
        }
        let permit = self.running.clone().acquire_owned().await.map_err(ApiError::internal)?;
        let result = tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(ApiError::internal);
        drop(admission);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_beyond_workers_plus_queue() {
        let pool = InferencePool::new(1, 1);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let (pool, rx) = (pool.clone(), rx.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(move || {
                    let _ = rx.lock().map(|r| r.recv());
                })
                .await
            }));
        }
        while pool.depth() < 2 {
            tokio::task::yield_now().await;
        }
        let refused = pool.run(|| ()).await.unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.retry_after_secs, Some(1));
        tx.send(()).unwrap();
        tx.send(()).unwrap();
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
        assert_eq!(pool.depth(), 0);
        assert!(pool.run(|| 5).await.is_ok());
    }
}
