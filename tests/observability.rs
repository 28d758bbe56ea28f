//! Features `tracing` and `metrics`: a span around every load with the
//! cache's name and the outcome, debug events for evictions and
//! expirations, and the stats counters through the `metrics` facade. A
//! small subscriber and a small recorder, installed for the test's thread
//! only, capture what cachelite emits.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cachelite::{Cache, ManualClock, memoize};

// ---- a subscriber that records spans and events ----

type Fields = BTreeMap<String, String>;

#[derive(Debug)]
struct SpanRecord {
    name: &'static str,
    fields: Fields,
}

#[derive(Debug)]
struct EventRecord {
    level: tracing::Level,
    fields: Fields,
    /// The spans it was emitted in, innermost last.
    in_spans: Vec<&'static str>,
}

#[derive(Default)]
struct Log {
    spans: Vec<SpanRecord>,
    events: Vec<EventRecord>,
    stack: Vec<u64>,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Log>>);

struct Visit<'a>(&'a mut Fields);

impl tracing::field::Visit for Visit<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields::new();
        attrs.record(&mut Visit(&mut fields));
        let mut log = self.0.lock().unwrap();
        log.spans.push(SpanRecord {
            name: attrs.metadata().name(),
            fields,
        });
        tracing::span::Id::from_u64(log.spans.len() as u64)
    }
    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut log = self.0.lock().unwrap();
        let i = usize::try_from(span.into_u64()).unwrap() - 1;
        values.record(&mut Visit(&mut log.spans[i].fields));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields::new();
        event.record(&mut Visit(&mut fields));
        let mut log = self.0.lock().unwrap();
        let in_spans = log
            .stack
            .iter()
            .map(|id| log.spans[usize::try_from(*id).unwrap() - 1].name)
            .collect();
        log.events.push(EventRecord {
            level: *event.metadata().level(),
            fields,
            in_spans,
        });
    }
    fn enter(&self, span: &tracing::span::Id) {
        self.0.lock().unwrap().stack.push(span.into_u64());
    }
    fn exit(&self, span: &tracing::span::Id) {
        let mut log = self.0.lock().unwrap();
        if let Some(i) = log.stack.iter().rposition(|id| *id == span.into_u64()) {
            log.stack.remove(i);
        }
    }
}

impl Capture {
    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        tracing::subscriber::with_default(self.clone(), f)
    }

    /// Each load span's `(cache, outcome)`.
    fn loads(&self) -> Vec<(String, String)> {
        let log = self.0.lock().unwrap();
        log.spans
            .iter()
            .filter(|s| s.name == "cachelite.load")
            .map(|s| {
                let get = |f: &str| s.fields.get(f).cloned().unwrap_or_default();
                (get("cache"), get("outcome"))
            })
            .collect()
    }

    /// Each event's level and fields.
    fn events(&self) -> Vec<(tracing::Level, Fields, Vec<&'static str>)> {
        let log = self.0.lock().unwrap();
        log.events
            .iter()
            .map(|e| (e.level, e.fields.clone(), e.in_spans.clone()))
            .collect()
    }
}

fn pair(cache: &str, outcome: &str) -> (String, String) {
    (cache.to_owned(), outcome.to_owned())
}

#[test]
fn a_read_through_runs_its_compute_in_a_load_span_with_its_outcome() {
    let capture = Capture::default();
    let cache: Cache<u8, u8> = Cache::builder().name("users").build();
    capture.run(|| {
        cache.get_or_insert_with(1, || {
            tracing::info!("computing");
            1
        });
        cache.get_or_insert_with(1, || unreachable!("a hit loads nothing"));
        let _ = cache.try_get_or_insert_with(2, || Err::<u8, _>("down"));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cache.get_or_insert_with(3, || panic!("boom"))
        }));
        assert!(panicked.is_err());
    });
    assert_eq!(
        capture.loads(),
        [
            pair("users", "ok"),
            pair("users", "error"),
            pair("users", "panic")
        ]
    );
    let computing = capture
        .events()
        .into_iter()
        .find(|(_, f, _)| f.get("message").is_some_and(|m| m == "computing"))
        .unwrap();
    assert_eq!(
        computing.2,
        ["cachelite.load"],
        "the compute runs inside the span"
    );
}

#[memoize(name = "observability::square")]
fn square(x: u64) -> u64 {
    tracing::info!("body");
    x * x
}

#[memoize(name = "observability::parse")]
fn parse(s: String) -> Result<u64, std::num::ParseIntError> {
    s.parse()
}

#[memoize(name = "observability::fetch")]
async fn fetch(id: u64) -> u64 {
    tracing::info!("fetching");
    id + 1
}

