//! Every `#[memoize(...)]` attribute, by its effect. Time is driven by a
//! `ManualClock` (`clock = ...`), so nothing sleeps.
//!
//! Memoized fns share their caches across the tests of this binary, so each
//! test uses fns (and clocks) of its own.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::thread;
use std::time::Duration;

use cachelite::{CacheInfo, DeepSize, ManualClock, Policy, memoize};

use cachelite_tests::Runs;

static TTL_CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
static TTL_RUNS: Runs = Runs::new();

#[memoize(ttl = 60, clock = TTL_CLOCK.clone())]
fn with_ttl(x: u32) -> usize {
    x as usize * 1000 + TTL_RUNS.bump()
}

#[test]
fn ttl_expires_entries() {
    assert_eq!(with_ttl(1), 1001);
    TTL_CLOCK.advance(Duration::from_secs(59));
    assert_eq!(with_ttl(1), 1001, "fresh for 60 s");
    TTL_CLOCK.advance(Duration::from_secs(1));
    assert_eq!(with_ttl(1), 1002, "recomputed once expired");
    assert_eq!(
        with_ttl_cache_info().config.default_ttl,
        Some(Duration::from_secs(60))
    );
    assert_eq!(with_ttl_cache().ttl(&1), Some(Duration::from_secs(60)));
}

#[memoize(ttl = 0.5)]
fn float_ttl(x: u8) -> u8 {
    x
}

#[memoize(ttl = Duration::from_millis(1500))]
fn duration_ttl(x: u8) -> u8 {
    x
}

const TTL_SECS: u64 = 90;

#[memoize(ttl = TTL_SECS, jitter = 0.25, stale_ttl = Duration::from_secs(5))]
fn const_ttl(x: u8) -> u8 {
    x
}

#[memoize(ttl = 60 * 5, capacity = 1 << 10)]
fn arithmetic(x: u8) -> u8 {
    x
}

#[test]
fn ttl_takes_integers_floats_durations_and_expressions() {
    assert_eq!((float_ttl(1), duration_ttl(2), const_ttl(3)), (1, 2, 3));
    assert_eq!(arithmetic(4), 4);
    let info = arithmetic_cache_info();
    assert_eq!(
        (info.config.default_ttl, info.config.max_items),
        (Some(Duration::from_secs(300)), Some(1024))
    );
    assert_eq!(
        float_ttl_cache_info().config.default_ttl,
        Some(Duration::from_millis(500))
    );
    assert_eq!(
        duration_ttl_cache_info().config.default_ttl,
        Some(Duration::from_millis(1500))
    );
    assert_eq!(
        const_ttl_cache_info().config.default_ttl,
        Some(Duration::from_secs(90))
    );
}

static JITTER_CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

#[memoize(ttl = 10, jitter = 5, clock = JITTER_CLOCK.clone())]
fn jittered(x: u32) -> u32 {
    x
}

#[test]
fn jitter_spreads_each_entry_ttl_within_bounds() {
    let mut ttls = HashSet::new();
    for x in 0..50 {
        jittered(x);
        let ttl = jittered_cache().ttl(&x);
        let ttl = ttl.unwrap_or_default();
        assert!(
            (Duration::from_secs(10)..=Duration::from_secs(15)).contains(&ttl),
            "{ttl:?} outside [ttl, ttl + jitter]"
        );
        ttls.insert(ttl);
    }
    assert!(ttls.len() > 1, "entries do not all expire together");
}

static SWR_CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
static SWR_RUNS: Runs = Runs::new();
static SWR_REFRESHING: AtomicBool = AtomicBool::new(false);
static SWR_RELEASE: AtomicBool = AtomicBool::new(false);

// A borrowed argument cannot outlive the call, so the refresh stays on the
// caller's path (tests/stale.rs covers the background refresh).
#[memoize(ttl = 10, stale_ttl = 5, clock = SWR_CLOCK.clone())]
fn revalidated(x: &u32) -> usize {
    let run = SWR_RUNS.bump();
    if run == 2 {
        // The refresh: hold it until the test has seen stale reads.
        SWR_REFRESHING.store(true, Ordering::SeqCst);
        while !SWR_RELEASE.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(1));
        }
    }
    *x as usize * 100 + run
}

