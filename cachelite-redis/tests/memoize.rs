//! `#[memoize(store = ..)]` against a real server: memoized fns over a
//! two-tier cache. Two fns over one namespace stand for two processes
//! running the same fn: each has its own local tier and its own body.

mod support;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cachelite::memoize;
use cachelite::redis::{RedisStore, RedisStoreBuilder, Store};
use support::{Server, namespace, target};

const PATIENT: Duration = Duration::from_secs(3);

/// Store settings with timeouts generous enough for a loaded CI machine.
fn settings(url: &str, ns: &str) -> RedisStoreBuilder {
    RedisStore::builder(url)
        .namespace(ns)
        .connect_timeout(PATIENT)
        .response_timeout(PATIENT)
}

/// Calls `f` until it holds; fails after `secs` seconds.
fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sync_memoized_fns_share_values_and_invalidations() {
    let Some(t) = target() else { return };
    static STORE: OnceLock<RedisStoreBuilder> = OnceLock::new();
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    STORE
        .set(settings(&t.url, &namespace("memo-sync")))
        .unwrap();

    #[memoize(ttl = 60, store = STORE.get().expect("set first"), local(capacity = 100, ttl = 30), tags = [format!("n:{n}")])]
    fn square_here(n: u64) -> u64 {
        CALLS.fetch_add(1, Ordering::SeqCst);
        n * n
    }
    // The other process's copy of the fn: a different answer tells which
    // body ran.
    #[memoize(ttl = 60, store = STORE.get().expect("set first"), local(capacity = 100, ttl = 30))]
    fn square_there(n: u64) -> u64 {
        CALLS.fetch_add(1, Ordering::SeqCst);
        n * n + 1000
    }

    assert_eq!(square_here(7), 49);
    assert_eq!(square_there(7), 49, "read from Redis, not computed");
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(square_there_cache_info().l2_hits, 1);
    eventually(10, "the other side keeps a local copy", || {
        square_there(7) == 49 && square_there_cache().as_async().local().len() == 1
    });
    let l1 = square_there_cache_info().l1_hits;
    assert_eq!(square_there(7), 49);
    assert_eq!(square_there_cache_info().l1_hits, l1 + 1);

    // By key: the other side's local copy goes too, so it computes.
    assert!(square_here_cache_invalidate(7).unwrap());
    eventually(10, "the other side recomputes 7", || {
        square_there(7) == 1049
    });

    // By tag, through the cache accessor.
    assert_eq!(square_here(3), 9);
    assert_eq!(square_there(3), 9);
    assert_eq!(
        square_here_cache().invalidate_tags(&["n:3"]).unwrap(),
        1,
        "the tag reached Redis"
    );
    eventually(10, "the other side recomputes 3", || {
        square_there(3) == 1009
    });

    // Clear: the whole namespace, everywhere.
    assert_eq!(square_here(4), 16);
    assert!(square_here_cache_clear().unwrap() >= 1);
    eventually(10, "the other side recomputes 4", || {
        square_there(4) == 1016
    });
    square_here_cache_clear().unwrap();
}

