//! Many threads and tasks on one cache: bounds hold at every observation,
//! counters add up, singleflight computes once per key (threads and tasks),
//! panics and cancellations hand the work to a waiter, and listeners and
//! init closures may call back into the cache without deadlocking.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, OnceLock, mpsc};
use std::thread;
use std::time::Duration;

use cachelite::{Cache, Event, Insertion, Policy};

const THREADS: usize = 8;

/// Four threads per core, at least eight, so that readers and writers of
/// one shard overlap however the scheduler runs them.
fn threads() -> usize {
    (thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get) * 4).max(8)
}

/// A value that names its key: a read that returns another key's value
/// (a lost or duplicated entry, a slot read after reuse) is caught.
fn value_for(key: u32, fill: u8) -> Vec<u8> {
    vec![fill; (key % 61) as usize]
}

fn check_value(key: u32, got: Option<&Vec<u8>>) {
    if let Some(v) = got {
        assert_eq!(
            v.len(),
            (key % 61) as usize,
            "key {key} read another key's value"
        );
    }
}

use cachelite_tests::within;

/// Totals of what the workers did, to check the stats against.
#[derive(Default)]
struct Tally {
    reads: AtomicU64,
    writes: AtomicU64,
    /// Values computed by `get_or_insert_with`: stored unless a concurrent
    /// removal or invalidation of their key ran while they were computed.
    computed: AtomicU64,
}