#[test]
fn with_borrowed_arguments_stale_values_are_served_while_one_caller_refreshes_inline() {
    assert_eq!(revalidated(&1), 101);
    SWR_CLOCK.advance(Duration::from_secs(12)); // past the TTL, within the stale window
    let refresher = thread::spawn(|| revalidated(&1));
    while !SWR_REFRESHING.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(1));
    }
    for _ in 0..5 {
        assert_eq!(revalidated(&1), 101, "the stale value, at once");
    }
    assert_eq!(SWR_RUNS.get(), 2, "one refresh only");
    SWR_RELEASE.store(true, Ordering::SeqCst);
    assert_eq!(
        refresher.join().ok(),
        Some(102),
        "the refresher gets the new value"
    );
    assert_eq!(revalidated(&1), 102);
    assert_eq!(SWR_RUNS.get(), 2);

    SWR_CLOCK.advance(Duration::from_secs(16)); // past TTL and stale window
    assert_eq!(revalidated(&1), 103, "too old even to serve stale");
}

/// One memoized fn per policy the runtime offers.
#[memoize(policy = "lru", capacity = 2)]
fn by_lru(x: u32) -> u32 {
    x
}
#[memoize(policy = "lfu", capacity = 2)]
fn by_lfu(x: u32) -> u32 {
    x
}
#[memoize(policy = "fifo", capacity = 2)]
fn by_fifo(x: u32) -> u32 {
    x
}
#[memoize(policy = "random", capacity = 2)]
fn by_random(x: u32) -> u32 {
    x
}
#[memoize(policy = "tinylfu", capacity = 2)]
fn by_tinylfu(x: u32) -> u32 {
    x
}
#[memoize(policy = "adaptive", capacity = 2)]
fn by_adaptive(x: u32) -> u32 {
    x
}

