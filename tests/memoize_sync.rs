//! `#[memoize]` on sync fns and methods: keys from every kind of argument,
//! the accessors, the registry, singleflight across threads, panics and
//! recursion.
//!
//! Memoized fns share their caches across the tests of this binary, so each
//! test uses fns of its own.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use cachelite::memoize;

use cachelite_tests::Runs;

#[memoize]
fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

#[test]
fn recursive_fib_is_memoized() {
    assert_eq!(fib(90), 2_880_067_194_370_816_120);
    let info = fib_cache_info();
    assert_eq!(info.stats.len, 91, "one entry per n in 0..=90");
    assert_eq!(info.stats.misses, 91, "each n computed once");
    assert_eq!(fib(90), 2_880_067_194_370_816_120);
    assert_eq!(fib_cache_info().stats.misses, 91);
}

static SQUARE_RUNS: Runs = Runs::new();

/// Squares `x`, slowly.
#[memoize]
fn square(x: u32) -> u32 {
    SQUARE_RUNS.bump();
    x * x
}

#[test]
fn repeated_calls_hit_the_cache() {
    assert_eq!(square(3), 9);
    assert_eq!(square(3), 9);
    assert_eq!(square(4), 16);
    assert_eq!(SQUARE_RUNS.get(), 2);
    let info = square_cache_info();
    assert_eq!(
        (info.stats.hits, info.stats.misses, info.stats.len),
        (1, 2, 2)
    );
    assert_eq!(info.config.max_items, Some(10_000), "the default capacity");
    assert_eq!(
        info.config.policy,
        cachelite::Policy::Lru,
        "the default policy"
    );
    assert_eq!(info.config.default_ttl, None, "no TTL by default");
    assert!((info.hit_rate() - 1.0 / 3.0).abs() < 1e-9);
}

static ACCESSOR_RUNS: Runs = Runs::new();

#[memoize]
fn accessors(a: u32, b: u32) -> u32 {
    ACCESSOR_RUNS.bump();
    a + b
}

#[test]
fn accessors_clear_invalidate_and_expose_the_cache() {
    assert_eq!(accessors(1, 2), 3);
    assert_eq!(accessors(2, 2), 4);
    assert_eq!(ACCESSOR_RUNS.get(), 2);

    assert!(accessors_cache_invalidate(1, 2), "an entry was there");
    assert!(!accessors_cache_invalidate(1, 2), "and is gone");
    assert!(!accessors_cache_invalidate(9, 9), "never cached");
    assert_eq!(accessors(1, 2), 3);
    assert_eq!(ACCESSOR_RUNS.get(), 3, "recomputed after invalidation");

    // The full cache API, keyed by the tuple of the arguments.
    let cache = accessors_cache();
    assert_eq!(cache.get(&(2, 2)), Some(4));
    cache.insert((5, 5), 99);
    assert_eq!(accessors(5, 5), 99, "a value inserted by hand is served");
    assert_eq!(ACCESSOR_RUNS.get(), 3);

    accessors_cache_clear();
    assert_eq!(accessors_cache_info().stats.len, 0);
    assert_eq!(accessors(2, 2), 4);
    assert_eq!(ACCESSOR_RUNS.get(), 4);
}

static NO_ARG_RUNS: Runs = Runs::new();

#[memoize]
fn config() -> String {
    NO_ARG_RUNS.bump();
    "loaded".to_owned()
}

