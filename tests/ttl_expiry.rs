//! Time to live: lazy expiry on every read path (a manual clock, no
//! sleeps), `ttl`/`expire`/`persist`, the stale window, Redis-style
//! sampling in `sweep_expired`, and the background sweeper's lifecycle.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use cachelite::{Cache, Clock, Event, Insertion, ManualClock, Policy, RemovalCause};

const SEC: Duration = Duration::from_secs(1);

fn manual() -> (ManualClock, Cache<String, u32>) {
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clone()).build();
    (clock, cache)
}

/// A cache holding `k` (value 1) that expired one second ago.
fn with_expired_entry() -> (ManualClock, Cache<String, u32>) {
    let (clock, cache) = manual();
    cache.insert_with_ttl("k".into(), 1, SEC);
    clock.advance(2 * SEC);
    (clock, cache)
}

/// Polls `cond` every few milliseconds for at most two seconds.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "timed out waiting until {what}"
        );
        thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn an_entry_expires_exactly_at_its_deadline() {
    let (clock, cache) = manual();
    cache.insert_with_ttl("k".into(), 1, Duration::from_secs(10));
    clock.advance(Duration::from_secs(10) - Duration::from_nanos(1));
    assert_eq!(cache.get("k"), Some(1));
    clock.advance(Duration::from_nanos(1));
    assert_eq!(cache.get("k"), None);
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.expirations, s.len), (1, 1, 1, 0));
}

#[test]
fn get_removes_an_expired_entry_and_counts_a_miss() {
    let (_clock, cache) = with_expired_entry();
    assert_eq!(cache.len(), 1, "nothing has read it yet");
    assert_eq!(cache.get("k"), None);
    let s = cache.stats();
    assert_eq!((s.misses, s.hits, s.expirations, s.len), (1, 0, 1, 0));
}

#[test]
fn non_mutating_reads_hide_an_expired_entry_without_counting() {
    let (_clock, cache) = with_expired_entry();
    let before = cache.stats();
    assert_eq!(cache.peek("k"), None);
    assert!(!cache.contains_key("k"));
    assert_eq!(cache.ttl("k"), None);
    assert!(cache.keys().is_empty());
    assert!(cache.keys_matching("*").is_empty());
    assert_eq!(cache.stats(), before, "peeking changes no counter");
}

#[test]
fn remove_of_an_expired_entry_returns_none_and_counts_an_expiration() {
    let (_clock, cache) = with_expired_entry();
    assert_eq!(cache.remove("k"), None);
    let s = cache.stats();
    assert_eq!((s.expirations, s.invalidations, s.len), (1, 0, 0));
}

#[test]
fn get_or_insert_with_recomputes_an_expired_entry() {
    let (_clock, cache) = with_expired_entry();
    assert_eq!(cache.get_or_insert_with("k".into(), || 2), 2);
    assert_eq!(cache.get("k"), Some(2));
    let s = cache.stats();
    assert_eq!((s.expirations, s.misses, s.hits, s.inserts), (1, 1, 1, 2));
}

#[test]
fn try_and_async_read_throughs_recompute_an_expired_entry() {
    let (_clock, cache) = with_expired_entry();
    assert_eq!(
        cache.try_get_or_insert_with("k".into(), || Ok::<_, ()>(3)),
        Ok(3)
    );
    let (_clock, cache) = with_expired_entry();
    let v = futures::executor::block_on(cache.get_or_insert_with_async("k".into(), async { 4 }));
    assert_eq!(v, 4);
    assert_eq!(cache.stats().expirations, 1);
}

#[test]
fn ttl_reports_the_remaining_time() {
    let (clock, cache) = manual();
    cache.insert_with_ttl("k".into(), 1, Duration::from_secs(10));
    clock.advance(Duration::from_secs(3));
    assert_eq!(cache.ttl("k"), Some(Duration::from_secs(7)));
    cache.insert("plain".into(), 1);
    assert_eq!(cache.ttl("plain"), None, "no TTL");
    assert_eq!(cache.ttl("missing"), None);
}

