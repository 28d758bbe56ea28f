//! Counters: `incr`/`decr` on integer and string values, the TTL set only
//! when a counter is created (a manual clock, no sleeps), clear errors on
//! values that are not integers, and exact sums under concurrency, checked
//! against a model by proptest.

use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use cachelite::{Cache, CounterError, Event, ManualClock, RemovalCause};
use proptest::prelude::*;

const SEC: Duration = Duration::from_secs(1);

fn manual<V>() -> (ManualClock, Cache<String, V>)
where
    V: Clone + Send + Sync + 'static,
{
    let clock = ManualClock::new();
    (clock.clone(), Cache::builder().clock(clock).build())
}

#[test]
fn a_missing_counter_starts_at_delta() {
    let (_, c) = manual::<i64>();
    assert_eq!(c.incr("a".into(), 5, None), Ok(5));
    assert_eq!(c.incr("a".into(), 2, None), Ok(7));
    assert_eq!(c.decr("a".into(), 10, None), Ok(-3));
    assert_eq!(c.decr("b".into(), 1, None), Ok(-1));
    assert_eq!(c.get("a"), Some(-3));
}

#[test]
fn the_ttl_is_set_only_when_the_counter_is_created() {
    let (clock, c) = manual::<u64>();
    assert_eq!(c.incr("rl".into(), 1, 60 * SEC), Ok(1));
    clock.advance(59 * SEC);
    // A later TTL argument does not push the deadline back.
    assert_eq!(c.incr("rl".into(), 1, 600 * SEC), Ok(2));
    assert_eq!(c.ttl("rl"), Some(SEC));
    clock.advance(SEC);
    assert_eq!(c.get("rl"), None, "the window is over");
    assert_eq!(c.incr("rl".into(), 1, 60 * SEC), Ok(1), "a new window");
    assert_eq!(c.ttl("rl"), Some(60 * SEC));
}

#[test]
fn without_a_ttl_a_counter_takes_the_cache_default() {
    let clock = ManualClock::new();
    let c: Cache<&str, i32> = Cache::builder()
        .clock(clock.clone())
        .default_ttl(10 * SEC)
        .build();
    c.incr("a", 1, None).unwrap();
    assert_eq!(c.ttl("a"), Some(10 * SEC));
    c.insert("b", 1);
    c.persist("b");
    c.incr("b", 1, None).unwrap();
    assert_eq!(
        c.ttl("b"),
        None,
        "an existing counter keeps its (lack of) TTL"
    );
}

#[test]
fn the_rate_limiting_recipe() {
    let (clock, c) = manual::<u32>();
    let allow = |user: &str| c.incr(format!("ratelimit:{user}"), 1, 60 * SEC).unwrap() <= 100;
    assert_eq!((0..150).filter(|_| allow("u1")).count(), 100);
    assert!(allow("u2"), "one user's window is not another's");
    clock.advance(60 * SEC);
    assert!(allow("u1"));
}

#[test]
fn string_values_count_as_redis_does() {
    let (_, c) = manual::<String>();
    c.insert("n".into(), "41".into());
    assert_eq!(c.incr("n".into(), 1, None), Ok(42));
    assert_eq!(c.get("n").as_deref(), Some("42"));
    assert_eq!(c.incr("fresh".into(), 3, None), Ok(3));
    assert_eq!(c.get("fresh").as_deref(), Some("3"));
}

#[test]
fn a_value_that_is_not_an_integer_is_an_error_and_stays() {
    let (_, c) = manual::<String>();
    c.insert("name".into(), "ada".into());
    let err = c.incr("name".into(), 1, None).unwrap_err();
    assert_eq!(err, CounterError::NotAnInteger);
    assert!(err.to_string().contains("not an integer"), "{err}");
    assert_eq!(c.get("name").as_deref(), Some("ada"));
    c.insert("big".into(), "9223372036854775807".into());
    assert_eq!(c.incr("big".into(), 1, None), Err(CounterError::OutOfRange));
    assert_eq!(c.get("big").as_deref(), Some("9223372036854775807"));
}

#[test]
fn an_unsigned_counter_refuses_to_go_below_zero() {
    let (_, c) = manual::<u32>();
    assert_eq!(c.decr("a".into(), 1, None), Err(CounterError::OutOfRange));
    assert!(c.is_empty(), "nothing created");
    c.incr("a".into(), 1, None).unwrap();
    assert_eq!(c.decr("a".into(), 2, None), Err(CounterError::OutOfRange));
    assert_eq!(c.get("a"), Some(1));
}

#[test]
fn an_oversized_counter_is_rejected() {
    let c: Cache<u8, String> = Cache::builder()
        .max_weight(3)
        .weigher(|_, v: &String| v.len())
        .build();
    assert_eq!(c.incr(1, 1234, None), Err(CounterError::Rejected));
    assert!(c.is_empty());
}

