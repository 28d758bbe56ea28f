//! Batches and refreshes: `get_many` (one lock per shard touched),
//! `get_or_insert_many` (one loader call for all the misses), `refresh`
//! on the cache and `<fn>_cache_refresh(args)` for memoized fns, with the
//! old value served while the new one is computed. A manual clock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use cachelite::{Cache, Event, ManualClock, Policy, memoize};

const SEC: Duration = Duration::from_secs(1);

#[test]
fn get_many_returns_values_in_order_and_counts_each_key() {
    let c: Cache<u32, u32> = Cache::builder().shards(4).build();
    for k in (0..40).step_by(2) {
        c.insert(k, k * 10);
    }
    let keys: Vec<u32> = (0..40).rev().collect();
    let got = c.get_many(&keys);
    for (k, v) in keys.iter().zip(&got) {
        assert_eq!(*v, (k % 2 == 0).then_some(k * 10), "key {k}");
    }
    let s = c.stats();
    assert_eq!((s.hits, s.misses), (20, 20));
}

#[test]
fn get_many_takes_borrowed_keys_and_repeats() {
    let c: Cache<String, u8> = Cache::new(10);
    c.insert("a".into(), 1);
    assert_eq!(c.get_many(["a", "b", "a"]), [Some(1), None, Some(1)]);
    assert_eq!(c.get_many(Vec::<&str>::new()), []);
}

#[test]
fn get_many_misses_expired_entries() {
    let clock = ManualClock::new();
    let c: Cache<u8, u8> = Cache::builder().clock(clock.clone()).build();
    c.insert_with_ttl(1, 1, SEC);
    c.insert(2, 2);
    clock.advance(SEC);
    assert_eq!(c.get_many(&[1, 2]), [None, Some(2)]);
    assert_eq!(c.stats().misses, 1);
}

#[test]
fn get_many_tells_the_policy_about_each_hit() {
    let c: Cache<u8, u8> = Cache::builder().max_items(3).policy(Policy::Lru).build();
    for k in 0..3 {
        c.insert(k, k);
    }
    c.get_many(&[0, 1]);
    c.insert(3, 3);
    assert!(!c.contains_key(&2), "2 was the least recently used");
}

#[test]
fn get_many_reports_hits_and_misses_to_listeners() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let c: Cache<u8, u8> = Cache::builder()
        .on_event(move |e: &Event<'_, u8, u8>| match e {
            Event::Hit { key, .. } => sink.lock().unwrap().push(format!("hit {key}")),
            Event::Miss { .. } => sink.lock().unwrap().push("miss".into()),
            _ => {}
        })
        .build();
    c.insert(1, 1);
    c.get_many(&[1, 2]);
    assert_eq!(*log.lock().unwrap(), ["hit 1", "miss"]);
}

#[test]
fn get_or_insert_many_loads_every_miss_in_one_call() {
    let c: Cache<u32, String> = Cache::new(100);
    c.insert(2, "two".into());
    let calls = AtomicU32::new(0);
    let got = c.get_or_insert_many(&[1, 2, 3, 1, 4], |missing| {
        calls.fetch_add(1, Ordering::Relaxed);
        assert_eq!(missing, [1, 3, 4], "each miss once, in order");
        vec![
            (1, "one".to_string()),
            (4, "four".to_string()),
            (9, "nine".to_string()),
        ]
    });
    assert_eq!(
        got,
        [
            Some("one".into()),
            Some("two".into()),
            None,
            Some("one".into()),
            Some("four".into())
        ]
    );
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(c.len(), 3, "1, 2 and 4; not 9, which was not asked for");
    let again = c.get_or_insert_many(&[1, 2, 4], |_| -> Vec<(u32, String)> {
        unreachable!("all cached")
    });
    assert!(again.iter().all(Option::is_some));
}

#[test]
fn get_or_insert_many_stores_with_the_default_ttl() {
    let clock = ManualClock::new();
    let c: Cache<u8, u8> = Cache::builder()
        .clock(clock.clone())
        .default_ttl(10 * SEC)
        .build();
    c.get_or_insert_many(&[1], |m| m.iter().map(|&k| (k, k)).collect::<Vec<_>>());
    assert_eq!(c.ttl(&1), Some(10 * SEC));
}

#[test]
fn get_or_insert_many_async_loads_once() {
    let c: Cache<u8, u8> = Cache::new(10);
    c.insert(1, 10);
    let got = futures::executor::block_on(c.get_or_insert_many_async(&[1, 2, 3], |m| async move {
        assert_eq!(m, [2, 3]);
        m.into_iter().map(|k| (k, k * 10)).collect::<Vec<_>>()
    }));
    assert_eq!(got, [Some(10), Some(20), Some(30)]);
}

#[test]
fn refresh_replaces_the_value_and_keeps_tags_given() {
    let c: Cache<&str, u32> = Cache::new(10);
    c.insert("k", 1);
    assert_eq!(c.refresh("k", || 2), 2);
    assert_eq!(c.get("k"), Some(2));
    assert_eq!(
        c.refresh("new", || 3),
        3,
        "a missing key is simply computed"
    );
    assert_eq!(c.get("new"), Some(3));
}