#[test]
fn default_ttl_applies_unless_the_insert_says_otherwise() {
    let clock = ManualClock::new();
    let cache: Cache<u32, u32> = Cache::builder()
        .clock(clock.clone())
        .default_ttl(Duration::from_secs(5))
        .build();
    cache.insert(1, 1);
    cache.insert_with_ttl(2, 2, Duration::from_secs(50));
    cache.insert_entry(3, Insertion::new(3).without_ttl());
    cache.get_or_insert_with(4, || 4);
    assert_eq!(cache.ttl(&1), Some(Duration::from_secs(5)));
    assert_eq!(cache.ttl(&2), Some(Duration::from_secs(50)));
    assert_eq!(cache.ttl(&3), None);
    assert_eq!(cache.ttl(&4), Some(Duration::from_secs(5)));
    clock.advance(Duration::from_secs(6));
    let mut keys = cache.keys();
    keys.sort_unstable();
    assert_eq!(keys, [2, 3]);
}

#[test]
fn expire_and_persist_change_the_deadline_of_fresh_entries_only() {
    let (clock, cache) = manual();
    assert!(!cache.expire("missing", SEC));
    assert!(!cache.persist("missing"));
    cache.insert("k".into(), 1);
    assert!(cache.expire("k", Duration::from_secs(2)));
    assert_eq!(cache.ttl("k"), Some(Duration::from_secs(2)));
    assert!(cache.persist("k"));
    assert_eq!(cache.ttl("k"), None);
    clock.advance(Duration::from_secs(100));
    assert_eq!(cache.get("k"), Some(1), "persisted entries never expire");
    assert!(cache.expire("k", SEC));
    clock.advance(SEC);
    assert!(!cache.persist("k"), "too late: it has expired");
    assert!(!cache.expire("k", SEC));
    assert_eq!(cache.get("k"), None);
}

#[test]
fn expire_with_zero_ttl_expires_at_once() {
    let (_clock, cache) = manual();
    cache.insert("k".into(), 1);
    assert!(cache.expire("k", Duration::ZERO));
    assert_eq!(cache.get("k"), None);
    assert_eq!(cache.stats().expirations, 1);
}

#[test]
fn a_ttl_too_long_to_represent_never_expires() {
    let (clock, cache) = manual();
    cache.insert_with_ttl("k".into(), 1, Duration::MAX);
    clock.advance(Duration::from_secs(1 << 40));
    assert_eq!(cache.get("k"), Some(1));
}

#[test]
fn jitter_stays_within_its_bound() {
    let clock = ManualClock::new();
    let cache: Cache<u32, u32> = Cache::builder()
        .clock(clock)
        .default_ttl(Duration::from_secs(10))
        .ttl_jitter(Duration::from_secs(2))
        .build();
    let mut distinct = std::collections::HashSet::new();
    for k in 0..200 {
        cache.insert(k, k);
        let ttl = cache.ttl(&k).expect("has a TTL");
        assert!(ttl >= Duration::from_secs(10) && ttl <= Duration::from_secs(12));
        distinct.insert(ttl);
    }
    assert!(distinct.len() > 100, "jitter spreads deadlines");
}

// Regression: inserting over an entry that had expired (but that no read
// had removed yet) replaced it in place, so it reported `Replaced` rather
// than `Expired`, never counted the expiration, and the new value inherited
// the dead entry's policy rank (its LFU count, its FIFO position). Lazy
// expiry must not be observable that way.
#[test]
fn insert_over_an_expired_entry_is_an_expiration_not_a_replacement() {
    let clock = ManualClock::new();
    let causes = Arc::new(Mutex::new(Vec::new()));
    let sink = causes.clone();
    let cache: Cache<&str, u32> = Cache::builder()
        .shards(1)
        .max_items(2)
        .policy(Policy::Lfu)
        .clock(clock.clone())
        .on_event(move |e: &Event<'_, &str, u32>| {
            if let Event::Removed { key, cause, .. } = e {
                sink.lock().unwrap().push((**key, *cause));
            }
        })
        .build();
    cache.insert_with_ttl("hot", 1, SEC);
    for _ in 0..5 {
        cache.get("hot");
    }
    cache.insert("warm", 2);
    cache.get("warm");
    clock.advance(2 * SEC);
    cache.insert("hot", 3); // "hot" is a new entry now, with count 1
    assert_eq!(*causes.lock().unwrap(), [("hot", RemovalCause::Expired)]);
    assert_eq!(cache.stats().expirations, 1);
    cache.insert("new", 4);
    assert!(
        !cache.contains_key("hot"),
        "the re-inserted key starts from count 1 and is the LFU victim"
    );
    assert!(cache.contains_key("warm"));
}

