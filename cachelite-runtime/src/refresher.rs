//! The background refresher: the threads that run the stale refreshes of
//! sync loaders ([`Cache::get_or_compute_revalidating`] and memoized sync
//! fns with a `stale_ttl`).
//!
//! One pool serves the whole process. It starts no thread until a refresh
//! is due, then at most [`MAX_WORKERS`] (fewer on a machine with fewer
//! hardware threads), one more each time refreshes queue up faster than
//! the running ones take them; a worker left without work for
//! [`IDLE_TIMEOUT`] exits, so an idle process holds no refresh thread.
//! Refreshes wait their turn in a queue of at most [`QUEUE_CAPACITY`]: one
//! that finds it full is skipped, as is one that finds no thread to be
//! had. A skipped refresh is counted
//! ([`Stats::refreshes_skipped`](crate::Stats::refreshes_skipped)), its
//! flight ends unrun, and the stale value stays to be served; the next
//! caller in the stale window tries again.
//!
//! A refresh waiting in the queue has nobody computing it, so a caller
//! about to wait on its flight (one past the stale window) takes it out
//! and runs it itself ([`Refresher::take`]). That also keeps the pool from
//! starving itself: a refresh whose loader needs another key still queued
//! behind it computes that key rather than wait for a thread that only it
//! could free.
//!
//! The pool's lock guards the queue and two counts, nothing else: a job
//! (a user's loader, and what it captured) runs and is dropped with the
//! lock released. A job that panics past its own handling leaves its
//! worker serving; a worker that unwinds anyway is replaced if work is
//! waiting.
//!
//! [`Cache::get_or_compute_revalidating`]: crate::Cache::get_or_compute_revalidating

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex, spawn_named, unmodelled};

/// The most threads the process-wide refresher runs at once.
pub(crate) const MAX_WORKERS: usize = 4;
/// The most refreshes waiting for a thread; more are skipped.
pub(crate) const QUEUE_CAPACITY: usize = 1024;
/// How long a refresh thread waits for work before it exits.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// What a [`Job`] is told to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Run now, on a refresher thread.
    Run,
    /// Given up unrun (the queue was full, or no thread could be started):
    /// count it and let go, on the caller's thread.
    Skip,
}

/// A refresh, called once with its [`Turn`].
pub(crate) type Job = Box<dyn FnOnce(Turn) + Send + 'static>;

static GLOBAL: OnceLock<Arc<Refresher>> = OnceLock::new();

/// A bounded pool of refresh threads over a bounded queue.
pub(crate) struct Refresher {
    state: Mutex<State>,
    work: Condvar,
    max_workers: usize,
    capacity: usize,
    idle_timeout: Duration,
}

struct State {
    /// Jobs waiting for a worker, with the flights they end.
    queue: VecDeque<(u64, Job)>,
    /// Workers started (or being started) and not yet gone.
    workers: usize,
    /// Workers waiting for a job.
    idle: usize,
}