#[test]
fn increments_are_inserts_for_stats_and_listeners() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let c: Cache<&str, i64> = Cache::builder()
        .on_event(move |e: &Event<'_, &str, i64>| match e {
            Event::Inserted { value, .. } => sink.lock().unwrap().push(format!("ins {value}")),
            Event::Removed { value, cause, .. } => {
                assert_eq!(*cause, RemovalCause::Replaced);
                sink.lock().unwrap().push(format!("rm {value}"));
            }
            _ => {}
        })
        .build();
    c.incr("a", 1, None).unwrap();
    c.incr("a", 1, None).unwrap();
    assert_eq!(*log.lock().unwrap(), ["ins 1", "ins 2", "rm 1"]);
    assert_eq!(c.stats().inserts, 2);
}

#[test]
fn eight_threads_incrementing_sum_exactly() {
    const THREADS: usize = 8;
    const PER_THREAD: i64 = 2_000;
    let c: Cache<u32, i64> = Cache::builder().shards(4).build();
    let barrier = Barrier::new(THREADS);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (c, barrier) = (&c, &barrier);
            s.spawn(move || {
                barrier.wait();
                for i in 0..PER_THREAD {
                    // Every thread hits the same few keys, one decrementing.
                    let key = u32::try_from(i % 4).unwrap();
                    if t == 0 {
                        c.decr(key, 1, None).unwrap();
                    } else {
                        c.incr(key, 2, None).unwrap();
                    }
                }
            });
        }
    });
    let total: i64 = (0..4).map(|k| c.get(&k).unwrap()).sum();
    assert_eq!(total, PER_THREAD * (2 * (THREADS as i64 - 1) - 1));
}

#[derive(Clone, Debug)]
enum Op {
    Incr(u8, i64, Option<u64>),
    Decr(u8, i64, Option<u64>),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let ttl = || prop::option::of(1u64..20);
    prop_oneof![
        4 => (0u8..4, -50i64..50, ttl()).prop_map(|(k, d, t)| Op::Incr(k, d, t)),
        2 => (0u8..4, -50i64..50, ttl()).prop_map(|(k, d, t)| Op::Decr(k, d, t)),
        1 => (0u64..10).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every count matches a plain model with deadlines.
    #[test]
    fn counts_match_a_model(ops in prop::collection::vec(op(), 1..60)) {
        let clock = ManualClock::new();
        let c: Cache<u8, i64> = Cache::builder().clock(clock.clone()).build();
        let mut model: HashMap<u8, (i64, Option<u64>)> = HashMap::new();
        let mut now = 0u64;
        for op in ops {
            let (key, delta, ttl) = match op {
                Op::Advance(d) => {
                    now += d;
                    clock.advance(Duration::from_secs(d));
                    continue;
                }
                Op::Incr(k, d, t) => (k, d, t),
                Op::Decr(k, d, t) => (k, -d, t),
            };
            let got = match op {
                Op::Decr(..) => c.decr(key, -delta, ttl.map(Duration::from_secs)),
                _ => c.incr(key, delta, ttl.map(Duration::from_secs)),
            };
            let live = model.get(&key).filter(|(_, dl)| dl.is_none_or(|d| now < d)).copied();
            let expected = match live {
                Some((n, dl)) => (n + delta, dl),
                None => (delta, ttl.map(|t| now + t)),
            };
            model.insert(key, expected);
            prop_assert_eq!(got, Ok(expected.0));
            for (k, (n, dl)) in &model {
                let alive = dl.is_none_or(|d| now < d);
                prop_assert_eq!(c.peek(k), alive.then_some(*n));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Eight threads each apply their own increments and decrements to a
    /// few shared keys: every key ends at exactly the sum of its deltas.
    #[test]
    fn concurrent_increments_from_eight_threads_sum_exactly(
        work in prop::collection::vec(
            prop::collection::vec((0u8..3, -1_000i64..1_000), 1..200),
            8,
        ),
    ) {
        let c: Cache<u8, i64> = Cache::builder().shards(2).build();
        let barrier = Barrier::new(work.len());
        thread::scope(|s| {
            for ops in &work {
                let (c, barrier) = (&c, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    for &(k, d) in ops {
                        if d < 0 {
                            c.decr(k, -d, None).unwrap();
                        } else {
                            c.incr(k, d, None).unwrap();
                        }
                    }
                });
            }
        });
        for k in 0u8..3 {
            let expected: i64 = work.iter().flatten().filter(|(key, _)| *key == k).map(|(_, d)| d).sum();
            let touched = work.iter().flatten().any(|(key, _)| *key == k);
            prop_assert_eq!(c.get(&k), touched.then_some(expected));
        }
    }
}
