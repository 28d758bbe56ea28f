//! Stale-while-revalidate off the caller's path: between an entry's TTL
//! and TTL + `stale_ttl`, every caller gets the stale value at once, and
//! the first of them hands the refresh to the background refresher (sync)
//! or to the cache's spawner (async). The refresh is the key's singleflight
//! flight, so there is at most one per key, and callers that arrive once
//! the stale window has closed wait for it rather than start another.
//!
//! The background refresher is one small pool for the whole process (see
//! `refresher.rs`): at most 4 threads (fewer on a machine with fewer
//! hardware threads), started as refreshes come and gone after 15 s
//! without one, over a queue of 1024 refreshes. A refresh that finds the
//! queue full (or no thread to be had) is skipped: counted in
//! [`Stats::refreshes_skipped`](crate::Stats::refreshes_skipped), its
//! flight ended unrun, the stale value left for the next caller in the
//! window to refresh. A caller past the window that would wait on a
//! refresh still in the queue takes it out and runs it.
//!
//! A refresh that stores nothing (an `Err`, a value not kept) or panics
//! ends its flight and leaves the stale value where it was, to be served
//! (and refreshed again by the next caller) until TTL + `stale_ttl`. A
//! panic is caught and counted as a load failure.

use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::cache::{Background, Cache, Insertion};
use crate::refresher::{Job, Refresher, Turn};
use crate::singleflight::{Leader, Leading, lead_async};

/// A refresh handed to a [`Spawner`]: a boxed `Send` future with no output.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs a [`BoxFuture`] to completion on some executor; see
/// [`CacheBuilder::spawner`](crate::CacheBuilder::spawner).
pub type Spawner = Arc<dyn Fn(BoxFuture) + Send + Sync>;

/// The lead of a refresh running away from the caller: owns a handle on
/// the cache, and ends the flight (handing the key to a waiter) if dropped
/// without completing, as when a spawn fails or the refresh panics.
struct Refresh<K, V, S>
where
    K: Hash + Eq + Clone,
    V: Clone,
    S: BuildHasher,
{
    cache: Cache<K, V, S>,
    hash: u64,
    key: Option<K>,
    id: u64,
}

impl<K, V, S> Refresh<K, V, S>
where
    K: Hash + Eq + Clone,
    V: Clone,
    S: BuildHasher,
{
    fn new(cache: &Cache<K, V, S>, leader: Leader<'_, K, V, S>) -> Self {
        let (hash, key, id) = leader.disarm();
        Self {
            cache: cache.clone(),
            hash,
            key: Some(key),
            id,
        }
    }

    fn complete(mut self, ins: Option<Insertion<V>>) {
        // Without a value, Drop ends the flight, leaving the stale value.
        if let Some(ins) = ins
            && let Some(key) = self.key.take()
        {
            self.cache.land_flight(self.hash, self.id, key, ins);
        }
    }
}

impl<K, V, S> Drop for Refresh<K, V, S>
where
    K: Hash + Eq + Clone,
    V: Clone,
    S: BuildHasher,
{
    fn drop(&mut self) {
        if self.key.take().is_some() {
            self.cache.abandon_flight(self.hash, self.id);
        }
    }
}

