//! Test harness for the SQL stores: the servers named by
//! `CACHELITE_POSTGRES_URL` and `CACHELITE_MYSQL_URL`, and the tests both
//! stores run ([`shared_tests!`], over a store implementing [`SqlStore`]).
//!
//! An unset variable skips the test with a message, unless
//! `CACHELITE_REQUIRE_SQL=1`, which turns the skip (and an unreachable
//! server) into a failure. Each test uses a namespace of its own and
//! drops its tables afterwards, even when it fails.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cachelite_redis::{Error, Event, Feed, Put, Store, TieredCache};
use futures::FutureExt;

/// Generous enough for a loaded CI machine.
pub const PATIENT: Duration = Duration::from_secs(5);

pub fn require() -> bool {
    std::env::var("CACHELITE_REQUIRE_SQL").is_ok_and(|v| v == "1")
}

/// The URL in `var`, or `None` after a message (a failure when required).
pub fn url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                !require(),
                "{var} is unset, and CACHELITE_REQUIRE_SQL=1: name the test server"
            );
            eprintln!("skipping: {var} is unset (set CACHELITE_REQUIRE_SQL=1 to fail instead)");
            None
        }
    }
}

/// A server that did not answer: a failure when required, else a skip.
pub fn unreachable(what: &str, e: &dyn std::fmt::Display) {
    assert!(
        !require(),
        "{what} is unreachable ({e}), and CACHELITE_REQUIRE_SQL=1"
    );
    eprintln!("skipping: {what} is unreachable: {e}");
}

/// A namespace no other test (or run) uses; with a dot and capitals, so
/// that every test also covers the escaping of namespaces.
pub fn namespace(test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "T.{test}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    )
}

/// Runs `body`, then `cleanup` whatever happened, then passes a panic on.
pub async fn with_cleanup<F, C>(body: F, cleanup: C)
where
    F: Future<Output = ()>,
    C: Future<Output = ()>,
{
    let outcome = AssertUnwindSafe(body).catch_unwind().await;
    cleanup.await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Polls `check` every 10 ms until it holds, for at most `secs` seconds.
pub async fn until<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---- what the SQL stores' tests share ----

/// A SQL store under test: how its tests open one, and the raw access
/// they need to look at its tables.
pub trait SqlStore: Store + Clone + Send + Sync + 'static {
    type Builder;
    /// The server, as messages name it.
    const SERVER: &'static str;
    /// The entries' key column.
    const KEY_COLUMN: &'static str;
    /// A URL where no server listens.
    const UNREACHABLE: &'static str;
    /// The variable naming the test server.
    const URL_VAR: &'static str;

    /// The test server's URL; `None` after a message (a failure when
    /// required) when it is not named or not reachable.
    fn url() -> impl Future<Output = Option<String>>;
    /// A builder for `ns` at `url` with patient timeouts.
    fn builder(url: &str, ns: &str) -> Self::Builder;
    /// A builder at `url` with the defaults.
    fn defaults(url: &str) -> Self::Builder;
    fn build(b: Self::Builder) -> Result<Self, Error>;
    fn connect_timeout(b: Self::Builder, t: Duration) -> Self::Builder;
    fn circuit_breaker(b: Self::Builder, failures: u32, cooldown: Duration) -> Self::Builder;
    fn sweep_interval(b: Self::Builder, t: Duration) -> Self::Builder;
    /// Values compressed from 16 bytes on and encrypted.
    fn layered(b: Self::Builder) -> Self::Builder;
    fn table(&self) -> &str;
    fn sweep(&self) -> impl Future<Output = Result<u64, Error>>;
    fn drop_tables(&self) -> impl Future<Output = Result<(), Error>>;
    /// `SELECT count(*) FROM {from}` on a connection of its own.
    fn count_rows(url: &str, from: &str) -> impl Future<Output = i64>;
}

/// Writes announced from this origin.
pub const ME: Put = Put::Announce { origin: 1 };

pub fn same<B>(b: B) -> B {
    b
}