/// Random operations from every thread while an observer checks the bounds.
fn stress(cache: &Cache<u32, Vec<u8>>, max_items: usize, max_bytes: Option<u64>, ops: usize) {
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    // More keys than fit, so the bounds are exercised.
    let key_space = (4 * max_items as u64).max(512);
    let threads = threads();
    let barrier = Arc::new(Barrier::new(threads + 1));
    let observer = {
        let (cache, stop, barrier) = (cache.clone(), stop.clone(), barrier.clone());
        thread::spawn(move || {
            barrier.wait();
            let mut looks = 0u64;
            while !stop.load(Ordering::Relaxed) || looks == 0 {
                let len = cache.len();
                assert!(len <= max_items, "len {len} over {max_items}");
                let s = cache.stats();
                assert!(s.len <= max_items, "stats.len {} over {max_items}", s.len);
                if let Some(b) = max_bytes {
                    assert!(s.bytes <= b, "bytes {} over {b}", s.bytes);
                }
                looks += 1;
            }
            looks
        })
    };
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (cache, tally, barrier) = (cache.clone(), tally.clone(), barrier.clone());
            thread::spawn(move || {
                let mut rng = fastrand_like(t as u64 + 1);
                barrier.wait();
                for _ in 0..ops {
                    // Half the operations on 16 hot keys, which stay cached
                    // and are read under the shared lock.
                    let k = if rng().is_multiple_of(2) {
                        (rng() % 16) as u32
                    } else {
                        (rng() % key_space) as u32
                    };
                    match rng() % 12 {
                        0..=3 => {
                            check_value(k, cache.get(&k).as_ref());
                            tally.reads.fetch_add(1, Ordering::Relaxed);
                        }
                        10 => {
                            check_value(k, cache.peek(&k).as_ref());
                            if cache.contains_key(&k) && rng().is_multiple_of(4) {
                                cache.expire(&k, Duration::from_secs(3600));
                                cache.persist(&k);
                            }
                        }
                        11 => {
                            if rng().is_multiple_of(64) {
                                cache.clear();
                            } else {
                                cache.sweep_expired();
                            }
                        }
                        4..=6 => {
                            if cache.insert(k, value_for(k, 0)) {
                                tally.writes.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        7 => {
                            let stored = AtomicBool::new(false);
                            let v = cache.get_or_insert_with(k, || {
                                stored.store(true, Ordering::Relaxed);
                                value_for(k, 1)
                            });
                            check_value(k, Some(&v));
                            tally.reads.fetch_add(1, Ordering::Relaxed);
                            if stored.load(Ordering::Relaxed) {
                                tally.computed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        8 => {
                            cache.remove(&k);
                        }
                        _ => {
                            if cache.insert_with_tags(k, value_for(k, 2), [format!("t{}", k % 4)]) {
                                tally.writes.fetch_add(1, Ordering::Relaxed);
                            }
                            if rng().is_multiple_of(16) {
                                cache.invalidate_tags(&[format!("t{}", rng() % 4)]);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(observer.join().unwrap() > 0);
    let s = cache.stats();
    assert_eq!(
        s.hits + s.misses,
        tally.reads.load(Ordering::Relaxed),
        "every read counts one hit or one miss"
    );
    let (writes, computed) = (
        tally.writes.load(Ordering::Relaxed),
        tally.computed.load(Ordering::Relaxed),
    );
    assert!(
        (writes..=writes + computed).contains(&s.inserts),
        "every stored value counts one insert: {} inserts, {writes} writes + up to {computed} computed",
        s.inserts
    );
    assert_eq!(s.len, cache.len());
    assert_eq!(cache.keys().len(), s.len, "no TTLs: every entry is fresh");
    assert!(s.len <= max_items);
}

/// A small xorshift generator, so the workers need no extra dependency.
fn fastrand_like(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[test]
fn stress_with_default_shards_keeps_bounds_and_counts() {
    for policy in Policy::ALL {
        let cache: Cache<u32, Vec<u8>> = Cache::builder().max_items(1024).policy(*policy).build();
        stress(&cache, 1024, None, 3_000);
    }
}

#[test]
fn stress_on_eight_small_shards_keeps_item_and_byte_bounds() {
    for policy in Policy::ALL {
        let cache: Cache<u32, Vec<u8>> = Cache::builder()
            .shards(8)
            .max_items(64)
            .max_weight(1000)
            .weigher(|_k, v: &Vec<u8>| v.len())
            .policy(*policy)
            .build();
        assert_eq!(cache.shard_count(), 8);
        stress(&cache, 64, Some(1000), 3_000);
    }
}

#[test]
fn get_or_insert_with_computes_once_per_key() {
    const KEYS: u32 = 16;
    let cache: Cache<u32, u64> = Cache::new(1000);
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..KEYS).map(|_| AtomicUsize::new(0)).collect());
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (cache, runs, barrier) = (cache.clone(), runs.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut seen = HashMap::new();
                for i in 0..KEYS {
                    // Every thread walks the keys from a different start.
                    let k = (i + t as u32 * 5) % KEYS;
                    let v = cache.get_or_insert_with(k, || {
                        runs[k as usize].fetch_add(1, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(5));
                        u64::from(k) * 1000 + t as u64
                    });
                    seen.insert(k, v);
                }
                seen
            })
        })
        .collect();
    let results: Vec<HashMap<u32, u64>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for k in 0..KEYS {
        assert_eq!(runs[k as usize].load(Ordering::SeqCst), 1, "key {k}");
        let first = results[0][&k];
        assert!(
            results.iter().all(|r| r[&k] == first),
            "everyone sees one value"
        );
        assert_eq!(cache.peek(&k), Some(first));
    }
    let s = cache.stats();
    assert_eq!(s.inserts, u64::from(KEYS));
    assert_eq!(s.hits + s.misses, (THREADS as u64) * u64::from(KEYS));
}

#[test]
fn a_panicking_init_reaches_its_caller_and_a_waiter_computes() {
    let cache: Cache<u32, u32> = Cache::new(10);
    let (started_tx, started_rx) = mpsc::channel();
    let leader = {
        let cache = cache.clone();
        thread::spawn(move || {
            cache.get_or_insert_with(1, || {
                started_tx.send(()).unwrap();
                thread::sleep(Duration::from_millis(100));
                panic!("init failed");
            })
        })
    };
    started_rx.recv().unwrap();
    let waiter_runs = Arc::new(AtomicUsize::new(0));
    let waiter = {
        let (cache, runs) = (cache.clone(), waiter_runs.clone());
        thread::spawn(move || {
            cache.get_or_insert_with(1, || {
                runs.fetch_add(1, Ordering::SeqCst);
                7
            })
        })
    };
    let err = leader.join().expect_err("the panic reaches the caller");
    assert_eq!(err.downcast_ref::<&str>(), Some(&"init failed"));
    assert_eq!(within(2, move || waiter.join().unwrap()), 7);
    assert_eq!(waiter_runs.load(Ordering::SeqCst), 1);
    assert_eq!(cache.get(&1), Some(7));
    // The cache still works for the key after the panic.
    assert_eq!(cache.get_or_insert_with(1, || unreachable!()), 7);
}

#[test]
fn a_failed_try_init_is_not_stored_and_a_waiter_retries() {
    let cache: Cache<u32, u32> = Cache::new(10);
    let (started_tx, started_rx) = mpsc::channel();
    let leader = {
        let cache = cache.clone();
        thread::spawn(move || {
            cache.try_get_or_insert_with(1, || {
                started_tx.send(()).unwrap();
                thread::sleep(Duration::from_millis(50));
                Err("down")
            })
        })
    };
    started_rx.recv().unwrap();
    let waiter = {
        let cache = cache.clone();
        thread::spawn(move || cache.try_get_or_insert_with(1, || Ok::<_, &str>(9)))
    };
    assert_eq!(leader.join().unwrap(), Err("down"));
    assert_eq!(waiter.join().unwrap(), Ok(9));
    assert_eq!(cache.get(&1), Some(9));
}

#[test]
fn nested_get_or_insert_with_on_another_key_completes() {
    let cache: Cache<u32, u32> = Cache::new(10);
    let v = within(2, move || {
        let inner = cache.clone();
        let v = cache.get_or_insert_with(1, || inner.get_or_insert_with(2, || 20) + 1);
        (v, cache.peek(&1), cache.peek(&2))
    });
    assert_eq!(v, (21, Some(21), Some(20)));
}

#[test]
fn recursion_on_the_same_key_computes_directly() {
    let cache: Cache<u32, u32> = Cache::new(10);
    let v = within(2, move || {
        let inner = cache.clone();
        let v = cache.get_or_insert_with(1, || inner.get_or_insert_with(1, || 5) * 2);
        (v, cache.peek(&1))
    });
    assert_eq!(v, (10, Some(10)));
}

#[test]
fn nested_read_throughs_from_many_threads_complete() {
    let cache: Cache<u32, u32> = Cache::new(1000);
    within(5, move || {
        let handles: Vec<_> = (0..THREADS as u32)
            .map(|t| {
                let cache = cache.clone();
                thread::spawn(move || {
                    for k in 0..50u32 {
                        let a = 100 + (k + t) % 50;
                        let inner = cache.clone();
                        // a -> b with b < 100 <= a: no cycle between keys.
                        let v = cache.get_or_insert_with(a, || {
                            inner.get_or_insert_with(a % 100, || a % 100) + 1
                        });
                        assert_eq!(v, a % 100 + 1);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

type Shared = Arc<OnceLock<Cache<u32, u32>>>;

thread_local! {
    static IN_LISTENER: Cell<bool> = const { Cell::new(false) };
}

#[test]
fn listeners_that_call_back_into_the_cache_do_not_deadlock() {
    let handle: Shared = Arc::new(OnceLock::new());
    let reentries = Arc::new(AtomicUsize::new(0));
    let cache: Cache<u32, u32> = {
        let (handle, reentries) = (handle.clone(), reentries.clone());
        Cache::builder()
            .shards(4)
            .max_items(64)
            .on_event(move |e: &Event<'_, u32, u32>| {
                if IN_LISTENER.with(Cell::get) {
                    return;
                }
                IN_LISTENER.with(|f| f.set(true));
                let cache = handle.get().expect("set before use");
                match e {
                    Event::Removed { key, .. } => {
                        cache.peek(*key);
                        cache.insert(**key + 10_000, 0);
                    }
                    Event::Hit { key, .. } | Event::Inserted { key, .. } => {
                        cache.get(*key);
                        cache.len();
                    }
                    _ => {
                        cache.stats();
                    }
                }
                reentries.fetch_add(1, Ordering::Relaxed);
                IN_LISTENER.with(|f| f.set(false));
            })
            .build()
    };
    handle.set(cache.clone()).unwrap();
    within(10, move || {
        let barrier = Arc::new(Barrier::new(THREADS));
        let hs: Vec<_> = (0..THREADS as u32)
            .map(|t| {
                let (cache, barrier) = (cache.clone(), barrier.clone());
                thread::spawn(move || {
                    barrier.wait();
                    for i in 0..500u32 {
                        let k = (i * 7 + t) % 200;
                        match i % 4 {
                            0 => {
                                let _ = cache.insert(k, i);
                            }
                            1 => {
                                let _ = cache.get(&k);
                            }
                            2 => {
                                let _ = cache.get_or_insert_with(k, || i);
                            }
                            _ => {
                                let _ = cache.remove(&k);
                            }
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert!(cache.len() <= 64);
    });
    assert!(reentries.load(Ordering::Relaxed) > 1000);
    assert_eq!(handle.get().unwrap().stats().listener_panics, 0);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn async_tasks_compute_a_key_once() {
    runtime().block_on(async {
        let cache: Cache<u32, u64> = Cache::new(100);
        let runs = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..64u64)
            .map(|i| {
                let (cache, runs) = (cache.clone(), runs.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_insert_with_async(7, async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            i
                        })
                        .await
                })
            })
            .collect();
        let mut values = Vec::new();
        for t in tasks {
            values.push(t.await.unwrap());
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(values.iter().all(|v| *v == values[0]));
        assert_eq!(cache.peek(&7), Some(values[0]));
    });
}

#[test]
fn a_cancelled_async_leader_hands_the_key_to_a_waiter() {
    runtime().block_on(async {
        let cache: Cache<u32, u32> = Cache::new(100);
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let leader = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_insert_with_async(1, async move {
                        started_tx.send(()).unwrap();
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        1
                    })
                    .await
            })
        };
        started_rx.await.unwrap();
        let waiter_runs = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let (cache, runs) = (cache.clone(), waiter_runs.clone());
            tokio::spawn(async move {
                cache
                    .get_or_insert_with_async(1, async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        2
                    })
                    .await
            })
        };
        // Let the waiter join the flight before the leader goes away.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(waiter_runs.load(Ordering::SeqCst), 0, "still waiting");
        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        let v = tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("the waiter took over")
            .unwrap();
        assert_eq!(v, 2);
        assert_eq!(waiter_runs.load(Ordering::SeqCst), 1);
        assert_eq!(cache.get(&1), Some(2));
    });
}

#[test]
fn threads_and_tasks_share_one_flight() {
    let cache: Cache<u32, u32> = Cache::new(100);
    let runs = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = mpsc::channel();
    let leader = {
        let (cache, runs) = (cache.clone(), runs.clone());
        thread::spawn(move || {
            cache.get_or_insert_with(1, || {
                runs.fetch_add(1, Ordering::SeqCst);
                started_tx.send(()).unwrap();
                thread::sleep(Duration::from_millis(100));
                42
            })
        })
    };
    started_rx.recv().unwrap();
    let v = runtime().block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (cache, runs) = (cache.clone(), runs.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_insert_with_async(1, async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            0
                        })
                        .await
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    assert_eq!(leader.join().unwrap(), 42);
    assert!(v.iter().all(|x| *x == 42));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn clones_share_state_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<Cache<String, Vec<u8>>>();
    let cache: Cache<u32, u32> = Cache::new(10_000);
    let hs: Vec<_> = (0..4u32)
        .map(|t| {
            let cache = cache.clone();
            thread::spawn(move || {
                for k in 0..1000 {
                    cache.insert(t * 1000 + k, k);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(cache.len(), 4000);
    assert_eq!(cache.stats().inserts, 4000);
}

// Regression: an invalidation that ran while a value was being computed was
// undone when the (older) result landed afterwards.
#[test]
fn invalidation_during_a_computation_keeps_its_result_out_of_the_cache() {
    type Invalidate = fn(&Cache<String, u32>);
    let cases: [(&str, Invalidate, bool); 6] = [
        (
            "remove",
            |c| {
                let _ = c.remove("k");
            },
            true,
        ),
        (
            "remove of another key",
            |c| {
                let _ = c.remove("other");
            },
            false,
        ),
        (
            "its tag",
            |c| {
                let _ = c.invalidate_tags(&["t"]);
            },
            true,
        ),
        (
            "an unrelated tag",
            |c| {
                let _ = c.invalidate_tags(&["unrelated"]);
            },
            false,
        ),
        (
            "glob",
            |c| {
                let _ = c.invalidate_glob("k*");
            },
            true,
        ),
        ("clear", |c| c.clear(), true),
    ];
    for (name, invalidate, dooms) in cases {
        let cache: Cache<String, u32> = Cache::new(100);
        let started = Arc::new(Barrier::new(2));
        let proceed = Arc::new(Barrier::new(2));
        let leader = {
            let (cache, started, proceed) = (cache.clone(), started.clone(), proceed.clone());
            thread::spawn(move || {
                cache.get_or_compute(
                    "k".to_string(),
                    |v| v,
                    || {
                        started.wait();
                        proceed.wait();
                        (1, Some(Insertion::new(1).with_tags(["t"])))
                    },
                )
            })
        };
        started.wait();
        invalidate(&cache);
        proceed.wait();
        assert_eq!(
            leader.join().unwrap(),
            1,
            "{name}: the caller still gets its value"
        );
        if dooms {
            assert_eq!(cache.get("k"), None, "{name}: the stale result was stored");
            assert_eq!(
                cache.get_or_insert_with("k".to_string(), || 2),
                2,
                "{name}: the next caller computes afresh"
            );
        } else {
            assert_eq!(
                cache.get("k"),
                Some(1),
                "{name}: an unrelated invalidation discarded it"
            );
        }
    }
}
