//! Load statistics: successes, failures and load time of the computations
//! behind read-throughs, memoized calls, refreshes and batch loaders, in
//! `Stats`. Load time is real time; the only wait here is a loader that
//! sleeps two milliseconds, to check the time is counted at all.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use cachelite::{Cache, Insertion, Misses, memoize};

#[test]
fn read_throughs_count_successes_and_failures() {
    let c: Cache<u8, u8> = Cache::new(10);
    c.get_or_insert_with(1, || 1);
    c.get_or_insert_with(1, || unreachable!("a hit loads nothing"));
    let _ = c.try_get_or_insert_with(2, || Err::<u8, _>("down"));
    c.get_or_compute(3, |v| v, || (3, None::<Insertion<u8>>));
    c.read_through(
        4,
        Misses::Independent,
        |v| v,
        || (4, Some(Insertion::new(4))),
    );
    let s = c.stats();
    assert_eq!((s.load_successes, s.load_failures), (2, 2));
}

#[test]
fn async_read_throughs_count_too() {
    let c: Cache<u8, u8> = Cache::new(10);
    futures::executor::block_on(async {
        c.get_or_insert_with_async(1, async { 1 }).await;
        let _ = c
            .try_get_or_insert_with_async(2, async { Err::<u8, _>(()) })
            .await;
    });
    let s = c.stats();
    assert_eq!((s.load_successes, s.load_failures), (1, 1));
}

#[test]
fn a_panicking_load_is_a_failure() {
    let c: Cache<u8, u8> = Cache::new(10);
    let r = catch_unwind(AssertUnwindSafe(|| {
        c.get_or_insert_with(1, || panic!("boom"));
    }));
    assert!(r.is_err());
    assert_eq!(c.stats().load_failures, 1);
}

#[test]
fn load_time_adds_up_and_averages() {
    let c: Cache<u8, u8> = Cache::new(10);
    assert_eq!(c.stats().average_load_time(), None);
    c.get_or_insert_with(1, || {
        std::thread::sleep(Duration::from_millis(2));
        1
    });
    c.get_or_insert_with(2, || 2);
    let s = c.stats();
    assert!(s.total_load_time >= Duration::from_millis(2), "{s:?}");
    assert_eq!(s.average_load_time(), Some(s.total_load_time / 2));
}

#[test]
fn refreshes_and_batch_loads_are_loads() {
    let c: Cache<u8, u8> = Cache::new(10);
    c.refresh(1, || 1);
    let _ = c.try_refresh(1, || Err::<u8, _>(()));
    c.get_or_insert_many(&[2, 3], |m| m.iter().map(|&k| (k, k)).collect::<Vec<_>>());
    c.get_or_insert_many(&[2, 3], |_| -> Vec<(u8, u8)> { unreachable!("all hits") });
    let s = c.stats();
    assert_eq!((s.load_successes, s.load_failures), (2, 1));
}

#[test]
fn plain_reads_and_inserts_are_not_loads() {
    let c: Cache<u8, u8> = Cache::new(10);
    c.insert(1, 1);
    c.get(&1);
    c.get(&2);
    let s = c.stats();
    assert_eq!((s.load_successes, s.load_failures), (0, 0));
    assert_eq!(s.total_load_time, Duration::ZERO);
}

#[test]
fn reset_stats_zeroes_the_load_counters() {
    let c: Cache<u8, u8> = Cache::new(10);
    c.get_or_insert_with(1, || 1);
    c.reset_stats();
    let s = c.stats();
    assert_eq!(
        (s.load_successes, s.load_failures, s.total_load_time),
        (0, 0, Duration::ZERO)
    );
}

#[memoize]
fn parse(s: String) -> Result<u32, String> {
    s.parse().map_err(|_| format!("not a number: {s}"))
}

#[test]
fn memoized_calls_count_as_loads() {
    parse("1".into()).unwrap();
    parse("1".into()).unwrap();
    parse("x".into()).unwrap_err();
    let s = parse_cache().stats();
    assert_eq!(
        (s.load_successes, s.load_failures),
        (1, 1),
        "an Err is not cached: a failure"
    );
}
