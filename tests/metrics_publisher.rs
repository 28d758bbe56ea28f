//! The `metrics` feature keeps an exporter current with no stats read of
//! the user's: one thread per process publishes every live cache's stats.
//! This binary installs a global recorder, so it holds this one test.

use std::time::{Duration, Instant};

use cachelite::Cache;

#[path = "support/metrics_recorder.rs"]
mod metrics_recorder;
use metrics_recorder::Recorder;

#[test]
fn counters_reach_the_exporter_without_a_stats_read() {
    let recorder = Recorder::default();
    metrics::set_global_recorder(recorder.clone()).unwrap();
    let cache: Cache<u32, u32> = Cache::builder().name("published").max_items(100).build();
    cache.insert(1, 10);
    for _ in 0..5 {
        assert_eq!(cache.get(&1), Some(10));
    }
    assert_eq!(cache.get(&2), None);
    // No stats read here: the publisher thread runs once a second. Wait
    // for it (bounded), then check what it published.
    let deadline = Instant::now() + Duration::from_secs(30);
    while recorder.value("cachelite_hits_total{cache=published}") != Some(5.0) {
        assert!(
            Instant::now() < deadline,
            "nothing published: {:?}",
            recorder.0.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        recorder.value("cachelite_misses_total{cache=published}"),
        Some(1.0)
    );
    assert_eq!(
        recorder.value("cachelite_inserts_total{cache=published}"),
        Some(1.0)
    );
}