/// Polls a future, catching a panic as `Err(())`.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// [`Cache::get_or_compute`] with stale-while-revalidate off the
    /// caller's path: within the stale window
    /// ([`CacheBuilder::stale_ttl`](crate::CacheBuilder::stale_ttl)) every
    /// caller, a lone one included, gets the stale value at once, and the
    /// first hands `compute` to the background refresher (its output is
    /// dropped there). At most one refresh runs per key; a caller that
    /// finds the key gone past the window waits for it. A refresh that
    /// stores nothing or panics (caught, counted as a load failure) leaves
    /// the stale value until the window closes. Outside the stale window
    /// this is `get_or_compute`.
    ///
    /// The background refresher is shared by every cache of the process:
    /// at most 4 threads (fewer on a machine with fewer hardware threads),
    /// started on demand and gone after 15 s without work, and a queue of
    /// 1024 refreshes waiting for them. When the queue is full the refresh
    /// is skipped ([`Stats::refreshes_skipped`](crate::Stats::refreshes_skipped)):
    /// the caller still gets the stale value, and the next caller in the
    /// window tries again. A caller that must wait for a refresh (past the
    /// window) still queued runs it itself, so a loader that needs another
    /// stale key never waits for a thread that only it could free.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Insertion, ManualClock};
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let cache: Cache<u8, String> = Cache::builder()
    ///     .clock(clock.clone())
    ///     .default_ttl(Duration::from_secs(10))
    ///     .stale_ttl(Duration::from_secs(5))
    ///     .build();
    /// cache.insert(1, "old".into());
    /// clock.advance(Duration::from_secs(12)); // stale
    ///
    /// let (go, wait) = mpsc::channel::<()>();
    /// let v = cache.get_or_compute_revalidating(1, |v| v, move || {
    ///     wait.recv().unwrap(); // the refresh takes its time
    ///     let v = "new".to_string();
    ///     (v.clone(), Some(Insertion::new(v)))
    /// });
    /// assert_eq!(v, "old"); // at once, while the refresh runs
    /// go.send(()).unwrap();
    ///
    /// // Past the stale window a caller waits for the refresh in flight.
    /// clock.advance(Duration::from_secs(5));
    /// let v = cache.get_or_insert_with(1, || unreachable!("joins the refresh"));
    /// assert_eq!(v, "new");
    /// ```
    pub fn get_or_compute_revalidating<O, C>(
        &self,
        key: K,
        on_hit: impl FnOnce(V) -> O,
        compute: C,
    ) -> O
    where
        C: FnOnce() -> (O, Option<Insertion<V>>) + Send + 'static,
    {
        let hash = self.hash(&key);
        if let Some(v) = self.hit(hash, &key) {
            return on_hit(v);
        }
        self.compute_or_join(
            key,
            hash,
            on_hit,
            compute,
            Some(Self::refresh_in_background::<O, C>),
        )
    }

    /// [`Cache::get_or_insert_with`] with stale-while-revalidate off the
    /// caller's path, as [`Cache::get_or_compute_revalidating`].
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// assert_eq!(c.get_or_insert_with_revalidating(1, || 2), 2);
    /// ```
    pub fn get_or_insert_with_revalidating(
        &self,
        key: K,
        init: impl FnOnce() -> V + Send + 'static,
    ) -> V {
        self.get_or_compute_revalidating(
            key,
            |v| v,
            move || {
                let v = init();
                (v.clone(), Some(Insertion::new(v)))
            },
        )
    }

    /// The async form of [`Cache::get_or_compute_revalidating`]: within the
    /// stale window the first caller hands `compute` to the cache's
    /// [`spawner`](crate::CacheBuilder::spawner) and returns the stale
    /// value; without a spawner it refreshes inline, as
    /// [`Cache::get_or_compute_async`] does.
    ///
    /// ```
    /// use cachelite_runtime::{BoxFuture, Cache, Insertion, ManualClock};
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    ///
    /// let queue: Arc<Mutex<Vec<BoxFuture>>> = Arc::default();
    /// let q = queue.clone();
    /// let clock = ManualClock::new();
    /// let cache: Cache<u8, u8> = Cache::builder()
    ///     .clock(clock.clone())
    ///     .default_ttl(Duration::from_secs(10))
    ///     .stale_ttl(Duration::from_secs(5))
    ///     .spawner(move |f| q.lock().unwrap().push(f))
    ///     .build();
    /// cache.insert(1, 1);
    /// clock.advance(Duration::from_secs(12));
    /// let load = async { (2, Some(Insertion::new(2))) };
    /// let v = futures::executor::block_on(cache.get_or_compute_async_revalidating(1, |v| v, load));
    /// assert_eq!(v, 1); // stale, at once
    /// let refresh = queue.lock().unwrap().pop().unwrap();
    /// futures::executor::block_on(refresh);
    /// assert_eq!(cache.get(&1), Some(2));
    /// ```
    pub async fn get_or_compute_async_revalidating<O, F>(
        &self,
        key: K,
        on_hit: impl FnOnce(V) -> O,
        compute: F,
    ) -> O
    where
        F: Future<Output = (O, Option<Insertion<V>>)> + Send + 'static,
    {
        let hash = self.hash(&key);
        if let Some(v) = self.hit(hash, &key) {
            return on_hit(v);
        }
        let background = self
            .inner
            .spawner
            .is_some()
            .then_some(Self::refresh_on_spawner::<O, F> as Background<K, V, S, F>);
        self.compute_or_join_async(key, hash, on_hit, compute, background)
            .await
    }

    fn refresh_in_background<O, C>(&self, leader: Leader<'_, K, V, S>, compute: C)
    where
        C: FnOnce() -> (O, Option<Insertion<V>>) + Send + 'static,
    {
        let refresh = Refresh::new(self, leader);
        let id = refresh.id;
        let job: Job = Box::new(move |turn| match turn {
            Turn::Run => {
                let _leading = Leading::enter(refresh.id);
                let loads = &refresh.cache.inner.loads;
                match catch_unwind(AssertUnwindSafe(|| loads.time(compute))) {
                    Ok((out, ins)) => {
                        drop(out);
                        refresh.complete(ins);
                    }
                    // Counted as a load failure; the flight ends as
                    // `refresh` drops, and the stale value stays.
                    Err(_) => drop(refresh),
                }
            }
            // Unrun: the flight ends as `refresh` drops, the stale value
            // stays, and the next caller in the window tries again.
            Turn::Skip => refresh.cache.inner.loads.refresh_skipped(),
        });
        let pool = self
            .inner
            .refresher
            .as_ref()
            .unwrap_or_else(|| Refresher::global());
        if let Err(job) = pool.submit(id, job) {
            job(Turn::Skip);
        }
    }

    fn refresh_on_spawner<O, F>(&self, leader: Leader<'_, K, V, S>, compute: F)
    where
        F: Future<Output = (O, Option<Insertion<V>>)> + Send + 'static,
    {
        let Some(spawn) = self.inner.spawner.clone() else {
            return; // Not chosen without a spawner; the flight ends.
        };
        let refresh = Refresh::new(self, leader);
        let id = refresh.id;
        let task = async move {
            let timed = {
                let loads = &refresh.cache.inner.loads;
                CatchUnwind(Box::pin(lead_async(id, loads.time_async(compute)))).await
            };
            match timed {
                Ok((out, ins)) => {
                    drop(out);
                    refresh.complete(ins);
                }
                Err(()) => drop(refresh),
            }
        };
        // The spawner is user code: called with no lock held.
        spawn(Box::pin(task));
    }
}

impl<K, V, S> Cache<K, V, S> {
    /// Runs the refresh of `flight` on this thread if it is still queued
    /// for the background refresher, as a caller about to wait on that
    /// flight does: nobody computes a queued refresh, and the threads that
    /// would may all be waiting on flights like this one.
    pub(crate) fn run_queued_refresh(&self, flight: u64) {
        let pool = match &self.inner.refresher {
            Some(pool) => pool,
            None => match Refresher::try_global() {
                Some(pool) => pool,
                None => return, // Never made: nothing was ever queued.
            },
        };
        if let Some(job) = pool.take(flight) {
            job(Turn::Run);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use crate::refresher::tests::eventually;
    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    const SEC: Duration = Duration::from_secs(1);

    /// A cache refreshing on `pool`, holding keys `0..keys` at value 0,
    /// all of them stale.
    fn stale(pool: &Arc<Refresher>, clock: &ManualClock, keys: u32) -> Cache<u32, u32> {
        let cache = Cache::builder()
            .clock(clock.clone())
            .default_ttl(10 * SEC)
            .stale_ttl(100 * SEC)
            .refresher(pool.clone())
            .build();
        for k in 0..keys {
            cache.insert(k, 0);
        }
        clock.advance(12 * SEC);
        cache
    }

    #[test]
    fn a_burst_of_stale_keys_refreshes_on_no_more_than_the_pools_threads() {
        const THREADS: usize = 3;
        let clock = ManualClock::new();
        let pool = Refresher::new(THREADS, 1024, 60 * SEC);
        let cache = stale(&pool, &clock, 100);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let threads = Arc::new(Mutex::new(HashSet::new()));
        for k in 0..100 {
            let (running, most, threads) = (running.clone(), most.clone(), threads.clone());
            let got = cache.get_or_insert_with_revalidating(k, move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                threads.lock().unwrap().insert(std::thread::current().id());
                std::thread::sleep(Duration::from_millis(1)); // overlap
                running.fetch_sub(1, Ordering::SeqCst);
                k + 1
            });
            assert_eq!(got, 0, "key {k}: the stale value, at once");
        }
        eventually("every key refreshed", || {
            (0..100).all(|k| cache.peek(&k) == Some(k + 1))
        });
        let most = most.load(Ordering::SeqCst);
        assert!((1..=THREADS).contains(&most), "{most} refreshes at once");
        let threads = threads.lock().unwrap().len();
        assert!(threads <= THREADS, "{threads} threads");
        assert!(pool.workers() <= THREADS);
        let s = cache.stats();
        assert_eq!((s.load_successes, s.refreshes_skipped), (100, 0));
    }

    #[test]
    fn a_refresh_that_finds_the_queue_full_is_skipped_and_the_next_stale_hit_retries() {
        let clock = ManualClock::new();
        let pool = Refresher::new(1, 1, 60 * SEC);
        let cache = stale(&pool, &clock, 3);
        // Key 0 holds the one thread, key 1 fills the one place in line.
        let (started_tx, started) = mpsc::channel();
        let (release, hold) = mpsc::channel::<()>();
        let held = cache.get_or_insert_with_revalidating(0, move || {
            started_tx.send(()).unwrap();
            hold.recv().unwrap();
            10
        });
        assert_eq!(held, 0);
        started.recv().unwrap();
        assert_eq!(cache.get_or_insert_with_revalidating(1, || 11), 0);

        let runs = Arc::new(AtomicUsize::new(0));
        let counted = |v: u32| {
            let runs = runs.clone();
            move || {
                runs.fetch_add(1, Ordering::SeqCst);
                v
            }
        };
        assert_eq!(cache.get_or_insert_with_revalidating(2, counted(12)), 0);
        assert_eq!(cache.stats().refreshes_skipped, 1);
        // The skipped refresh's flight has ended: the next stale hit
        // starts another (skipped too, the queue being still full)
        // rather than joining one that will never run.
        assert_eq!(cache.get_or_insert_with_revalidating(2, counted(12)), 0);
        assert_eq!(cache.stats().refreshes_skipped, 2);

        release.send(()).unwrap();
        eventually("keys 0 and 1 refreshed", || {
            cache.peek(&0) == Some(10) && cache.peek(&1) == Some(11)
        });
        assert_eq!(
            runs.load(Ordering::SeqCst),
            0,
            "skipped refreshes never ran"
        );
        assert_eq!(cache.peek(&2), None, "still stale");
        assert_eq!(cache.get_or_insert_with_revalidating(2, counted(12)), 0);
        eventually("key 2 refreshed", || cache.peek(&2) == Some(12));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let s = cache.stats();
        assert_eq!(
            (s.refreshes_skipped, s.load_successes, s.load_failures),
            (2, 3, 0)
        );
    }

    #[test]
    fn a_panicking_refresh_leaves_the_pool_refreshing() {
        let clock = ManualClock::new();
        let pool = Refresher::new(1, 8, 60 * SEC);
        let cache = stale(&pool, &clock, 2);
        assert_eq!(
            cache.get_or_insert_with_revalidating(0, || panic!("refresh fails")),
            0
        );
        assert_eq!(cache.get_or_insert_with_revalidating(1, || 11), 0);
        eventually("key 1 refreshed after key 0's panic", || {
            cache.peek(&1) == Some(11)
        });
        assert_eq!(cache.stats().load_failures, 1);
        // Key 0 keeps its stale value, and its next stale hit refreshes it.
        eventually("key 0 refreshed", || {
            cache.get_or_insert_with_revalidating(0, || 10);
            cache.peek(&0) == Some(10)
        });
        assert_eq!(pool.workers(), 1, "one worker, still there");
    }

    #[test]
    fn a_refresh_that_needs_a_key_queued_behind_it_runs_that_refresh_itself() {
        // One thread: key 0's refresh holds it and, past the stale window,
        // needs key 1, whose refresh waits in the queue for that thread.
        let clock = ManualClock::new();
        let pool = Refresher::new(1, 8, 60 * SEC);
        let cache = stale(&pool, &clock, 2);
        let (started_tx, started) = mpsc::channel();
        let (go, wait) = mpsc::channel::<()>();
        let c = cache.clone();
        let got = cache.get_or_insert_with_revalidating(0, move || {
            started_tx.send(()).unwrap();
            wait.recv().unwrap();
            c.get_or_insert_with(1, || unreachable!("joins key 1's refresh")) + 10
        });
        assert_eq!(got, 0);
        started.recv().unwrap();
        assert_eq!(cache.get_or_insert_with_revalidating(1, || 1), 0, "queued");
        clock.advance(100 * SEC); // past both windows
        go.send(()).unwrap();
        eventually("key 0 refreshed", || cache.peek(&0) == Some(11));
        assert_eq!(cache.peek(&1), Some(1));
        let s = cache.stats();
        assert_eq!((s.load_successes, s.refreshes_skipped), (2, 0));
    }

    #[test]
    fn refreshes_without_a_pool_of_the_caches_own_go_to_the_process_wide_one() {
        let clock = ManualClock::new();
        let cache: Cache<u32, u32> = Cache::builder()
            .clock(clock.clone())
            .default_ttl(10 * SEC)
            .stale_ttl(100 * SEC)
            .build();
        cache.insert(1, 0);
        clock.advance(12 * SEC);
        let (tx, rx) = mpsc::channel();
        let got = cache.get_or_insert_with_revalidating(1, move || {
            tx.send(std::thread::current().name().map(str::to_owned))
                .unwrap();
            1
        });
        assert_eq!(got, 0);
        assert_eq!(rx.recv().unwrap().as_deref(), Some("cachelite-refresh"));
        assert!(Refresher::global().workers() <= crate::refresher::MAX_WORKERS);
        eventually("refreshed", || cache.peek(&1) == Some(1));
    }
}