#[test]
fn a_failed_refresh_keeps_the_old_value() {
    let c: Cache<&str, u32> = Cache::new(10);
    c.insert("k", 1);
    assert_eq!(c.try_refresh("k", || Err::<u32, _>("down")), Err("down"));
    assert_eq!(c.get("k"), Some(1));
}

/// Readers keep getting the old value while a refresh computes, and a
/// caller that misses meanwhile waits for the refresh instead of computing.
#[test]
fn readers_get_the_old_value_while_a_refresh_runs() {
    let c: Cache<&str, u32> = Cache::new(10);
    c.insert("k", 1);
    let c = &c;
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let refresher = s.spawn(move || {
            c.refresh("k", || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                2
            })
        });
        started.recv().unwrap();
        assert_eq!(c.get("k"), Some(1), "the old value, at once");
        assert_eq!(c.get_or_insert_with("k", || unreachable!()), 1);
        release.send(()).unwrap();
        assert_eq!(refresher.join().unwrap(), 2);
    });
    assert_eq!(c.get("k"), Some(2));
}

#[test]
fn a_key_removed_during_its_refresh_stays_removed() {
    let c: Cache<&str, u32> = Cache::new(10);
    c.insert("k", 1);
    let v = c.refresh("k", || {
        c.remove("k");
        2
    });
    assert_eq!(v, 2);
    assert_eq!(
        c.get("k"),
        None,
        "the refreshed value was computed from stale data"
    );
}

#[test]
fn a_miss_during_a_refresh_waits_for_it() {
    let c: Cache<&str, u32> = Cache::new(10);
    let c = &c;
    let barrier = Barrier::new(2);
    let barrier = &barrier;
    let (release, release_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let refresher = s.spawn(move || {
            c.refresh("k", || {
                barrier.wait();
                release_rx.recv().unwrap();
                7
            })
        });
        barrier.wait();
        let waiter =
            s.spawn(move || c.get_or_insert_with("k", || unreachable!("joins the refresh")));
        thread::sleep(Duration::from_millis(20));
        release.send(()).unwrap();
        assert_eq!(refresher.join().unwrap(), 7);
        assert_eq!(waiter.join().unwrap(), 7);
    });
}

static RATE: AtomicU32 = AtomicU32::new(1);

#[memoize]
fn rate(currency: String) -> u32 {
    RATE.load(Ordering::SeqCst) * u32::try_from(currency.len()).unwrap()
}

#[test]
fn cache_refresh_recomputes_a_memoized_fn_now() {
    assert_eq!(rate("eur".into()), 3);
    RATE.store(2, Ordering::SeqCst);
    assert_eq!(rate("eur".into()), 3, "still cached");
    assert_eq!(rate_cache_refresh("eur".into()), 6);
    assert_eq!(rate("eur".into()), 6);
    assert_eq!(rate_cache().len(), 1);
}

static FAIL: AtomicU32 = AtomicU32::new(0);

#[memoize]
fn quote(symbol: u32) -> Result<u32, String> {
    if FAIL.load(Ordering::SeqCst) == 1 {
        return Err("upstream down".into());
    }
    Ok(symbol + 100 * FAIL.load(Ordering::SeqCst))
}

#[test]
fn a_memoized_refresh_that_fails_keeps_the_old_value() {
    assert_eq!(quote(1), Ok(1));
    FAIL.store(1, Ordering::SeqCst);
    assert!(quote_cache_refresh(1).is_err());
    assert_eq!(quote(1), Ok(1), "the old value stays");
    FAIL.store(2, Ordering::SeqCst);
    assert_eq!(quote_cache_refresh(1), Ok(201));
    assert_eq!(quote(1), Ok(201));
}

static ASYNC_RATE: AtomicU32 = AtomicU32::new(1);

#[memoize]
async fn async_rate(n: u32) -> u32 {
    n * ASYNC_RATE.load(Ordering::SeqCst)
}

#[test]
fn cache_refresh_works_on_async_fns() {
    futures::executor::block_on(async {
        assert_eq!(async_rate(5).await, 5);
        ASYNC_RATE.store(3, Ordering::SeqCst);
        assert_eq!(async_rate(5).await, 5);
        assert_eq!(async_rate_cache_refresh(5).await, 15);
        assert_eq!(async_rate(5).await, 15);
    });
}

struct Prices {
    factor: u32,
}

impl Prices {
    #[memoize(key = id)]
    fn price(&self, id: u32) -> u32 {
        id * self.factor
    }
}

#[test]
fn cache_refresh_works_on_methods() {
    let p = Prices { factor: 2 };
    assert_eq!(p.price(4), 8);
    let q = Prices { factor: 3 };
    assert_eq!(q.price(4), 8, "shared across instances: the key is the id");
    assert_eq!(q.price_cache_refresh(4), 12);
    assert_eq!(p.price(4), 12);
}

#[deny(clippy::unnecessary_cast)]
#[allow(unused_variables)]
#[memoize]
fn lint_levels_apply_to_the_refresh_copy(n: u32) -> u32 {
    let unused = n;
    n + 1
}

#[test]
fn a_refresh_of_a_fn_with_lint_attributes_compiles_clean() {
    assert_eq!(lint_levels_apply_to_the_refresh_copy(1), 2);
    assert_eq!(lint_levels_apply_to_the_refresh_copy_cache_refresh(1), 2);
}
