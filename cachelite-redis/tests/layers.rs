//! Compression and encryption of the values in Redis, against a real server.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cachelite_redis::{Compression, Keyring, RedisStore, TieredCache};
use redis::Commands;
use support::{namespace, raw, target, until};

const PATIENT: Duration = Duration::from_secs(3);
const K1: [u8; 32] = [0x11; 32];
const K2: [u8; 32] = [0x22; 32];

fn store(url: &str, ns: &str, compression: Compression, keys: Option<Keyring>) -> RedisStore {
    let b = RedisStore::builder(url)
        .namespace(ns)
        .connect_timeout(PATIENT)
        .response_timeout(PATIENT)
        .compression(compression);
    match keys {
        Some(k) => b.encryption(k),
        None => b,
    }
    .build()
    .unwrap()
}

async fn tiered(store: RedisStore) -> TieredCache<str, String> {
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

/// About 10 KiB of JSON.
fn document() -> String {
    let rows: Vec<String> = (0..160)
        .map(|i| {
            format!(
                r#"{{"id":{i},"name":"user {i}","team":"t{}","active":true}}"#,
                i % 7
            )
        })
        .collect();
    format!("[{}]", rows.join(","))
}

fn compressions() -> Vec<Compression> {
    let mut all = vec![Compression::lz4()];
    if cfg!(feature = "zstd") {
        all.push(Compression::zstd());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_and_encrypted_values_round_trip_through_tiered_caches() {
    let Some(t) = target() else { return };
    let doc = document();
    for compression in compressions() {
        let ns = namespace("layers");
        let keys = || Some(Keyring::new(1, K1));
        let a = tiered(store(&t.url, &ns, compression, keys())).await;
        // The reader writes nothing compressed: compressed values say so.
        let b = tiered(store(&t.url, &ns, Compression::None, keys())).await;
        let computed = AtomicUsize::new(0);
        for (k, v) in [("big", doc.clone()), ("small", "tiny".to_string())] {
            let got = a
                .get_or_insert_with(k, || {
                    computed.fetch_add(1, Ordering::SeqCst);
                    v.clone()
                })
                .await;
            assert_eq!(got, v);
            let read = b
                .get_or_insert_with(k, || unreachable!("b reads a's value"))
                .await;
            assert_eq!(read, v, "{compression:?} {k}");
        }
        assert_eq!(computed.load(Ordering::SeqCst), 2);
        assert_eq!(b.stats().l2_hits, 2);
        assert_eq!(a.stats().errors + b.stats().errors, 0);

        // What Redis holds: encrypted (key id 1), and compressed within.
        let mut con = raw(&t.url);
        let key = a.store().redis_key("big").unwrap();
        let stored: Vec<u8> = con.get(&key).unwrap();
        assert_eq!(&stored[..4], &[0xC1, 0x30, 1, 0]);
        assert!(
            stored.len() < doc.len() / 3,
            "{compression:?}: {} bytes for {}",
            stored.len(),
            doc.len()
        );
        let needle = b"user 12";
        assert!(!stored.windows(needle.len()).any(|w| w == needle));

        // A value written by b (which does not compress) is read by a.
        b.insert("from-b", doc.clone()).await.unwrap();
        assert_eq!(
            a.store().get::<_, String>("from-b").await.unwrap(),
            Some(doc.clone())
        );
        a.clear().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_copied_to_another_key_is_a_counted_error_and_a_miss() {
    let Some(t) = target() else { return };
    let ns = namespace("copied");
    let c = tiered(store(
        &t.url,
        &ns,
        Compression::lz4(),
        Some(Keyring::new(1, K1)),
    ))
    .await;
    c.insert("alice", document()).await.unwrap();
    let mut con = raw(&t.url);
    let from = c.store().redis_key("alice").unwrap();

    // `COPY` on the server, and `GET` then `SET` through a client.
    let by_copy = c.store().redis_key("mallory").unwrap();
    let copied: bool = redis::cmd("COPY")
        .arg(&from)
        .arg(&by_copy)
        .query(&mut con)
        .unwrap();
    assert!(copied);
    let by_set = c.store().redis_key("eve").unwrap();
    let bytes: Vec<u8> = con.get(&from).unwrap();
    let _: () = con.set(&by_set, bytes).unwrap();

    for (name, key) in [("mallory", &by_copy), ("eve", &by_set)] {
        let errors = c.stats().errors;
        let loads = c.stats().loads.successes;
        let v = c.get_or_insert_with(name, || format!("{name}'s own")).await;
        assert_eq!(v, format!("{name}'s own"), "a miss, then computed");
        assert_eq!(c.stats().loads.successes, loads + 1);
        assert_eq!(c.stats().errors, errors + 1, "counted");
        let again: Option<String> = c.store().get(name).await.unwrap();
        assert_eq!(again, Some(format!("{name}'s own")), "replaced: {key}");
    }
    // The original is untouched.
    assert_eq!(
        c.store().get::<_, String>("alice").await.unwrap(),
        Some(document())
    );
    c.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_across_stores_with_different_keyrings() {
    let Some(t) = target() else { return };
    let ns = namespace("rotate");
    let old = store(&t.url, &ns, Compression::None, Some(Keyring::new(1, K1)));
    let new = store(
        &t.url,
        &ns,
        Compression::lz4(),
        Some(Keyring::new(2, K2).with_old(1, K1)),
    );
    let mut con = raw(&t.url);

    old.set("written-before", &7u32, None).await.unwrap();
    let key = old.redis_key("written-before").unwrap();
    let stored: Vec<u8> = con.get(&key).unwrap();
    assert_eq!(&stored[..4], &[0xC1, 0x30, 1, 0]);
    assert_eq!(
        new.get::<_, u32>("written-before").await.unwrap(),
        Some(7),
        "old key decrypts"
    );

    new.set("written-after", &8u32, None).await.unwrap();
    let key = new.redis_key("written-after").unwrap();
    let stored: Vec<u8> = con.get(&key).unwrap();
    assert_eq!(
        &stored[..4],
        &[0xC1, 0x30, 2, 0],
        "written with the current key"
    );
    assert_eq!(new.get::<_, u32>("written-after").await.unwrap(), Some(8));

    // The store that lacks key 2 reads a miss and counts an error.
    let errors = old.stats().errors;
    assert_eq!(old.get::<_, u32>("written-after").await.unwrap(), None);
    assert_eq!(old.stats().errors, errors + 1);
    new.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_the_key_reads_misses_and_drops_the_values() {
    let Some(t) = target() else { return };
    let ns = namespace("no-key");
    let writer = store(&t.url, &ns, Compression::lz4(), Some(Keyring::new(1, K1)));
    let mut con = raw(&t.url);
    for (name, reader) in [
        ("none", store(&t.url, &ns, Compression::lz4(), None)),
        (
            "wrong",
            store(&t.url, &ns, Compression::None, Some(Keyring::new(1, K2))),
        ),
    ] {
        writer.set("secret", &document(), None).await.unwrap();
        let before = reader.stats();
        assert_eq!(
            reader.get::<_, String>("secret").await.unwrap(),
            None,
            "{name}"
        );
        let after = reader.stats();
        assert_eq!(after.errors, before.errors + 1, "{name}");
        assert_eq!(after.misses, before.misses + 1, "{name}");
        let exists: bool = con.exists(writer.redis_key("secret").unwrap()).unwrap();
        assert!(
            !exists,
            "{name}: dropped like any value that does not decode"
        );
        // Nothing of the key shows in the store's Debug.
        let shown = format!("{writer:?}");
        assert!(
            shown.contains("Keyring { current: 1, ids: [1] }"),
            "{shown}"
        );
        assert!(
            !shown.contains("17, 17, 17") && !shown.contains("0x11"),
            "{shown}"
        );
    }

    // And a store with keys takes no value that is not encrypted.
    let plain = store(&t.url, &ns, Compression::None, None);
    plain.set("plain", &1u32, None).await.unwrap();
    let errors = writer.stats().errors;
    assert_eq!(writer.get::<_, u32>("plain").await.unwrap(), None);
    assert_eq!(writer.stats().errors, errors + 1);
    writer.clear().await.unwrap();
}
