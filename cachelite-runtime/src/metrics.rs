//! The `metrics` feature: [`Stats`] published through the `metrics` facade.
//!
//! The hit path stays as it is: the shards keep counting in their own
//! striped counters, and each read of the stats (which sums them anyway)
//! publishes the sums as absolute counter values. A scrape that reads
//! `cachelite::registry()` (or a cache's `stats()`) first, or a cache with
//! an active-expiry sweeper, keeps the exporter current.

use crate::stats::Stats;

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
