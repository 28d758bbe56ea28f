//! Snapshot decoding (JSON and MessagePack): never a panic, and `restore`
//! either loads everything or changes nothing. Most inputs are framed with
//! a correct header so that the payload decoders, not the checksum, see
//! the fuzzer's bytes.
#![no_main]

use cachelite::{Cache, ManualClock, Policy, SnapshotFormat};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

type JsonCache = Cache<String, Value>;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = match mode % 3 {
        0 => rest.to_vec(),
        1 => framed(SnapshotFormat::Json, rest),
        _ => framed(SnapshotFormat::MessagePack, rest),
    };
    let policy =
        [Policy::Lru, Policy::Lfu, Policy::Fifo, Policy::TinyLfu][usize::from(mode / 3) % 4];
    let bounded = mode & 0x80 != 0;

    let cache = seeded(policy, bounded);
    let before = contents(&cache);
    match cache.restore_from(bytes.as_slice()) {
        Err(_) => assert_eq!(
            contents(&cache),
            before,
            "a failed restore changed the cache"
        ),
        Ok(n) => {
            if !bounded {
                // Everything loaded: the old keys the snapshot did not
                // replace are still there, and the count is what it holds.
                let after = contents(&cache);
                for (k, _) in &before {
                    assert!(after.iter().any(|(k2, _)| k2 == k), "{k} vanished");
                }
                assert!(cache.len() <= before.len() + n);
            }
            // What was restored saves and restores again, in both codecs.
            for format in [SnapshotFormat::Json, SnapshotFormat::MessagePack] {
                let mut buf = Vec::new();
                cache.snapshot_to(&mut buf, format).expect("re-encode");
                let copy = JsonCache::builder()
                    .policy(policy)
                    .clock(ManualClock::new())
                    .build();
                copy.restore_from(buf.as_slice()).expect("round trip");
                assert_eq!(contents(&copy).len(), contents(&cache).len());
            }
        }
    }
});

fn seeded(policy: Policy, bounded: bool) -> JsonCache {
    // A manual clock that never moves: an entry restored with a TTL of a
    // nanosecond must not expire between two checks of one input.
    let mut b = JsonCache::builder()
        .policy(policy)
        .clock(ManualClock::new());
    if bounded {
        b = b.max_items(4);
    }
    let cache = b.build();
    cache.insert("keep".into(), json!({"a": [1, 2, 3]}));
    cache.insert_with_tags("tagged".into(), json!("x"), ["t"]);
    cache
}

fn contents(cache: &JsonCache) -> Vec<(String, Value)> {
    let mut keys = cache.keys();
    keys.sort();
    keys.into_iter()
        .filter_map(|k| cache.peek(k.as_str()).map(|v| (k, v)))
        .collect()
}

fn framed(format: SnapshotFormat, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "CACHELITE-SNAPSHOT 1 {format} {} {:08x}\n",
        payload.len(),
        crc32fast::hash(payload)
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}
