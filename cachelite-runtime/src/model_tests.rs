//! Model-checked concurrency: shuttle runs each scenario under many
//! schedules of the engine's own lock operations (random and PCT), so the
//! interleavings that a stress test meets once in a million runs are met
//! in every `cargo test`. Iterations are bounded to keep it to seconds.
//!
//! Every lock a cache makes inside [`model_checked`] is shuttle's; the
//! caches here use a fixed hasher so a failing schedule replays.

use std::future::Future;
use std::hash::BuildHasherDefault;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use shuttle::thread;

use crate::sync::model_checked;
use crate::{Cache, Insertion, Policy};

type Fixed = BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

const ITERATIONS: usize = 300;

fn cache(policy: Policy, max_items: usize) -> Cache<u32, u32, Fixed> {
    Cache::builder()
        .max_items(max_items)
        .policy(policy)
        .shards(1)
        .hasher(Fixed::default())
        .build()
}

/// Every index of every shard agrees, and the bounds hold.
fn check(c: &Cache<u32, u32, Fixed>) {
    for shard in &*c.inner.shards {
        shard.write().check_invariants();
    }
    if let Some(m) = c.max_items() {
        assert!(c.len() <= m);
    }
}

/// Values are `key * 100 + version`: a read returns its own key's value.
fn own(key: u32, got: Option<u32>) {
    if let Some(v) = got {
        assert_eq!(v / 100, key, "key {key} read {v}");
    }
}

fn explore(f: impl Fn() + Send + Sync + 'static) {
    explore_n(ITERATIONS, f);
}

fn explore_n(iterations: usize, f: impl Fn() + Send + Sync + 'static) {
    let f = Arc::new(f);
    let g = f.clone();
    shuttle::check_random(move || model_checked(|| f()), iterations);
    shuttle::check_pct(move || model_checked(|| g()), iterations, 3);
}

#[test]
fn hits_race_inserts_evictions_and_invalidations() {
    for policy in [Policy::Lru, Policy::Lfu, Policy::TinyLfu, Policy::Adaptive] {
        explore(move || {
            let c = cache(policy, 2);
            c.insert(1, 100);
            c.insert_with_tags(2, 200, ["t"]);
            let reads = Arc::new(AtomicUsize::new(0));
            let readers: Vec<_> = (0..2)
                .map(|r| {
                    let (c, reads) = (c.clone(), reads.clone());
                    thread::spawn(move || {
                        for i in 0..4u32 {
                            let key = 1 + (i + r) % 2;
                            own(key, c.get(&key));
                            reads.fetch_add(1, Ordering::Relaxed);
                            own(key, c.peek(&key));
                            assert!(c.len() <= 2, "bound exceeded");
                        }
                    })
                })
                .collect();
            let writer = {
                let c = c.clone();
                thread::spawn(move || {
                    c.insert(3, 300); // evicts one
                    assert!(c.len() <= 2);
                    c.remove(&1);
                    assert!(!c.contains_key(&1), "removed key still readable");
                    c.insert(1, 101);
                    c.invalidate_tags(&["t"]);
                    assert!(!c.contains_key(&2), "invalidated key still readable");
                })
            };
            for h in readers {
                h.join().unwrap();
            }
            writer.join().unwrap();
            check(&c);
            let s = c.stats();
            assert_eq!(s.hits + s.misses, reads.load(Ordering::Relaxed) as u64);
            assert_eq!(s.inserts, 4);
        });
    }
}

#[test]
fn buffered_hits_drain_without_touching_removed_slots() {
    // More schedules than the others: a stale cell needs a writer's
    // store to lag a reader's application of the same ring position.
    for policy in [Policy::Lru, Policy::Lfu, Policy::Fifo, Policy::TinyLfu] {
        explore_n(1500, move || {
            let c = cache(policy, 3);
            for k in 0..3 {
                c.insert(k, k * 100);
            }
            let readers: Vec<_> = (0..2)
                .map(|r| {
                    let c = c.clone();
                    // Past a stripe's length: each reader fills its stripe
                    // and drains the buffer (its own and the other's).
                    thread::spawn(move || {
                        for i in 0..7u32 {
                            let key = (i + r) % 4;
                            own(key, c.get(&key));
                        }
                    })
                })
                .collect();
            let writer = {
                let c = c.clone();
                thread::spawn(move || {
                    c.remove(&0);
                    c.insert(3, 300);
                    c.insert(4, 400); // evicts, reusing slots readers touched
                    c.insert(0, 1);
                })
            };
            for h in readers {
                h.join().unwrap();
            }
            writer.join().unwrap();
            check(&c);
            assert_eq!(c.stats().hits + c.stats().misses, 14);
        });
    }
}

#[test]
fn marked_hits_race_evictions_admissions_and_slot_reuse() {
    // The adaptive policy's hits store into a per-slot byte under the
    // shared lock, while writers evict (main's hand reads and rewrites the
    // bytes), reject newcomers, remove from the window's middle and reuse
    // the freed slots: every schedule must keep the indices, the bounds
    // and the counts exact.
    explore_n(1000, || {
        let c = cache(Policy::Adaptive, 3);
        for k in 0..3 {
            c.insert(k, k * 100);
        }
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let c = c.clone();
                thread::spawn(move || {
                    for i in 0..6u32 {
                        let key = (i + r) % 5;
                        own(key, c.get(&key));
                        assert!(c.len() <= 3, "bound exceeded");
                    }
                })
            })
            .collect();
        let writer = {
            let c = c.clone();
            thread::spawn(move || {
                c.insert(3, 300); // over the bound: admission or eviction
                c.remove(&1);
                c.insert(4, 400); // reuses a freed slot
                c.insert(1, 101);
                assert!(c.len() <= 3);
            })
        };
        for h in readers {
            h.join().unwrap();
        }
        writer.join().unwrap();
        check(&c);
        assert_eq!(c.stats().hits + c.stats().misses, 12);
    });
}