#[test]
fn every_runtime_policy_is_accepted() {
    type Memoized = (&'static str, fn(u32) -> u32, fn() -> CacheInfo);
    let fns: [Memoized; 6] = [
        ("lru", by_lru, by_lru_cache_info),
        ("lfu", by_lfu, by_lfu_cache_info),
        ("fifo", by_fifo, by_fifo_cache_info),
        ("random", by_random, by_random_cache_info),
        ("tinylfu", by_tinylfu, by_tinylfu_cache_info),
        ("adaptive", by_adaptive, by_adaptive_cache_info),
    ];
    // A policy added to the runtime fails this test until the macro (and
    // this list) accept it.
    let tested: Vec<&str> = fns.iter().map(|(n, _, _)| *n).collect();
    let runtime: Vec<&str> = Policy::ALL.iter().map(|p| p.name()).collect();
    assert_eq!(tested, runtime);
    assert_eq!(cachelite::__private::policy_names!(), runtime.as_slice());
    for (name, f, info) in fns {
        for x in 0..5 {
            assert_eq!(f(x), x);
        }
        let info = info();
        assert_eq!(info.config.policy.name(), name);
        assert_eq!((info.stats.len, info.stats.evictions), (2, 3));
    }
}

static LFU_RUNS: Runs = Runs::new();

#[memoize(policy = "lfu", capacity = 2)]
fn frequent(x: u32) -> u32 {
    LFU_RUNS.bump();
    x
}

#[test]
fn lfu_keeps_the_frequently_used_entry() {
    frequent(1);
    frequent(1);
    frequent(1);
    frequent(2);
    frequent(3); // evicts 2, used once
    assert_eq!(LFU_RUNS.get(), 3);
    frequent(1);
    assert_eq!(LFU_RUNS.get(), 3, "1 survived");
    assert_eq!(frequent_cache().get(&2), None);
}

#[memoize(capacity = 3)]
fn small(x: u32) -> u32 {
    x
}

#[memoize(max_items = 5)]
fn aliased(x: u32) -> u32 {
    x
}

const CAP: usize = 7;

#[memoize(capacity = CAP)]
fn const_capacity(x: u32) -> u32 {
    x
}

#[memoize(unbounded)]
fn boundless(x: u32) -> u32 {
    x
}

#[test]
fn capacity_bounds_the_cache() {
    for x in 0..10 {
        small(x);
    }
    let info = small_cache_info();
    assert_eq!(
        (info.stats.len, info.stats.evictions, info.config.max_items),
        (3, 7, Some(3))
    );
    assert_eq!((aliased(1), const_capacity(2)), (1, 2));
    assert_eq!(aliased_cache_info().config.max_items, Some(5));
    assert_eq!(const_capacity_cache_info().config.max_items, Some(7));
    for x in 0..20_000 {
        boundless(x);
    }
    let info = boundless_cache_info();
    assert_eq!(
        (info.stats.len, info.stats.evictions, info.config.max_items),
        (20_000, 0, None)
    );
}

#[derive(Clone, DeepSize)]
struct Page {
    body: String,
}

#[memoize(max_bytes = 8192)]
fn page(size: usize) -> Page {
    Page {
        body: "x".repeat(size),
    }
}

#[test]
fn max_bytes_bounds_the_cache_by_deep_size() {
    let info = page_cache_info();
    assert_eq!(
        (info.config.max_bytes, info.config.max_items),
        (Some(8192), None)
    );
    for size in 1..=20 {
        assert_eq!(page(size * 100).body.len(), size * 100);
    }
    let info = page_cache_info();
    assert!(info.stats.bytes <= 8192, "{} bytes held", info.stats.bytes);
    assert!(info.stats.evictions > 0);
    assert_eq!(
        page(100_000).body.len(),
        100_000,
        "too big to keep, still returned"
    );
    assert_eq!(page_cache().get(&100_000).map(|p| p.body.len()), None);
}

static OPTION_RUNS: Runs = Runs::new();

#[memoize]
fn find(email: &str) -> Option<u32> {
    OPTION_RUNS.bump();
    email.strip_suffix("@x.org").map(|name| name.len() as u32)
}

static CACHE_NONE_RUNS: Runs = Runs::new();

#[memoize(cache_none)]
fn find_remembering_misses(email: &str) -> Option<u32> {
    CACHE_NONE_RUNS.bump();
    email.strip_suffix("@x.org").map(|name| name.len() as u32)
}

#[test]
fn none_is_not_cached_unless_cache_none() {
    assert_eq!(find("ann@x.org"), Some(3));
    assert_eq!(find("ann@x.org"), Some(3));
    assert_eq!(find("bob@y.org"), None);
    assert_eq!(find("bob@y.org"), None);
    assert_eq!(OPTION_RUNS.get(), 3, "each `None` computes again");
    assert_eq!(
        find_cache().get("ann@x.org"),
        Some(3),
        "the `Some` value is stored"
    );

    assert_eq!(find_remembering_misses("bob@y.org"), None);
    assert_eq!(find_remembering_misses("bob@y.org"), None);
    assert_eq!(CACHE_NONE_RUNS.get(), 1);
    assert_eq!(find_remembering_misses_cache().get("bob@y.org"), Some(None));
}

static RESULT_RUNS: Runs = Runs::new();

#[memoize]
fn parse(s: &str) -> Result<i64, String> {
    RESULT_RUNS.bump();
    s.parse().map_err(|e| format!("{s}: {e}"))
}

static CACHE_ERR_RUNS: Runs = Runs::new();

#[memoize(cache_err)]
fn parse_remembering_errors(s: &str) -> Result<i64, String> {
    CACHE_ERR_RUNS.bump();
    s.parse().map_err(|e| format!("{s}: {e}"))
}

#[test]
fn err_is_never_cached_unless_cache_err() {
    assert_eq!(parse("12"), Ok(12));
    assert_eq!(parse("12"), Ok(12));
    assert!(parse("x").is_err());
    assert!(parse("x").is_err());
    assert_eq!(RESULT_RUNS.get(), 3);
    assert_eq!(
        parse_cache().get("12"),
        Some(12),
        "the `Ok` value is stored"
    );

    assert!(parse_remembering_errors("x").is_err());
    assert!(parse_remembering_errors("x").is_err());
    assert_eq!(CACHE_ERR_RUNS.get(), 1);
    assert!(matches!(
        parse_remembering_errors_cache().get("x"),
        Some(Err(_))
    ));
}

static IO_RUNS: Runs = Runs::new();

#[memoize]
fn read_config(name: &str) -> std::io::Result<String> {
    IO_RUNS.bump();
    if name == "missing" {
        Err(std::io::Error::new(std::io::ErrorKind::NotFound, "missing"))
    } else {
        Ok(format!("[{name}]"))
    }
}

mod errors {
    pub(crate) type Result<T> = std::result::Result<T, String>;
}

static ALIAS_RUNS: Runs = Runs::new();

#[memoize]
fn aliased_result(x: u32) -> errors::Result<u32> {
    ALIAS_RUNS.bump();
    if x == 0 { Err("zero".into()) } else { Ok(x) }
}

type Lookup = Result<u32, String>;
type Maybe = Option<u32>;

static FLAG_RUNS: Runs = Runs::new();

#[memoize(result)]
fn flagged_result(x: u32) -> Lookup {
    FLAG_RUNS.bump();
    if x == 0 { Err("zero".into()) } else { Ok(x) }
}

#[memoize(option)]
fn flagged_option(x: u32) -> Maybe {
    FLAG_RUNS.bump();
    (x != 0).then_some(x)
}

#[test]
fn results_through_paths_aliases_and_flags() {
    assert!(read_config("missing").is_err());
    assert!(read_config("missing").is_err());
    assert_eq!(read_config("a").ok().as_deref(), Some("[a]"));
    assert_eq!(read_config("a").ok().as_deref(), Some("[a]"));
    assert_eq!(IO_RUNS.get(), 3);

    assert!(aliased_result(0).is_err());
    assert!(aliased_result(0).is_err());
    assert_eq!(aliased_result(1), Ok(1));
    assert_eq!(aliased_result(1), Ok(1));
    assert_eq!(ALIAS_RUNS.get(), 3);

    // Aliases the macro cannot see through: the flags say what they are.
    assert!(flagged_result(0).is_err());
    assert!(flagged_result(0).is_err());
    assert_eq!(flagged_result(2), Ok(2));
    assert_eq!(flagged_result(2), Ok(2));
    assert_eq!(FLAG_RUNS.get(), 3);
    assert_eq!(flagged_result_cache().get(&2), Some(2));
    assert_eq!(flagged_option(0), None);
    assert_eq!(flagged_option(0), None);
    assert_eq!(flagged_option(3), Some(3));
    assert_eq!(flagged_option(3), Some(3));
    assert_eq!(FLAG_RUNS.get(), 6);
}

static CONDITION_RUNS: Runs = Runs::new();

#[memoize(condition = |v: &u32| v.is_multiple_of(2))]
fn halve(x: u32) -> u32 {
    CONDITION_RUNS.bump();
    x / 2
}

#[derive(Clone, Debug, PartialEq)]
struct User {
    name: String,
    active: bool,
}

static USER_RUNS: Runs = Runs::new();

#[memoize(condition = |user| user.active)]
fn load_user(id: u32) -> Result<User, String> {
    USER_RUNS.bump();
    match id {
        0 => Err("no such user".into()),
        _ => Ok(User {
            name: format!("u{id}"),
            active: id % 2 == 1,
        }),
    }
}

#[allow(clippy::ptr_arg, reason = "a condition takes `&T` of the cached `T`")]
fn is_short(s: &String) -> bool {
    s.len() < 4
}

#[memoize(condition = is_short)]
fn word(n: usize) -> String {
    "w".repeat(n)
}

#[test]
fn condition_decides_what_is_kept() {
    assert_eq!(halve(8), 4);
    assert_eq!(halve(8), 4);
    assert_eq!(halve(6), 3);
    assert_eq!(halve(6), 3);
    assert_eq!(CONDITION_RUNS.get(), 3, "odd results are not kept");

    assert_eq!(load_user(1).map(|u| u.name), Ok("u1".into()));
    assert_eq!(load_user(1).map(|u| u.name), Ok("u1".into()));
    assert!(load_user(2).is_ok_and(|u| !u.active));
    assert!(load_user(2).is_ok());
    assert!(load_user(0).is_err());
    assert_eq!(USER_RUNS.get(), 4, "the condition sees the `Ok` value");

    word(2);
    word(9);
    assert_eq!(word_cache().len(), 1);
}

struct Db {
    rows: Vec<&'static str>,
}

static TAG_RUNS: Runs = Runs::new();

#[memoize(
    key = format!("user:{id}"),
    tags = [format!("user:{id}"), "users".to_string()],
    ttl = 300
)]
fn profile(id: u64, db: &Db) -> Result<String, String> {
    TAG_RUNS.bump();
    let index = usize::try_from(id).map_err(|e| e.to_string())?;
    db.rows
        .get(index)
        .map(|s| (*s).to_owned())
        .ok_or_else(|| "missing".into())
}