pub fn origin_of(ev: &Event) -> u64 {
    match ev {
        Event::Message(m) => m.origin,
        other => panic!("expected a message, got {other:?}"),
    }
}

pub async fn next_message<F: Feed>(feed: &mut F) -> Event {
    tokio::time::timeout(PATIENT, feed.next())
        .await
        .expect("an event in time")
}

/// Runs `body` with a store in a fresh namespace, then drops its tables.
/// Skips (or fails, when required) without a reachable server.
pub async fn with_store<S, F, Fut>(test: &str, configure: fn(S::Builder) -> S::Builder, body: F)
where
    S: SqlStore,
    F: FnOnce(String, S) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(url) = S::url().await else {
        return;
    };
    let store = S::build(configure(S::builder(&url, &namespace(test)))).unwrap();
    if let Err(e) = store.ping().await {
        unreachable(S::SERVER, &e);
        return;
    }
    let cleanup = store.clone();
    with_cleanup(body(url, store), async move {
        cleanup.drop_tables().await.expect("drop the test's tables");
    })
    .await;
}

/// Runs a conformance suite function (tests/support/suite.rs) over stores
/// of this server, then drops the tables of every namespace it made.
pub async fn conformance<S, F, Fut>(run: F)
where
    S: SqlStore,
    F: FnOnce(Arc<Mutex<Vec<S>>>, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(url) = S::url().await else {
        return;
    };
    let probe = S::build(S::builder(&url, &namespace("probe"))).unwrap();
    let reached = probe.ping().await;
    let _ = probe.drop_tables().await;
    if let Err(e) = reached {
        unreachable("the database", &e);
        return;
    }
    let made = Arc::new(Mutex::new(Vec::new()));
    let cleanup = Arc::clone(&made);
    with_cleanup(run(made, url), async move {
        let stores: Vec<S> = cleanup.lock().unwrap().drain(..).collect();
        for s in stores {
            s.drop_tables().await.expect("drop the test's tables");
        }
    })
    .await;
}

pub async fn entries_round_trip_and_expire<S: SqlStore>(url: String, s: S) {
    assert_eq!(s.get("a").await.unwrap(), None);
    assert!(s.put("a", b"one".to_vec(), None, &[], ME).await.unwrap());
    assert_eq!(s.get("a").await.unwrap().as_deref(), Some(&b"one"[..]));
    assert!(s.put("a", b"two".to_vec(), None, &[], ME).await.unwrap());
    assert_eq!(s.get("a").await.unwrap().as_deref(), Some(&b"two"[..]));
    // Any text is a key, and binary values stay as they are.
    let odd = "ü'; DROP TABLE x; --%_\\";
    let bytes: Vec<u8> = (0..=255).collect();
    s.put(odd, bytes.clone(), None, &[], ME).await.unwrap();
    assert_eq!(s.get(odd).await.unwrap(), Some(bytes));
    // An expired row reads as absent and is deleted by the read.
    s.put(
        "short",
        b"x".to_vec(),
        Some(Duration::from_millis(30)),
        &[],
        ME,
    )
    .await
    .unwrap();
    until(5, "the entry expired", async || {
        s.get("short").await.unwrap().is_none()
    })
    .await;
    let left = S::count_rows(
        &url,
        &format!("{} WHERE {} = 'short'", s.table(), S::KEY_COLUMN),
    )
    .await;
    assert_eq!(left, 0, "an expired row is deleted when read");
    let many = s
        .get_many(&["a".into(), "missing".into(), odd.into()])
        .await
        .unwrap();
    assert_eq!(many[0].as_deref(), Some(&b"two"[..]));
    assert_eq!(many[1], None);
    assert!(many[2].is_some());
    assert!(s.remove("a", 1).await.unwrap());
    assert!(!s.remove("a", 1).await.unwrap());
    assert_eq!(s.get("a").await.unwrap(), None);
    // Keys over the limit are errors on writes, misses on reads.
    let long = "k".repeat(3000);
    assert!(matches!(
        s.put(&long, vec![1], None, &[], ME).await,
        Err(Error::Key(_))
    ));
    assert_eq!(s.get(&long).await.unwrap(), None);
    let now = s.now_ms().await.unwrap();
    let local = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(now.abs_diff(local) < 60_000, "{now} vs {local}");
}

