//! `#[memoize]` on `async fn`s and on fns returning `impl Future`: any
//! executor, `Send` futures, borrowed arguments, singleflight across tasks,
//! and a leader that panics or is cancelled.
//!
//! Memoized fns share their caches across the tests of this binary, so each
//! test uses fns of its own.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cachelite::memoize;

use cachelite_tests::Runs;

fn assert_send<T: Send>(_: &T) {}

static DOUBLE_RUNS: Runs = Runs::new();

#[memoize]
async fn double(x: u64) -> u64 {
    DOUBLE_RUNS.bump();
    x * 2
}

#[test]
fn async_fns_cache_on_any_executor() {
    assert_eq!(futures::executor::block_on(double(4)), 8);
    assert_eq!(futures::executor::block_on(double(4)), 8);
    let rt = tokio::runtime::Builder::new_current_thread().build();
    let rt = rt.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rt.block_on(double(4)), 8);
    assert_eq!(DOUBLE_RUNS.get(), 1);
    assert_eq!(double_cache_info().stats.hits, 2);
}

#[derive(Clone, Debug, PartialEq)]
struct Profile {
    id: u64,
    name: String,
}

#[derive(Debug, PartialEq)]
enum DbError {
    Missing(u64),
}

struct Db {
    names: Vec<&'static str>,
}

impl Db {
    async fn name(&self, id: u64) -> Option<&'static str> {
        tokio::task::yield_now().await;
        usize::try_from(id)
            .ok()
            .and_then(|i| self.names.get(i).copied())
    }
}

static PROFILE_RUNS: Runs = Runs::new();

#[memoize(
    key = format!("user:{id}"),
    tags = [format!("user:{id}"), "users".to_string()],
    ttl = 300
)]
async fn profile(id: u64, db: &Db) -> Result<Profile, DbError> {
    PROFILE_RUNS.bump();
    let name = db.name(id).await.ok_or(DbError::Missing(id))?;
    Ok(Profile {
        id,
        name: name.to_owned(),
    })
}

#[tokio::test]
async fn borrowed_arguments_tags_and_errors() {
    let db = Db {
        names: vec!["ann", "bob"],
    };
    let future = profile(1, &db);
    assert_send(&future);
    assert_eq!(future.await.map(|p| p.name).as_deref(), Ok("bob"));
    assert_eq!(profile(1, &db).await.map(|p| p.id), Ok(1));
    assert_eq!(profile(7, &db).await, Err(DbError::Missing(7)));
    assert_eq!(profile(7, &db).await, Err(DbError::Missing(7)));
    assert_eq!(PROFILE_RUNS.get(), 3, "errors are not cached");

    assert_eq!(profile_cache().invalidate_tags(&["user:1"]), 1);
    assert_eq!(profile(1, &db).await.map(|p| p.id), Ok(1));
    assert_eq!(PROFILE_RUNS.get(), 4);
    assert!(profile_cache_invalidate(1));
    assert_eq!(
        profile_cache_info().config.default_ttl,
        Some(Duration::from_secs(300))
    );
}

static PARSE_RUNS: Runs = Runs::new();

#[memoize]
async fn parse_async(s: &str) -> Result<i64, Box<dyn std::error::Error + Send + Sync>> {
    PARSE_RUNS.bump();
    let n: i64 = s.trim().parse()?;
    if n < 0 {
        return Err("negative".into());
    }
    Ok(n)
}

#[test]
fn question_mark_and_return_work_in_async_bodies() {
    let run = |s: &str| futures::executor::block_on(parse_async(s)).map_err(|e| e.to_string());
    assert_eq!(run(" 42 "), Ok(42));
    assert_eq!(run(" 42 "), Ok(42));
    assert_eq!(run("-1"), Err("negative".to_owned()));
    assert!(run("x").is_err());
    assert_eq!(PARSE_RUNS.get(), 3);
}

static IMPL_RUNS: Runs = Runs::new();

#[memoize(capacity = 8)]
fn fetch(x: u32) -> impl Future<Output = u32> + Send {
    async move {
        IMPL_RUNS.bump();
        tokio::task::yield_now().await;
        x + 1
    }
}

#[tokio::test]
async fn fns_returning_impl_future() {
    let future = fetch(1);
    assert_send(&future);
    assert_eq!(future.await, 2);
    assert_eq!(fetch(1).await, 2);
    assert_eq!(IMPL_RUNS.get(), 1);
    assert_eq!(fetch_cache_info().config.max_items, Some(8));
}

static TASK_RUNS: Runs = Runs::new();

#[memoize]
async fn slow_square(x: u64) -> u64 {
    TASK_RUNS.bump();
    tokio::time::sleep(Duration::from_millis(50)).await;
    x * x
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_tasks_run_the_body_once() {
    const TASKS: usize = 16;
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                slow_square(9).await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.ok(), Some(81));
    }
    assert_eq!(TASK_RUNS.get(), 1);
}

static MIXED_RUNS: Runs = Runs::new();