#[test]
fn a_key_expression_leaves_other_arguments_out_and_tags_group_entries() {
    let db = Db {
        rows: vec!["ann", "bob", "cy"],
    };
    assert_eq!(profile(0, &db).as_deref(), Ok("ann"));
    assert_eq!(profile(1, &db).as_deref(), Ok("bob"));
    assert_eq!(profile(2, &db).as_deref(), Ok("cy"));
    assert_eq!(profile(0, &db).as_deref(), Ok("ann"));
    assert_eq!(TAG_RUNS.get(), 3);

    let cache = profile_cache();
    assert_eq!(cache.get("user:1").as_deref(), Some("bob"));
    assert_eq!(cache.invalidate_tags(&["user:1"]), 1);
    assert_eq!(cache.len(), 2);
    assert!(
        profile_cache_invalidate(0),
        "invalidate takes the key's arguments only"
    );
    assert_eq!(cache.invalidate_glob("user:*"), 1);
    assert_eq!(profile(1, &db).as_deref(), Ok("bob"));
    assert_eq!(cache.invalidate_tags(&["users"]), 1);
    assert_eq!(TAG_RUNS.get(), 4);
}

static TYPED_KEY_RUNS: Runs = Runs::new();

struct Request {
    user: u32,
    trace: String,
}