#[test]
fn a_fn_without_arguments_caches_one_value() {
    assert_eq!(config(), "loaded");
    assert_eq!(config(), "loaded");
    assert_eq!(NO_ARG_RUNS.get(), 1);
    assert!(config_cache_invalidate());
    assert_eq!(config_cache().get(&()), None);
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Point {
    x: i32,
    y: i32,
}

static REF_RUNS: Runs = Runs::new();

#[memoize]
fn shout(s: &str) -> String {
    REF_RUNS.bump();
    s.to_uppercase()
}

#[memoize]
fn checksum(bytes: &[u8]) -> u32 {
    REF_RUNS.bump();
    bytes.iter().map(|b| u32::from(*b)).sum()
}

#[memoize]
fn norm(p: &Point) -> i32 {
    REF_RUNS.bump();
    p.x.abs() + p.y.abs()
}

#[memoize]
fn twice_borrowed(s: &&str) -> usize {
    REF_RUNS.bump();
    s.len()
}

#[memoize]
fn maybe_len(s: Option<&str>) -> usize {
    REF_RUNS.bump();
    s.map_or(0, str::len)
}

#[test]
fn borrowed_arguments_are_keyed_by_their_owned_form() {
    let owned = String::from("hi");
    assert_eq!(shout(&owned), "HI");
    assert_eq!(shout("hi"), "HI");
    assert_eq!(REF_RUNS.get(), 1);
    // `&str` is keyed by `String`, so the cache can be read with a `&str`.
    assert_eq!(shout_cache().get("hi").as_deref(), Some("HI"));
    assert!(shout_cache_invalidate("hi"));

    assert_eq!(checksum(&[1, 2, 3]), 6);
    let bytes: Vec<u8> = vec![1, 2, 3];
    assert_eq!(checksum(&bytes), 6);
    assert_eq!(REF_RUNS.get(), 2);
    assert_eq!(checksum_cache().get(&vec![1_u8, 2, 3]), Some(6));

    assert_eq!(norm(&Point { x: -1, y: 2 }), 3);
    assert_eq!(norm(&Point { x: -1, y: 2 }), 3);
    assert_eq!(REF_RUNS.get(), 3);
    assert_eq!(norm_cache().get(&Point { x: -1, y: 2 }), Some(3));

    assert_eq!(twice_borrowed(&"abc"), 3);
    assert_eq!(twice_borrowed(&"abc"), 3);
    assert_eq!(REF_RUNS.get(), 4);
    assert_eq!(twice_borrowed_cache().get("abc"), Some(3));

    assert_eq!(maybe_len(Some("abcd")), 4);
    assert_eq!(maybe_len(None), 0);
    assert_eq!(maybe_len(Some("abcd")), 4);
    assert_eq!(REF_RUNS.get(), 6);
    assert_eq!(maybe_len_cache().get(&Some("abcd".to_owned())), Some(4));
}

static PATTERN_RUNS: Runs = Runs::new();

#[memoize]
fn manhattan((x, y): (i64, i64), _: &str, Point { x: px, y: py }: Point) -> i64 {
    PATTERN_RUNS.bump();
    (x - i64::from(px)).abs() + (y - i64::from(py)).abs()
}

#[test]
fn destructured_arguments_are_keyed_whole_and_wildcards_are_left_out() {
    assert_eq!(manhattan((1, 1), "a", Point { x: 0, y: 0 }), 2);
    // `_` is not part of the key: the body cannot read it.
    assert_eq!(manhattan((1, 1), "b", Point { x: 0, y: 0 }), 2);
    assert_eq!(PATTERN_RUNS.get(), 1);
    assert_eq!(manhattan((2, 1), "a", Point { x: 0, y: 0 }), 3);
    assert_eq!(PATTERN_RUNS.get(), 2);
    assert_eq!(
        manhattan_cache().get(&((2, 1), Point { x: 0, y: 0 })),
        Some(3)
    );
}

static MUT_RUNS: Runs = Runs::new();

#[memoize]
fn consume(mut v: Vec<u8>) -> usize {
    MUT_RUNS.bump();
    v.push(0);
    v.len()
}

#[test]
fn arguments_taken_by_value_can_be_mutated_by_the_body() {
    assert_eq!(consume(vec![1, 2]), 3);
    assert_eq!(consume(vec![1, 2]), 3);
    assert_eq!(MUT_RUNS.get(), 1);
}

#[memoize]
fn early_return(x: i32) -> Result<i32, String> {
    if x < 0 {
        return Err(format!("{x} is negative"));
    }
    let parsed: i32 = "2".parse().map_err(|_| "bad".to_owned())?;
    Ok(x * parsed)
}

#[test]
fn return_and_question_mark_work_in_the_body() {
    assert_eq!(early_return(-1), Err("-1 is negative".to_owned()));
    assert_eq!(early_return(4), Ok(8));
    assert_eq!(early_return_cache().len(), 1, "only the `Ok` is cached");
}

static REGISTERED_RUNS: Runs = Runs::new();

#[memoize]
fn registered(x: u8) -> u8 {
    REGISTERED_RUNS.bump();
    x
}

#[memoize(name = "sync::renamed")]
fn renamed(x: u8) -> u8 {
    x
}

#[memoize]
fn never_called(x: u8) -> u8 {
    x
}

#[test]
fn the_registry_lists_memoized_fns_once_called() {
    registered(1);
    registered(1);
    renamed(2);
    let registry = cachelite::registry();
    let find = |name: &str| {
        registry
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, i)| i.clone())
    };
    let info = find("memoize_sync::registered");
    assert_eq!(
        info.map(|i| (i.stats.hits, i.stats.misses, i.stats.len)),
        Some((1, 1, 1))
    );
    assert!(find("sync::renamed").is_some());
    assert!(
        find("memoize_sync::renamed").is_none(),
        "`name` replaces the path"
    );
    assert!(
        find("memoize_sync::never_called").is_none(),
        "listed once used"
    );
    assert_eq!(never_called(3), 3);
    assert!(
        cachelite::registry()
            .iter()
            .any(|(n, _)| *n == "memoize_sync::never_called")
    );
    assert_eq!(REGISTERED_RUNS.get(), 1);
}