#[test]
fn one_computation_per_key_and_waiters_get_its_value() {
    explore(|| {
        let c = cache(Policy::Lru, 4);
        let runs = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let (c, runs) = (c.clone(), runs.clone());
                thread::spawn(move || {
                    c.get_or_insert_with(7, || {
                        runs.fetch_add(1, Ordering::Relaxed);
                        thread::yield_now();
                        700
                    })
                })
            })
            .collect();
        for h in callers {
            assert_eq!(h.join().unwrap(), 700);
        }
        assert_eq!(runs.load(Ordering::Relaxed), 1);
        let s = c.stats();
        assert_eq!((s.misses, s.hits), (1, 2));
        check(&c);
    });
}

#[test]
fn a_leader_that_panics_hands_the_key_to_a_waiter() {
    explore(|| {
        let c = cache(Policy::Lru, 4);
        let runs = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..2u32)
            .map(|i| {
                let (c, runs) = (c.clone(), runs.clone());
                thread::spawn(move || {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        c.get_or_insert_with(7, || {
                            let n = runs.fetch_add(1, Ordering::Relaxed);
                            thread::yield_now();
                            assert!(n > 0 || i == 1, "first leader gives up");
                            700 + i
                        })
                    }))
                })
            })
            .collect();
        let outcomes: Vec<_> = callers.into_iter().map(|h| h.join().unwrap()).collect();
        let ok: Vec<u32> = outcomes.into_iter().filter_map(Result::ok).collect();
        // Whoever computed after a panic stored its value; nobody waits forever.
        assert!(!ok.is_empty());
        if let Some(v) = c.peek(&7) {
            assert!(ok.contains(&v));
        }
        check(&c);
    });
}

#[test]
fn a_cancelled_async_leader_hands_the_key_to_a_waiter() {
    explore(|| {
        let c = cache(Policy::Lru, 4);
        let leader = {
            let c = c.clone();
            thread::spawn(move || {
                // Polled once, then dropped mid-computation.
                let fut = c.get_or_insert_with_async(7, async {
                    futures::future::pending::<()>().await;
                    0
                });
                let mut fut = Box::pin(fut);
                let waker = futures::task::noop_waker();
                let mut cx = std::task::Context::from_waker(&waker);
                // Pending if it leads; ready if the other caller stored first.
                let _ = fut.as_mut().poll(&mut cx);
                drop(fut);
            })
        };
        let waiter = {
            let c = c.clone();
            thread::spawn(move || c.get_or_insert_with(7, || 701))
        };
        leader.join().unwrap();
        assert_eq!(waiter.join().unwrap(), 701);
        assert_eq!(c.peek(&7), Some(701));
        check(&c);
    });
}

#[test]
fn invalidation_mid_flight_keeps_the_result_out() {
    explore(|| {
        let c = cache(Policy::Lru, 4);
        let computing = Arc::new(AtomicUsize::new(0));
        let leader = {
            let (c, computing) = (c.clone(), computing.clone());
            thread::spawn(move || {
                c.get_or_compute(
                    7,
                    |v| v,
                    || {
                        computing.store(1, Ordering::SeqCst);
                        thread::yield_now();
                        (700, Some(Insertion::new(700).with_tags(["t"])))
                    },
                )
            })
        };
        let invalidator = {
            let (c, computing) = (c.clone(), computing.clone());
            thread::spawn(move || {
                let began = computing.load(Ordering::SeqCst) == 1;
                c.remove(&7);
                c.invalidate_tags(&["t"]);
                began
            })
        };
        assert_eq!(leader.join().unwrap(), 700, "the caller gets its result");
        let began_before = invalidator.join().unwrap();
        if began_before {
            // Computed from data older than the invalidation: not stored.
            assert_eq!(c.peek(&7), None);
        }
        check(&c);
    });
}

#[test]
fn a_job_queued_as_the_last_refresh_worker_times_out_still_runs() {
    // The model lets a waiting worker time out at any point, lock
    // released, while other threads queue jobs: whatever the order, every
    // job runs. A stranded job, or a worker asleep through its
    // notification, leaves the receiver blocked for good, which shuttle
    // reports as a deadlock.
    use crate::refresher::{Job, Refresher, Turn};
    use shuttle::sync::mpsc;

    fn report(tx: &mpsc::Sender<(u32, Turn)>, n: u32) -> Job {
        let tx = tx.clone();
        Box::new(move |turn| tx.send((n, turn)).unwrap())
    }

    explore(|| {
        let pool = Refresher::new(1, 4, std::time::Duration::from_secs(3600));
        let (tx, rx) = mpsc::channel();
        assert!(pool.submit(0, report(&tx, 0)).is_ok());
        assert_eq!(rx.recv().unwrap(), (0, Turn::Run));
        // The worker now idles, and may time out at any step.
        let submitters: Vec<_> = (1..3)
            .map(|n| {
                let (pool, job) = (pool.clone(), report(&tx, n));
                thread::spawn(move || pool.submit(n.into(), job).is_ok())
            })
            .collect();
        for s in submitters {
            assert!(s.join().unwrap(), "room in the queue");
        }
        let mut ran = [rx.recv().unwrap(), rx.recv().unwrap()];
        ran.sort_unstable_by_key(|&(n, _)| n);
        assert_eq!(ran, [(1, Turn::Run), (2, Turn::Run)]);
        assert!(pool.workers() <= 1, "never past the bound");
        // Time passes: the idle worker times out and exits.
        while pool.workers() > 0 {
            pool.wake_one();
            thread::yield_now();
        }
    });
}
