//! The Redis tier through Redis Sentinel: a master, a replica and a
//! sentinel started here, and a failover forced mid-test.

mod support;

use std::time::Duration;

use cachelite_redis::{Error, RedisStore, TieredCache};
use support::topology::{SERVICE, SentinelSet, node};
use support::{namespace, until};

const PATIENT: Duration = Duration::from_secs(3);

fn store(set: &SentinelSet, ns: &str) -> RedisStore {
    RedisStore::builder_sentinel([set.sentinel_url()], SERVICE)
        .namespace(ns)
        .connect_timeout(PATIENT)
        .response_timeout(PATIENT)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failover_is_followed_and_clears_the_local_tier() {
    let Some(set) = SentinelSet::start() else {
        return;
    };
    let ns = namespace("sentinel");
    let c: TieredCache<str, u32> = TieredCache::builder(store(&set, &ns))
        .local_ttl(Duration::from_secs(60))
        .heartbeat(Duration::from_millis(200))
        .build()
        .unwrap();
    until(20, "the subscriber is connected", async || {
        c.is_local_active()
    })
    .await;
    // Another process's store, with no subscriber to learn of the switch.
    let other = store(&set, &ns);

    c.insert("before", 1).await.unwrap();
    other.set(&"written-by-other", &2u32, None).await.unwrap();
    until(10, "the key is held locally", async || {
        c.get("before").await.is_some() && c.local().contains_key("before")
    })
    .await;
    let key = c.store().redis_key("before").unwrap();
    let mut replica = node(set.replica_port());
    until(10, "the replica has the value", async || {
        redis::cmd("EXISTS")
            .arg(&key)
            .query::<bool>(&mut replica)
            .unwrap_or(false)
    })
    .await;
    assert_eq!(set.named_master(), Some(set.master_port()));
    let disconnects = c.stats().disconnects;

    tokio::task::block_in_place(|| set.failover());

    until(20, "the switch is noticed", async || {
        c.stats().disconnects > disconnects
    })
    .await;
    assert!(
        !c.local().contains_key("before"),
        "the local tier was cleared across the switch"
    );
    until(
        20,
        "the subscriber is back, on the new master",
        async || c.is_local_active(),
    )
    .await;

    // What was written before is read after, from the new master.
    let l2 = c.stats().l2_hits;
    assert_eq!(c.get("before").await, Some(1));
    assert_eq!(c.stats().l2_hits, l2 + 1, "from Redis, not a stale copy");
    // New writes go to the new master.
    c.insert("after", 3).await.unwrap();
    let mut new_master = node(set.replica_port());
    let after = c.store().redis_key("after").unwrap();
    assert!(
        redis::cmd("EXISTS")
            .arg(&after)
            .query::<bool>(&mut new_master)
            .unwrap()
    );
    // A store that did not see the switch follows at its first write: the
    // old master, a replica now, refuses it (READONLY) or has dropped the
    // connection, and the store asks the sentinels again.
    tokio::task::block_in_place(|| set.wait_until_old_master_follows());
    let mut wrote = false;
    for _ in 0..3 {
        if other.set(&"later", &4u32, None).await.is_ok() {
            wrote = true;
            break;
        }
    }
    assert!(wrote, "{:?}", other.stats());
    assert_eq!(
        other.get::<_, u32>(&"written-by-other").await.unwrap(),
        Some(2)
    );
    let later = other.redis_key(&"later").unwrap();
    assert!(
        redis::cmd("EXISTS")
            .arg(&later)
            .query::<bool>(&mut new_master)
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscriber_moves_when_the_sentinels_name_another_master() {
    let Some(set) = SentinelSet::start() else {
        return;
    };
    let ns = namespace("sentinel-rename");
    let c: TieredCache<str, u32> = TieredCache::builder(store(&set, &ns))
        .heartbeat(Duration::from_millis(100))
        .build()
        .unwrap();
    until(20, "the subscriber is connected", async || {
        c.is_local_active()
    })
    .await;
    assert!(SentinelSet::has_subscriber(set.master_port()));
    c.insert("k", 1).await.unwrap();
    until(10, "the key is held locally", async || {
        c.get("k").await.is_some() && c.local().contains_key("k")
    })
    .await;

    // The old master keeps running and keeps the connection: only the
    // heartbeat's question to the sentinels can notice.
    set.renamed_to_replica();
    until(10, "the change is noticed", async || {
        c.stats().disconnects == 1
    })
    .await;
    assert!(c.local().is_empty(), "the local tier was cleared");
    until(20, "the subscriber is back", async || c.is_local_active()).await;
    assert!(SentinelSet::has_subscriber(set.replica_port()));
    assert!(!SentinelSet::has_subscriber(set.master_port()));
    // Reads now go to the server the sentinels name (the replica has k).
    assert_eq!(c.get("k").await, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_refused_as_readonly_asks_the_sentinels_again() {
    let Some(set) = SentinelSet::start() else {
        return;
    };
    let store = store(&set, &namespace("sentinel-readonly"));
    store.set(&"k", &1u32, None).await.unwrap();
    // The store's connection stays on the old master, now a replica: the
    // next writes, made before the store's own once-a-second check, meet
    // READONLY once and then go to the new master.
    tokio::task::block_in_place(|| set.swap_roles());
    let first = store.set(&"k", &2u32, None).await;
    if let Err(e) = &first {
        assert!(
            matches!(e, Error::Redis(r) if r.code() == Some("READONLY")),
            "{e}"
        );
        store.set(&"k", &2u32, None).await.unwrap();
    }
    let key = store.redis_key(&"k").unwrap();
    let on_new: Vec<u8> = redis::cmd("GET")
        .arg(&key)
        .query(&mut node(set.replica_port()))
        .unwrap();
    assert!(!on_new.is_empty());
    assert_eq!(store.get::<_, u32>(&"k").await.unwrap(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_service_is_an_error_not_a_hang() {
    let Some(set) = SentinelSet::start() else {
        return;
    };
    let store = RedisStore::builder_sentinel([set.sentinel_url()], "nosuchservice")
        .connect_timeout(PATIENT)
        .response_timeout(PATIENT)
        .build()
        .unwrap();
    let r = store.ping().await;
    assert!(r.is_err(), "{r:?}");
    assert_eq!(store.stats().errors, 1);
}

/// The store conformance suite, every check, through sentinels.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_conformance_suite_passes_through_sentinels() {
    let Some(set) = SentinelSet::start() else {
        return;
    };
    let factory = async |ns: &str| store(&set, ns);
    support::suite::shared_values(factory).await;
    support::suite::invalidations_reach_the_other_local_tier(factory).await;
    support::suite::namespaces_are_isolated(factory).await;
    support::suite::sub_second_ttls(factory).await;
    support::suite::corrupt_values_are_misses(factory).await;
    support::suite::get_many(factory).await;
    support::suite::counters(factory).await;
}
