//! Stale-while-revalidate off the caller's path: within the stale window
//! every caller, a lone one included, gets the stale value at once while
//! one refresh runs on a thread (sync) or on a spawner (async). Loaders
//! are held and released with channels; to see a refresh's result the
//! clock is moved past the window, where a caller waits for the refresh
//! still in flight (or finds its value). Nothing sleeps.

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use cachelite::{BoxFuture, Cache, ManualClock, memoize};

const SEC: Duration = Duration::from_secs(1);

fn swr_cache(clock: &ManualClock) -> Cache<u32, String> {
    Cache::builder()
        .clock(clock.clone())
        .default_ttl(10 * SEC)
        .stale_ttl(5 * SEC)
        .build()
}

#[test]
fn a_lone_caller_gets_the_stale_value_at_once_and_one_refresh_runs_behind() {
    let clock = ManualClock::new();
    let cache = swr_cache(&clock);
    cache.insert(1, "old".into());
    clock.advance(12 * SEC);

    let runs = Arc::new(AtomicUsize::new(0));
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let load = {
        let runs = runs.clone();
        move || {
            runs.fetch_add(1, Ordering::SeqCst);
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            "new".to_string()
        }
    };
    assert_eq!(cache.get_or_insert_with_revalidating(1, load), "old");
    started.recv().unwrap(); // the refresh runs, on another thread
    // Every caller meanwhile gets the stale value, and starts nothing.
    for _ in 0..3 {
        let again =
            cache.get_or_insert_with_revalidating(1, || unreachable!("one refresh per key"));
        assert_eq!(again, "old");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    release.send(()).unwrap();

    clock.advance(4 * SEC); // past the stale window: wait for the refresh
    assert_eq!(
        cache.get_or_insert_with(1, || unreachable!("joins the refresh")),
        "new"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let s = cache.stats();
    assert_eq!((s.load_successes, s.load_failures), (1, 0));
}

#[test]
fn a_failed_refresh_keeps_the_stale_value_until_the_window_closes() {
    let clock = ManualClock::new();
    let cache = swr_cache(&clock);
    cache.insert(1, "old".into());
    clock.advance(12 * SEC);

    let (done_tx, done) = mpsc::channel();
    let out = cache.get_or_compute_revalidating(
        1,
        |v| v,
        move || {
            done_tx.send(()).unwrap();
            ("down".to_string(), None) // nothing to store
        },
    );
    assert_eq!(out, "old");
    done.recv().unwrap();
    // Whether or not that refresh's flight has ended yet, the next caller
    // in the window gets the stale value (and may start another refresh).
    let out = cache.get_or_compute_revalidating(1, |v| v, || ("down".to_string(), None));
    assert_eq!(out, "old", "still the stale value");
    // Past the window the stale value is gone.
    clock.advance(4 * SEC);
    assert_eq!(cache.get_or_insert_with(1, || "fresh".into()), "fresh");
    assert!(cache.stats().load_failures >= 1);
}

#[test]
fn a_panicking_refresh_is_caught_and_counted_and_keeps_the_stale_value() {
    let clock = ManualClock::new();
    let cache = swr_cache(&clock);
    cache.insert(1, "old".into());
    clock.advance(12 * SEC);

    let (dropped_tx, dropped) = mpsc::channel::<()>();
    let out = cache.get_or_insert_with_revalidating(1, move || {
        let _signal = dropped_tx; // dropped as the panic unwinds
        panic!("refresh failed")
    });
    assert_eq!(out, "old");
    assert!(dropped.recv().is_err(), "the refresh ran and unwound");
    // The flight ends just after the unwind; a caller in the window gets
    // the stale value whether or not it sees it ended.
    let out = cache.get_or_compute_revalidating(1, |v| v, || ("down".to_string(), None));
    assert_eq!(out, "old");
    // Past the window a caller waits out any refresh still running, then
    // computes; by then every refresh has been counted.
    clock.advance(4 * SEC);
    assert_eq!(cache.get_or_insert_with(1, || "fresh".into()), "fresh");
    let s = cache.stats();
    assert!((1..=2).contains(&s.load_failures), "{s:?}");
    assert_eq!(s.load_successes, 1);
}

#[test]
fn a_fresh_or_absent_key_computes_on_the_callers_path() {
    let clock = ManualClock::new();
    let cache = swr_cache(&clock);
    assert_eq!(cache.get_or_insert_with_revalidating(1, || "a".into()), "a");
    assert_eq!(
        cache.get_or_insert_with_revalidating(1, || unreachable!()),
        "a"
    );
    clock.advance(16 * SEC); // past TTL and window
    assert_eq!(cache.get_or_insert_with_revalidating(1, || "b".into()), "b");
}

// ---- #[memoize] ----

static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
static GATE: LazyLock<Mutex<Option<mpsc::Receiver<()>>>> = LazyLock::new(Mutex::default);
static RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize(ttl = 10, stale_ttl = 5, clock = CLOCK.clone())]
fn owned(name: String) -> String {
    let run = RUNS.fetch_add(1, Ordering::SeqCst);
    if let Some(gate) = GATE.lock().unwrap().take() {
        gate.recv().unwrap();
    }
    format!("{name} v{run}")
}

#[test]
fn a_memoized_fn_with_owned_arguments_refreshes_on_a_thread() {
    assert_eq!(owned("a".into()), "a v0");
    CLOCK.advance(12 * SEC);
    let (release, gate) = mpsc::channel();
    *GATE.lock().unwrap() = Some(gate);
    // Alone, and the refresh held: the stale value comes back at once.
    assert_eq!(owned("a".into()), "a v0");
    assert_eq!(owned("a".into()), "a v0");
    release.send(()).unwrap();
    CLOCK.advance(4 * SEC);
    assert_eq!(owned("a".into()), "a v1");
    assert_eq!(RUNS.load(Ordering::SeqCst), 2, "one refresh");
}

static NS_CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
static NS_RUNS: AtomicUsize = AtomicUsize::new(0);

// `Rc` cannot go to another thread: the refresh stays inline, and the fn
// still compiles.
#[memoize(ttl = 10, stale_ttl = 5, clock = NS_CLOCK.clone(), key: u32 = *n)]
fn not_send(n: Rc<u32>) -> usize {
    *n as usize * 10 + NS_RUNS.fetch_add(1, Ordering::SeqCst)
}

#[test]
fn a_memoized_fn_with_arguments_that_cannot_be_sent_refreshes_inline() {
    assert_eq!(not_send(Rc::new(1)), 10);
    NS_CLOCK.advance(12 * SEC);
    assert_eq!(not_send(Rc::new(1)), 11, "the lone caller refreshed");
}

// ---- async: a spawner of the test's own, and tokio ----

static QUEUE: LazyLock<Mutex<Vec<BoxFuture>>> = LazyLock::new(Mutex::default);
static A_CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
static A_RUNS: AtomicUsize = AtomicUsize::new(0);

fn queue(future: BoxFuture) {
    QUEUE.lock().unwrap().push(future);
}

#[memoize(ttl = 10, stale_ttl = 5, clock = A_CLOCK.clone(), spawn = queue)]
async fn fetch(id: u64) -> String {
    format!("{id} v{}", A_RUNS.fetch_add(1, Ordering::SeqCst))
}

#[test]
fn an_async_memoized_fn_hands_its_refresh_to_the_spawner() {
    futures::executor::block_on(async {
        assert_eq!(fetch(7).await, "7 v0");
        A_CLOCK.advance(12 * SEC);
        assert_eq!(fetch(7).await, "7 v0", "stale, at once");
        assert_eq!(fetch(7).await, "7 v0");
    });
    let queued: Vec<BoxFuture> = std::mem::take(&mut *QUEUE.lock().unwrap());
    assert_eq!(queued.len(), 1, "one refresh per key");
    assert_eq!(
        A_RUNS.load(Ordering::SeqCst),
        1,
        "nothing ran before the spawner did"
    );
    for refresh in queued {
        futures::executor::block_on(refresh);
    }
    futures::executor::block_on(async {
        assert_eq!(fetch(7).await, "7 v1");
    });
}

static T_CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
static T_RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize(ttl = 10, stale_ttl = 5, clock = T_CLOCK.clone(), spawn = cachelite::tokio_spawner())]
async fn profile(id: u64) -> String {
    format!("{id} v{}", T_RUNS.fetch_add(1, Ordering::SeqCst))
}

#[tokio::test]
async fn the_tokio_spawner_runs_refreshes_as_tasks() {
    assert_eq!(profile(1).await, "1 v0");
    T_CLOCK.advance(12 * SEC);
    assert_eq!(profile(1).await, "1 v0", "stale, at once");
    T_CLOCK.advance(4 * SEC); // past the window: waits for the task
    assert_eq!(profile(1).await, "1 v1");
    assert_eq!(T_RUNS.load(Ordering::SeqCst), 2);
}
