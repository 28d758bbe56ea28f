//! Cycles of singleflight waits: a computation that needs, through other
//! threads', tasks' or caches' computations, a key waiting on itself. The
//! caller that would close the loop computes instead of waiting; waits
//! that close no loop still wait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, LazyLock, mpsc};
use std::thread;
use std::time::Duration;

use cachelite::{Cache, memoize};
use cachelite_tests::within;

/// The fallback a caller runs when it computes a key in flight elsewhere:
/// `key * 100`, counted.
fn fallback(runs: &AtomicUsize, key: u32) -> u32 {
    runs.fetch_add(1, Ordering::SeqCst);
    key * 100
}

/// `n` threads; thread `i` computes key `i + 1`, which needs key
/// `(i + 1) % n + 1`, computed by the next thread: a ring of waits.
/// Returns each thread's result, the fallback runs, and the cache.
fn ring(n: u32) -> (Vec<u32>, usize, Cache<u32, u32>) {
    let cache: Cache<u32, u32> = Cache::new(100);
    let barrier = Arc::new(Barrier::new(n as usize));
    let runs = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (1..=n)
        .map(|k| {
            let (cache, barrier, runs) = (cache.clone(), barrier.clone(), runs.clone());
            thread::spawn(move || {
                let next = k % n + 1;
                cache.get_or_insert_with(k, || {
                    // Every key is in flight before any is asked for.
                    barrier.wait();
                    cache.get_or_insert_with(next, || fallback(&runs, next)) + k
                })
            })
        })
        .collect();
    let results = handles.into_iter().map(|h| h.join().unwrap()).collect();
    (results, runs.load(Ordering::SeqCst), cache)
}

/// Checks a ring's outcome: exactly one caller broke the loop with the
/// fallback, every other got the next key's stored value, and every
/// thread's result is what its key holds.
fn check_ring(n: u32, results: &[u32], fallbacks: usize, cache: &Cache<u32, u32>) {
    assert_eq!(fallbacks, 1, "one caller closes the loop, once");
    let mut broken = 0;
    for k in 1..=n {
        let next = k % n + 1;
        let mine = results[k as usize - 1];
        let theirs = results[next as usize - 1];
        assert_eq!(
            cache.peek(&k),
            Some(mine),
            "key {k} holds its leader's value"
        );
        if mine == next * 100 + k {
            broken += 1;
        } else {
            assert_eq!(mine, theirs + k, "key {k} waited for key {next}");
        }
    }
    assert_eq!(broken, 1);
}

#[test]
fn a_cycle_of_waits_between_two_threads_is_broken() {
    let (results, fallbacks, cache) = within(10, || ring(2));
    check_ring(2, &results, fallbacks, &cache);
    // The breaker's own value was not stored over the leader's.
    assert_eq!(cache.len(), 2);
}

#[test]
fn a_cycle_of_waits_among_three_threads_is_broken() {
    let (results, fallbacks, cache) = within(10, || ring(3));
    check_ring(3, &results, fallbacks, &cache);
}

#[test]
fn a_cycle_of_waits_between_two_tasks_is_broken() {
    let (results, fallbacks, cache) = within(10, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let cache: Cache<u32, u32> = Cache::new(100);
            let barrier = Arc::new(tokio::sync::Barrier::new(2));
            let runs = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<_> = (1..=2u32)
                .map(|k| {
                    let (cache, barrier, runs) = (cache.clone(), barrier.clone(), runs.clone());
                    tokio::spawn(async move {
                        let next = k % 2 + 1;
                        let inner = cache.clone();
                        cache
                            .get_or_insert_with_async(k, async move {
                                barrier.wait().await;
                                // Yield once more, so the wait spans polls.
                                tokio::task::yield_now().await;
                                let theirs = inner
                                    .get_or_insert_with_async(next, async { fallback(&runs, next) })
                                    .await;
                                theirs + k
                            })
                            .await
                    })
                })
                .collect();
            let mut results = Vec::new();
            for t in tasks {
                results.push(t.await.unwrap());
            }
            (results, runs.load(Ordering::SeqCst), cache)
        })
    });
    check_ring(2, &results, fallbacks, &cache);
}

#[test]
fn an_async_computation_awaiting_its_own_key_does_not_wait_on_itself() {
    let cache: Cache<u32, u32> = Cache::new(10);
    let c = cache.clone();
    let v = within(10, move || {
        futures::executor::block_on(c.get_or_insert_with_async(1, async {
            c.get_or_insert_with_async(1, async { 5 }).await + 1
        }))
    });
    assert_eq!(v, 6);
    assert_eq!(cache.peek(&1), Some(6));
}

static PING_PONG: Barrier = Barrier::new(2);

/// Needs `pong(n)` on its first call; a caller that breaks a cycle gets 10.
#[memoize(key = n)]
fn ping(n: u32, first: bool) -> u32 {
    if first {
        PING_PONG.wait();
        pong(n, false) + 1
    } else {
        10
    }
}

/// Needs `ping(n)` on its first call; a caller that breaks a cycle gets 20.
#[memoize(key = n)]
fn pong(n: u32, first: bool) -> u32 {
    if first {
        PING_PONG.wait();
        ping(n, false) + 2
    } else {
        20
    }
}