pub async fn put_if_absent_stores_over_nothing_or_an_expired_row_only<S: SqlStore>(
    _url: String,
    s: S,
) {
    assert!(
        s.put("k", b"first".to_vec(), None, &["t1".into()], Put::IfAbsent)
            .await
            .unwrap()
    );
    assert!(
        !s.put("k", b"second".to_vec(), None, &[], Put::IfAbsent)
            .await
            .unwrap()
    );
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"first"[..]));
    s.put(
        "e",
        b"old".to_vec(),
        Some(Duration::from_millis(20)),
        &["old".into()],
        ME,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(40)).await;
    assert!(
        s.put("e", b"new".to_vec(), None, &["new".into()], Put::IfAbsent)
            .await
            .unwrap()
    );
    assert_eq!(s.get("e").await.unwrap().as_deref(), Some(&b"new"[..]));
    // The expired row's tags went with it.
    assert_eq!(s.invalidate_tags(&["old".into()], 1).await.unwrap(), 0);
    assert_eq!(s.get("e").await.unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(s.invalidate_tags(&["new".into()], 1).await.unwrap(), 1);
}

pub async fn tags_globs_and_clear_stay_inside_the_namespace<S: SqlStore>(url: String, s: S) {
    let other = S::build(S::builder(&url, &namespace("other"))).unwrap();
    let guard = other.clone();
    with_cleanup(
        async {
            let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            s.put("p:1", vec![1], None, &t(&["u:7", "posts"]), ME)
                .await
                .unwrap();
            s.put("p:2", vec![2], None, &t(&["u:8"]), ME).await.unwrap();
            s.put("p:3", vec![3], None, &[], ME).await.unwrap();
            other
                .put("p:1", vec![9], None, &t(&["u:7"]), ME)
                .await
                .unwrap();
            // An overwrite replaces the tags.
            s.put("p:2", vec![2], None, &t(&["u:9"]), ME).await.unwrap();
            assert_eq!(s.invalidate_tags(&t(&["u:8"]), 1).await.unwrap(), 0);
            assert_eq!(s.invalidate_tags(&t(&["u:7", "u:9"]), 1).await.unwrap(), 2);
            assert_eq!(s.get("p:1").await.unwrap(), None);
            assert_eq!(s.get("p:2").await.unwrap(), None);
            assert!(s.get("p:3").await.unwrap().is_some());
            assert!(
                other.get("p:1").await.unwrap().is_some(),
                "another namespace"
            );
            assert_eq!(S::count_rows(&url, &format!("{}_tags", s.table())).await, 0);

            for k in ["user:1", "user:2", "user%1", "user_1", "users", "post:1"] {
                s.put(k, vec![0], None, &[], ME).await.unwrap();
            }
            other.put("user:1", vec![0], None, &[], ME).await.unwrap();
            assert_eq!(s.invalidate_glob("user:*", 1).await.unwrap(), 2);
            assert_eq!(s.invalidate_glob("user%*", 1).await.unwrap(), 1);
            assert_eq!(s.invalidate_glob("user?1", 1).await.unwrap(), 1);
            assert!(s.get("users").await.unwrap().is_some());
            assert!(s.get("post:1").await.unwrap().is_some());
            assert!(
                other.get("user:1").await.unwrap().is_some(),
                "another namespace"
            );

            s.incr("n", 1, None).await.unwrap();
            let cleared = s.clear(1).await.unwrap();
            assert_eq!(cleared, 4, "users, post:1, p:3 and the counter");
            assert_eq!(s.get("post:1").await.unwrap(), None);
            assert_eq!(s.incr("n", 1, None).await.unwrap(), 1);
            assert!(
                other.get("user:1").await.unwrap().is_some(),
                "another namespace"
            );
        },
        async move {
            guard.drop_tables().await.unwrap();
        },
    )
    .await;
}

