//! Snapshots: save a cache to disk, restore it, and every way a file can be
//! wrong.

use std::error::Error as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use cachelite::{Cache, ManualClock, Policy, SnapshotError, SnapshotFormat};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cachelite-snapshot-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Every file name in the directory, sorted.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const EXTENSIONS: [&str; 2] = ["json", "msgpack"];

fn lru(max: usize) -> Cache<String, u64> {
    Cache::builder().max_items(max).policy(Policy::Lru).build()
}

fn lfu(max: usize) -> Cache<String, u64> {
    Cache::builder().max_items(max).policy(Policy::Lfu).build()
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn s(k: &str) -> String {
    k.to_string()
}

/// The keys and values of a cache, sorted, read without touching the policy.
fn contents(c: &Cache<String, u64>) -> Vec<(String, u64)> {
    sorted(c.keys())
        .into_iter()
        .map(|k| {
            let v = c.peek(&k).unwrap();
            (k, v)
        })
        .collect()
}

#[test]
fn round_trip_in_json_and_messagepack() {
    let dir = TempDir::new("round-trip");
    let cache: Cache<String, Vec<u32>> = Cache::new(1000);
    for i in 0..200u32 {
        cache.insert(format!("key:{i}"), (0..i % 7).collect());
    }
    cache.insert("unicode ✓ \"quoted\"\n".into(), vec![u32::MAX]);
    for ext in EXTENSIONS {
        let path = dir.join(&format!("cache.{ext}"));
        assert_eq!(cache.snapshot(&path).unwrap(), 201);
        let fresh: Cache<String, Vec<u32>> = Cache::new(1000);
        let restored: usize = fresh.restore(&path).unwrap();
        assert_eq!(restored, 201);
        assert_eq!(sorted(fresh.keys()), sorted(cache.keys()));
        for k in cache.keys() {
            assert_eq!(fresh.peek(&k), cache.peek(&k), "{ext}: {k}");
        }
    }
    assert_eq!(dir.names(), ["cache.json", "cache.msgpack"]);
    let json = fs::read_to_string(dir.join("cache.json")).unwrap();
    assert!(json.starts_with("CACHELITE-SNAPSHOT 1 json "));
    assert!(json.lines().nth(1).unwrap().contains(r#""key":"key:3""#));
}

#[test]
fn tuple_keys_round_trip() {
    // The key shape `#[memoize]` gives a fn of several arguments.
    let dir = TempDir::new("tuple");
    let fib_cache: Cache<(u64,), u64> = Cache::new(100);
    let mut fib = (0u64, 1u64);
    for n in 0..50 {
        fib_cache.insert((n,), fib.0);
        fib = (fib.1, fib.0 + fib.1);
    }
    let pairs: Cache<(String, u32), Option<i64>> = Cache::new(10);
    pairs.insert(("a".into(), 1), Some(-1));
    pairs.insert(("b".into(), 2), None);
    for ext in EXTENSIONS {
        let path = dir.join(&format!("fib.{ext}"));
        assert_eq!(fib_cache.snapshot(&path).unwrap(), 50);
        let fresh: Cache<(u64,), u64> = Cache::new(100);
        assert_eq!(fresh.restore(&path).unwrap(), 50);
        assert_eq!(fresh.get(&(49,)), Some(7_778_742_049));
        assert_eq!(fresh.len(), 50);

        let path = dir.join(&format!("pairs.{ext}"));
        pairs.snapshot(&path).unwrap();
        let fresh: Cache<(String, u32), Option<i64>> = Cache::new(10);
        assert_eq!(fresh.restore(&path).unwrap(), 2);
        assert_eq!(fresh.get(&("a".to_string(), 1)), Some(Some(-1)));
        assert_eq!(fresh.get(&("b".to_string(), 2)), Some(None));
    }
}

#[test]
fn remaining_ttl_carries_over_and_expired_entries_are_left_out() {
    let dir = TempDir::new("ttl");
    let clock = ManualClock::new();
    let cache: Cache<String, u64> = Cache::builder().clock(clock.clone()).build();
    cache.insert_with_ttl(s("short"), 1, Duration::from_secs(10));
    cache.insert_with_ttl(s("long"), 2, Duration::from_secs(100));
    cache.insert_with_ttl(s("gone"), 3, Duration::from_secs(5));
    cache.insert(s("forever"), 4);
    clock.advance(Duration::from_secs(6));
    for ext in EXTENSIONS {
        let path = dir.join(&format!("ttl.{ext}"));
        assert_eq!(cache.snapshot(&path).unwrap(), 3, "`gone` has expired");

        // A new process: its clock starts again at zero.
        let clock2 = ManualClock::new();
        clock2.advance(Duration::from_secs(1_000));
        let fresh: Cache<String, u64> = Cache::builder().clock(clock2.clone()).build();
        assert_eq!(fresh.restore(&path).unwrap(), 3);
        assert_eq!(fresh.ttl("short"), Some(Duration::from_secs(4)));
        assert_eq!(fresh.ttl("long"), Some(Duration::from_secs(94)));
        assert_eq!(fresh.ttl("forever"), None);
        assert_eq!(fresh.get("forever"), Some(4));
        assert!(!fresh.contains_key("gone"));
        clock2.advance(Duration::from_secs(4));
        assert_eq!(fresh.get("short"), None);
        assert_eq!(fresh.get("long"), Some(2));
    }
    // Once everything with a TTL has expired, only `forever` is saved.
    clock.advance(Duration::from_secs(1_000));
    assert_eq!(cache.snapshot(dir.join("late.json")).unwrap(), 1);
}

#[test]
fn ttl_with_the_default_clock_is_about_what_was_left() {
    let mut buf = Vec::new();
    let cache: Cache<String, u64> = Cache::new(10);
    cache.insert_with_ttl(s("k"), 1, Duration::from_secs(60));
    cache.snapshot_to(&mut buf, SnapshotFormat::Json).unwrap();
    let fresh: Cache<String, u64> = Cache::new(10);
    fresh.restore_from(buf.as_slice()).unwrap();
    let left = fresh.ttl("k").unwrap();
    assert!(
        left <= Duration::from_secs(60) && left > Duration::from_secs(50),
        "{left:?}"
    );
}

#[test]
fn tags_survive_a_restore() {
    let dir = TempDir::new("tags");
    let cache: Cache<String, u64> = Cache::new(100);
    cache.insert_with_tags(s("user:1:name"), 1, ["user:1", "users"]);
    cache.insert_with_tags(s("user:2:name"), 2, ["user:2", "users"]);
    cache.insert_with_tags(s("user:1:mail"), 3, ["user:1"]);
    cache.insert(s("untagged"), 4);
    for ext in EXTENSIONS {
        let path = dir.join(&format!("tags.{ext}"));
        cache.snapshot(&path).unwrap();
        let fresh: Cache<String, u64> = Cache::new(100);
        fresh.restore(&path).unwrap();
        assert_eq!(fresh.invalidate_tags(&["user:1"]), 2);
        assert_eq!(fresh.invalidate_tags(&["users"]), 1);
        assert_eq!(fresh.keys(), [s("untagged")]);
    }
}

#[test]
fn lru_recency_survives_a_restore() {
    let dir = TempDir::new("lru");
    let cache = lru(4);
    for k in ["a", "b", "c", "d"] {
        cache.insert(s(k), 0);
    }
    cache.get("a");
    cache.get("c");
    // Least recent first: b, d, a, c.
    for ext in EXTENSIONS {
        let path = dir.join(&format!("lru.{ext}"));
        cache.snapshot(&path).unwrap();
        let fresh = lru(4);
        fresh.restore(&path).unwrap();
        fresh.insert(s("e"), 0);
        assert!(!fresh.contains_key("b"), "b was the least recent");
        fresh.insert(s("f"), 0);
        assert!(!fresh.contains_key("d"));
        fresh.insert(s("g"), 0);
        assert!(!fresh.contains_key("a"));
        assert_eq!(sorted(fresh.keys()), ["c", "e", "f", "g"]);
    }
}

#[test]
fn fifo_age_survives_a_restore() {
    let cache: Cache<String, u64> = Cache::builder().max_items(3).policy(Policy::Fifo).build();
    for k in ["a", "b", "c"] {
        cache.insert(s(k), 0);
    }
    cache.get("a");
    let mut buf = Vec::new();
    cache
        .snapshot_to(&mut buf, SnapshotFormat::MessagePack)
        .unwrap();
    let fresh: Cache<String, u64> = Cache::builder().max_items(3).policy(Policy::Fifo).build();
    fresh.restore_from(buf.as_slice()).unwrap();
    fresh.insert(s("d"), 0);
    assert_eq!(
        sorted(fresh.keys()),
        ["b", "c", "d"],
        "a was inserted first"
    );
}

#[test]
fn lfu_frequencies_survive_a_restore() {
    let dir = TempDir::new("lfu");
    let cache = lfu(2);
    cache.insert(s("hot"), 1);
    cache.insert(s("cold"), 2);
    for _ in 0..4 {
        cache.get("hot");
    }
    // hot: 5 accesses, cold: 1.
    for ext in EXTENSIONS {
        let path = dir.join(&format!("lfu.{ext}"));
        cache.snapshot(&path).unwrap();
        let fresh = lfu(2);
        fresh.restore(&path).unwrap();
        // 3 reads bring cold to 4, still below hot's restored 5; had the
        // counts been lost (both at 1), cold would now be far ahead.
        for _ in 0..3 {
            fresh.get("cold");
        }
        fresh.insert(s("new"), 3);
        assert_eq!(
            sorted(fresh.keys()),
            ["hot", "new"],
            "{ext}: cold (4) was evicted before hot (5)"
        );
    }
}

#[test]
fn a_smaller_cache_keeps_what_the_policy_ranks_highest() {
    let dir = TempDir::new("smaller");
    let path = dir.join("big.msgpack");

    let big = lru(10);
    for i in 0..10 {
        big.insert(format!("k{i}"), i);
    }
    big.get("k2");
    big.get("k5");
    big.snapshot(&path).unwrap();
    let small = lru(3);
    assert_eq!(small.restore(&path).unwrap(), 10);
    assert_eq!(sorted(small.keys()), ["k2", "k5", "k9"]);

    let big = lfu(10);
    for i in 0..10 {
        big.insert(format!("k{i}"), i);
        for _ in 0..(i * 7) % 10 {
            big.get(&format!("k{i}"));
        }
    }
    // Reads per key: 0 7 4 1 8 5 2 9 6 3.
    big.snapshot(&path).unwrap();
    let small = lfu(3);
    small.restore(&path).unwrap();
    assert_eq!(sorted(small.keys()), ["k1", "k4", "k7"]);
}

#[test]
fn a_sharded_cache_restores_into_any_shard_count() {
    let cache: Cache<String, u64> = Cache::builder().shards(4).policy(Policy::Lru).build();
    for i in 0..1000 {
        cache.insert(format!("k{i}"), i);
    }
    let hot: Vec<String> = (0..1000).step_by(25).map(|i| format!("k{i}")).collect();
    for k in &hot {
        cache.get(k);
    }
    let mut buf = Vec::new();
    assert_eq!(
        cache.snapshot_to(&mut buf, SnapshotFormat::Json).unwrap(),
        1000
    );

    let one: Cache<String, u64> = Cache::builder().shards(1).build();
    assert_eq!(one.restore_from(buf.as_slice()).unwrap(), 1000);
    assert_eq!(contents(&one), contents(&cache));

    // Each shard's most recent entries end up last in the merged order,
    // so a small cache keeps the recently read keys.
    let small: Cache<String, u64> = Cache::builder()
        .shards(1)
        .max_items(100)
        .policy(Policy::Lru)
        .build();
    small.restore_from(buf.as_slice()).unwrap();
    for k in &hot {
        assert!(small.contains_key(k), "{k}");
    }

    let eight: Cache<String, u64> = Cache::builder().shards(8).build();
    eight.restore_from(buf.as_slice()).unwrap();
    assert_eq!(contents(&eight), contents(&cache));
}

#[test]
fn restore_merges_into_what_is_there() {
    let src = lru(10);
    src.insert(s("shared"), 1);
    src.insert(s("theirs"), 2);
    let mut buf = Vec::new();
    src.snapshot_to(&mut buf, SnapshotFormat::Json).unwrap();

    let dst = lru(10);
    dst.insert(s("shared"), 100);
    dst.insert(s("mine"), 3);
    assert_eq!(dst.restore_from(buf.as_slice()).unwrap(), 2);
    assert_eq!(
        contents(&dst),
        [(s("mine"), 3), (s("shared"), 1), (s("theirs"), 2)]
    );

    // For an exact copy, clear first.
    dst.clear();
    dst.restore_from(buf.as_slice()).unwrap();
    assert_eq!(contents(&dst), contents(&src));
}

#[test]
fn another_policy_can_restore_the_snapshot() {
    let src = lfu(10);
    for k in ["a", "b", "c"] {
        src.insert(s(k), 1);
    }
    src.get("a");
    let mut buf = Vec::new();
    src.snapshot_to(&mut buf, SnapshotFormat::MessagePack)
        .unwrap();
    let dst = lru(2);
    assert_eq!(dst.restore_from(buf.as_slice()).unwrap(), 3);
    // LFU order was b, c, a: the LRU keeps the last two.
    assert_eq!(sorted(dst.keys()), ["a", "c"]);
}

/// A cache holding a few entries, to check that failed restores leave it be.
fn populated() -> Cache<String, u64> {
    let c = lru(100);
    c.insert_with_tags(s("x"), 1, ["t"]);
    c.insert(s("y"), 2);
    c
}

fn assert_untouched(c: &Cache<String, u64>) {
    assert_eq!(contents(c), [(s("x"), 1), (s("y"), 2)]);
    assert_eq!(c.stats().inserts, 2);
}

fn saved(ext: &str, dir: &TempDir) -> PathBuf {
    let src = lru(100);
    for i in 0..50 {
        src.insert(format!("k{i}"), i);
    }
    let path = dir.join(&format!("src.{ext}"));
    src.snapshot(&path).unwrap();
    path
}

fn header_len(bytes: &[u8]) -> usize {
    bytes.iter().position(|&b| b == b'\n').unwrap() + 1
}

#[test]
fn a_flipped_byte_is_a_checksum_mismatch_and_changes_nothing() {
    let dir = TempDir::new("corrupt");
    for ext in EXTENSIONS {
        let path = saved(ext, &dir);
        let good = fs::read(&path).unwrap();
        let start = header_len(&good);
        for at in [start, (start + good.len()) / 2, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x20;
            fs::write(&path, &bad).unwrap();
            let cache = populated();
            let err = cache.restore(&path).unwrap_err();
            assert!(
                matches!(err, SnapshotError::ChecksumMismatch { expected, actual } if expected != actual),
                "{ext} at {at}: {err}"
            );
            assert!(err.to_string().contains("corrupt"), "{err}");
            assert_untouched(&cache);
        }
    }
}

#[test]
fn a_truncated_file_is_reported_as_truncated() {
    let dir = TempDir::new("truncated");
    for ext in EXTENSIONS {
        let path = saved(ext, &dir);
        let good = fs::read(&path).unwrap();
        let start = header_len(&good);
        for keep in [good.len() - 1, start + 10, start, start - 1, 5] {
            fs::write(&path, &good[..keep]).unwrap();
            let cache = populated();
            let err = cache.restore(&path).unwrap_err();
            assert!(
                matches!(err, SnapshotError::Truncated),
                "{ext}, {keep} bytes: {err}"
            );
            assert_untouched(&cache);
            let err = cache.restore_from(&good[..keep]).unwrap_err();
            assert!(matches!(err, SnapshotError::Truncated), "{err}");
        }
    }
}

#[test]
fn a_foreign_file_is_not_a_snapshot() {
    let dir = TempDir::new("foreign");
    let path = dir.join("foreign.json");
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".as_slice();
    let json = br#"{"entries":[{"key":"x","value":1}]}"#.as_slice();
    for bytes in [png, json, b"", b"CACHELITE SNAPSHOT 1 json 2 00000000\n{}"] {
        fs::write(&path, bytes).unwrap();
        let cache = populated();
        let err = cache.restore(&path).unwrap_err();
        assert!(matches!(err, SnapshotError::NotASnapshot), "{err}");
        assert_untouched(&cache);
    }
}

#[test]
fn a_newer_version_is_unsupported() {
    let dir = TempDir::new("version");
    let path = saved("json", &dir);
    let good = fs::read_to_string(&path).unwrap();
    let newer = good.replacen("CACHELITE-SNAPSHOT 1 json", "CACHELITE-SNAPSHOT 2 json", 1);
    fs::write(&path, newer).unwrap();
    let cache = populated();
    let err = cache.restore(&path).unwrap_err();
    assert!(
        matches!(
            err,
            SnapshotError::UnsupportedVersion {
                found: 2,
                supported: 1
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "unsupported snapshot format version 2: this build reads version 1"
    );
    assert_untouched(&cache);

    // A future version may change everything after its number.
    fs::write(&path, "CACHELITE-SNAPSHOT 7 zstd+cbor;chunked\n...").unwrap();
    assert!(matches!(
        cache.restore(&path),
        Err(SnapshotError::UnsupportedVersion { found: 7, .. })
    ));
}

#[test]
fn an_unknown_codec_or_a_garbled_header_is_rejected() {
    let dir = TempDir::new("codec");
    let path = saved("json", &dir);
    let good = fs::read_to_string(&path).unwrap();
    fs::write(&path, good.replacen(" json ", " cbor ", 1)).unwrap();
    let cache = populated();
    let err = cache.restore(&path).unwrap_err();
    assert!(
        matches!(&err, SnapshotError::UnknownCodec(c) if c == "cbor"),
        "{err}"
    );
    fs::write(&path, good.replacen(" json ", " json x ", 1)).unwrap();
    let err = cache.restore(&path).unwrap_err();
    assert!(matches!(err, SnapshotError::MalformedHeader(_)), "{err}");
    assert_untouched(&cache);
}

#[test]
fn snapshot_needs_a_known_extension() {
    let dir = TempDir::new("extension");
    let cache = populated();
    let err = cache.snapshot(dir.join("x.txt")).unwrap_err();
    assert!(
        matches!(&err, SnapshotError::UnknownExtension(p) if p.ends_with("x.txt")),
        "{err}"
    );
    assert!(err.to_string().contains("x.txt"), "{err}");
    assert!(dir.names().is_empty());
    for name in ["a.JSON", "b.mpk", "c.msgpk"] {
        cache.snapshot(dir.join(name)).unwrap();
    }
    // The codec comes from the header, not the name.
    fs::rename(dir.join("b.mpk"), dir.join("b.bak")).unwrap();
    assert_eq!(lru(10).restore(dir.join("b.bak")).unwrap(), 2);
}

#[test]
fn saving_over_a_snapshot_replaces_it_whole_and_leaves_no_temp_files() {
    let dir = TempDir::new("atomic");
    let path = dir.join("cache.json");
    let cache = lru(100);
    for round in 0..5u64 {
        cache.insert(format!("k{round}"), round);
        assert_eq!(cache.snapshot(&path).unwrap(), round as usize + 1);
        assert_eq!(dir.names(), ["cache.json"]);
        let fresh = lru(100);
        assert_eq!(fresh.restore(&path).unwrap(), round as usize + 1);
    }
}

#[test]
fn a_missing_file_is_an_io_error_with_a_source() {
    let dir = TempDir::new("missing");
    let err = lru(1).restore(dir.join("nope.json")).unwrap_err();
    let SnapshotError::Io(io) = &err else {
        panic!("{err}")
    };
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    assert!(err.source().is_some());
    assert!(err.to_string().starts_with("snapshot I/O error: "), "{err}");
    let err = lru(1).snapshot(dir.join("no/such/dir/x.json")).unwrap_err();
    assert!(matches!(err, SnapshotError::Io(_)), "{err}");
}

#[test]
fn format_names_parse_and_display() {
    assert_eq!(
        SnapshotFormat::from_path(Path::new("a/b.Json")),
        Some(SnapshotFormat::Json)
    );
    for name in ["msgpack", "MessagePack", "mpk", "msgpk"] {
        assert_eq!(
            name.parse::<SnapshotFormat>().unwrap(),
            SnapshotFormat::MessagePack
        );
    }
    assert!(matches!(
        "yaml".parse::<SnapshotFormat>(),
        Err(SnapshotError::UnknownCodec(_))
    ));
    assert_eq!(SnapshotFormat::Json.to_string(), "json");
}

#[test]
fn snapshots_and_restores_run_alongside_writers() {
    let cache: Cache<String, u64> = Cache::builder()
        .max_items(2_000)
        .shards(4)
        .policy(Policy::Lfu)
        .build();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (cache, stop) = (cache.clone(), stop.clone());
            thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let k = format!("k{}", (i * 7 + t) % 3_000);
                    match i % 4 {
                        0 => {
                            cache.insert_with_tags(k, i, ["w"]);
                        }
                        1 => {
                            cache.get(&k);
                        }
                        2 => {
                            cache.insert_with_ttl(k, i, Duration::from_millis(5));
                        }
                        _ => {
                            cache.remove(&k);
                        }
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let mut buf = Vec::new();
    for round in 0..30 {
        buf.clear();
        let format = if round % 2 == 0 {
            SnapshotFormat::Json
        } else {
            SnapshotFormat::MessagePack
        };
        let n = cache.snapshot_to(&mut buf, format).unwrap();
        assert!(n <= 2_000);
        // Restoring into the very cache being written to, too.
        let restored = cache.restore_from(buf.as_slice()).unwrap();
        assert!(restored <= n);
        let copy: Cache<String, u64> = Cache::new(2_000);
        copy.restore_from(buf.as_slice()).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(cache.len() <= 2_000);
}

#[cachelite::memoize]
fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

#[cachelite::memoize(capacity = 100)]
fn label(id: u32, lang: &str) -> String {
    format!("{lang}:{id}")
}

#[test]
fn memoized_fns_snapshot_through_their_accessors() {
    let dir = TempDir::new("memo");
    assert_eq!(fib(60), 1_548_008_755_920);
    label(1, "en");
    label(2, "fr");
    for ext in EXTENSIONS {
        let fib_path = dir.join(&format!("fib.{ext}"));
        let label_path = dir.join(&format!("label.{ext}"));
        assert_eq!(fib_cache().snapshot(&fib_path).unwrap(), 61);
        assert_eq!(label_cache().snapshot(&label_path).unwrap(), 2);
        fib_cache_clear();
        label_cache_clear();
        assert_eq!(fib_cache().restore(&fib_path).unwrap(), 61);
        assert_eq!(label_cache().restore(&label_path).unwrap(), 2);
        let misses = fib_cache_info().stats.misses;
        assert_eq!(fib(60), 1_548_008_755_920);
        assert_eq!(
            fib_cache_info().stats.misses,
            misses,
            "served from the restored cache"
        );
        assert_eq!(
            label_cache().get(&(2, "fr".to_string())).as_deref(),
            Some("fr:2")
        );
    }
}
