//! The `metrics` feature: [`Stats`] published through the `metrics` facade.
//!
//! The hit path stays as it is: the shards keep counting in their own
//! striped counters, and each read of the stats (which sums them anyway)
//! publishes the sums as absolute counter values. So that an exporter is
//! current without any code of the user's, one thread per process (started
//! with the first cache built) reads every live cache's stats once every
//! [`PUBLISH_INTERVAL`]; a read of `stats()` or `cachelite::registry()`
//! publishes at once.

use std::sync::{Arc, Mutex, Once, PoisonError, Weak};
use std::time::Duration;

use crate::stats::Stats;

/// How often the publisher thread reads every live cache's stats.
pub(crate) const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// A cache the publisher thread can read: its stats, published.
pub(crate) trait Publish: Send + Sync {
    fn publish(self: Arc<Self>);
}

static CACHES: Mutex<Vec<Weak<dyn Publish>>> = Mutex::new(Vec::new());

/// Puts a newly built cache on the publisher thread's list (starting the
/// thread the first time). The list holds weak references: a dropped cache
/// leaves it at the next round.
pub(crate) fn watch(cache: Weak<dyn Publish>) {
    static START: Once = Once::new();
    CACHES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(cache);
    START.call_once(|| {
        // Without the thread, stats reads still publish.
        let _ = std::thread::Builder::new()
            .name("cachelite-metrics".into())
            .spawn(run);
    });
}

fn run() {
    loop {
        std::thread::sleep(PUBLISH_INTERVAL);
        // Upgrade under the list's lock, publish after it: the recorder is
        // the user's code.
        let live: Vec<Arc<dyn Publish>> = {
            let mut list = CACHES.lock().unwrap_or_else(PoisonError::into_inner);
            list.retain(|w| w.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        for cache in live {
            cache.publish();
        }
    }
}

/// Publishes `stats` under the `cache` label `name` (empty if unnamed).
pub(crate) fn export(name: Option<&str>, stats: &Stats) {
    let cache = name.unwrap_or("").to_owned();
    let counters = [
        ("cachelite_hits_total", stats.hits),
        ("cachelite_misses_total", stats.misses),
        ("cachelite_inserts_total", stats.inserts),
        ("cachelite_evictions_total", stats.evictions),
        ("cachelite_expirations_total", stats.expirations),
        ("cachelite_invalidations_total", stats.invalidations),
        ("cachelite_load_successes_total", stats.load_successes),
        ("cachelite_load_failures_total", stats.load_failures),
        ("cachelite_refreshes_skipped_total", stats.refreshes_skipped),
        (
            "cachelite_load_nanoseconds_total",
            u64::try_from(stats.total_load_time.as_nanos()).unwrap_or(u64::MAX),
        ),
    ];
    for (metric, value) in counters {
        ::metrics::counter!(metric, "cache" => cache.clone()).absolute(value);
    }
    #[allow(clippy::cast_precision_loss, reason = "a gauge is an f64")]
    {
        ::metrics::gauge!("cachelite_entries", "cache" => cache.clone()).set(stats.len as f64);
        ::metrics::gauge!("cachelite_bytes", "cache" => cache).set(stats.bytes as f64);
    }
}