impl Refresher {
    /// A pool of at most `max_workers` threads (at least one) and
    /// `capacity` waiting jobs, whose threads exit after `idle_timeout`
    /// without work.
    pub(crate) fn new(max_workers: usize, capacity: usize, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                workers: 0,
                idle: 0,
            }),
            work: Condvar::new(),
            max_workers: max_workers.max(1),
            capacity,
            idle_timeout,
        })
    }

    /// The process-wide pool, made on first use.
    pub(crate) fn global() -> &'static Arc<Self> {
        GLOBAL.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
            unmodelled(|| Self::new(MAX_WORKERS.min(cores), QUEUE_CAPACITY, IDLE_TIMEOUT))
        })
    }

    /// The process-wide pool, if it has been made.
    pub(crate) fn try_global() -> Option<&'static Arc<Self>> {
        GLOBAL.get()
    }

    /// Queues `job`, the refresh leading `flight`, for a worker, starting
    /// one if every live worker is busy and there is room for another. A
    /// full queue hands `job` back unrun, for the caller to skip once the
    /// lock is released.
    pub(crate) fn submit(self: &Arc<Self>, flight: u64, job: Job) -> Result<(), Job> {
        let (wake, start) = {
            let mut s = self.state.lock();
            if s.queue.len() >= self.capacity {
                return Err(job);
            }
            s.queue.push_back((flight, job));
            let start = s.queue.len() > s.idle && s.workers < self.max_workers;
            if start {
                s.workers += 1;
            }
            (s.idle > 0, start)
        };
        // A spare wake-up is harmless: a worker that finds nothing waits
        // again.
        if wake {
            self.work.notify_one();
        }
        if start {
            self.start_worker();
        }
        Ok(())
    }

    /// Starts the worker already counted in `workers`. Without a thread
    /// it is uncounted again, and if it was the last, the queue (which no
    /// one would serve) is skipped.
    fn start_worker(self: &Arc<Self>) {
        let pool = self.clone();
        if spawn_named("cachelite-refresh", move || pool.serve()).is_ok() {
            return;
        }
        let orphans = {
            let mut s = self.state.lock();
            s.workers -= 1;
            if s.workers == 0 {
                std::mem::take(&mut s.queue)
            } else {
                VecDeque::new()
            }
        };
        for (_, job) in orphans {
            job(Turn::Skip);
        }
    }

    /// A worker's life: jobs until the queue has stayed empty for the idle
    /// timeout.
    fn serve(self: Arc<Self>) {
        let mut serving = Serving {
            pool: &self,
            done: false,
        };
        while let Some(job) = self.next_job() {
            // A refresh catches its loader's panic itself; one that
            // escapes (from a drop) still leaves this worker serving.
            let _ = catch_unwind(AssertUnwindSafe(|| job(Turn::Run)));
        }
        serving.done = true;
    }

    /// The next job, or `None` once none has come for the idle timeout;
    /// the worker is then uncounted, in the same critical section that saw
    /// the queue empty, so a job queued after it sees the worker gone and
    /// starts another.
    fn next_job(&self) -> Option<Job> {
        let mut s = self.state.lock();
        let mut deadline = None;
        loop {
            if let Some((_, job)) = s.queue.pop_front() {
                return Some(job);
            }
            let now = Instant::now();
            let left = deadline
                .get_or_insert(now + self.idle_timeout)
                .saturating_duration_since(now);
            let timed_out = left.is_zero() || {
                s.idle += 1;
                let (g, timed_out) = self.work.wait_for(&self.state, s, left);
                s = g;
                s.idle -= 1;
                timed_out
            };
            if timed_out && s.queue.is_empty() {
                s.workers -= 1;
                if s.workers == 0 {
                    // The last one out lets go of a burst's buffer.
                    s.queue = VecDeque::new();
                }
                return None;
            }
        }
    }

    /// Takes the refresh of `flight` out of the queue, if it is still
    /// waiting there, for a caller about to wait on that flight to run.
    pub(crate) fn take(&self, flight: u64) -> Option<Job> {
        let mut s = self.state.lock();
        let i = s.queue.iter().position(|(f, _)| *f == flight)?;
        s.queue.remove(i).map(|(_, job)| job)
    }

    /// A worker that unwound out of [`Self::serve`]: uncounted, and
    /// replaced if jobs are waiting that no other worker would take.
    fn lost_worker(self: &Arc<Self>) {
        let start = {
            let mut s = self.state.lock();
            s.workers -= 1;
            let start = s.queue.len() > s.idle && s.workers < self.max_workers;
            if start {
                s.workers += 1;
            }
            start
        };
        if start {
            self.start_worker();
        }
    }

    /// Wakes a waiting worker, as its idle timeout would: model-checked
    /// tests, whose timed waits end only when woken, pass time this way.
    #[cfg(test)]
    pub(crate) fn wake_one(&self) {
        self.work.notify_one();
    }

    /// Live workers, busy or idle.
    #[cfg(test)]
    pub(crate) fn workers(&self) -> usize {
        self.state.lock().workers
    }
}

