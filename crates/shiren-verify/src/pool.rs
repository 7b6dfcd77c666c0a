//! The bounded inference pool. Face work runs on blocking threads, at most `workers` at a
//! time (one per core: each model session is single-threaded), with at most `queue` more
//! waiting. Past that a request is refused at once with 503 and Retry-After instead of joining
//! an unbounded queue whose latency nobody wants.
//!
//! Work also reserves the memory its images will take once decoded (priced from their headers by
//! the engine), out of a budget shared by all requests: a few small files that decode to huge
//! images wait for room instead of exhausting memory together, and give up with 503 when none
//! frees up in time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Error;

#[derive(Debug, Clone)]
pub struct InferencePool {
    running: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
    capacity: usize,
    workers: usize,
    /// The decode budget in KiB.
    memory: Arc<Semaphore>,
    memory_kib: u32,
    memory_wait: Duration,
    /// KiB held by admitted work (the semaphore alone cannot tell: a waiter takes free permits
    /// as they come, before it has all it needs).
    memory_held_kib: Arc<AtomicU64>,
}

/// Decode memory held by one piece of work, returned to the budget when dropped.
struct MemoryReservation {
    _permit: OwnedSemaphorePermit,
    kib: u64,
    held: Arc<AtomicU64>,
}

impl Drop for MemoryReservation {
    fn drop(&mut self) {
        self.held.fetch_sub(self.kib, Ordering::SeqCst);
    }
}

/// Releases the admission slot when the work is done or abandoned.
struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl InferencePool {
    pub fn new(workers: usize, queue: usize, memory_bytes: u64, memory_wait: Duration) -> Self {
        let workers = workers.max(1);
        let memory_kib =
            u32::try_from((memory_bytes / 1024).max(1)).unwrap_or(u32::MAX).min(Semaphore::MAX_PERMITS as u32);
        Self {
            running: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(AtomicUsize::new(0)),
            capacity: workers + queue,
            workers,
            memory: Arc::new(Semaphore::new(memory_kib as usize)),
            memory_kib,
            memory_wait,
            memory_held_kib: Arc::default(),
        }
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Requests admitted and not finished (running plus waiting).
    pub fn depth(&self) -> usize {
        self.admitted.load(Ordering::SeqCst)
    }

    /// Bytes of the decode budget held by admitted work.
    pub fn memory_in_use(&self) -> u64 {
        self.memory_held_kib.load(Ordering::SeqCst) * 1024
    }

    /// Runs `work`, which needs `memory_bytes` for its images, on a blocking thread once a worker
    /// and the memory are free; refuses when the queue is full or the memory does not free up.
    pub async fn run<T, F>(&self, memory_bytes: u64, work: F) -> Result<T, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let previous = self.admitted.fetch_add(1, Ordering::SeqCst);
        let admission = Admission(self.admitted.clone());
        if previous >= self.capacity {
            return Err(Error::busy(1, "all inference workers are busy and the queue is full; retry later"));
        }
        // One image larger than the whole budget runs alone rather than never.
        let kib = u32::try_from(memory_bytes.div_ceil(1024)).unwrap_or(u32::MAX).clamp(1, self.memory_kib);
        let permit = tokio::time::timeout(self.memory_wait, self.memory.clone().acquire_many_owned(kib))
            .await
            .map_err(|_| Error::busy(1, "the images being examined already use the decode memory budget; retry later"))?
            .map_err(Error::internal)?;
        self.memory_held_kib.fetch_add(u64::from(kib), Ordering::SeqCst);
        let memory = MemoryReservation { _permit: permit, kib: u64::from(kib), held: self.memory_held_kib.clone() };
        let permit = self.running.clone().acquire_owned().await.map_err(Error::internal)?;
        let result = tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            drop(memory);
            out
        })
        .await
        .map_err(Error::internal);
        drop(admission);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(workers: usize, queue: usize, memory: u64) -> InferencePool {
        InferencePool::new(workers, queue, memory, Duration::from_millis(200))
    }

    /// Starts `n` jobs that block until released; returns the release handle and the tasks.
    async fn blocked(
        pool: &InferencePool,
        n: usize,
        memory: u64,
    ) -> (std::sync::mpsc::Sender<()>, Vec<tokio::task::JoinHandle<Result<(), Error>>>) {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let mut tasks = Vec::new();
        for _ in 0..n {
            let (pool, rx) = (pool.clone(), rx.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(memory, move || {
                    let _ = rx.lock().map(|r| r.recv());
                })
                .await
            }));
        }
        while pool.depth() < n {
            tokio::task::yield_now().await;
        }
        (tx, tasks)
    }

    #[tokio::test]
    async fn refuses_beyond_workers_plus_queue() {
        let pool = pool(1, 1, 1 << 30);
        let (tx, tasks) = blocked(&pool, 2, 1024).await;
        let refused = pool.run(1024, || ()).await.unwrap_err();
        assert_eq!(refused.code, crate::error::ErrorCode::ServiceBusy);
        assert_eq!(refused.retry_after_secs, Some(1));
        tx.send(()).unwrap();
        tx.send(()).unwrap();
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
        assert_eq!(pool.depth(), 0);
        assert!(pool.run(1024, || 5).await.is_ok());
    }

    #[tokio::test]
    async fn the_decode_budget_bounds_memory_in_flight() {
        let pool = pool(4, 4, 100 << 20);
        let (tx, tasks) = blocked(&pool, 1, 80 << 20).await;
        while pool.memory_in_use() < 80 << 20 {
            tokio::task::yield_now().await;
        }
        // A second 80 MB job does not fit next to the first: it waits, then is refused.
        let refused = pool.run(80 << 20, || ()).await.unwrap_err();
        assert_eq!(refused.code, crate::error::ErrorCode::ServiceBusy);
        // A small one fits.
        assert!(pool.run(10 << 20, || ()).await.is_ok());
        tx.send(()).unwrap();
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
        assert_eq!(pool.memory_in_use(), 0);
        // Larger than the whole budget: runs alone.
        assert!(pool.run(1 << 40, || ()).await.is_ok());
    }
}