#[memoize(key: u32 = request.user)]
fn permissions(request: &Request) -> Vec<&'static str> {
    TYPED_KEY_RUNS.bump();
    let _ = &request.trace;
    if request.user == 0 {
        vec!["admin"]
    } else {
        vec!["read"]
    }
}

#[memoize(key = (id, tenant), capacity = 16)]
fn scoped(id: u32, tenant: &str, _log: &mut Vec<String>) -> String {
    TYPED_KEY_RUNS.bump();
    format!("{tenant}/{id}")
}

#[test]
fn declared_and_inferred_key_types() {
    let a = Request {
        user: 0,
        trace: "t1".into(),
    };
    let b = Request {
        user: 0,
        trace: "t2".into(),
    };
    assert_eq!(permissions(&a), ["admin"]);
    assert_eq!(permissions(&b), ["admin"], "only `user` is in the key");
    assert_eq!(TYPED_KEY_RUNS.get(), 1);
    assert!(permissions_cache_invalidate(&a));

    let mut log = Vec::new();
    assert_eq!(scoped(1, "acme", &mut log), "acme/1");
    assert_eq!(scoped(1, "acme", &mut log), "acme/1");
    assert_eq!(TYPED_KEY_RUNS.get(), 2);
    assert_eq!(
        scoped_cache().get(&(1, "acme".to_owned())).as_deref(),
        Some("acme/1")
    );
    assert!(scoped_cache_invalidate(1, "acme"));
}

#[derive(Clone)]
struct Heavy {
    data: Arc<Vec<u8>>,
}

#[memoize(capacity = 4)]
fn heavy(n: usize) -> Heavy {
    Heavy {
        data: Arc::new(vec![0; n]),
    }
}

#[test]
fn values_behind_arc_are_shared_not_copied() {
    let a = heavy(1000);
    let b = heavy(1000);
    assert!(Arc::ptr_eq(&a.data, &b.data));
}

const TTL_SECS_U32: u32 = 30;

#[memoize(ttl = TTL_SECS_U32)]
fn ttl_from_u32_const(x: u8) -> u8 {
    x
}

#[test]
fn ttl_takes_any_unsigned_integer_expression() {
    ttl_from_u32_const(1);
    assert_eq!(
        ttl_from_u32_const_cache_info().config.default_ttl,
        Some(std::time::Duration::from_secs(30))
    );
}

static MISCONFIGURED_RUNS: Runs = Runs::new();

/// A `ttl` computed at run time, so the macro cannot check it.
fn ttl_from_config() -> u64 {
    0
}

#[memoize(ttl = ttl_from_config())]
fn misconfigured(x: u32) -> u32 {
    MISCONFIGURED_RUNS.bump();
    x + 1
}

#[test]
fn a_zero_ttl_known_only_at_run_time_caches_nothing_and_never_panics() {
    assert_eq!(misconfigured(1), 2);
    assert_eq!(misconfigured(1), 2);
    assert_eq!(MISCONFIGURED_RUNS.get(), 2, "every call runs the body");
    assert_eq!(misconfigured_cache_info().stats.len, 0);
    assert!(
        cachelite::registry()
            .iter()
            .any(|(name, _)| name.ends_with("::misconfigured")),
        "the cache is still listed"
    );
}

fn negative_seconds() -> i64 {
    -5
}

#[memoize(ttl = negative_seconds())]
fn negative_ttl(x: u32) -> u32 {
    x
}

#[test]
fn a_negative_ttl_known_only_at_run_time_caches_nothing() {
    assert_eq!(negative_ttl(3), 3);
    assert_eq!(negative_ttl_cache_info().stats.len, 0);
}

#[memoize(ttl = "5m", stale_ttl = "500ms", policy = "LFU")]
fn with_units(x: u32) -> u32 {
    x
}

#[memoize(ttl = "1d", policy = cachelite::Policy::TinyLfu)]
fn with_path_policy(x: u32) -> u32 {
    x
}

#[test]
fn durations_with_units_and_policies_in_any_form() {
    let _ = (with_units(1), with_path_policy(1));
    let info = with_units_cache_info();
    assert_eq!(info.config.default_ttl, Some(Duration::from_secs(300)));
    assert_eq!(info.config.policy, Policy::Lfu);
    let info = with_path_policy_cache_info();
    assert_eq!(info.config.default_ttl, Some(Duration::from_secs(86_400)));
    assert_eq!(info.config.policy, Policy::TinyLfu);
}