static FLIGHT_RUNS: Runs = Runs::new();

#[memoize]
fn slow_double(x: u64) -> u64 {
    FLIGHT_RUNS.bump();
    thread::sleep(Duration::from_millis(50));
    x * 2
}

#[test]
fn concurrent_threads_run_the_body_once() {
    const THREADS: usize = 8;
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                slow_double(21)
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().ok(), Some(42));
    }
    assert_eq!(FLIGHT_RUNS.get(), 1);
}

static UNSHARED_RUNS: Runs = Runs::new();
const UNSHARED_THREADS: usize = 4;

#[memoize(singleflight = false)]
fn unshared_double(x: u64) -> u64 {
    UNSHARED_RUNS.bump();
    // Wait (up to a bound) until every thread is in the body at once.
    let start = std::time::Instant::now();
    while UNSHARED_RUNS.get() < UNSHARED_THREADS && start.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(1));
    }
    x * 2
}

#[test]
fn without_singleflight_every_concurrent_miss_computes() {
    let handles: Vec<_> = (0..UNSHARED_THREADS)
        .map(|_| thread::spawn(|| unshared_double(5)))
        .collect();
    for h in handles {
        assert_eq!(h.join().ok(), Some(10));
    }
    assert_eq!(UNSHARED_RUNS.get(), UNSHARED_THREADS);
    assert_eq!(unshared_double(5), 10);
    assert_eq!(UNSHARED_RUNS.get(), UNSHARED_THREADS, "then it is cached");
}

static PANIC_RUNS: Runs = Runs::new();

#[memoize]
fn fragile(x: u32) -> u32 {
    let run = PANIC_RUNS.bump();
    thread::sleep(Duration::from_millis(50));
    assert!(run != 1, "the first run fails");
    x + 1
}

#[test]
fn a_panic_reaches_its_caller_and_a_waiter_computes_instead() {
    let barrier = Arc::new(Barrier::new(2));
    let leader = {
        let barrier = barrier.clone();
        thread::spawn(move || {
            barrier.wait();
            fragile(1)
        })
    };
    let waiter = thread::spawn(move || {
        barrier.wait();
        // Join the flight after the leader has started.
        thread::sleep(Duration::from_millis(10));
        fragile(1)
    });
    let (a, b) = (leader.join(), waiter.join());
    let results = [a.ok(), b.ok()];
    assert!(results.contains(&None), "one caller saw the panic");
    assert!(results.contains(&Some(2)), "the other computed");
    assert_eq!(PANIC_RUNS.get(), 2);
    assert_eq!(fragile(1), 2);
    assert_eq!(PANIC_RUNS.get(), 2);
}

static METHOD_RUNS: Runs = Runs::new();

struct Repo {
    prefix: String,
}

impl Repo {
    /// Looks a user up; `&self` is not part of the key, on purpose.
    #[memoize(capacity = 100, shared_across_instances)]
    fn lookup(&self, id: u32) -> String {
        METHOD_RUNS.bump();
        format!("{}{id}", self.prefix)
    }

    #[memoize(key = format!("{}/{id}", self.prefix))]
    fn scoped(&self, id: u32) -> String {
        METHOD_RUNS.bump();
        format!("{}{id}", self.prefix)
    }

    #[memoize]
    fn associated(id: u32) -> u32 {
        METHOD_RUNS.bump();
        Self::double(id)
    }

    fn double(x: u32) -> u32 {
        x * 2
    }
}

