//! Events: each kind and each removal cause, several listeners, panicking
//! listeners, and user code (listeners, value destructors) calling back into
//! the cache: none of it may run under a shard lock.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use cachelite::{Cache, Event, Insertion, ManualClock, RemovalCause};

/// An owned copy of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Hit(String, u32),
    Miss(Option<String>),
    Inserted(String, u32),
    Removed(String, u32, RemovalCause),
}

fn own(e: &Event<'_, String, u32>) -> Ev {
    match e {
        Event::Hit { key, value } => Ev::Hit((*key).clone(), **value),
        Event::Miss { key } => Ev::Miss(key.cloned()),
        Event::Inserted { key, value } => Ev::Inserted((*key).clone(), **value),
        Event::Removed { key, value, cause } => Ev::Removed((*key).clone(), **value, *cause),
        other => panic!("unexpected event {other:?}"),
    }
}

type Log = Arc<Mutex<Vec<Ev>>>;

fn logger(log: &Log) -> impl Fn(&Event<'_, String, u32>) + Send + Sync + 'static {
    let log = log.clone();
    move |e| log.lock().unwrap().push(own(e))
}

fn take(log: &Log) -> Vec<Ev> {
    std::mem::take(&mut *log.lock().unwrap())
}

fn s(k: &str) -> String {
    k.to_string()
}

use cachelite_tests::within;

#[test]
fn reads_and_writes_report_hit_miss_and_inserted() {
    let log = Log::default();
    let cache: Cache<String, u32> = Cache::builder().on_event(logger(&log)).build();
    cache.get("a");
    cache.insert(s("a"), 1);
    cache.get("a");
    cache.peek("a");
    cache.contains_key("a");
    assert_eq!(
        take(&log),
        [Ev::Miss(None), Ev::Inserted(s("a"), 1), Ev::Hit(s("a"), 1)]
    );
    // A read-through names the key it missed, and reports its store.
    cache.get_or_insert_with(s("b"), || 2);
    cache.get_or_insert_with(s("b"), || unreachable!());
    assert_eq!(
        take(&log),
        [
            Ev::Miss(Some(s("b"))),
            Ev::Inserted(s("b"), 2),
            Ev::Hit(s("b"), 2)
        ]
    );
    // A failed computation stores, and so reports, nothing.
    let _ = cache.try_get_or_insert_with(s("c"), || Err::<u32, _>(()));
    assert_eq!(take(&log), [Ev::Miss(Some(s("c")))]);
}

#[test]
fn removal_cause_size() {
    let log = Log::default();
    let cache: Cache<String, u32> = Cache::builder().max_items(1).on_event(logger(&log)).build();
    cache.insert(s("a"), 1);
    cache.insert(s("b"), 2);
    assert_eq!(
        take(&log),
        [
            Ev::Inserted(s("a"), 1),
            Ev::Inserted(s("b"), 2),
            Ev::Removed(s("a"), 1, RemovalCause::Size)
        ]
    );
}

#[test]
fn removal_cause_expired_from_reads_removes_and_sweeps() {
    let log = Log::default();
    let clock = ManualClock::new();
    let cache: Cache<String, u32> = Cache::builder()
        .clock(clock.clone())
        .on_event(logger(&log))
        .build();
    for (k, v) in [("a", 1), ("b", 2), ("c", 3), ("d", 4)] {
        cache.insert_with_ttl(s(k), v, Duration::from_secs(1));
    }
    take(&log);
    clock.advance(Duration::from_secs(1));
    cache.get("a");
    assert_eq!(
        take(&log),
        [
            Ev::Miss(None),
            Ev::Removed(s("a"), 1, RemovalCause::Expired)
        ]
    );
    assert_eq!(cache.remove("b"), None);
    assert_eq!(take(&log), [Ev::Removed(s("b"), 2, RemovalCause::Expired)]);
    cache.insert(s("c"), 30);
    assert_eq!(
        take(&log),
        [
            Ev::Inserted(s("c"), 30),
            Ev::Removed(s("c"), 3, RemovalCause::Expired)
        ]
    );
    assert_eq!(cache.sweep_expired(), 1);
    assert_eq!(take(&log), [Ev::Removed(s("d"), 4, RemovalCause::Expired)]);
}

#[test]
fn removal_cause_explicit_for_every_request() {
    let log = Log::default();
    let cache: Cache<String, u32> = Cache::builder().on_event(logger(&log)).build();
    cache.insert(s("a"), 1);
    cache.insert_entry(s("b"), Insertion::new(2).with_tags(["t"]));
    cache.insert(s("c:1"), 3);
    cache.insert(s("d"), 4);
    take(&log);
    assert_eq!(cache.remove("a"), Some(1));
    assert_eq!(cache.invalidate_tags(&["t"]), 1);
    assert_eq!(cache.invalidate_glob("c:*"), 1);
    cache.clear();
    assert_eq!(
        take(&log),
        [
            Ev::Removed(s("a"), 1, RemovalCause::Explicit),
            Ev::Removed(s("b"), 2, RemovalCause::Explicit),
            Ev::Removed(s("c:1"), 3, RemovalCause::Explicit),
            Ev::Removed(s("d"), 4, RemovalCause::Explicit),
        ]
    );
    assert_eq!(cache.stats().invalidations, 4);
    assert_eq!(cache.remove("a"), None);
    assert!(
        take(&log).is_empty(),
        "removing a missing key reports nothing"
    );
}

#[test]
fn removal_cause_replaced() {
    let log = Log::default();
    let cache: Cache<String, u32> = Cache::builder().on_event(logger(&log)).build();
    cache.insert(s("a"), 1);
    cache.insert(s("a"), 2);
    assert_eq!(
        take(&log),
        [
            Ev::Inserted(s("a"), 1),
            Ev::Inserted(s("a"), 2),
            Ev::Removed(s("a"), 1, RemovalCause::Replaced)
        ]
    );
    assert_eq!(cache.stats().invalidations, 0);
    assert_eq!(cache.stats().evictions, 0);
}

#[test]
fn a_rejected_insert_reports_the_dropped_old_value_but_no_insert() {
    let log = Log::default();
    let cache: Cache<String, u32> = Cache::builder()
        .max_weight(10)
        .weigher(|_k, v: &u32| *v as usize)
        .on_event(logger(&log))
        .build();
    cache.insert(s("a"), 5);
    take(&log);
    assert!(!cache.insert(s("a"), 11));
    assert_eq!(take(&log), [Ev::Removed(s("a"), 5, RemovalCause::Replaced)]);
}

#[test]
fn every_listener_gets_every_event_in_the_same_order() {
    let logs: Vec<Log> = (0..3).map(|_| Log::default()).collect();
    let clock = ManualClock::new();
    let mut b = Cache::builder().max_items(2).clock(clock.clone());
    for log in &logs {
        b = b.on_event(logger(log));
    }
    let cache: Cache<String, u32> = b.build();
    cache.insert(s("a"), 1);
    cache.insert_with_ttl(s("b"), 2, Duration::from_secs(1));
    cache.get("a");
    cache.get("zz");
    cache.insert(s("c"), 3);
    clock.advance(Duration::from_secs(5));
    cache.insert(s("a"), 4);
    cache.remove("a");
    let first = take(&logs[0]);
    assert_eq!(first.len(), 9, "{first:?}");
    for log in &logs[1..] {
        assert_eq!(take(log), first);
    }
}

#[test]
fn a_panicking_listener_is_counted_and_breaks_nothing() {
    let log = Log::default();
    let cache: Cache<String, u32> = Cache::builder()
        .on_event(|e: &Event<'_, String, u32>| {
            if matches!(e, Event::Inserted { .. } | Event::Hit { .. }) {
                panic!("listener bug");
            }
        })
        .on_event(logger(&log))
        .max_items(1)
        .build();
    cache.insert(s("a"), 1);
    assert_eq!(cache.get("a"), Some(1));
    cache.insert(s("b"), 2);
    assert_eq!(cache.get_or_insert_with(s("c"), || 3), 3);
    assert_eq!(
        take(&log),
        [
            Ev::Inserted(s("a"), 1),
            Ev::Hit(s("a"), 1),
            Ev::Inserted(s("b"), 2),
            Ev::Removed(s("a"), 1, RemovalCause::Size),
            Ev::Miss(Some(s("c"))),
            Ev::Inserted(s("c"), 3),
            Ev::Removed(s("b"), 2, RemovalCause::Size),
        ]
    );
    let stats = cache.stats();
    assert_eq!(stats.listener_panics, 4);
    assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 1, 3));
    assert_eq!(cache.keys(), [s("c")]);
}