#[test]
fn stale_entries_are_hidden_from_reads_but_kept_until_the_window_ends() {
    let clock = ManualClock::new();
    let cache: Cache<u32, u32> = Cache::builder()
        .clock(clock.clone())
        .default_ttl(Duration::from_secs(10))
        .stale_ttl(Duration::from_secs(5))
        .build();
    cache.insert(1, 100);
    clock.advance(Duration::from_secs(12));
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.peek(&1), None);
    assert!(!cache.contains_key(&1));
    assert_eq!(cache.ttl(&1), None);
    assert_eq!(cache.len(), 1, "kept to be served while refreshing");
    assert_eq!(cache.stats().expirations, 0);
    assert_eq!(cache.sweep_expired(), 0, "not dead yet");
    clock.advance(Duration::from_secs(3));
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.len(), 0, "past the window, a read removes it");
    assert_eq!(cache.stats().expirations, 1);
}

#[test]
fn a_stale_entry_is_served_while_one_caller_refreshes_it() {
    let clock = ManualClock::new();
    let cache: Cache<u32, u32> = Cache::builder()
        .clock(clock.clone())
        .default_ttl(Duration::from_secs(10))
        .stale_ttl(Duration::from_secs(60))
        .build();
    cache.insert(1, 100);
    clock.advance(Duration::from_secs(11));
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let refresher = {
        let cache = cache.clone();
        thread::spawn(move || {
            cache.get_or_insert_with(1, || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                200
            })
        })
    };
    started_rx.recv().unwrap();
    // While the refresh runs, others get the stale value without waiting.
    assert_eq!(cache.get_or_insert_with(1, || unreachable!()), 100);
    release_tx.send(()).unwrap();
    assert_eq!(refresher.join().unwrap(), 200);
    assert_eq!(cache.get(&1), Some(200));
    assert_eq!(cache.ttl(&1), Some(Duration::from_secs(10)));
}

// Regression: `expire` and `persist` accepted an entry in its stale window
// (past its TTL), resurrecting a value every plain read already treated as
// gone.
#[test]
fn expire_and_persist_do_not_revive_stale_entries() {
    let clock = ManualClock::new();
    let cache: Cache<u32, u32> = Cache::builder()
        .clock(clock.clone())
        .stale_ttl(Duration::from_secs(60))
        .build();
    cache.insert_with_ttl(1, 1, SEC);
    cache.insert_with_ttl(2, 2, SEC);
    clock.advance(2 * SEC);
    assert!(!cache.expire(&1, Duration::from_secs(100)));
    assert!(!cache.persist(&2));
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.get(&2), None);
}

#[test]
fn sweep_removes_every_expired_entry_nobody_reads() {
    let clock = ManualClock::new();
    let cache: Cache<u32, u32> = Cache::builder().clock(clock.clone()).build();
    for k in 0..500 {
        cache.insert_with_ttl(k, k, SEC);
    }
    for k in 500..1000 {
        cache.insert(k, k);
    }
    clock.advance(2 * SEC);
    // Every sampled TTL entry is expired, so sampling repeats until none is left.
    assert_eq!(cache.sweep_expired(), 500);
    assert_eq!(cache.len(), 500);
    assert_eq!(cache.stats().expirations, 500);
    assert!((500..1000).all(|k| cache.peek(&k) == Some(k)));
    assert_eq!(cache.sweep_expired(), 0);
}

#[test]
fn sweep_stops_early_when_few_samples_are_expired_but_finishes_over_calls() {
    let clock = ManualClock::new();
    let cache: Cache<u32, u32> = Cache::builder().shards(1).clock(clock.clone()).build();
    for k in 0..2000 {
        cache.insert_with_ttl(k, k, Duration::from_secs(1000));
    }
    for k in 2000..2100 {
        cache.insert_with_ttl(k, k, SEC);
    }
    clock.advance(2 * SEC);
    let first = cache.sweep_expired();
    assert!(
        first < 100,
        "one cycle samples; it does not scan ({first} removed)"
    );
    let mut total = first;
    for _ in 0..20_000 {
        if total == 100 {
            break;
        }
        total += cache.sweep_expired();
    }
    assert_eq!(total, 100);
    assert_eq!(cache.len(), 2000);
    assert!(
        (0..2000).all(|k| cache.contains_key(&k)),
        "live entries stay"
    );
}

/// Serializes the tests that count sweeper threads.
static SWEEPER_THREADS: Mutex<()> = Mutex::new(());