pub async fn counters_add_atomically_and_expire_from_creation<S: SqlStore>(_url: String, s: S) {
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                s.incr("hits", 1, Some(Duration::from_secs(60)))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.incr("hits", 0, None).await.unwrap(), 200);
    assert_eq!(s.incr("hits", -50, None).await.unwrap(), 150);
    // The TTL is set on creation only: later calls keep it.
    assert_eq!(
        s.incr("c", 5, Some(Duration::from_millis(150)))
            .await
            .unwrap(),
        5
    );
    assert_eq!(
        s.incr("c", 1, Some(Duration::from_secs(60))).await.unwrap(),
        6
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        s.incr("c", 1, None).await.unwrap(),
        1,
        "expired: started again"
    );
    // Counters are not entries.
    assert_eq!(s.get("c").await.unwrap(), None);
    s.incr("big", i64::MAX, None).await.unwrap();
    assert!(matches!(s.incr("big", 1, None).await, Err(Error::Store(_))));
    assert!(s.remove("c", 1).await.is_ok());
    assert_eq!(
        s.incr("c", 2, None).await.unwrap(),
        2,
        "remove deleted the counter"
    );
}

pub async fn expired_rows_are_swept_in_the_background<S: SqlStore>(url: String, s: S) {
    for i in 0..20 {
        s.put(
            &format!("k{i}"),
            vec![0],
            Some(Duration::from_millis(20)),
            &["t".into()],
            ME,
        )
        .await
        .unwrap();
    }
    s.put("forever", vec![0], None, &[], ME).await.unwrap();
    s.incr("n", 1, Some(Duration::from_millis(20)))
        .await
        .unwrap();
    let table = s.table().to_owned();
    until(10, "the sweep deleted the expired rows", async || {
        S::count_rows(&url, &table).await == 1
            && S::count_rows(&url, &format!("{table}_counters")).await == 0
    })
    .await;
    assert_eq!(S::count_rows(&url, &format!("{table}_tags")).await, 0);
    assert!(s.get("forever").await.unwrap().is_some());
    assert_eq!(s.sweep().await.unwrap(), 0);
}

pub async fn leases_are_exclusive_until_released_or_expired<S: SqlStore>(_url: String, s: S) {
    let t = s
        .try_lease("k", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.try_lease("k", Duration::from_secs(60)).await.unwrap(),
        None
    );
    assert_eq!(s.poll_lease("k").await.unwrap(), (None, true));
    s.put("k", b"v".to_vec(), None, &[], Put::IfAbsent)
        .await
        .unwrap();
    s.release_lease("k", "not the token").await.unwrap();
    assert_eq!(
        s.poll_lease("k").await.unwrap(),
        (Some(b"v".to_vec()), true)
    );
    s.release_lease("k", &t).await.unwrap();
    assert!(!s.poll_lease("k").await.unwrap().1);
    assert!(
        s.try_lease("k", Duration::from_millis(20))
            .await
            .unwrap()
            .is_some()
    );
    tokio::time::sleep(Duration::from_millis(40)).await;
    assert!(
        s.try_lease("k", Duration::from_secs(1))
            .await
            .unwrap()
            .is_some(),
        "expired"
    );
}

pub async fn a_write_reaches_the_other_processes_local_tier_in_bounded_time<S: SqlStore>(
    url: String,
    s: S,
) {
    let other = S::build(S::builder(&url, s.namespace())).unwrap();
    let a: TieredCache<str, String, S> = crate::support::suite::tiered(s.clone(), None).await;
    let b: TieredCache<str, String, S> = crate::support::suite::tiered(other, None).await;
    a.insert("k", "v1".into()).await.unwrap();
    assert_eq!(b.get("k").await.as_deref(), Some("v1"));
    until(10, "b holds k locally", async || {
        b.get("k").await.is_some() && b.local().contains_key("k")
    })
    .await;
    let written = std::time::Instant::now();
    a.insert("k", "v2".into()).await.unwrap();
    until(5, "the write reaches b's local tier", async || {
        !b.local().contains_key("k")
    })
    .await;
    let took = written.elapsed();
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(b.get("k").await.as_deref(), Some("v2"));
}

