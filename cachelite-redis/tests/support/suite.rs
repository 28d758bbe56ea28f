//! The conformance suite every [`Store`] runs: the two-tier cache's
//! behaviours, over stores made by a factory.
//!
//! Each function is one test: give it an async factory that opens a store
//! of the server under test in the namespace it is given, e.g.
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn shared_values() {
//!     let Some(t) = target() else { return };
//!     suite::shared_values(async |ns: &str| store(&t.url, ns)).await;
//! }
//! ```
//!
//! Every function makes its own namespaces and clears them at the end.

use std::time::{Duration, Instant};

use cachelite_redis::{Insertion, Put, Store, TieredCache, TieredKey};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{namespace, until};

/// A two-tier cache over `store` whose feed is connected.
pub async fn tiered<K, V, S>(store: S, ttl: Option<Duration>) -> TieredCache<K, V, S>
where
    K: TieredKey + ?Sized,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    S: Store,
{
    let mut b = TieredCache::builder(store).local_ttl(Duration::from_secs(60));
    if let Some(ttl) = ttl {
        b = b.ttl(ttl);
    }
    let c = b.build().unwrap();
    until(20, "the feed is connected", async || c.is_local_active()).await;
    c
}

/// Two caches with separate local tiers over one namespace.
async fn pair<S: Store>(
    factory: &impl AsyncFn(&str) -> S,
    test: &str,
    ttl: Option<Duration>,
) -> (TieredCache<str, String, S>, TieredCache<str, String, S>) {
    let ns = namespace(test);
    let a = tiered(factory(&ns).await, ttl).await;
    let b = tiered(factory(&ns).await, ttl).await;
    (a, b)
}

/// Waits until `c` holds `key` locally, reading it through.
async fn held<S: Store>(c: &TieredCache<str, String, S>, key: &str) {
    until(10, "the value is held locally", async || {
        c.get(key).await.is_some() && c.local().contains_key(key)
    })
    .await;
}

/// A value one cache writes, the other reads from the store, then locally.
pub async fn shared_values<S: Store>(factory: impl AsyncFn(&str) -> S) {
    let (a, b) = pair(&factory, "shared", None).await;
    a.insert("greeting", "hello".into()).await.unwrap();
    assert_eq!(b.get("greeting").await.as_deref(), Some("hello"));
    assert_eq!(b.stats().l2_hits, 1);
    held(&b, "greeting").await;
    let local = b.stats().l1_hits;
    assert_eq!(b.get("greeting").await.as_deref(), Some("hello"));
    assert_eq!(b.stats().l1_hits, local + 1, "then reads are local");
    // A computed value is stored once and read by the other.
    let v = a.get_or_insert_with("computed", || "once".into()).await;
    assert_eq!(v, "once");
    let w = b
        .get_or_insert_with("computed", || unreachable!("b reads a's value"))
        .await;
    assert_eq!(w, "once");
    assert!(a.ping().await.is_ok());
    a.clear().await.unwrap();
}

/// Writes and invalidations by key, tag and glob, and clears, made by one
/// cache, reach the other's local tier.
pub async fn invalidations_reach_the_other_local_tier<S: Store>(factory: impl AsyncFn(&str) -> S) {
    let (a, b) = pair(&factory, "invalidate", None).await;

    a.insert("k", "v1".into()).await.unwrap();
    held(&b, "k").await;
    a.insert("k", "v2".into()).await.unwrap();
    until(10, "an overwrite reaches b", async || {
        !b.local().contains_key("k")
    })
    .await;
    assert_eq!(b.get("k").await.as_deref(), Some("v2"));
    held(&b, "k").await;
    a.remove("k").await.unwrap();
    until(10, "a removal reaches b", async || {
        !b.local().contains_key("k")
    })
    .await;
    assert_eq!(b.get("k").await, None);

    a.insert_with_tags("post:1", "p1".into(), ["user:7"])
        .await
        .unwrap();
    a.insert_with_tags("post:2", "p2".into(), ["user:8"])
        .await
        .unwrap();
    held(&b, "post:1").await;
    held(&b, "post:2").await;
    assert_eq!(a.invalidate_tags(&["user:7"]).await.unwrap(), 1);
    until(10, "a tag invalidation reaches b", async || {
        !b.local().contains_key("post:1")
    })
    .await;
    assert_eq!(b.get("post:1").await, None);
    assert_eq!(b.get("post:2").await.as_deref(), Some("p2"));

    a.insert("user:1", "u1".into()).await.unwrap();
    a.insert("team:1", "t1".into()).await.unwrap();
    held(&b, "user:1").await;
    held(&b, "team:1").await;
    assert_eq!(a.invalidate_glob("user:*").await.unwrap(), 1);
    until(10, "a glob invalidation reaches b", async || {
        !b.local().contains_key("user:1")
    })
    .await;
    assert_eq!(b.get("user:1").await, None);
    assert_eq!(b.get("team:1").await.as_deref(), Some("t1"));

    held(&b, "team:1").await;
    a.clear().await.unwrap();
    until(10, "a clear reaches b", async || b.local().is_empty()).await;
    assert_eq!(b.get("team:1").await, None);
    assert_eq!(b.get("post:2").await, None);
}

/// Namespaces see nothing of each other; a clear stays inside its own.
pub async fn namespaces_are_isolated<S: Store>(factory: impl AsyncFn(&str) -> S) {
    let one: TieredCache<str, String, S> = tiered(factory(&namespace("iso-a")).await, None).await;
    let two: TieredCache<str, String, S> = tiered(factory(&namespace("iso-b")).await, None).await;
    one.insert("k", "one".into()).await.unwrap();
    one.incr("n", 5).await.unwrap();
    assert_eq!(two.get("k").await, None);
    assert_eq!(two.incr("n", 1).await.unwrap(), 1);
    two.insert("k", "two".into()).await.unwrap();
    assert_eq!(two.invalidate_glob("*").await.unwrap(), 1);
    assert!(two.clear().await.unwrap() > 0);
    assert_eq!(one.get("k").await.as_deref(), Some("one"));
    assert_eq!(one.incr("n", 0).await.unwrap(), 5);
    one.clear().await.unwrap();
    assert_eq!(one.get("k").await, None);
    assert_eq!(one.incr("n", 0).await.unwrap(), 0, "clear removes counters");
    one.clear().await.unwrap();
}

/// A TTL under a second is kept, and no local copy outlives its entry.
pub async fn sub_second_ttls<S: Store>(factory: impl AsyncFn(&str) -> S) {
    let (a, b) = pair(&factory, "ttl", None).await;
    a.insert("long", "l".into()).await.unwrap();
    // A few entries, computed by `a` (which keeps a copy) and read by `b`
    // at different moments: a copy that may outlive its entry by a
    // fraction of a millisecond does so for some of them. Computed values
    // are stored unannounced, so no announcement takes `b`'s copy away.
    let keys: Vec<String> = (0..4).map(|i| format!("short{i}")).collect();
    let short = || Insertion::new("s".to_string()).with_ttl(Duration::from_millis(500));
    for k in &keys {
        let v = a.get_or_compute(k, |v| v, async { ("s".into(), Some(short())) });
        assert_eq!(v.await, "s");
        assert_eq!(b.get(k).await.as_deref(), Some("s"));
        held(&b, k).await;
    }
    // The local copies never outlive the entry: once the store has ended
    // it, both local tiers have too. Checked without pause, so that a copy
    // ending even a fraction of a millisecond late is seen.
    let store = b.store().clone();
    let give_up = Instant::now() + Duration::from_secs(5);
    for k in &keys {
        while Store::get(&store, k).await.unwrap().is_some() {
            assert!(Instant::now() < give_up, "the store never ended {k}");
            tokio::task::yield_now().await;
        }
        assert_eq!(b.get(k).await, None, "b's copy of {k} outlived it");
        assert_eq!(a.get(k).await, None, "a's copy of {k} outlived it");
    }
    assert_eq!(b.get("long").await.as_deref(), Some("l"));
    a.clear().await.unwrap();
}

/// An entry that does not decode is a miss, counted as an error, and
/// deleted; the next read-through replaces it.
pub async fn corrupt_values_are_misses<S: Store>(factory: impl AsyncFn(&str) -> S) {
    let (a, _b) = pair(&factory, "corrupt", None).await;
    let store = a.store().clone();
    let announce = Put::Announce { origin: 0 };
    for garbage in [&b"\xc1\x02\x00garbage"[..], b"plain text", b""] {
        Store::put(&store, "bad", garbage.to_vec(), None, &[], announce)
            .await
            .unwrap();
        let errors = a.stats().errors;
        assert_eq!(a.get("bad").await, None);
        assert!(a.stats().errors > errors, "{:?}", a.stats());
        assert_eq!(Store::get(&store, "bad").await.unwrap(), None, "deleted");
    }
    Store::put(&store, "bad", b"junk".to_vec(), None, &[], announce)
        .await
        .unwrap();
    let v = a.get_or_insert_with("bad", || "fixed".into()).await;
    assert_eq!(v, "fixed");
    let fresh: TieredCache<str, String, S> = tiered(store.clone(), None).await;
    assert_eq!(fresh.get("bad").await.as_deref(), Some("fixed"));
    a.clear().await.unwrap();
}

/// `get_many` answers in order, from both tiers.
pub async fn get_many<S: Store>(factory: impl AsyncFn(&str) -> S) {
    let (a, b) = pair(&factory, "many", None).await;
    a.insert("x", "1".into()).await.unwrap();
    a.insert("z", "3".into()).await.unwrap();
    let some = |s: &str| Some(s.to_string());
    assert_eq!(b.get_many(&[]).await, Vec::<Option<String>>::new());
    assert_eq!(
        b.get_many(&["x", "y", "z"]).await,
        [some("1"), None, some("3")]
    );
    held(&b, "x").await;
    held(&b, "z").await;
    let local = b.stats().l1_hits;
    assert_eq!(
        b.get_many(&["z", "x", "y"]).await,
        [some("3"), some("1"), None]
    );
    assert!(b.stats().l1_hits >= local + 2, "local hits answer locally");
    a.insert("y", "2".into()).await.unwrap();
    assert_eq!(
        b.get_many(&["x", "y", "z"]).await,
        [some("1"), some("2"), some("3")]
    );
    a.clear().await.unwrap();
}

/// Counters are shared, atomic, separate from values, and take the TTL on
/// creation.
pub async fn counters<S: Store>(factory: impl AsyncFn(&str) -> S) {
    let (a, b) = pair(&factory, "incr", Some(Duration::from_millis(500))).await;
    assert_eq!(a.incr("n", 1).await.unwrap(), 1);
    assert_eq!(b.incr("n", 2).await.unwrap(), 3);
    assert_eq!(a.decr("n", 1).await.unwrap(), 2);
    assert!(a.decr("n", i64::MIN).await.is_err());
    assert_eq!(a.get("n").await, None, "a counter is not a value");
    assert_eq!(a.incr("n", 0).await.unwrap(), 2, "and reading it kept it");
    until(5, "the counter ends with its TTL", async || {
        a.incr("n", 0).await.unwrap() == 0
    })
    .await;

    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let c = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { c.incr("many", 1).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=20).collect::<Vec<i64>>(), "atomic increments");

    // Without a TTL a counter stays until removed.
    let (c, _d) = pair(&factory, "incr-forever", None).await;
    assert_eq!(c.incr("n", 7).await.unwrap(), 7);
    assert!(c.remove("n").await.unwrap());
    assert_eq!(c.incr("n", 1).await.unwrap(), 1);
    a.clear().await.unwrap();
    c.clear().await.unwrap();
}
