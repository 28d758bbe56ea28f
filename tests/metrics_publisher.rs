//! The `metrics` feature keeps an exporter current with no stats read of
//! the user's: one thread per process publishes every live cache's stats.
//! This binary installs a global recorder, so it holds this one test.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cachelite::Cache;

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<HashMap<String, u64>>>);

struct Handle {
    key: String,
    values: Arc<Mutex<HashMap<String, u64>>>,
}

impl metrics::CounterFn for Handle {
    fn increment(&self, value: u64) {
        *self
            .values
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() += value;
    }
    fn absolute(&self, value: u64) {
        self.values.lock().unwrap().insert(self.key.clone(), value);
    }
}

impl metrics::GaugeFn for Handle {
    fn increment(&self, _: f64) {}
    fn decrement(&self, _: f64) {}
    fn set(&self, _: f64) {}
}

impl metrics::HistogramFn for Handle {
    fn record(&self, _: f64) {}
}

impl Recorder {
    fn handle(&self, key: &metrics::Key) -> Arc<Handle> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        Arc::new(Handle {
            key: format!("{}{{{}}}", key.name(), labels.join(",")),
            values: self.0.clone(),
        })
    }

    fn value(&self, key: &str) -> Option<u64> {
        self.0.lock().unwrap().get(key).copied()
    }
}

impl metrics::Recorder for Recorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::from_arc(self.handle(key))
    }
    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::from_arc(self.handle(key))
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::from_arc(self.handle(key))
    }
}

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
    while recorder.value("cachelite_hits_total{cache=published}") != Some(5) {
        assert!(
            Instant::now() < deadline,
            "nothing published: {:?}",
            recorder.0.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        recorder.value("cachelite_misses_total{cache=published}"),
        Some(1)
    );
    assert_eq!(
        recorder.value("cachelite_inserts_total{cache=published}"),
        Some(1)
    );
}