pub async fn compressed_and_encrypted_values_round_trip_and_stay_bound_to_their_key<S: SqlStore>(
    _url: String,
    s: S,
) {
    let c: TieredCache<str, String, S> = TieredCache::builder(s.clone()).build().unwrap();
    let long = "x".repeat(1000);
    c.insert("a", long.clone()).await.unwrap();
    assert_eq!(c.get("a").await.as_deref(), Some(long.as_str()));
    let stored = Store::get(&s, "a").await.unwrap().unwrap();
    assert!(stored.len() < 500, "compressed: {} bytes", stored.len());
    // Copied to another key, it does not decrypt: a miss, counted.
    Store::put(&s, "b", stored, None, &[], ME).await.unwrap();
    let errors = c.stats().errors;
    assert_eq!(c.get("b").await, None);
    assert!(c.stats().errors > errors);
    assert_eq!(Store::get(&s, "b").await.unwrap(), None, "and deleted");
}

pub async fn an_unreachable_server_fails_fast_and_opens_the_breaker<S: SqlStore>() {
    let b = S::connect_timeout(S::defaults(S::UNREACHABLE), Duration::from_millis(200));
    let s = S::build(S::circuit_breaker(b, 2, Duration::from_secs(60))).unwrap();
    let start = std::time::Instant::now();
    assert!(s.get("k").await.is_err());
    assert!(s.get("k").await.is_err());
    assert!(matches!(s.get("k").await, Err(Error::Unavailable)));
    assert!(s.is_breaker_open());
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(s.stats().skipped, 1);
}

/// Every announcing write of `writer` reaches `feed`, with its origin;
/// a store-if-absent is not announced; many tags are all announced.
pub async fn announcements_reach<S: SqlStore>(writer: &S, feed: &mut S::Feed) {
    writer
        .put("a", vec![1], None, &[], Put::Announce { origin: 42 })
        .await
        .unwrap();
    let m = next_message(feed).await;
    assert_eq!(origin_of(&m), 42);
    // Unannounced: a store-if-absent. The next event is the removal.
    writer
        .put("b", vec![1], None, &[], Put::IfAbsent)
        .await
        .unwrap();
    writer.remove("a", 43).await.unwrap();
    let m = next_message(feed).await;
    assert_eq!(origin_of(&m), 43);
    // Many tags: split across payloads, every tag announced.
    let tags: Vec<String> = (0..2000).map(|i| format!("tag:{i:04}")).collect();
    writer.invalidate_tags(&tags, 44).await.unwrap();
    let mut seen = 0;
    while seen < tags.len() {
        let m = next_message(feed).await;
        assert_eq!(origin_of(&m), 44);
        let dbg = format!("{m:?}");
        seen += dbg.matches("tag:").count();
    }
    assert_eq!(seen, tags.len());
    writer.invalidate_glob("x*", 45).await.unwrap();
    assert_eq!(origin_of(&next_message(feed).await), 45);
    writer.clear(46).await.unwrap();
    assert_eq!(origin_of(&next_message(feed).await), 46);
}

/// One shared test: `sql::$name` over a store of type `S` in a fresh
/// namespace, its builder passed through `$configure`.
macro_rules! case {
    ($name:ident, $ns:literal, $configure:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            sql::with_store::<S, _, _>($ns, $configure, sql::$name).await;
        }
    };
}
pub(crate) use case;

/// One conformance suite test (tests/support/suite.rs) over stores of
/// type `S`.
macro_rules! suite_case {
    ($name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            sql::conformance::<S, _, _>(async |made, url| {
                crate::support::suite::$name(async |ns: &str| {
                    let s = <S as sql::SqlStore>::build(<S as sql::SqlStore>::builder(&url, ns))
                        .unwrap();
                    made.lock().unwrap().push(s.clone());
                    s
                })
                .await;
            })
            .await;
        }
    };
}
pub(crate) use suite_case;