#[test]
fn a_cycle_across_two_memoized_fns_is_broken() {
    let (p, q) = within(10, || {
        let a = thread::spawn(|| ping(1, true));
        let b = thread::spawn(|| pong(1, true));
        (a.join().unwrap(), b.join().unwrap())
    });
    // Either thread may be the one that closes the loop.
    assert!(
        (p, q) == (13, 12) || (p, q) == (21, 23),
        "ping {p}, pong {q}"
    );
    assert_eq!(ping_cache().peek(&1), Some(p));
    assert_eq!(pong_cache().peek(&1), Some(q));
    // Two bodies led, one more ran to break the loop; the other caller
    // got the value it waited for.
    let (pi, qi) = (ping_cache_info(), pong_cache_info());
    assert_eq!(pi.stats.misses + qi.stats.misses, 3);
    assert_eq!(pi.stats.hits + qi.stats.hits, 1);
}

static ASYNC_PING_PONG: LazyLock<tokio::sync::Barrier> =
    LazyLock::new(|| tokio::sync::Barrier::new(2));

#[memoize(key = n)]
async fn ping_async(n: u32, first: bool) -> u32 {
    if first {
        ASYNC_PING_PONG.wait().await;
        Box::pin(pong_async(n, false)).await + 1
    } else {
        10
    }
}

#[memoize(key = n)]
async fn pong_async(n: u32, first: bool) -> u32 {
    if first {
        ASYNC_PING_PONG.wait().await;
        Box::pin(ping_async(n, false)).await + 2
    } else {
        20
    }
}

#[test]
fn a_cycle_across_two_async_memoized_fns_is_broken() {
    let (p, q) = within(10, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let a = tokio::spawn(ping_async(1, true));
            let b = tokio::spawn(pong_async(1, true));
            (a.await.unwrap(), b.await.unwrap())
        })
    });
    assert!(
        (p, q) == (13, 12) || (p, q) == (21, 23),
        "ping {p}, pong {q}"
    );
    assert_eq!(ping_async_cache().peek(&1), Some(p));
    assert_eq!(pong_async_cache().peek(&1), Some(q));
}

#[test]
fn a_chain_of_waits_that_closes_no_cycle_still_waits() {
    // Thread C computes 3 until released; B computes 2, which needs 3; A
    // computes 1, which needs 2. Every key is computed once, by its leader.
    let cache: Cache<u32, u32> = Cache::new(10);
    let runs = Arc::new(AtomicUsize::new(0));
    let (c_leads, c_leading) = mpsc::channel();
    let (release_c, c_released) = mpsc::channel::<()>();
    let (b_leads, b_leading) = mpsc::channel();
    let (c2, r2) = (cache.clone(), runs.clone());
    let results = within(10, move || {
        let c = {
            let cache = c2.clone();
            thread::spawn(move || {
                cache.get_or_insert_with(3, || {
                    c_leads.send(()).unwrap();
                    c_released.recv().unwrap();
                    3
                })
            })
        };
        c_leading.recv().unwrap();
        let b = {
            let (cache, runs) = (c2.clone(), r2.clone());
            thread::spawn(move || {
                cache.get_or_insert_with(2, || {
                    b_leads.send(()).unwrap();
                    cache.get_or_insert_with(3, || fallback(&runs, 3)) + 20
                })
            })
        };
        b_leading.recv().unwrap();
        let a = {
            let (cache, runs) = (c2.clone(), r2.clone());
            thread::spawn(move || {
                cache.get_or_insert_with(1, || {
                    cache.get_or_insert_with(2, || fallback(&runs, 2)) + 100
                })
            })
        };
        // Give A and B time to start waiting (if they have not, they find
        // the values stored: the outcome is the same).
        thread::sleep(Duration::from_millis(50));
        release_c.send(()).unwrap();
        [a, b, c].map(|h| h.join().unwrap())
    });
    assert_eq!(results, [123, 23, 3]);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "nobody computed in a leader's stead"
    );
    let s = cache.stats();
    assert_eq!((s.misses, s.hits), (3, 2));
}

#[test]
fn many_threads_waiting_on_one_leader_from_inside_their_own_computations() {
    // Waiters that lead something themselves go through the cycle check;
    // none of them may mistake the shared wait for a cycle.
    let cache: Cache<u32, u32> = Cache::new(100);
    let runs = Arc::new(AtomicUsize::new(0));
    let (leads, leading) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let c2 = cache.clone();
    let r2 = runs.clone();
    let results = within(10, move || {
        let leader = {
            let cache = c2.clone();
            thread::spawn(move || {
                cache.get_or_insert_with(0, || {
                    leads.send(()).unwrap();
                    released.recv().unwrap();
                    7
                })
            })
        };
        leading.recv().unwrap();
        let waiters: Vec<_> = (1..=8u32)
            .map(|k| {
                let (cache, runs) = (c2.clone(), r2.clone());
                thread::spawn(move || {
                    cache.get_or_insert_with(k, || {
                        cache.get_or_insert_with(0, || fallback(&runs, 0)) + k
                    })
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(50));
        release.send(()).unwrap();
        let mut out = vec![leader.join().unwrap()];
        out.extend(waiters.into_iter().map(|h| h.join().unwrap()));
        out
    });
    assert_eq!(results, [7, 8, 9, 10, 11, 12, 13, 14, 15]);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}
