//! The Redis tier over a three-master Redis Cluster started here.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cachelite_redis::{Insertion, RedisStore, TieredCache};
use redis::cluster_routing::Slot;
use support::topology::RedisCluster;
use support::{namespace, until};

const PATIENT: Duration = Duration::from_secs(3);

fn store(cluster: &RedisCluster, ns: &str) -> RedisStore {
    RedisStore::builder_cluster(cluster.urls())
        .namespace(ns)
        .connect_timeout(PATIENT)
        .response_timeout(PATIENT)
        .build()
        .unwrap()
}

async fn tiered<V>(store: RedisStore) -> TieredCache<str, V>
where
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

/// Waits until `c` holds `k` locally.
async fn held_locally<V>(c: &TieredCache<str, V>, k: &str)
where
    V: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
{
    // A fill skips L1 while messages for the key may still be arriving.
    until(10, "the key is held locally", async || {
        c.get(k).await.is_some() && c.local().contains_key(k)
    })
    .await;
}

fn slot(store: &RedisStore, key: &str) -> Slot {
    Slot::for_key(store.redis_key(key).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_caches_over_a_cluster_share_values_and_stay_coherent() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let ns = namespace("cluster");
    // Each given one node, so that their subscribers listen on different
    // nodes: every message crosses the cluster bus.
    let urls = cluster.urls();
    let on = |i: usize| {
        RedisStore::builder_cluster([urls[i].clone()])
            .namespace(&ns)
            .connect_timeout(PATIENT)
            .response_timeout(PATIENT)
            .build()
            .unwrap()
    };
    let a: TieredCache<str, String> = tiered(on(0)).await;
    let b: TieredCache<str, String> = tiered(on(1)).await;
    assert_eq!(cluster.nodes_with_subscribers(), [0, 1]);
    support::two_clients_share_a_value(&a, &b).await;
    assert!(a.ping().await.is_ok());

    // By key.
    a.insert("plain", "1".into()).await.unwrap();
    held_locally(&b, "plain").await;
    a.insert("plain", "10".into()).await.unwrap();
    until(10, "b sees the new value", async || {
        b.get("plain").await.as_deref() == Some("10")
    })
    .await;
    assert!(a.remove("plain").await.unwrap());
    until(10, "b's copy of plain is gone", async || {
        b.get("plain").await.is_none()
    })
    .await;

    // By tag, over keys of many slots: the tag set lives in yet another.
    let store_a = store(&cluster, &ns);
    let tagged: Vec<String> = (0..24).map(|i| format!("team:{i}")).collect();
    for k in &tagged {
        a.insert_with_tags(k, k.clone(), ["team", "all"])
            .await
            .unwrap();
    }
    let slots: HashSet<Slot> = tagged.iter().map(|k| slot(&store_a, k)).collect();
    assert!(slots.len() > 10, "the tagged keys spread over slots");
    for k in &tagged {
        held_locally(&b, k).await;
    }
    assert_eq!(a.invalidate_tags(&["team"]).await.unwrap(), tagged.len());
    until(10, "b's tagged copies are gone", async || {
        tagged.iter().all(|k| !b.local().contains_key(k.as_str()))
    })
    .await;
    for k in &tagged {
        assert_eq!(b.get(k).await, None, "{k} left Redis too");
    }
    assert_eq!(
        a.invalidate_tags(&["all"]).await.unwrap(),
        0,
        "the other tag's set named only deleted keys"
    );

    // Tags on a computed value (stored with `SET NX`, unpublished).
    let computed = a
        .get_or_compute("computed", |v| v, async {
            let v = "c".to_string();
            (v.clone(), Some(Insertion::new(v).with_tags(["computed"])))
        })
        .await;
    assert_eq!(computed, "c");
    held_locally(&b, "computed").await;
    assert_eq!(a.invalidate_tags(&["computed"]).await.unwrap(), 1);
    until(10, "b's computed copy is gone", async || {
        b.get("computed").await.is_none()
    })
    .await;

    // By glob, matched on every master.
    for i in 0..12 {
        a.insert(&format!("user:{i}"), "u".into()).await.unwrap();
    }
    a.insert("post:1", "p".into()).await.unwrap();
    for i in 0..12 {
        held_locally(&b, &format!("user:{i}")).await;
    }
    held_locally(&b, "post:1").await;
    assert_eq!(a.invalidate_glob("user:*").await.unwrap(), 12);
    until(10, "b's user copies are gone", async || {
        (0..12).all(|i| !b.local().contains_key(format!("user:{i}").as_str()))
    })
    .await;
    assert_eq!(b.get("user:3").await, None);
    assert_eq!(b.get("post:1").await.as_deref(), Some("p"));

    // Clear: keys on every master go, and nothing else.
    for i in 0..30 {
        a.insert(&format!("k{i}"), "v".into()).await.unwrap();
    }
    let prefix = format!("cachelite:{ns}:");
    let holding = (0..3)
        .filter(|&i| !cluster.keys_on(i, &prefix).is_empty())
        .count();
    assert_eq!(holding, 3, "entries spread over all three masters");
    let mut other = support::topology::node(cluster.ports()[0]);
    let _: () = redis::cmd("SET")
        .arg("{unrelated}key")
        .arg("stays")
        .query(&mut other)
        .unwrap_or(());
    held_locally(&b, "k1").await;
    assert!(a.clear().await.unwrap() >= 30);
    for i in 0..3 {
        assert!(
            cluster.keys_on(i, &prefix).is_empty(),
            "node {i} still holds keys of the namespace"
        );
    }
    until(10, "b's local tier is cleared", async || {
        b.local().is_empty()
    })
    .await;

    // No command met CROSSSLOT, nor any other error.
    assert_eq!(a.stats().errors, 0, "{:?}", a.stats());
    assert_eq!(b.stats().errors, 0, "{:?}", b.stats());
    assert_eq!(store_a.stats().errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cross_process_singleflight_over_a_cluster_computes_once() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let ns = namespace("cluster-flight");
    let caches: Vec<TieredCache<str, u64>> = (0..4)
        .map(|_| {
            TieredCache::builder(store(&cluster, &ns))
                .cross_process_singleflight(Duration::from_secs(10), Duration::from_secs(20))
                .build()
                .unwrap()
        })
        .collect();
    let runs = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(caches.len()));
    let tasks: Vec<_> = caches
        .iter()
        .cloned()
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
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one computation for four");
    for c in &caches {
        // Waiters polled the entry and the lease, which live in two slots.
        assert_eq!(c.stats().errors, 0, "{:?}", c.stats());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_subscriber_moves_to_another_node_when_its_node_fails() {
    let Some(mut cluster) = RedisCluster::start() else {
        return;
    };
    let ns = namespace("cluster-move");
    // Writes from a store alone, so that the only subscriber is c's.
    let writer = store(&cluster, &ns);
    let c: TieredCache<str, u32> = tiered(store(&cluster, &ns)).await;
    let on = cluster.nodes_with_subscribers();
    assert_eq!(on.len(), 1, "one subscriber, on one node: {on:?}");
    cluster.kill(on[0]);

    until(10, "the drop is noticed", async || {
        c.stats().disconnects == 1
    })
    .await;
    assert!(c.local().is_empty());
    until(20, "the subscriber is back on another node", async || {
        c.is_local_active()
    })
    .await;
    let now_on = cluster.nodes_with_subscribers();
    assert_eq!(now_on.len(), 1);
    assert_ne!(now_on[0], on[0]);

    // Messages still arrive: a key served by a surviving master, held
    // locally, leaves the local tier when the writer removes it.
    let mut key = None;
    for i in 0..64 {
        let k = format!("k{i}");
        if writer.set(&k, &1u32, None).await.is_ok() {
            key = Some(k);
            break;
        }
    }
    let key = key.expect("a key on a surviving master");
    held_locally(&c, &key).await;
    assert!(writer.remove(&key).await.unwrap());
    until(10, "the local copy is dropped", async || {
        !c.local().contains_key(key.as_str())
    })
    .await;
    assert_eq!(c.get(&key).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_given_one_node_learns_the_others() {
    let Some(mut cluster) = RedisCluster::start() else {
        return;
    };
    let ns = namespace("cluster-learn");
    let one = RedisStore::builder_cluster([cluster.urls()[0].clone()])
        .namespace(&ns)
        .connect_timeout(PATIENT)
        .response_timeout(PATIENT)
        .build()
        .unwrap();
    let c: TieredCache<str, u32> = tiered(one).await;
    assert_eq!(cluster.nodes_with_subscribers(), [0]);
    cluster.kill(0);
    until(10, "the drop is noticed", async || {
        c.stats().disconnects == 1
    })
    .await;
    until(
        20,
        "the subscriber is back on a node it learned of",
        async || c.is_local_active(),
    )
    .await;
    let on = cluster.nodes_with_subscribers();
    assert!(on.len() == 1 && on[0] != 0, "{on:?}");
}

/// The store conformance suite, every check, on one cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_conformance_suite_passes_on_a_cluster() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let factory = async |ns: &str| store(&cluster, ns);
    support::suite::shared_values(factory).await;
    support::suite::invalidations_reach_the_other_local_tier(factory).await;
    support::suite::namespaces_are_isolated(factory).await;
    support::suite::sub_second_ttls(factory).await;
    support::suite::corrupt_values_are_misses(factory).await;
    support::suite::get_many(factory).await;
    support::suite::counters(factory).await;
}