/// Uncounts a worker that unwinds instead of leaving through
/// [`Refresher::next_job`].
struct Serving<'a> {
    pool: &'a Arc<Refresher>,
    done: bool,
}

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.pool.lost_worker();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::mpsc;

    const LONG: Duration = Duration::from_secs(60);
    const PATIENCE: Duration = Duration::from_secs(10);

    /// Polls `done` until it holds, failing after [`PATIENCE`].
    pub(crate) fn eventually(what: &str, done: impl Fn() -> bool) {
        let until = Instant::now() + PATIENCE;
        while !done() {
            assert!(Instant::now() < until, "never: {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A job that reports its turn on `tx`.
    fn reporting(tx: &mpsc::Sender<(u32, Turn)>, n: u32) -> Job {
        let tx = tx.clone();
        Box::new(move |turn| tx.send((n, turn)).unwrap())
    }

    #[test]
    fn no_thread_before_the_first_job_and_none_after_the_idle_timeout() {
        let pool = Refresher::new(2, 8, Duration::from_millis(20));
        assert_eq!(pool.workers(), 0);
        let (tx, rx) = mpsc::channel();
        for n in 0..4 {
            assert!(pool.submit(0, reporting(&tx, n)).is_ok());
        }
        let mut ran: Vec<_> = (0..4).map(|_| rx.recv().unwrap()).collect();
        ran.sort_unstable_by_key(|&(n, _)| n);
        assert_eq!(ran, (0..4).map(|n| (n, Turn::Run)).collect::<Vec<_>>());
        assert!(pool.workers() <= 2);
        eventually("the idle workers exit", || pool.workers() == 0);
        // A job after they left starts a worker again.
        assert!(pool.submit(0, reporting(&tx, 9)).is_ok());
        assert_eq!(rx.recv().unwrap(), (9, Turn::Run));
    }

    #[test]
    fn a_full_queue_hands_the_job_back_unrun() {
        let pool = Refresher::new(1, 1, LONG);
        let (started_tx, started) = mpsc::channel();
        let (release, hold) = mpsc::channel::<()>();
        let blocker: Job = Box::new(move |_| {
            started_tx.send(()).unwrap();
            hold.recv().unwrap();
        });
        assert!(pool.submit(0, blocker).is_ok());
        started.recv().unwrap(); // the one worker is busy
        let (tx, rx) = mpsc::channel();
        assert!(pool.submit(0, reporting(&tx, 1)).is_ok(), "room for one");
        let refused = pool
            .submit(0, reporting(&tx, 2))
            .expect_err("the queue is full");
        refused(Turn::Skip);
        assert_eq!(rx.recv().unwrap(), (2, Turn::Skip));
        release.send(()).unwrap();
        assert_eq!(rx.recv().unwrap(), (1, Turn::Run));
        assert_eq!(pool.workers(), 1, "never more than the bound");
    }

    #[test]
    fn a_queued_job_can_be_taken_by_its_flight_and_no_other() {
        let pool = Refresher::new(1, 8, LONG);
        let (started_tx, started) = mpsc::channel();
        let (release, hold) = mpsc::channel::<()>();
        let blocker: Job = Box::new(move |_| {
            started_tx.send(()).unwrap();
            hold.recv().unwrap();
        });
        assert!(pool.submit(1, blocker).is_ok());
        started.recv().unwrap();
        assert!(pool.take(1).is_none(), "running, no longer queued");
        let (tx, rx) = mpsc::channel();
        for flight in [2, 3] {
            assert!(pool.submit(flight, reporting(&tx, flight as u32)).is_ok());
        }
        assert!(pool.take(4).is_none());
        let taken = pool.take(3).expect("queued");
        assert!(pool.take(3).is_none(), "taken once");
        taken(Turn::Run);
        assert_eq!(rx.recv().unwrap(), (3, Turn::Run));
        release.send(()).unwrap();
        assert_eq!(rx.recv().unwrap(), (2, Turn::Run));
    }

    #[test]
    fn a_job_that_panics_leaves_the_pool_serving() {
        let pool = Refresher::new(1, 8, LONG);
        let (tx, rx) = mpsc::channel();
        for n in 0..3 {
            let tx = tx.clone();
            let job: Job = Box::new(move |turn| {
                tx.send((n, turn)).unwrap();
                assert!(n != 1, "job {n} fails");
            });
            assert!(pool.submit(0, job).is_ok());
        }
        let ran: Vec<_> = (0..3).map(|_| rx.recv().unwrap().0).collect();
        assert_eq!(ran, [0, 1, 2], "one worker, in order, past the panic");
        assert_eq!(pool.workers(), 1);
        assert!(pool.submit(0, reporting(&tx, 3)).is_ok());
        assert_eq!(rx.recv().unwrap(), (3, Turn::Run));
    }

    #[test]
    fn a_worker_that_unwinds_is_replaced_while_work_waits() {
        // A panic payload whose drop panics escapes the worker's catch.
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                if !std::thread::panicking() {
                    panic!("payload dropped");
                }
            }
        }
        let pool = Refresher::new(1, 8, LONG);
        let (started_tx, started) = mpsc::channel();
        let (release, hold) = mpsc::channel::<()>();
        let job: Job = Box::new(move |_| {
            started_tx.send(()).unwrap();
            hold.recv().unwrap();
            std::panic::panic_any(Bomb);
        });
        assert!(pool.submit(0, job).is_ok());
        started.recv().unwrap();
        let (tx, rx) = mpsc::channel();
        assert!(pool.submit(0, reporting(&tx, 1)).is_ok());
        release.send(()).unwrap();
        assert_eq!(rx.recv().unwrap(), (1, Turn::Run), "a new worker took it");
        eventually("the lost worker is uncounted", || pool.workers() == 1);
    }
}