thread_local! {
    static NESTED: Cell<bool> = const { Cell::new(false) };
}

#[test]
fn listeners_may_call_back_into_the_cache() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handle: Arc<OnceLock<Cache<String, u32>>> = Arc::new(OnceLock::new());
    let cache: Cache<String, u32> = {
        let (handle, seen) = (handle.clone(), seen.clone());
        Cache::builder()
            .max_items(2)
            .on_event(move |e: &Event<'_, String, u32>| {
                // The audit insert below can evict, which calls us again.
                if NESTED.with(Cell::get) {
                    return;
                }
                NESTED.with(|n| n.set(true));
                let cache = handle.get().unwrap();
                // Reads and a write on another key, from inside every event.
                let len = cache.len();
                let keys = cache.keys().len();
                if let Event::Removed { key, .. } = e {
                    seen.lock()
                        .unwrap()
                        .push((key.to_string(), cache.peek(*key), len));
                    cache.insert_entry(s("audit"), Insertion::new(keys as u32));
                } else if let Event::Inserted { key, .. } = e {
                    cache.contains_key(*key);
                    cache.stats();
                }
                NESTED.with(|n| n.set(false));
            })
            .build()
    };
    handle.set(cache.clone()).unwrap();
    let seen2 = seen.clone();
    within(5, move || {
        cache.insert(s("a"), 1);
        cache.insert(s("b"), 2);
        cache.get("a");
        cache.get_or_insert_with(s("c"), || 3);
        cache.remove("c");
        cache.clear();
        assert!(cache.len() <= 2);
        drop(seen2);
    });
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    // A removal is reported after it happened: the listener no longer sees
    // the removed entry (the audit key may be back, written by a listener).
    for (key, peeked, _) in seen.iter().filter(|(k, _, _)| k != "audit") {
        assert_eq!(
            *peeked, None,
            "{key} was still visible to its Removed listener"
        );
    }
}