/// The thread ids of this process's sweeper threads (Linux).
fn sweeper_threads() -> HashSet<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        // Linux keeps 15 bytes of a thread's name.
                        .is_ok_and(|name| "cachelite-sweep".starts_with(name.trim()))
                })
                .map(|t| t.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_background_sweeper_removes_expired_entries_without_reads() {
    let _serial = SWEEPER_THREADS.lock().unwrap_or_else(|e| e.into_inner());
    let clock = ManualClock::new();
    let cache: Cache<u32, u32> = Cache::builder()
        .clock(clock.clone())
        .active_expiry(Duration::from_millis(5))
        .build();
    for k in 0..100 {
        cache.insert_with_ttl(k, k, SEC);
    }
    cache.insert(1000, 0);
    clock.advance(2 * SEC);
    eventually("the sweeper has removed every expired entry", || {
        cache.len() == 1
    });
    let s = cache.stats();
    assert_eq!((s.expirations, s.hits, s.misses), (100, 0, 0));
    assert_eq!(cache.peek(&1000), Some(0));
}

#[test]
fn the_sweeper_thread_ends_when_the_cache_is_dropped() {
    let _serial = SWEEPER_THREADS.lock().unwrap_or_else(|e| e.into_inner());
    if !std::path::Path::new("/proc/self/task").exists() {
        return; // thread names are only visible this way on Linux
    }
    let before = sweeper_threads();
    let cache: Cache<u32, u32> = Cache::builder()
        .active_expiry(Duration::from_millis(5))
        .build();
    let mut ours = None;
    eventually("the sweeper thread has started", || {
        ours = sweeper_threads().difference(&before).next().cloned();
        ours.is_some()
    });
    let ours = ours.unwrap();
    cache.insert(1, 1);
    drop(cache);
    eventually("the sweeper thread has ended", || {
        !sweeper_threads().contains(&ours)
    });
}

/// A value that records when the last copy is dropped.
#[derive(Clone)]
struct Tracked(Arc<AtomicBool>);

impl Drop for Tracked {
    fn drop(&mut self) {
        if Arc::strong_count(&self.0) == 2 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn the_sweeper_does_not_keep_the_cache_alive() {
    let _serial = SWEEPER_THREADS.lock().unwrap_or_else(|e| e.into_inner());
    let dropped = Arc::new(AtomicBool::new(false));
    let cache: Cache<u32, Tracked> = Cache::builder()
        .active_expiry(Duration::from_millis(1))
        .build();
    cache.insert(1, Tracked(dropped.clone()));
    thread::sleep(Duration::from_millis(10)); // let the sweeper run a few times
    drop(cache);
    eventually("the cache's values are dropped", || {
        dropped.load(Ordering::SeqCst)
    });
}

/// A clock that counts its reads.
struct CountingClock {
    inner: ManualClock,
    reads: Arc<AtomicUsize>,
}

impl Clock for CountingClock {
    fn now_nanos(&self) -> u64 {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.now_nanos()
    }
}

#[test]
fn reads_of_entries_without_a_ttl_never_read_the_clock() {
    let reads = Arc::new(AtomicUsize::new(0));
    let cache: Cache<u32, u32> = Cache::builder()
        .clock(CountingClock {
            inner: ManualClock::new(),
            reads: reads.clone(),
        })
        .build();
    cache.insert(1, 1);
    let base = reads.load(Ordering::SeqCst);
    for _ in 0..100 {
        assert_eq!(cache.get(&1), Some(1));
        assert_eq!(cache.peek(&1), Some(1));
        assert!(cache.contains_key(&1));
        assert_eq!(cache.get_or_insert_with(1, || 2), 1);
    }
    assert_eq!(reads.load(Ordering::SeqCst), base);
}

#[test]
fn a_custom_clock_drives_expiry() {
    let inner = ManualClock::new();
    let cache: Cache<u32, u32> = Cache::builder()
        .clock(CountingClock {
            inner: inner.clone(),
            reads: Arc::new(AtomicUsize::new(0)),
        })
        .build();
    cache.insert_with_ttl(1, 1, SEC);
    assert_eq!(cache.get(&1), Some(1));
    inner.advance(SEC);
    assert_eq!(cache.get(&1), None);
}

#[test]
fn concurrent_readers_expire_an_entry_once() {
    let clock = ManualClock::new();
    let cache: Cache<u32, u32> = Cache::builder().clock(clock.clone()).build();
    for k in 0..64 {
        cache.insert_with_ttl(k, k, SEC);
    }
    clock.advance(2 * SEC);
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                (0..64).filter(|k| cache.get(k).is_some()).count()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 0);
    }
    let s = cache.stats();
    assert_eq!((s.expirations, s.misses, s.len), (64, 256, 0));
}