#[memoize]
async fn blocking_cube(x: u64) -> u64 {
    MIXED_RUNS.bump();
    std::thread::sleep(Duration::from_millis(50));
    x * x * x
}

#[test]
fn threads_each_with_their_own_executor_share_one_computation() {
    const THREADS: usize = 6;
    let barrier = Arc::new(std::sync::Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                futures::executor::block_on(blocking_cube(3))
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().ok(), Some(27));
    }
    assert_eq!(MIXED_RUNS.get(), 1);
}

static CANCEL_RUNS: Runs = Runs::new();

#[memoize]
async fn cancellable(x: u32) -> u32 {
    if CANCEL_RUNS.bump() == 1 {
        // The first leader never finishes on its own.
        std::future::pending::<()>().await;
    }
    x * 10
}

/// Yields until `cond` holds.
async fn until(cond: impl Fn() -> bool) {
    while !cond() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn a_cancelled_leader_hands_the_work_to_a_waiter() {
    let leader = tokio::spawn(cancellable(4));
    until(|| CANCEL_RUNS.get() == 1).await;
    let waiter = tokio::spawn(cancellable(4));
    tokio::time::sleep(Duration::from_millis(20)).await; // the waiter joins the flight
    assert_eq!(
        CANCEL_RUNS.get(),
        1,
        "the waiter waits rather than computing"
    );
    leader.abort();
    assert!(leader.await.is_err_and(|e| e.is_cancelled()));
    assert_eq!(waiter.await.ok(), Some(40));
    assert_eq!(CANCEL_RUNS.get(), 2);
    assert_eq!(cancellable(4).await, 40);
    assert_eq!(CANCEL_RUNS.get(), 2);
}

static PANIC_RUNS: Runs = Runs::new();

#[memoize]
async fn fragile(x: u32) -> u32 {
    let run = PANIC_RUNS.bump();
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(run != 1, "the first run fails");
    x + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_leader_reaches_its_task_and_a_waiter_computes() {
    let leader = tokio::spawn(fragile(1));
    until(|| PANIC_RUNS.get() == 1).await;
    let waiter = tokio::spawn(fragile(1));
    assert!(leader.await.is_err_and(|e| e.is_panic()));
    assert_eq!(waiter.await.ok(), Some(2));
    assert_eq!(PANIC_RUNS.get(), 2);
}

static METHOD_RUNS: Runs = Runs::new();

struct Service {
    region: &'static str,
}

impl Service {
    #[memoize(key = format!("{}:{id}", self.region))]
    async fn describe(&self, id: u32) -> String {
        METHOD_RUNS.bump();
        tokio::task::yield_now().await;
        format!("{} #{id}", self.region)
    }
}

#[tokio::test]
async fn async_methods() {
    let eu = Service { region: "eu" };
    let us = Service { region: "us" };
    let future = eu.describe(1);
    assert_send(&future);
    assert_eq!(future.await, "eu #1");
    assert_eq!(us.describe(1).await, "us #1");
    assert_eq!(eu.describe(1).await, "eu #1");
    assert_eq!(METHOD_RUNS.get(), 2);
    assert_eq!(Service::describe_cache().len(), 2);
    assert!(us.describe_cache_invalidate(1));
    Service::describe_cache_clear();
    assert_eq!(Service::describe_cache_info().stats.len, 0);
}

static UNSHARED_RUNS: Runs = Runs::new();
const UNSHARED_TASKS: usize = 3;

#[memoize(singleflight = false)]
async fn unshared(x: u32) -> u32 {
    UNSHARED_RUNS.bump();
    // Wait (up to a bound) until every task is in the body at once.
    let wait = until(|| UNSHARED_RUNS.get() >= UNSHARED_TASKS);
    let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
    x
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_singleflight_concurrent_tasks_each_compute() {
    let tasks: Vec<_> = (0..UNSHARED_TASKS)
        .map(|_| tokio::spawn(unshared(5)))
        .collect();
    for t in tasks {
        assert_eq!(t.await.ok(), Some(5));
    }
    assert_eq!(UNSHARED_RUNS.get(), UNSHARED_TASKS);
    assert_eq!(unshared(5).await, 5);
    assert_eq!(UNSHARED_RUNS.get(), UNSHARED_TASKS);
}

static BOXED_RUNS: Runs = Runs::new();

/// The pre-`async fn` style: memoized as an `impl Future` fn is.
#[memoize]
fn boxed(x: u32) -> std::pin::Pin<Box<dyn Future<Output = u32> + Send>> {
    if x == 0 {
        return Box::pin(async { 0 });
    }
    Box::pin(async move {
        BOXED_RUNS.bump();
        tokio::task::yield_now().await;
        x * 3
    })
}

#[tokio::test]
async fn fns_returning_a_boxed_future() {
    let future = boxed(2);
    assert_send(&future);
    assert_eq!(future.await, 6);
    assert_eq!(boxed(2).await, 6);
    assert_eq!(boxed(0).await, 0);
    assert_eq!(BOXED_RUNS.get(), 1);
    assert_eq!(boxed_cache().get(&2), Some(6));
}