/// A value whose destructor calls back into the cache: dropped under a
/// shard lock, it would deadlock.
#[derive(Clone)]
struct Reentrant {
    cache: Arc<OnceLock<Cache<String, Reentrant>>>,
    drops: Arc<AtomicUsize>,
    armed: Arc<AtomicBool>,
    weight: usize,
}

impl Drop for Reentrant {
    fn drop(&mut self) {
        if self.armed.load(Ordering::SeqCst)
            && let Some(cache) = self.cache.get()
        {
            cache.len();
            cache.peek("probe");
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn removed_values_are_dropped_outside_the_shard_lock() {
    for with_listener in [false, true] {
        let handle: Arc<OnceLock<Cache<String, Reentrant>>> = Arc::new(OnceLock::new());
        let drops = Arc::new(AtomicUsize::new(0));
        let armed = Arc::new(AtomicBool::new(false));
        let clock = ManualClock::new();
        let value = Reentrant {
            cache: handle.clone(),
            drops: drops.clone(),
            armed: armed.clone(),
            weight: 1,
        };
        let mut b = Cache::builder()
            .shards(1)
            .max_items(4)
            .max_weight(100)
            .weigher(|_k: &String, v: &Reentrant| v.weight)
            .clock(clock.clone());
        if with_listener {
            b = b.on_event(|_e: &Event<'_, String, Reentrant>| {});
        }
        handle.set(b.build()).ok().unwrap();
        let armed2 = armed.clone();
        within(5, move || {
            let cache = handle.get().unwrap().clone();
            let v = || value.clone();
            armed2.store(true, Ordering::SeqCst);
            // Size: the fifth key evicts one.
            for k in ["a", "b", "c", "d", "e"] {
                cache.insert(s(k), v());
            }
            // Replaced.
            cache.insert(s("e"), v());
            // Explicit: remove, tags, glob, clear.
            cache.remove("e");
            cache.insert_with_tags(s("t"), v(), ["tag"]);
            cache.invalidate_tags(&["tag"]);
            cache.insert(s("g1"), v());
            cache.invalidate_glob("g*");
            // Rejected, with an old value for the key that must go too.
            cache.insert(s("x"), v());
            let mut heavy = v();
            heavy.weight = 101;
            assert!(!cache.insert(s("x"), heavy));
            // Expired: by a read, a remove, an insert and the sweeper.
            for k in ["p", "q", "r"] {
                cache.insert_with_ttl(s(k), v(), Duration::from_secs(1));
            }
            clock.advance(Duration::from_secs(2));
            cache.get("p");
            cache.remove("q");
            cache.insert(s("r"), v());
            cache.insert_with_ttl(s("sw"), v(), Duration::from_secs(1));
            clock.advance(Duration::from_secs(2));
            cache.sweep_expired();
            // A read-through over an expired entry.
            cache.insert_with_ttl(s("ro"), v(), Duration::from_secs(1));
            clock.advance(Duration::from_secs(2));
            cache.get_or_insert_with(s("ro"), v);
            cache.clear();
        });
        armed.store(false, Ordering::SeqCst);
        assert!(drops.load(Ordering::SeqCst) > 15, "the destructors ran");
    }
}

/// Polls a future that cannot be pending (nothing else computes its key)
/// to completion without an executor, so the test needs none around the
/// listener's own `block_on`.
fn ready<T>(fut: impl std::future::Future<Output = T>) -> T {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the future waited"),
    }
}

/// Calls every public method of `c` on scratch keys (`x...`) and, for a
/// hit, miss or insert naming a key, read-throughs on that very key (sync
/// and async);
/// with `destructive`, ends with `reset_stats` and `clear`.
fn use_everything(c: &Cache<String, u32>, e: &Event<'_, String, u32>, destructive: bool) {
    use cachelite::{Glob, SnapshotFormat};
    use futures::executor::block_on;
    let k = |s: &str| s.to_string();
    c.insert(k("x1"), 1);
    c.insert_with_ttl(k("x2"), 2, Duration::from_secs(60));
    c.insert_with_tags(k("x3"), 3, ["scratch"]);
    c.insert_entry(k("x4"), Insertion::new(4).without_ttl());
    c.get("x1");
    c.get("x-absent");
    c.peek("x1");
    c.contains_key("x2");
    c.ttl("x2");
    c.expire("x1", Duration::from_secs(30));
    c.persist("x1");
    c.get_or_insert_with(k("x5"), || 5);
    let _ = c.try_get_or_insert_with(k("x6"), || Err::<u32, ()>(()));
    c.get_or_compute(k("x7"), |v| v, || (7, Some(Insertion::new(7))));
    block_on(c.get_or_insert_with_async(k("x8"), async { 8 }));
    let _ = block_on(c.try_get_or_insert_with_async(k("x9"), async { Err::<u32, ()>(()) }));
    block_on(c.get_or_compute_async(k("x10"), |v| v, async { (10, None) }));
    // (Not on a removal: a read-through would bring the key back.)
    let own_key = match e {
        Event::Hit { key, .. } | Event::Inserted { key, .. } => Some((*key).clone()),
        Event::Miss { key } => key.cloned(),
        _ => None,
    };
    if let Some(key) = own_key {
        // On a read-through's Miss this key is being computed by this very
        // caller: neither form may wait for it.
        c.get_or_insert_with(key.clone(), || 99);
        block_on(c.get_or_compute_async(key.clone(), |v| v, async { (98, None) }));
        c.peek(&key);
    }
    let mut buf = Vec::new();
    c.snapshot_to(&mut buf, SnapshotFormat::Json).unwrap();
    c.restore_from(&buf[..]).unwrap();
    c.invalidate_tags(&["scratch"]);
    c.invalidate_glob("x1*");
    c.invalidate_matching(&Glob::new("x2").unwrap());
    c.keys_matching("x*");
    c.keys();
    c.remove("x4");
    c.sweep_expired();
    let _ = (c.len(), c.is_empty(), c.stats(), c.info(), format!("{c:?}"));
    let _ = (c.policy(), c.max_items(), c.max_bytes(), c.shard_count());
    let _ = cachelite::registry();
    for scratch in c.keys_matching("x*") {
        c.remove(&scratch);
    }
    if destructive {
        c.reset_stats();
        c.clear();
    }
}

#[test]
fn a_listener_may_call_every_method_and_is_not_told_of_its_own_calls() {
    let log = Log::default();
    let delivered = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let destructive = Arc::new(AtomicBool::new(false));
    let handle: Arc<OnceLock<Cache<String, u32>>> = Arc::new(OnceLock::new());
    let other_log = Log::default();
    let cache: Cache<String, u32> = {
        let (handle, delivered, finished, destructive, log) = (
            handle.clone(),
            delivered.clone(),
            finished.clone(),
            destructive.clone(),
            log.clone(),
        );
        Cache::builder()
            .on_event(move |e: &Event<'_, String, u32>| {
                log.lock().unwrap().push(own(e));
                delivered.fetch_add(1, Ordering::SeqCst);
                let c = handle.get().expect("set before use");
                use_everything(c, e, destructive.load(Ordering::SeqCst));
                finished.fetch_add(1, Ordering::SeqCst);
            })
            // A second listener is not told of the first one's calls either.
            .on_event(logger(&other_log))
            .build()
    };
    handle.set(cache.clone()).unwrap();
    let outer = within(20, move || {
        let c = cache;
        let mut steps = Vec::new();
        let mut step = |what: &str, log: &Log| steps.push((what.to_string(), take(log)));
        c.insert(s("a"), 1);
        step("insert", &log);
        assert_eq!(c.get("a"), Some(1));
        step("get hit", &log);
        assert_eq!(c.get("zz"), None);
        step("get miss", &log);
        assert_eq!(c.get_or_insert_with(s("b"), || 2), 2);
        step("read-through miss", &log);
        assert_eq!(c.get_or_insert_with(s("b"), || unreachable!()), 2);
        step("read-through hit", &log);
        assert_eq!(ready(c.get_or_insert_with_async(s("c"), async { 3 })), 3);
        step("async read-through miss", &log);
        assert_eq!(c.remove("a"), Some(1));
        step("remove", &log);
        c.insert(s("b"), 5);
        step("replace", &log);
        c.insert_with_tags(s("d"), 4, ["t"]);
        assert_eq!(c.invalidate_tags(&["t"]), 1);
        step("tags", &log);
        let mut keys = c.keys();
        keys.sort();
        assert_eq!(keys, [s("b"), s("c")], "the listener left outer keys alone");
        // Now the listener also resets the stats and clears the cache.
        destructive.store(true, Ordering::SeqCst);
        c.insert(s("e"), 6);
        step("insert, then the listener clears", &log);
        assert!(c.is_empty());
        assert_eq!(c.get("e"), None);
        step("get after the listener cleared", &log);
        steps
    });
    let expected = [
        ("insert", vec![Ev::Inserted(s("a"), 1)]),
        ("get hit", vec![Ev::Hit(s("a"), 1)]),
        ("get miss", vec![Ev::Miss(None)]),
        (
            "read-through miss",
            vec![Ev::Miss(Some(s("b"))), Ev::Inserted(s("b"), 2)],
        ),
        ("read-through hit", vec![Ev::Hit(s("b"), 2)]),
        (
            "async read-through miss",
            vec![Ev::Miss(Some(s("c"))), Ev::Inserted(s("c"), 3)],
        ),
        (
            "remove",
            vec![Ev::Removed(s("a"), 1, RemovalCause::Explicit)],
        ),
        (
            "replace",
            vec![
                Ev::Inserted(s("b"), 5),
                Ev::Removed(s("b"), 2, RemovalCause::Replaced),
            ],
        ),
        (
            "tags",
            vec![
                Ev::Inserted(s("d"), 4),
                Ev::Removed(s("d"), 4, RemovalCause::Explicit),
            ],
        ),
        (
            "insert, then the listener clears",
            vec![Ev::Inserted(s("e"), 6)],
        ),
        ("get after the listener cleared", vec![Ev::Miss(None)]),
    ];
    let expected: Vec<(String, Vec<Ev>)> = expected
        .into_iter()
        .map(|(w, evs)| (w.to_string(), evs))
        .collect();
    assert_eq!(outer, expected);
    let all: Vec<Ev> = expected.into_iter().flat_map(|(_, e)| e).collect();
    assert_eq!(take(&other_log), all);
    // Every delivery ran the listener to its end: nothing panicked (a
    // nested executor, a re-entered lock) along the way.
    assert_eq!(delivered.load(Ordering::SeqCst), all.len());
    assert_eq!(finished.load(Ordering::SeqCst), all.len());
}

#[test]
fn a_listener_writing_to_another_cache_is_seen_by_that_caches_listeners() {
    let a_log = Log::default();
    let b_log = Log::default();
    let a_handle: Arc<OnceLock<Cache<String, u32>>> = Arc::new(OnceLock::new());
    let b: Cache<String, u32> = {
        let (a_handle, b_log) = (a_handle.clone(), b_log.clone());
        Cache::builder()
            .on_event(move |e: &Event<'_, String, u32>| {
                b_log.lock().unwrap().push(own(e));
                // Back into A, which is delivering on this thread: unseen.
                if let Some(a) = a_handle.get() {
                    a.insert(s("from-b"), 0);
                    a.get("from-b");
                }
            })
            .build()
    };
    let a: Cache<String, u32> = {
        let (b, a_log) = (b.clone(), a_log.clone());
        Cache::builder()
            .on_event(move |e: &Event<'_, String, u32>| {
                a_log.lock().unwrap().push(own(e));
                if let Event::Inserted { key, value } = e {
                    b.insert(format!("audit:{key}"), **value);
                }
            })
            .build()
    };
    a_handle.set(a.clone()).unwrap();
    within(10, move || a.insert(s("k"), 7));
    assert_eq!(take(&a_log), [Ev::Inserted(s("k"), 7)]);
    assert_eq!(take(&b_log), [Ev::Inserted(s("audit:k"), 7)]);
    let a = a_handle.get().unwrap();
    assert_eq!(a.peek("from-b"), Some(0), "B's listener did write to A");
}

#[test]
fn events_of_other_threads_reach_a_listener_while_it_runs() {
    let log = Log::default();
    let handle: Arc<OnceLock<Cache<String, u32>>> = Arc::new(OnceLock::new());
    let cache: Cache<String, u32> = {
        let (handle, log) = (handle.clone(), log.clone());
        Cache::builder()
            .on_event(move |e: &Event<'_, String, u32>| {
                log.lock().unwrap().push(own(e));
                if matches!(e, Event::Inserted { key, .. } if key.as_str() == "outer") {
                    // Another thread's insert, made while this thread
                    // delivers: it is not this listener's own call.
                    let c = handle.get().unwrap().clone();
                    std::thread::spawn(move || c.insert(s("other"), 2))
                        .join()
                        .unwrap();
                }
            })
            .build()
    };
    handle.set(cache.clone()).unwrap();
    within(10, move || cache.insert(s("outer"), 1));
    assert_eq!(
        take(&log),
        [Ev::Inserted(s("outer"), 1), Ev::Inserted(s("other"), 2)]
    );
}