/// The tests every SQL store runs, for the store type `$store` (which
/// implements [`SqlStore`]), in a module `shared`.
macro_rules! shared_tests {
    ($store:ident) => {
        mod shared {
            use crate::sql::{self, case, same};

            type S = cachelite_redis::$store;

            fn fast(b: <S as sql::SqlStore>::Builder) -> <S as sql::SqlStore>::Builder {
                <S as sql::SqlStore>::sweep_interval(b, std::time::Duration::from_millis(50))
            }

            case!(entries_round_trip_and_expire, "roundtrip", same);
            case!(
                put_if_absent_stores_over_nothing_or_an_expired_row_only,
                "ifabsent",
                same
            );
            case!(tags_globs_and_clear_stay_inside_the_namespace, "tags", same);
            case!(
                counters_add_atomically_and_expire_from_creation,
                "incr",
                same
            );
            case!(expired_rows_are_swept_in_the_background, "sweep", fast);
            case!(
                leases_are_exclusive_until_released_or_expired,
                "leases",
                same
            );
            case!(
                a_write_reaches_the_other_processes_local_tier_in_bounded_time,
                "l1",
                same
            );
            case!(
                compressed_and_encrypted_values_round_trip_and_stay_bound_to_their_key,
                "layers",
                <S as sql::SqlStore>::layered
            );

            #[tokio::test]
            async fn an_unreachable_server_fails_fast_and_opens_the_breaker() {
                sql::an_unreachable_server_fails_fast_and_opens_the_breaker::<S>().await;
            }

            /// `#[memoize(store = ..)]` over this store: two fns sharing one
            /// namespace share results, and an invalidation through one
            /// reaches the other.
            #[tokio::test(flavor = "current_thread")]
            async fn memoized_fns_share_results_through_the_database() {
                use std::sync::LazyLock;
                use std::sync::atomic::{AtomicUsize, Ordering};

                use crate::sql::SqlStore;

                static URL: LazyLock<Option<String>> = LazyLock::new(|| sql::url(S::URL_VAR));
                static STORE: LazyLock<S> = LazyLock::new(|| {
                    let url = URL.clone().unwrap_or_default();
                    S::build(<S as SqlStore>::builder(&url, &sql::namespace("memoize"))).unwrap()
                });
                static CALLS: AtomicUsize = AtomicUsize::new(0);

                #[cachelite::memoize(ttl = 60, store = STORE, local(capacity = 100))]
                async fn cube_here(n: u64) -> u64 {
                    CALLS.fetch_add(1, Ordering::SeqCst);
                    n * n * n
                }
                #[cachelite::memoize(ttl = 60, store = STORE, local(capacity = 100))]
                async fn cube_there(n: u64) -> u64 {
                    CALLS.fetch_add(1, Ordering::SeqCst);
                    n * n * n + 1000
                }

                if URL.is_none() {
                    return;
                }
                if let Err(e) = cachelite_redis::Store::ping(&*STORE).await {
                    sql::unreachable(S::SERVER, &e);
                    return;
                }
                let store = STORE.clone();
                sql::with_cleanup(
                    async {
                        assert_eq!(cube_here(3).await, 27);
                        assert_eq!(
                            cube_there(3).await,
                            27,
                            "read from the database, not computed"
                        );
                        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
                        assert_eq!(cube_there_cache_info().l2_hits, 1);
                        assert!(cube_here_cache_invalidate(3).await.unwrap());
                        sql::until(10, "the other fn computes again", async || {
                            cube_there(3).await == 1027
                        })
                        .await;
                        assert_eq!(cube_here(3).await, 1027, "the other fn's value");
                    },
                    async move {
                        store.drop_tables().await.expect("drop the test's tables");
                    },
                )
                .await;
            }

            /// The conformance suite (tests/support/suite.rs).
            mod suite {
                use super::S;
                use crate::sql::{self, suite_case};

                suite_case!(shared_values);
                suite_case!(invalidations_reach_the_other_local_tier);
                suite_case!(namespaces_are_isolated);
                suite_case!(sub_second_ttls);
                suite_case!(corrupt_values_are_misses);
                suite_case!(get_many);
                suite_case!(counters);
            }
        }
    };
}
pub(crate) use shared_tests;