#[test]
fn a_memoized_body_runs_in_a_load_span_named_after_the_fn() {
    let capture = Capture::default();
    capture.run(|| {
        assert_eq!(square(3), 9);
        assert_eq!(square(3), 9);
        assert!(parse("x".into()).is_err());
        assert_eq!(futures::executor::block_on(fetch(1)), 2);
    });
    assert_eq!(
        capture.loads(),
        [
            pair("observability::square", "ok"),
            pair("observability::parse", "error"),
            pair("observability::fetch", "ok"),
        ]
    );
    let in_span = |message: &str| {
        capture
            .events()
            .into_iter()
            .find(|(_, f, _)| f.get("message").is_some_and(|m| m == message))
            .map(|e| e.2)
    };
    assert_eq!(in_span("body").unwrap(), ["cachelite.load"]);
    assert_eq!(
        in_span("fetching").unwrap(),
        ["cachelite.load"],
        "an async body is polled inside the span"
    );
}

#[test]
fn evictions_and_expirations_are_debug_events() {
    let capture = Capture::default();
    let clock = ManualClock::new();
    let cache: Cache<u8, u8> = Cache::builder()
        .name("small")
        .max_items(1)
        .clock(clock.clone())
        .build();
    capture.run(|| {
        cache.insert(1, 1);
        cache.insert(2, 2); // evicts 1
        cache.insert_with_ttl(3, 3, Duration::from_secs(5)); // evicts 2
        clock.advance(Duration::from_secs(6));
        assert_eq!(cache.get(&3), None); // expired
        cache.insert(4, 4);
        cache.remove(&4); // explicit: no event
    });
    let events: Vec<(tracing::Level, String, String)> = capture
        .events()
        .into_iter()
        .map(|(level, f, _)| (level, f["cache"].clone(), f["cause"].clone()))
        .collect();
    let debug = |cause: &str| (tracing::Level::DEBUG, "small".to_owned(), cause.to_owned());
    assert_eq!(events, [debug("size"), debug("size"), debug("expired")]);
}

#[path = "support/metrics_recorder.rs"]
mod metrics_recorder;
use metrics_recorder::Recorder;

#[test]
fn the_counters_are_exported_when_stats_are_read() {
    let recorder = Recorder::default();
    let clock = ManualClock::new();
    let cache: Cache<u8, u8> = Cache::builder()
        .name("exported")
        .max_items(2)
        .clock(clock.clone())
        .build();
    cache.get(&1); // miss
    cache.insert(1, 1);
    cache.get(&1); // hit
    cache.get(&1); // hit
    cache.insert(2, 2);
    cache.insert(3, 3); // evicts one
    cache.insert_with_ttl(4, 4, Duration::from_secs(1)); // evicts one
    clock.advance(Duration::from_secs(2));
    cache.get(&4); // expired: a miss
    cache.remove(&3);
    cache.get_or_insert_with(5, || 5);
    let _ = cache.try_get_or_insert_with(6, || Err::<u8, _>(()));

    // Nothing is published until the stats are read.
    metrics::with_local_recorder(&recorder, || {
        cache.get(&5);
    });
    assert_eq!(recorder.value("cachelite_hits_total{cache=exported}"), None);

    let stats = metrics::with_local_recorder(&recorder, || cache.stats());
    let v = |name: &str| recorder.value(&format!("{name}{{cache=exported}}"));
    assert_eq!(v("cachelite_hits_total"), Some(stats.hits as f64));
    assert_eq!(stats.hits, 3);
    assert_eq!(v("cachelite_misses_total"), Some(stats.misses as f64));
    assert_eq!(v("cachelite_inserts_total"), Some(stats.inserts as f64));
    assert_eq!(v("cachelite_evictions_total"), Some(2.0));
    assert_eq!(v("cachelite_expirations_total"), Some(1.0));
    assert_eq!(v("cachelite_invalidations_total"), Some(1.0));
    assert_eq!(v("cachelite_load_successes_total"), Some(1.0));
    assert_eq!(v("cachelite_load_failures_total"), Some(1.0));
    assert_eq!(
        v("cachelite_load_nanoseconds_total"),
        Some(stats.total_load_time.as_nanos() as f64)
    );
    assert_eq!(v("cachelite_entries"), Some(stats.len as f64));

    // A later read publishes the new totals.
    cache.get(&5);
    metrics::with_local_recorder(&recorder, || cache.info());
    assert_eq!(v("cachelite_hits_total"), Some(4.0));
}

#[test]
fn memoized_caches_are_exported_under_their_fn_names() {
    let recorder = Recorder::default();
    #[memoize(name = "observability::double")]
    fn double(x: u64) -> u64 {
        x * 2
    }
    double(1);
    double(1);
    metrics::with_local_recorder(&recorder, double_cache_info);
    assert_eq!(
        recorder.value("cachelite_hits_total{cache=observability::double}"),
        Some(1.0)
    );
    assert_eq!(
        recorder.value("cachelite_misses_total{cache=observability::double}"),
        Some(1.0)
    );
}