#[test]
fn async_memoized_fns_share_values_and_outlive_the_runtime_they_started_in() {
    let Some(t) = target() else { return };
    static STORE: OnceLock<RedisStore> = OnceLock::new();
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    STORE
        .set(settings(&t.url, &namespace("memo-async")).build().unwrap())
        .unwrap();

    #[memoize(ttl = 60, store = STORE.get().expect("set first"), local(capacity = 100))]
    async fn cube_here(n: u64) -> u64 {
        CALLS.fetch_add(1, Ordering::SeqCst);
        // The body runs on the caller's runtime (a current-thread one
        // here), not on the Redis tier's.
        assert_eq!(
            tokio::runtime::Handle::current().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::CurrentThread
        );
        tokio::task::yield_now().await;
        n * n * n
    }
    #[memoize(ttl = 60, store = STORE.get().expect("set first"), local(capacity = 100))]
    async fn cube_there(n: u64) -> u64 {
        CALLS.fetch_add(1, Ordering::SeqCst);
        n * n * n + 1000
    }

    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    // Each runtime lives as long as a `#[tokio::test]` would: the caches
    // in the fns' statics outlive the first.
    runtime().block_on(async {
        assert_eq!(cube_here(3).await, 27);
    });
    runtime().block_on(async {
        assert_eq!(cube_there(3).await, 27, "read from Redis, not computed");
        assert_eq!(cube_here(3).await, 27);
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        assert_eq!(cube_there_cache_info().l2_hits, 1);

        assert!(cube_here_cache_invalidate(3).await.unwrap());
        let deadline = Instant::now() + Duration::from_secs(10);
        while cube_there(3).await != 1027 {
            assert!(Instant::now() < deadline, "the other side never recomputed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(cube_here_cache().get(&3).await.is_some());
        cube_here_cache_clear().await.unwrap();
    });
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Profile {
    id: u64,
    name: String,
}

#[test]
fn options_results_and_conditions_decide_what_reaches_redis() {
    let Some(t) = target() else { return };
    static STORE: OnceLock<RedisStoreBuilder> = OnceLock::new();
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    STORE
        .set(settings(&t.url, &namespace("memo-shapes")))
        .unwrap();

    #[memoize(store = STORE.get().expect("set first"))]
    fn profile(id: u64) -> Option<Profile> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        (id > 0).then(|| Profile {
            id,
            name: format!("user {id}"),
        })
    }
    #[memoize(store = STORE.get().expect("set first"), key = format!("parse:{text}"))]
    fn parse(text: &str) -> Result<u32, String> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        text.parse().map_err(|e| format!("{e}"))
    }
    #[memoize(store = STORE.get().expect("set first"), key = format!("even:{n}"), condition = |v: &u64| v.is_multiple_of(2))]
    fn even_only(n: u64) -> u64 {
        CALLS.fetch_add(1, Ordering::SeqCst);
        n
    }

    let calls = || CALLS.load(Ordering::SeqCst);
    assert_eq!(profile(0), None);
    assert_eq!(profile(0), None);
    assert_eq!(calls(), 2, "None is not cached");
    assert_eq!(profile(5).map(|p| p.name).as_deref(), Some("user 5"));
    assert_eq!(profile(5).map(|p| p.id), Some(5));
    assert_eq!(calls(), 3);
    // The accessor gives the store as an `impl Store`: the key in Redis
    // comes from a store of the same settings.
    let same = STORE.get().unwrap().clone().build().unwrap();
    assert_eq!(
        profile_cache().as_async().store().namespace(),
        same.namespace()
    );
    let redis_key = same.redis_key(&5_u64).unwrap();
    assert!(redis_key.ends_with(":#5"), "{redis_key}");

    assert!(parse("x").is_err());
    assert!(parse("x").is_err());
    assert_eq!(parse("12"), Ok(12));
    assert_eq!(parse("12"), Ok(12));
    assert_eq!(calls(), 6, "errors are computed each time, values once");

    assert_eq!(even_only(3), 3);
    assert_eq!(even_only(3), 3);
    assert_eq!(even_only(4), 4);
    assert_eq!(even_only(4), 4);
    assert_eq!(calls(), 9, "only values the condition accepts are kept");
    profile_cache_clear().unwrap();
}

#[test]
fn a_memoized_fn_answers_while_redis_is_down() {
    let Some(mut server) = Server::start() else {
        return;
    };
    static STORE: OnceLock<RedisStoreBuilder> = OnceLock::new();
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    STORE
        .set(
            RedisStore::builder(server.url.clone())
                .namespace("memo-down")
                .connect_timeout(Duration::from_millis(200))
                .response_timeout(Duration::from_millis(200))
                .circuit_breaker(2, Duration::from_secs(60)),
        )
        .unwrap();

    #[memoize(store = STORE.get().expect("set first"))]
    fn double(n: u64) -> u64 {
        CALLS.fetch_add(1, Ordering::SeqCst);
        n * 2
    }

    assert_eq!(double(1), 2);
    assert_eq!(double(1), 2);
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    server.stop();
    for n in 2..10 {
        assert_eq!(double(n), n * 2, "computed while Redis is down");
    }
    let info = double_cache_info();
    assert!(info.errors >= 2, "{info:?}");
    assert!(
        double_cache().as_async().store().is_breaker_open(),
        "after repeated failures the breaker stops calling Redis"
    );
    assert!(info.skipped > 0 || info.errors >= 8, "{info:?}");
}

#[test]
fn an_unreachable_or_misconfigured_store_caches_nothing_and_the_fn_still_answers() {
    static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[memoize(ttl = 5, store = RedisStore::builder("redis://127.0.0.1:1/").namespace("nobody-home"))]
    fn unreachable(n: u64) -> u64 {
        CALLS.fetch_add(1, Ordering::SeqCst);
        n + 1
    }
    #[memoize(store = RedisStore::builder("not a url"))]
    fn misconfigured(n: u64) -> u64 {
        CALLS.fetch_add(1, Ordering::SeqCst);
        n + 2
    }

    for _ in 0..3 {
        assert_eq!(unreachable(1), 2);
        assert_eq!(misconfigured(1), 3);
    }
    assert_eq!(CALLS.load(Ordering::SeqCst), 6, "every call computes");
    assert!(unreachable_cache_info().errors >= 1);
    assert!(unreachable_cache_invalidate(1).is_err());
    assert_eq!(unreachable_cache().get(&1), None);
}

/// Public memoized fns over Redis, sync and async, with their accessors,
/// add no warning to code under `deny(warnings, clippy::pedantic)` (CI runs
/// clippy on this file).
#[deny(warnings, clippy::pedantic)]
pub mod strict {
    use cachelite::memoize;
    use cachelite::redis::RedisStore;

    /// Doubles.
    #[memoize(ttl = 60, store = RedisStore::builder("redis://127.0.0.1:1/").namespace("strict"))]
    #[must_use]
    pub fn double(n: u64) -> u64 {
        n * 2
    }

    /// Parses.
    ///
    /// # Errors
    /// When `text` is not a number.
    #[memoize(store = RedisStore::builder("redis://127.0.0.1:1/").namespace("strict-async"), key = text.to_string())]
    pub async fn parse(text: &str) -> Result<u64, String> {
        text.parse().map_err(|e| format!("{e}"))
    }
}

/// `#[memoize(store = ..)]` over a `MemoryStore`: no server needed. Two fns
/// over handles of one backing stand for two processes, as above.
mod memory {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use cachelite::memoize;
    use cachelite::redis::{MemoryStore, Store};

    use super::eventually;

    #[test]
    fn sync_memoized_fns_share_values_and_invalidations() {
        static MEMORY: LazyLock<MemoryStore> =
            LazyLock::new(|| MemoryStore::new().with_namespace("memo-sync"));
        static CALLS: AtomicUsize = AtomicUsize::new(0);

        #[memoize(ttl = 60, store = MEMORY, local(capacity = 100), tags = [format!("n:{n}")])]
        fn square_here(n: u64) -> u64 {
            CALLS.fetch_add(1, Ordering::SeqCst);
            n * n
        }
        #[memoize(ttl = 60, store = MEMORY, local(capacity = 100))]
        fn square_there(n: u64) -> u64 {
            CALLS.fetch_add(1, Ordering::SeqCst);
            n * n + 1000
        }

        assert_eq!(square_here(7), 49);
        assert_eq!(square_there(7), 49, "read from the store, not computed");
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        assert_eq!(square_there_cache_info().l2_hits, 1);
        assert_eq!(
            square_there_cache().as_async().store().namespace(),
            "memo-sync"
        );
        eventually(10, "the other side keeps a local copy", || {
            square_there(7) == 49 && square_there_cache().as_async().local().len() == 1
        });
        let l1 = square_there_cache_info().l1_hits;
        assert_eq!(square_there(7), 49);
        assert_eq!(square_there_cache_info().l1_hits, l1 + 1);

        // By key, through the invalidate accessor.
        assert!(square_here_cache_invalidate(7).unwrap());
        eventually(10, "the other side recomputes 7", || {
            square_there(7) == 1049
        });

        // By tag, through the cache accessor.
        assert_eq!(square_here(3), 9);
        assert_eq!(square_there(3), 9);
        assert_eq!(square_here_cache().invalidate_tags(&["n:3"]).unwrap(), 1);
        eventually(10, "the other side recomputes 3", || {
            square_there(3) == 1009
        });

        // Clear: the whole namespace, everywhere.
        assert_eq!(square_here(4), 16);
        assert!(square_here_cache_clear().unwrap() >= 1);
        eventually(10, "the other side recomputes 4", || {
            square_there(4) == 1016
        });
        assert_eq!(
            square_here(4),
            1016,
            "the other side's value, from the store"
        );
    }

    #[test]
    fn without_a_live_feed_there_is_no_local_tier() {
        static MEMORY: LazyLock<MemoryStore> =
            LazyLock::new(|| MemoryStore::new().with_namespace("memo-feed"));

        #[memoize(store = MEMORY, local(capacity = 100))]
        fn here(n: u64) -> u64 {
            n
        }
        #[memoize(store = MEMORY, local(capacity = 100))]
        fn there(n: u64) -> u64 {
            n + 1000
        }

        assert_eq!(here(1), 1);
        eventually(10, "the other side keeps a local copy", || {
            there(1) == 1 && there_cache().as_async().local().len() == 1
        });
        MEMORY.disconnect_feeds();
        eventually(10, "the local tiers are off", || {
            !here_cache().as_async().is_local_active()
                && !there_cache().as_async().is_local_active()
        });
        assert!(
            there_cache().as_async().local().is_empty(),
            "copies dropped"
        );
        // Unannounced to anyone, yet seen at once: every read goes to the
        // store.
        assert!(here_cache_invalidate(1).unwrap());
        assert_eq!(there(1), 1001);
        assert_eq!(here(1), 1001);
        MEMORY.reconnect_feeds();
        eventually(10, "the local tiers are back", || {
            there_cache().as_async().is_local_active() && here_cache().as_async().is_local_active()
        });
        eventually(10, "the other side keeps a local copy again", || {
            there(1) == 1001 && there_cache().as_async().local().len() == 1
        });
        here_cache_clear().unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn async_memoized_fns_share_values_and_invalidations() {
        static MEMORY: LazyLock<MemoryStore> =
            LazyLock::new(|| MemoryStore::new().with_namespace("memo-async"));
        static CALLS: AtomicUsize = AtomicUsize::new(0);

        #[memoize(ttl = 60, store = MEMORY, local(capacity = 100))]
        async fn cube_here(n: u64) -> u64 {
            CALLS.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            n * n * n
        }
        #[memoize(ttl = 60, store = MEMORY, local(capacity = 100))]
        async fn cube_there(n: u64) -> u64 {
            CALLS.fetch_add(1, Ordering::SeqCst);
            n * n * n + 1000
        }

        assert_eq!(cube_here(3).await, 27);
        assert_eq!(cube_there(3).await, 27, "read from the store, not computed");
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        assert_eq!(cube_there_cache_info().l2_hits, 1);
        assert!(cube_here_cache().get(&3).await.is_some());

        assert!(cube_here_cache_invalidate(3).await.unwrap());
        let deadline = Instant::now() + Duration::from_secs(10);
        while cube_there(3).await != 1027 {
            assert!(Instant::now() < deadline, "the other side never recomputed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(cube_here(3).await, 1027, "the other side's value");
        assert!(cube_here_cache_clear().await.unwrap() >= 1);
        let deadline = Instant::now() + Duration::from_secs(10);
        while cube_there_cache().get(&3).await.is_some() {
            assert!(
                Instant::now() < deadline,
                "the clear never reached the other side"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(cube_there(3).await, 1027, "computed again");
        assert_eq!(CALLS.load(Ordering::SeqCst), 3);
    }
}

/// A store from outside the crate: `#[memoize(store = ..)]` takes it once
/// it implements `StoreSource`.
mod third_party {
    use std::future::Future;
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use cachelite::memoize;
    use cachelite::redis::{
        Codec, Error, MemoryFeed, MemoryStore, Outcome, Put, Store, StoreSource, StoreStats,
    };

    /// A store of its own that counts its reads, over a `MemoryStore`.
    #[derive(Debug, Clone)]
    struct Counted {
        inner: MemoryStore,
        reads: &'static AtomicUsize,
    }

    impl Store for Counted {
        type Feed = MemoryFeed;
        fn namespace(&self) -> &str {
            self.inner.namespace()
        }
        fn version(&self) -> u32 {
            self.inner.version()
        }
        fn codec(&self) -> Codec {
            self.inner.codec()
        }
        fn now_ms(&self) -> impl Future<Output = Result<u64, Error>> + Send {
            Store::now_ms(&self.inner)
        }
        fn get(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, Error>> + Send {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Store::get(&self.inner, key)
        }
        fn put(
            &self,
            key: &str,
            entry: Vec<u8>,
            ttl: Option<Duration>,
            tags: &[String],
            mode: Put,
        ) -> impl Future<Output = Result<bool, Error>> + Send {
            Store::put(&self.inner, key, entry, ttl, tags, mode)
        }
        fn delete_if_equal(
            &self,
            key: &str,
            entry: &[u8],
        ) -> impl Future<Output = Result<bool, Error>> + Send {
            Store::delete_if_equal(&self.inner, key, entry)
        }
        fn remove(
            &self,
            key: &str,
            origin: u64,
        ) -> impl Future<Output = Result<bool, Error>> + Send {
            Store::remove(&self.inner, key, origin)
        }
        fn invalidate_tags(
            &self,
            tags: &[String],
            origin: u64,
        ) -> impl Future<Output = Result<usize, Error>> + Send {
            Store::invalidate_tags(&self.inner, tags, origin)
        }
        fn invalidate_glob(
            &self,
            pattern: &str,
            origin: u64,
        ) -> impl Future<Output = Result<usize, Error>> + Send {
            Store::invalidate_glob(&self.inner, pattern, origin)
        }
        fn clear(&self, origin: u64) -> impl Future<Output = Result<usize, Error>> + Send {
            Store::clear(&self.inner, origin)
        }
        fn incr(
            &self,
            key: &str,
            delta: i64,
            ttl_on_create: Option<Duration>,
        ) -> impl Future<Output = Result<i64, Error>> + Send {
            Store::incr(&self.inner, key, delta, ttl_on_create)
        }
        fn ping(&self) -> impl Future<Output = Result<Duration, Error>> + Send {
            Store::ping(&self.inner)
        }
        fn stats(&self) -> StoreStats {
            Store::stats(&self.inner)
        }
        fn count(&self, outcome: Outcome) {
            Store::count(&self.inner, outcome);
        }
        fn subscribe(&self, heartbeat: Duration) -> MemoryFeed {
            Store::subscribe(&self.inner, heartbeat)
        }
    }

    impl StoreSource for Counted {
        type Store = Counted;
        fn memo_store(&self) -> Result<Counted, (Error, Counted)> {
            Ok(self.clone())
        }
    }

    static READS: AtomicUsize = AtomicUsize::new(0);
    static COUNTED: LazyLock<Counted> = LazyLock::new(|| Counted {
        inner: MemoryStore::new().with_namespace("third-party"),
        reads: &READS,
    });
    static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[memoize(ttl = 60, store = COUNTED, local(capacity = 10))]
    fn double(n: u64) -> u64 {
        CALLS.fetch_add(1, Ordering::SeqCst);
        n * 2
    }

    #[test]
    fn memoized_fns_run_over_a_store_of_ones_own() {
        assert_eq!(double(21), 42);
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        let reads = READS.load(Ordering::SeqCst);
        assert!(reads >= 1, "the miss read the store");
        // Held locally: no call, no read. Then, dropped locally and
        // from the store, computed again.
        assert_eq!(double(21), 42);
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        assert_eq!(double_cache().as_async().store().namespace(), "third-party");
        assert!(double_cache_invalidate(21).unwrap());
        assert_eq!(double(21), 42);
        assert_eq!(CALLS.load(Ordering::SeqCst), 2);
        assert!(READS.load(Ordering::SeqCst) > reads);
    }
}