#[test]
fn methods_have_associated_accessors() {
    let a = Repo {
        prefix: "a:".into(),
    };
    let b = Repo {
        prefix: "b:".into(),
    };
    assert_eq!(a.lookup(1), "a:1");
    // `shared_across_instances`: the receiver is not part of the key, so
    // `b` gets `a`'s result.
    assert_eq!(b.lookup(1), "a:1");
    assert_eq!(METHOD_RUNS.get(), 1);
    assert_eq!(Repo::lookup_cache_info().config.max_items, Some(100));
    assert!(Repo::lookup_cache_invalidate(1));
    Repo::lookup_cache_clear();
    assert_eq!(b.lookup(1), "b:1");
    assert_eq!(METHOD_RUNS.get(), 2);

    // A key naming `self` tells receivers apart.
    assert_eq!(a.scoped(1), "a:1");
    assert_eq!(b.scoped(1), "b:1");
    assert_eq!(a.scoped(1), "a:1");
    assert_eq!(METHOD_RUNS.get(), 4);
    assert!(a.scoped_cache_invalidate(1));
    assert!(!a.scoped_cache_invalidate(1));
    assert_eq!(Repo::scoped_cache().get("b:/1").as_deref(), Some("b:1"));

    assert_eq!(Repo::associated(4), 8);
    assert_eq!(Repo::associated(4), 8);
    assert_eq!(METHOD_RUNS.get(), 5);
    assert!(
        cachelite::registry()
            .iter()
            .any(|(n, _)| *n == "memoize_sync::Repo::lookup"),
        "methods register as `Type::method`"
    );
}

static MUT_SELF_RUNS: Runs = Runs::new();

struct Counter {
    id: u32,
    calls: u32,
}

impl Counter {
    #[memoize(key: (u32, u32) = (self.id, n))]
    fn tally(&mut self, n: u32) -> u32 {
        MUT_SELF_RUNS.bump();
        self.calls += 1;
        self.id * 100 + n
    }
}

#[test]
fn a_mut_self_method_with_a_key() {
    let mut c = Counter { id: 1, calls: 0 };
    assert_eq!(c.tally(2), 102);
    assert_eq!(c.tally(2), 102);
    assert_eq!(
        (c.calls, MUT_SELF_RUNS.get()),
        (1, 1),
        "a hit skips the body"
    );
    assert_eq!(Counter::tally_cache().get(&(1, 2)), Some(102));
}

static ACCOUNT_RUNS: Runs = Runs::new();

struct Account {
    id: u64,
    rate: u64,
}

impl Account {
    #[memoize(key: (u64, u64) = (self.id, amount))]
    fn interest(&self, amount: u64) -> u64 {
        ACCOUNT_RUNS.bump();
        amount * self.rate / 100
    }

    /// Never reads `self`: one entry per argument is right for every
    /// instance, and no attribute is needed.
    #[memoize]
    fn percent(&self, amount: u64) -> u64 {
        ACCOUNT_RUNS.bump();
        amount / 100
    }
}

#[test]
fn a_key_naming_self_gives_each_instance_its_own_results() {
    let a = Account { id: 1, rate: 5 };
    let b = Account { id: 2, rate: 10 };
    assert_eq!(a.interest(100), 5);
    assert_eq!(b.interest(100), 10, "b computes its own result");
    assert_eq!(a.interest(100), 5);
    assert_eq!(b.interest(100), 10);
    assert_eq!(ACCOUNT_RUNS.get(), 2);
    assert_eq!(Account::interest_cache().get(&(2, 100)), Some(10));
    assert!(b.interest_cache_invalidate(100));
    assert_eq!(Account::interest_cache().get(&(1, 100)), Some(5));

    assert_eq!(a.percent(300), 3);
    assert_eq!(b.percent(300), 3);
    assert_eq!(
        ACCOUNT_RUNS.get(),
        3,
        "a method that ignores self shares its entries"
    );
}

static PLAIN_ASSOC_RUNS: Runs = Runs::new();

struct Geometry;

impl Geometry {
    /// Mentions `Self` nowhere, in its signature or its body.
    #[memoize]
    fn cube(x: u64) -> u64 {
        PLAIN_ASSOC_RUNS.bump();
        x * x * x
    }
}

#[test]
fn an_associated_fn_that_never_mentions_self() {
    assert_eq!(Geometry::cube(2), 8);
    assert_eq!(Geometry::cube(2), 8);
    assert_eq!(PLAIN_ASSOC_RUNS.get(), 1);
    assert_eq!(Geometry::cube_cache_info().stats.len, 1);
    assert!(Geometry::cube_cache_invalidate(2));
    Geometry::cube_cache_clear();
    assert_eq!(Geometry::cube_cache().len(), 0);
}
