//! The Redis tier against a real server.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cachelite_redis::{BlockingTieredCache, Codec, Error, Insertion, RedisStore, TieredCache};
use redis::Commands;
use support::{Server, namespace, raw, target, until};

const PATIENT: Duration = Duration::from_secs(3);

/// A store with timeouts generous enough for a loaded CI machine.
fn store(url: &str, ns: &str) -> RedisStore {
    RedisStore::builder(url)
        .namespace(ns)
        .connect_timeout(PATIENT)
        .response_timeout(PATIENT)
        .build()
        .unwrap()
}

/// A two-tier cache whose subscriber is connected.
async fn tiered<K, V>(store: RedisStore) -> TieredCache<K, V>
where
    K: cachelite_redis::TieredKey + ?Sized,
    V: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
{
    let c = TieredCache::builder(store)
        .local_ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    until(20, "the subscriber is connected", async || {
        c.is_local_active()
    })
    .await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_with_separate_local_tiers_share_values() {
    let Some(t) = target() else { return };
    let ns = namespace("share");
    let a: TieredCache<str, String> = tiered(store(&t.url, &ns)).await;
    let b: TieredCache<str, String> = tiered(store(&t.url, &ns)).await;
    support::two_clients_share_a_value(&a, &b).await;
    let local = b.stats().l1_hits;
    assert_eq!(b.get("greeting").await.as_deref(), Some("hello"));
    assert_eq!(b.stats().l1_hits, local + 1, "then reads are local");
    assert_eq!(a.stats().loads.successes, 1);
    assert_eq!(a.stats().misses, 1);
    assert!(a.ping().await.is_ok());
    a.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_by_key_tag_and_glob_reach_the_other_local_tier() {
    let Some(t) = target() else { return };
    let ns = namespace("inval");
    let a: TieredCache<str, u32> = tiered(store(&t.url, &ns)).await;
    let b: TieredCache<str, u32> = tiered(store(&t.url, &ns)).await;

    a.insert("plain", 1).await.unwrap();
    a.insert_with_tags("tagged", 2, ["team:7"]).await.unwrap();
    a.insert("user:1", 3).await.unwrap();
    a.insert("user:2", 4).await.unwrap();
    a.insert("post:1", 5).await.unwrap();
    for k in ["plain", "tagged", "user:1", "user:2", "post:1"] {
        // A fill skips L1 while a's messages for the same keys may still
        // be arriving; it holds once they have.
        until(10, "b holds the key locally", async || {
            b.get(k).await.is_some() && b.local().contains_key(k)
        })
        .await;
    }

    // By key: a write replaces b's copy, a removal drops it.
    a.insert("plain", 10).await.unwrap();
    until(10, "b sees the new value", async || {
        b.get("plain").await == Some(10)
    })
    .await;
    assert!(a.remove("plain").await.unwrap());
    until(10, "b's copy of plain is gone", async || {
        b.get("plain").await.is_none()
    })
    .await;

    // By tag.
    assert_eq!(a.invalidate_tags(&["team:7"]).await.unwrap(), 1);
    until(10, "b's tagged copy is gone", async || {
        b.get("tagged").await.is_none()
    })
    .await;

    // By glob: only the matching keys leave b's local tier.
    assert_eq!(a.invalidate_glob("user:*").await.unwrap(), 2);
    until(10, "b's user copies are gone", async || {
        !b.local().contains_key("user:1") && !b.local().contains_key("user:2")
    })
    .await;
    assert_eq!(b.get("user:1").await, None);
    assert!(b.local().contains_key("post:1"));
    assert_eq!(b.get("post:1").await, Some(5));
    a.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_subscription_clears_the_local_tier_until_it_is_back() {
    // CLIENT KILL reaches every subscriber of the server: use a private one.
    let Some(server) = Server::start() else {
        return;
    };
    let ns = namespace("cut");
    let c: TieredCache<str, u32> = tiered(store(&server.url, &ns)).await;
    c.insert("k", 7).await.unwrap();
    assert_eq!(c.get("k").await, Some(7));
    assert!(c.local().contains_key("k"));

    let killed: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut raw(&server.url))
        .unwrap();
    assert_eq!(killed, 1);
    until(10, "the drop is noticed", async || {
        c.stats().disconnects == 1
    })
    .await;
    assert!(c.local().is_empty(), "the local tier was cleared");

    until(20, "the subscriber is back", async || c.is_local_active()).await;
    let l2 = c.stats().l2_hits;
    assert_eq!(c.get("k").await, Some(7));
    assert_eq!(
        c.stats().l2_hits,
        l2 + 1,
        "read from Redis, not a stale local copy"
    );
    assert!(c.local().contains_key("k"), "the local tier is used again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_mid_run_fails_open_and_the_breaker_recovers() {
    let Some(mut server) = Server::start() else {
        return;
    };
    let ns = namespace("down");
    let s = RedisStore::builder(&server.url)
        .namespace(&ns)
        .connect_timeout(PATIENT)
        .response_timeout(PATIENT)
        .circuit_breaker(2, Duration::from_millis(200))
        .build()
        .unwrap();
    let c: TieredCache<u64, u64> = tiered(s).await;
    assert_eq!(c.get_or_insert_with(&1, || 10).await, 10);

    server.stop();
    until(10, "the local tier is off", async || !c.is_local_active()).await;
    assert_eq!(
        c.get(&1).await,
        None,
        "no local tier without a subscription"
    );
    let computed = AtomicUsize::new(0);
    for i in 0..20u64 {
        let v = c
            .get_or_insert_with(&i, || {
                computed.fetch_add(1, Ordering::SeqCst);
                i * 10
            })
            .await;
        assert_eq!(v, i * 10, "answers are computed while Redis is down");
    }
    assert_eq!(computed.load(Ordering::SeqCst), 20);
    let st = c.stats();
    assert!(st.errors >= 2, "{st:?}");
    assert!(st.skipped > 0, "the breaker refused calls: {st:?}");
    assert!(c.store().is_breaker_open());
    assert!(c.ping().await.is_err());
    assert!(c.insert(&5, 5).await.is_err());

    server.restart();
    until(20, "the breaker closes", async || {
        c.ping().await.is_ok() && !c.store().is_breaker_open()
    })
    .await;
    until(20, "the subscriber is back", async || c.is_local_active()).await;
    assert_eq!(c.get_or_insert_with(&3, || 30).await, 30);
    assert_eq!(
        c.get_or_insert_with(&3, || unreachable!("cached again"))
            .await,
        30
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_value_is_a_miss_then_repaired() {
    let Some(t) = target() else { return };
    let ns = namespace("corrupt");
    let c: TieredCache<str, Vec<u32>> = tiered(store(&t.url, &ns)).await;
    let key = c.store().redis_key("k").unwrap();
    let mut con = raw(&t.url);
    let _: () = con.set(&key, b"\xc1\x02\x00garbage".as_slice()).unwrap();

    let v = c.get_or_insert_with("k", || vec![1, 2, 3]).await;
    assert_eq!(v, [1, 2, 3]);
    let st = c.stats();
    assert_eq!(st.loads.successes, 1, "the corrupt value was a miss");
    assert!(st.errors >= 1, "{st:?}");
    let back: Option<Vec<u32>> = c.store().get("k").await.unwrap();
    assert_eq!(back, Some(vec![1, 2, 3]), "repaired in Redis");

    // A value of the wrong type is corrupt too, and deleted.
    let _: () = con.set(&key, b"plain text".as_slice()).unwrap();
    assert_eq!(c.store().get::<_, Vec<u32>>("k").await.unwrap(), None);
    let exists: bool = con.exists(&key).unwrap();
    assert!(!exists);
    c.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_tiers_keyed_by_non_string_keys_stay_coherent() {
    let Some(t) = target() else { return };
    let ns = namespace("typed-keys");
    let a: TieredCache<(u64, String), u32> = tiered(store(&t.url, &ns)).await;
    let b: TieredCache<(u64, String), u32> = tiered(store(&t.url, &ns)).await;
    let k = |n: u64, s: &str| (n, s.to_string());
    for n in [1, 2, 10] {
        a.insert(&k(n, "x"), 1).await.unwrap();
    }
    until(20, "b holds every key locally", async || {
        let mut all = true;
        for n in [1, 2, 10] {
            all &= b.get(&k(n, "x")).await == Some(1) && b.local().contains_key(&k(n, "x"));
        }
        all
    })
    .await;

    // By key: a's write reaches b's local copy, keyed by the tuple itself.
    a.insert(&k(1, "x"), 2).await.unwrap();
    until(20, "b dropped its copy of (1, x)", async || {
        !b.local().contains_key(&k(1, "x"))
    })
    .await;
    assert_eq!(b.get(&k(1, "x")).await, Some(2));

    // By glob, over the rendered keys (`#[1,"x"]`, `#[10,"x"]`).
    a.invalidate_glob("#\\[1*").await.unwrap();
    until(20, "b dropped the glob's matches", async || {
        !b.local().contains_key(&k(1, "x")) && !b.local().contains_key(&k(10, "x"))
    })
    .await;
    assert!(b.local().contains_key(&k(2, "x")), "outside the glob");
    assert_eq!(b.get(&k(10, "x")).await, None);
    a.clear().await.unwrap();
}

/// A key whose serde form leaves a field out: two keys render alike, so
/// a message cannot tell which one it names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
struct Lossy {
    id: u32,
    #[serde(skip)]
    extra: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_whose_rendering_does_not_read_back_is_never_held_locally() {
    let Some(t) = target() else { return };
    let ns = namespace("lossy");
    let a: TieredCache<Lossy, u32> = tiered(store(&t.url, &ns)).await;
    let b: TieredCache<Lossy, u32> = tiered(store(&t.url, &ns)).await;
    let plain = Lossy { id: 1, extra: 0 };
    let lossy = Lossy { id: 1, extra: 5 };
    assert_eq!(b.get_or_insert_with(&lossy, || 1).await, 1);
    assert_eq!(b.get(&lossy).await, Some(1));
    assert!(
        !b.local().contains_key(&lossy),
        "it would be out of reach of messages"
    );
    assert_eq!(b.get(&plain).await, Some(1), "the same Redis entry");
    assert!(b.local().contains_key(&plain));
    a.insert(&plain, 2).await.unwrap();
    until(20, "b dropped its copy", async || {
        !b.local().contains_key(&plain)
    })
    .await;
    assert_eq!(b.get(&lossy).await, Some(2));
    a.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_computed_value_never_overwrites_one_written_meanwhile() {
    let Some(t) = target() else { return };
    let ns = namespace("fill-nx");
    let a: TieredCache<str, u32> = tiered(store(&t.url, &ns)).await;
    let b: TieredCache<str, u32> = tiered(store(&t.url, &ns)).await;
    let v = a
        .get_or_insert_with_async("k", async {
            // Another process writes while this one computes.
            b.insert("k", 2).await.unwrap();
            1
        })
        .await;
    assert_eq!(v, 1, "the caller gets what it computed");
    assert_eq!(
        b.store().get::<_, u32>("k").await.unwrap(),
        Some(2),
        "the write stays"
    );
    assert!(!a.local().contains_key("k"), "the losing value is not kept");
    assert_eq!(a.get("k").await, Some(2));
    a.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_in_the_first_envelope_is_a_miss_and_replaced() {
    let Some(t) = target() else { return };
    let ns = namespace("v1");
    let c: TieredCache<str, u32> = tiered(store(&t.url, &ns)).await;
    let key = c.store().redis_key("k").unwrap();
    let mut con = raw(&t.url);
    // Format 1: magic, format, codec, no tags, then the MessagePack value.
    let mut v1 = b"\xc1\x01\x00\x00\x00".to_vec();
    v1.extend(rmp_serde::to_vec(&5u32).unwrap());
    let _: () = con.set_ex(&key, v1.as_slice(), 60).unwrap();

    assert_eq!(c.get("k").await, None, "an outdated entry is a miss");
    assert!(!c.local().contains_key("k"));
    let exists: bool = con.exists(&key).unwrap();
    assert!(!exists, "and is dropped");
    assert_eq!(c.stats().errors, 0, "not an error");

    let _: () = con.set_ex(&key, v1.as_slice(), 60).unwrap();
    assert_eq!(c.get_or_insert_with("k", || 7).await, 7, "computed");
    assert_eq!(
        c.store().get::<_, u32>("k").await.unwrap(),
        Some(7),
        "replaced"
    );
    c.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_copy_ends_when_the_envelope_says() {
    let Some(t) = target() else { return };
    let ns = namespace("envelope");
    let c: TieredCache<str, u32> = tiered(store(&t.url, &ns)).await;
    let key = c.store().redis_key("k").unwrap();
    let mut con = raw(&t.url);
    // Written with a 60 s TTL; then, behind cachelite's back, Redis is told
    // it has 30 s left. The envelope still says 60 s, and the reader goes
    // by it: a read is one GET, with no PTTL.
    c.insert_with_ttl("k", 1, Duration::from_secs(60))
        .await
        .unwrap();
    let _: () = redis::cmd("PEXPIRE")
        .arg(&key)
        .arg(30_000)
        .query(&mut con)
        .unwrap();
    assert_eq!(c.get("k").await, Some(1));
    let ttl = c.local().ttl("k").expect("kept locally");
    assert!(
        ttl > Duration::from_secs(58) && ttl <= Duration::from_secs(60),
        "{ttl:?}"
    );

    // An envelope whose end has passed (a writer whose clock, or estimate
    // of the server's, ran ahead) is served but not kept locally.
    let mut bytes: Vec<u8> = con.get(&key).unwrap();
    bytes[3..11].copy_from_slice(&1u64.to_le_bytes());
    let _: () = con.set(&key, bytes.as_slice()).unwrap();
    c.local().clear();
    assert_eq!(c.get("k").await, Some(1));
    assert!(!c.local().contains_key("k"), "no time left: not kept");

    // An end far in the future is capped by the TTL written beside it.
    bytes[3..11].copy_from_slice(&u64::MAX.to_le_bytes());
    let _: () = con.set(&key, bytes.as_slice()).unwrap();
    assert_eq!(c.get("k").await, Some(1));
    let ttl = c.local().ttl("k").expect("kept locally");
    assert!(ttl <= Duration::from_secs(60), "{ttl:?}");
    c.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttls_below_one_second_are_kept_and_never_outlived_locally() {
    let Some(t) = target() else { return };
    let ns = namespace("ttl");
    let c: TieredCache<str, u8> = tiered(store(&t.url, &ns)).await;
    let key = c.store().redis_key("short").unwrap();
    let mut con = raw(&t.url);

    c.insert_with_ttl("short", 1, Duration::from_millis(150))
        .await
        .unwrap();
    let pttl: i64 = con.pttl(&key).unwrap();
    assert!(pttl > 0 && pttl <= 150, "PX milliseconds, got {pttl}");
    // Read it (filling the local tier) while it lives.
    if c.get("short").await.is_some()
        && let Some(ttl) = c.local().ttl("short")
    {
        assert!(ttl <= Duration::from_millis(150), "{ttl:?}");
    }
    until(10, "Redis expires it", async || {
        !con.exists::<_, bool>(&key).unwrap()
    })
    .await;
    assert_eq!(
        c.get("short").await,
        None,
        "the local copy expired no later"
    );

    let s = store(&t.url, &ns);
    s.set(&"ms", &5u8, Some(Duration::from_micros(200_500)))
        .await
        .unwrap();
    let pttl: i64 = con.pttl(s.redis_key("ms").unwrap()).unwrap();
    assert!(
        pttl > 0 && pttl <= 201,
        "rounded up to whole ms, got {pttl}"
    );
    s.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cross_process_singleflight_computes_once() {
    let Some(t) = target() else { return };
    let ns = namespace("flight");
    let mut clients = Vec::new();
    for _ in 0..5 {
        let c: TieredCache<str, u64> = TieredCache::builder(store(&t.url, &ns))
            .cross_process_singleflight(Duration::from_secs(10), Duration::from_secs(20))
            .build()
            .unwrap();
        clients.push(c);
    }
    let runs = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(clients.len()));
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| {
            let runs = runs.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                c.get_or_insert_with_async("hot", async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    42
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 42);
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "one computation for five clients"
    );
    store(&t.url, &ns).clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_and_versions_are_isolated_and_clear_stays_inside() {
    let Some(t) = target() else { return };
    let ns = namespace("iso");
    let other_ns = format!("{ns}x");
    let a = store(&t.url, &ns);
    let a2 = RedisStore::builder(&t.url)
        .namespace(&ns)
        .version(2)
        .codec(Codec::Json)
        .connect_timeout(PATIENT)
        .response_timeout(PATIENT)
        .build()
        .unwrap();
    let b = store(&t.url, &other_ns);
    for s in [&a, &a2, &b] {
        s.set_with_tags(&"k", &1u8, None, &["t"]).await.unwrap();
    }
    let mut con = raw(&t.url);
    let foreign = format!("cachelite:{ns}:v10:k");
    let _: () = con.set(&foreign, 1).unwrap();
    // A key that is not UTF-8, as another tool might leave: scans read
    // keys as bytes, so it neither breaks them nor escapes `clear`.
    let mut binary = format!("cachelite:{ns}:v1:").into_bytes();
    binary.extend_from_slice(b"\xff\xfe");
    let _: () = con.set(&binary, 1).unwrap();
    assert_eq!(a.invalidate_glob("*").await.unwrap(), 1, "k only");
    a.set_with_tags(&"k", &1u8, None, &["t"]).await.unwrap();

    assert_eq!(a.get::<_, u8>(&"k").await.unwrap(), Some(1));
    assert!(a.clear().await.unwrap() >= 3, "the entries and the tag set");
    assert!(!con.exists::<_, bool>(&binary).unwrap());
    assert_eq!(a.get::<_, u8>(&"k").await.unwrap(), None);
    assert_eq!(a2.get::<_, u8>(&"k").await.unwrap(), Some(1));
    assert_eq!(b.get::<_, u8>(&"k").await.unwrap(), Some(1));
    assert!(con.exists::<_, bool>(&foreign).unwrap());
    // Another version's tag is its own.
    assert_eq!(a.invalidate_tags(&["t"]).await.unwrap(), 0);
    assert_eq!(a2.invalidate_tags(&["t"]).await.unwrap(), 1);
    assert_eq!(b.get::<_, u8>(&"k").await.unwrap(), Some(1));
    let _: () = con.del(&foreign).unwrap();
    b.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_glob_patterns_stay_inside_the_namespace() {
    let Some(t) = target() else { return };
    let ns = namespace("glob");
    let s = store(&t.url, &ns);
    let neighbour = store(&t.url, &format!("{ns}2"));
    neighbour.set(&"k", &1u8, None).await.unwrap();
    let mut con = raw(&t.url);
    let outsiders = [
        format!("cachelite:{ns}"),
        format!("cachelite:{ns}:v1"),
        format!("cachelite:{ns}:v2:k"),
        format!("cachelite:{ns}:v12:k"),
        format!("other:{ns}:v1:k"),
    ];
    for k in &outsiders {
        let _: () = con.set(k, 1).unwrap();
    }
    s.set_with_tags(&"k", &1u8, None, &["t"]).await.unwrap();
    s.set(&"*", &1u8, None).await.unwrap();

    for p in [
        "*",
        "**",
        "\\",
        "[",
        "*]",
        "[*",
        "../*",
        "*:*",
        "\\*",
        "[^a]*",
        "?*",
        "cachelite:*",
        "*\\",
        "[\\",
        "*[:#]*",
        "\0*",
        "*\r\n*",
    ] {
        s.invalidate_glob(p).await.unwrap();
        s.set(&"k", &1u8, None).await.unwrap();
    }
    for k in &outsiders {
        assert!(con.exists::<_, bool>(k).unwrap(), "{k} survived");
    }
    assert_eq!(neighbour.get::<_, u8>(&"k").await.unwrap(), Some(1));
    let tag_set = format!("cachelite:{ns}:v1#tag:t");
    assert!(
        con.exists::<_, bool>(&tag_set).unwrap(),
        "globs match entries only"
    );

    // A literal star, escaped, matches only the key "*".
    assert_eq!(s.invalidate_glob("\\*").await.unwrap(), 0);
    s.set(&"*", &1u8, None).await.unwrap();
    assert_eq!(s.invalidate_glob("\\*").await.unwrap(), 1);
    assert_eq!(s.get::<_, u8>(&"k").await.unwrap(), Some(1));
    assert!(matches!(
        s.invalidate_glob(&"a".repeat(100_000)).await,
        Err(Error::Glob(_))
    ));

    for k in &outsiders {
        let _: () = con.del(k).unwrap();
    }
    s.clear().await.unwrap();
    neighbour.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn computations_that_fail_or_decline_are_not_stored() {
    let Some(t) = target() else { return };
    let ns = namespace("try");
    let c: TieredCache<u32, u32> = tiered(store(&t.url, &ns)).await;
    let r = c.try_get_or_insert_with(&1, || Err::<u32, _>("boom")).await;
    assert_eq!(r, Err("boom"));
    assert_eq!(c.stats().loads.failures, 1);
    assert_eq!(c.store().get::<_, u32>(&1).await.unwrap(), None);

    // The memoize hook: a condition that declines to cache.
    let out = c
        .get_or_compute(&2, |v| v, async { (3, None::<Insertion<u32>>) })
        .await;
    assert_eq!(out, 3);
    assert_eq!(c.store().get::<_, u32>(&2).await.unwrap(), None);
    let out = c
        .get_or_compute(&2, |v| v, async {
            (
                4,
                Some(
                    Insertion::new(4)
                        .with_ttl(Duration::from_secs(30))
                        .with_tags(["even"]),
                ),
            )
        })
        .await;
    assert_eq!(out, 4);
    assert_eq!(c.get(&2).await, Some(4));
    assert_eq!(c.invalidate_tags(&["even"]).await.unwrap(), 1);
    assert_eq!(c.get(&2).await, None);
    c.clear().await.unwrap();
}

#[test]
fn a_cache_whose_runtime_shut_down_stops_trusting_its_local_tier() {
    let Some(t) = target() else { return };
    let ns = namespace("orphan");
    let first = tokio::runtime::Runtime::new().unwrap();
    let c: TieredCache<str, u32> = first.block_on(async {
        let c = tiered(store(&t.url, &ns)).await;
        c.insert("k", 1).await.unwrap();
        assert_eq!(c.get("k").await, Some(1));
        assert!(c.local().contains_key("k"));
        c
    });
    // The subscriber lived on `first`: with it gone, nothing would tell
    // this cache of another process's writes.
    drop(first);
    assert!(!c.is_local_active(), "the local tier is off");
    assert!(c.local().is_empty(), "and was cleared");

    let second = tokio::runtime::Runtime::new().unwrap();
    second.block_on(async {
        let other: TieredCache<str, u32> = tiered(store(&t.url, &ns)).await;
        other.insert("k", 2).await.unwrap();
        // Its connection may have died with `first` too (then a counted
        // error and a miss): either way, never the stale local copy.
        let got = c.get("k").await;
        assert!(
            got == Some(2) || got.is_none(),
            "stale copy served: {got:?}"
        );
        other.clear().await.unwrap();
    });
}

#[test]
fn the_blocking_cache_serves_sync_code() {
    let Some(t) = target() else { return };
    let ns = namespace("blocking");
    let c: BlockingTieredCache<str, String> =
        BlockingTieredCache::new(TieredCache::builder(store(&t.url, &ns))).unwrap();
    assert_eq!(c.get_or_insert_with("a", || "x".into()), "x");
    assert_eq!(c.get_or_insert_with("a", || unreachable!()), "x");
    c.insert_with_tags("b", "y".into(), ["t"]).unwrap();
    assert_eq!(c.get("b").as_deref(), Some("y"));
    assert_eq!(c.invalidate_tags(&["t"]).unwrap(), 1);
    assert_eq!(c.get("b"), None);
    assert!(c.ping().is_ok());
    assert!(c.clear().unwrap() >= 1);

    // A computation may use the cache for other keys (recursion).
    fn fib(c: &BlockingTieredCache<u64, u64>, n: u64) -> u64 {
        if n < 2 {
            return n;
        }
        c.get_or_insert_with(&n, || fib(c, n - 1) + fib(c, n - 2))
    }
    let numbers: BlockingTieredCache<u64, u64> =
        BlockingTieredCache::new(TieredCache::builder(store(&t.url, &namespace("fib")))).unwrap();
    assert_eq!(fib(&numbers, 60), 1_548_008_755_920);
    assert_eq!(numbers.stats().loads.successes, 59, "each of 2..=60 once");
    numbers.clear().unwrap();

    // Usable, and droppable, from inside another runtime too.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        assert_eq!(c.get_or_insert_with("c", || "z".into()), "z");
        assert!(c.clear().unwrap() >= 1);
        drop(c);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_urls_work() {
    let Some(server) = Server::start_unix() else {
        return;
    };
    let c: TieredCache<str, u8> = tiered(store(&server.url, &namespace("unix"))).await;
    c.insert("k", 1).await.unwrap();
    assert_eq!(c.get("k").await, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_costs_little_and_never_panics() {
    // A port nothing listens on: connections are refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = RedisStore::builder(format!("redis://127.0.0.1:{port}/"))
        .namespace("down")
        .build()
        .unwrap();
    let c: TieredCache<str, u8> = TieredCache::builder(s).build().unwrap();
    for _ in 0..50 {
        assert_eq!(c.get_or_insert_with("k", || 9).await, 9);
    }
    let st = c.stats();
    assert_eq!(st.loads.successes, 50);
    assert!(st.errors <= 10, "the breaker stops the attempts: {st:?}");
    assert!(st.skipped > 0);
    assert!(!st.local_active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_keeps_a_healthy_subscription() {
    let Some(t) = target() else { return };
    let c: TieredCache<str, u8> = TieredCache::builder(store(&t.url, &namespace("beat")))
        .heartbeat(Duration::from_millis(20))
        .build()
        .unwrap();
    until(20, "the subscriber is connected", async || {
        c.is_local_active()
    })
    .await;
    // Several heartbeats go by; a healthy connection stays up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(c.is_local_active());
    assert_eq!(c.stats().disconnects, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_singleflight_holds_with_and_without_redis() {
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut urls = vec![format!("redis://127.0.0.1:{down}/")];
    let t = target();
    if let Some(t) = &t {
        urls.push(t.url.clone());
    }
    for url in urls {
        let c: TieredCache<str, u64> = TieredCache::builder(store(&url, &namespace("local")))
            .build()
            .unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (c, runs, start) = (c.clone(), runs.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    c.get_or_insert_with_async("k", async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        5
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), 5);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one computation in {url}");
        let _ = c.clear().await;
    }
}

/// Connections the server has accepted since it started.
fn connections_received(raw: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("stats").query(raw).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("INFO stats lists total_connections_received")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_calls_make_one_connection() {
    let Some(server) = Server::start() else {
        return;
    };
    let mut r = raw(&server.url);
    let s = store(&server.url, &namespace("one-conn"));
    s.set(&"k", &7u64, None).await.unwrap();
    // A store of its own, never connected: 16 first calls at once.
    let fresh = store(&server.url, s.namespace());
    let before = connections_received(&mut r);
    let reads = (0..16).map(|_| fresh.get::<_, u64>(&"k"));
    for v in futures::future::join_all(reads).await {
        assert_eq!(v.unwrap(), Some(7));
    }
    assert_eq!(
        connections_received(&mut r) - before,
        1,
        "the callers shared one connection attempt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_connection_is_replaced_once_for_all_callers() {
    let Some(server) = Server::start() else {
        return;
    };
    let mut r = raw(&server.url);
    let s = store(&server.url, &namespace("killed"));
    s.set(&"k", &7u64, None).await.unwrap();
    let killed: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .query(&mut r)
        .unwrap();
    assert_eq!(killed, 1, "the store's one connection");
    // The call that finds the connection gone fails (at most one: the
    // next call connects again by itself, no breaker involved).
    let mut failures = 0;
    let found = loop {
        match s.get::<_, u64>(&"k").await {
            Ok(v) => break v,
            Err(e) => {
                failures += 1;
                assert!(failures <= 1, "{e}");
            }
        }
    };
    assert_eq!(found, Some(7));
    assert!(!s.is_breaker_open());
    assert_eq!(s.stats().errors, failures);

    // Again, with 16 callers at once after the failure: one new connection.
    redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .exec(&mut r)
        .unwrap();
    while s.get::<_, u64>(&"k").await.is_ok() {}
    let before = connections_received(&mut r);
    let reads = (0..16).map(|_| s.get::<_, u64>(&"k"));
    for v in futures::future::join_all(reads).await {
        assert_eq!(v.unwrap(), Some(7));
    }
    assert_eq!(connections_received(&mut r) - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_reconnected_to() {
    let Some(mut server) = Server::start() else {
        return;
    };
    let s = RedisStore::builder(&server.url)
        .namespace(namespace("restart"))
        .connect_timeout(PATIENT)
        .response_timeout(PATIENT)
        .circuit_breaker(1_000, Duration::from_secs(60))
        .build()
        .unwrap();
    s.set(&"k", &1u64, None).await.unwrap();
    server.stop();
    assert!(s.get::<_, u64>(&"k").await.is_err(), "the server is gone");
    assert!(
        s.get::<_, u64>(&"k").await.is_err(),
        "and refuses connections"
    );
    server.restart();
    // The restarted server is empty; the store writes and reads again
    // without the breaker's help (it never opened).
    until(20, "the store reconnects", async || {
        s.set(&"k", &2u64, None).await.is_ok()
    })
    .await;
    assert_eq!(s.get::<_, u64>(&"k").await.unwrap(), Some(2));
    assert!(!s.is_breaker_open());
}
