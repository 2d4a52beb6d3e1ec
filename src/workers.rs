//! Where `palisade serve` decides `/v1/authorize` and `/v1/check`: on tokio's blocking threads,
//! never on the reactor threads that accept connections and answer
//! `/health`, with at most `running` decisions at once and at most
//! `waiting` more in line. Anything beyond is refused at once (503), so a
//! stream of expensive requests costs a bounded amount of CPU and memory
//! and cannot starve cheap ones of the reactor.

use std::sync::Arc;
use tokio::sync::Semaphore;

/// The decision pool.
pub struct Workers {
    running: Arc<Semaphore>,
    waiting: Arc<Semaphore>,
}

/// Why a decision did not run to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The pool is full: the caller answers 503.
    Busy,
    /// The decision panicked (a bug): the caller answers 500.
    Failed,
}

impl Workers {
    /// A pool that runs `running` decisions at once and queues `waiting`.
    pub fn new(running: usize, waiting: usize) -> Workers {
        Workers {
            running: Arc::new(Semaphore::new(running.max(1))),
            waiting: Arc::new(Semaphore::new(waiting)),
        }
    }

    /// One running slot per core (at least two), and a queue deep enough
    /// for bursts of fast decisions.
    pub fn for_this_machine() -> Workers {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Workers::new(cores.max(2), 1024)
    }

    /// Runs `work` on a blocking thread when a slot is free.
    ///
    /// # Errors
    /// [`Refused::Busy`] when every slot is taken and the line is full,
    /// [`Refused::Failed`] when `work` panicked. If the
    /// caller stops waiting (a timeout), the work still finishes and frees
    /// its slot, so slots measure the work that is really running.
    pub async fn run<T, F>(&self, work: F) -> Result<T, Refused>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let in_line = Arc::clone(&self.waiting)
            .try_acquire_owned()
            .map_err(|_| Refused::Busy)?;
        let slot = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|_| Refused::Busy)?;
        drop(in_line);
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(slot);
            out
        })
        .await
        .map_err(|_| Refused::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_pool_refuses_at_once_and_recovers() {
        let pool = Arc::new(Workers::new(1, 1));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let p = Arc::clone(&pool);
        let first = tokio::spawn(async move { p.run(move || hold.recv().is_ok()).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let p = Arc::clone(&pool);
        let second = tokio::spawn(async move { p.run(|| 2).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // One running, one in line: a third is refused without waiting.
        let started = std::time::Instant::now();
        assert_eq!(pool.run(|| 3).await, Err(Refused::Busy));
        assert!(started.elapsed() < Duration::from_millis(500));
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(true));
        assert_eq!(second.await.unwrap(), Ok(2));
        assert_eq!(pool.run(|| 4).await, Ok(4));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_decision_is_a_failure_not_a_full_pool() {
        let pool = Workers::new(1, 1);
        let r: Result<(), Refused> = pool.run(|| panic!("a bug in a decision")).await;
        assert_eq!(r, Err(Refused::Failed));
        // Its slot is free again.
        assert_eq!(pool.run(|| 5).await, Ok(5));
    }
}
