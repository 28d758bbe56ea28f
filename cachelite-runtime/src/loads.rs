//! Load statistics: how often the computations behind read-throughs and
//! memoized calls succeeded or failed, and how long they took. Loads run
//! outside every lock, so they count in a few atomics of their own rather
//! than in a shard's counters.
//!
//! With the `tracing` feature each load also runs inside a `cachelite.load`
//! span naming the cache and, once it ends, the outcome.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cache::Insertion;
use crate::stats::Stats;

#[derive(Default)]
pub(crate) struct Loads {
    successes: AtomicU64,
    failures: AtomicU64,
    nanos: AtomicU64,
    /// Stale refreshes given up unrun (see [`Stats::refreshes_skipped`]).
    refreshes_skipped: AtomicU64,
    /// The cache's name, for the load spans.
    #[cfg(feature = "tracing")]
    name: Option<std::sync::Arc<str>>,
}

/// Counts one load when dropped: a failure unless told it succeeded, so a
/// panicking or cancelled load counts as one too.
struct Timing<'a> {
    loads: &'a Loads,
    start: Instant,
    stored: bool,
    /// Whether the computation returned (not panicked, not cancelled).
    #[cfg(feature = "tracing")]
    finished: bool,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl Timing<'_> {
    /// The computation returned; `stored` says whether it gave a value.
    fn end(&mut self, stored: bool) {
        self.stored = stored;
        #[cfg(feature = "tracing")]
        {
            self.finished = true;
        }
    }
}

impl Drop for Timing<'_> {
    fn drop(&mut self) {
        #[cfg(feature = "tracing")]
        self.span.record(
            "outcome",
            match (self.stored, self.finished) {
                (true, _) => "ok",
                (false, true) => "error",
                (false, false) if std::thread::panicking() => "panic",
                (false, false) => "cancelled",
            },
        );
        let counter = if self.stored {
            &self.loads.successes
        } else {
            &self.loads.failures
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.loads.nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl Loads {
    #[cfg_attr(
        not(feature = "tracing"),
        allow(unused_variables, reason = "the name serves the spans only")
    )]
    pub(crate) fn new(name: Option<&std::sync::Arc<str>>) -> Self {
        Self {
            #[cfg(feature = "tracing")]
            name: name.cloned(),
            ..Self::default()
        }
    }

    fn start(&self) -> Timing<'_> {
        Timing {
            loads: self,
            start: Instant::now(),
            stored: false,
            #[cfg(feature = "tracing")]
            finished: false,
            #[cfg(feature = "tracing")]
            span: tracing::info_span!(
                "cachelite.load",
                cache = self.name.as_deref().unwrap_or(""),
                outcome = tracing::field::Empty,
            ),
        }
    }

    /// Runs `f` inside the load's span, if there is one.
    #[inline]
    fn run<T>(t: &Timing<'_>, f: impl FnOnce() -> T) -> T {
        #[cfg(feature = "tracing")]
        let _entered = t.span.enter();
        #[cfg(not(feature = "tracing"))]
        let _ = t;
        f()
    }

    /// Awaits `f` inside the load's span, if there is one.
    async fn run_async<T>(t: &Timing<'_>, f: impl Future<Output = T>) -> T {
        #[cfg(feature = "tracing")]
        return tracing::Instrument::instrument(f, t.span.clone()).await;
        #[cfg(not(feature = "tracing"))]
        {
            let _ = t;
            f.await
        }
    }

    /// Runs a read-through's computation, counting it: a success if it
    /// gave a value to store, else a failure.
    pub(crate) fn time<O, V>(
        &self,
        compute: impl FnOnce() -> (O, Option<Insertion<V>>),
    ) -> (O, Option<Insertion<V>>) {
        let mut t = self.start();
        let out = Self::run(&t, compute);
        t.end(out.1.is_some());
        out
    }

    /// [`Self::time`] for a future: the time from its first poll to its
    /// end, waits included.
    pub(crate) async fn time_async<O, V>(
        &self,
        compute: impl Future<Output = (O, Option<Insertion<V>>)>,
    ) -> (O, Option<Insertion<V>>) {
        let mut t = self.start();
        let out = Self::run_async(&t, compute).await;
        t.end(out.1.is_some());
        out
    }

    /// Counts a batch loader's call: a success unless it panics.
    pub(crate) fn time_batch<T>(&self, load: impl FnOnce() -> T) -> T {
        let mut t = self.start();
        let out = Self::run(&t, load);
        t.end(true);
        out
    }

    /// [`Self::time_batch`] for a future.
    pub(crate) async fn time_batch_async<T>(&self, load: impl Future<Output = T>) -> T {
        let mut t = self.start();
        let out = Self::run_async(&t, load).await;
        t.end(true);
        out
    }

    /// Counts a stale refresh that was given up unrun.
    pub(crate) fn refresh_skipped(&self) {
        self.refreshes_skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds the load counters to `stats`.
    pub(crate) fn add_to(&self, stats: &mut Stats) {
        stats.load_successes += self.successes.load(Ordering::Relaxed);
        stats.load_failures += self.failures.load(Ordering::Relaxed);
        stats.total_load_time += Duration::from_nanos(self.nanos.load(Ordering::Relaxed));
        stats.refreshes_skipped += self.refreshes_skipped.load(Ordering::Relaxed);
    }

    pub(crate) fn reset(&self) {
        for a in [
            &self.successes,
            &self.failures,
            &self.nanos,
            &self.refreshes_skipped,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }
}
