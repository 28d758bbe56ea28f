//! The documented surface of the runtime, through the `cachelite` facade:
//! builder and its errors, policies, stats and info, the registry, and the
//! small behaviours the docs promise.

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;
use std::time::Duration;

use cachelite::{
    BuildError, Cache, CacheBuilder, CacheInfo, CacheInfoSource, Clock, Event, Glob, Insertion,
    ManualClock, ParsePolicyError, Policy, RemovalCause, Stats, register, registry,
};

const _: () = {
    const fn clone_send_sync<T: Clone + Send + Sync + 'static>() {}
    const fn send_sync<T: Send + Sync>() {}
    const fn error<T: std::error::Error + Send + Sync + 'static>() {}
    clone_send_sync::<Cache<String, Vec<u8>>>();
    clone_send_sync::<Cache<u64, String, BuildHasherDefault<DefaultHasher>>>();
    clone_send_sync::<Insertion<String>>();
    clone_send_sync::<ManualClock>();
    clone_send_sync::<Glob>();
    send_sync::<CacheBuilder<String, String>>();
    error::<BuildError>();
    error::<ParsePolicyError>();
};

fn assert_copy<T: Copy + Default + PartialEq + std::fmt::Debug>() {}

#[test]
fn documented_two_item_lru_example() {
    let cache: Cache<String, String> = Cache::builder()
        .max_items(2)
        .policy(Policy::Lru)
        .default_ttl(Duration::from_secs(60))
        .build();
    cache.insert("a".into(), "1".into());
    cache.insert("b".into(), "2".into());
    cache.get("a");
    cache.insert("c".into(), "3".into());
    assert!(cache.contains_key("a"));
    assert!(!cache.contains_key("b"));
    assert!(cache.contains_key("c"));
    assert_eq!(cache.stats().evictions, 1);
}

#[test]
fn peek_and_contains_key_change_neither_stats_nor_recency() {
    let cache: Cache<&str, u32> = Cache::builder().max_items(2).build();
    cache.insert("a", 1);
    cache.insert("b", 2);
    let before = cache.stats();
    assert_eq!(cache.peek("a"), Some(1));
    assert!(cache.contains_key("a"));
    assert_eq!(cache.peek("zz"), None);
    assert!(!cache.contains_key("zz"));
    assert_eq!(cache.stats(), before);
    cache.insert("c", 3);
    assert!(
        !cache.contains_key("a"),
        "a was only peeked: still the LRU victim"
    );
}

type Built = Result<Cache<String, String>, BuildError>;

#[test]
fn builder_mistakes_are_reported_by_try_build() {
    let b = Cache::<String, String>::builder;
    let cases: Vec<(Built, BuildError, &str)> = vec![
        (
            b().max_items(0).try_build(),
            BuildError::ZeroMaxItems,
            "unbounded()",
        ),
        (
            b().max_bytes(0).try_build(),
            BuildError::ZeroMaxBytes,
            "max_bytes",
        ),
        (
            b().max_weight(0).weigher(|_, _| 1).try_build(),
            BuildError::ZeroMaxBytes,
            "at least 1",
        ),
        (
            b().max_weight(10).try_build(),
            BuildError::MissingWeigher,
            "weigher",
        ),
        (
            b().default_ttl(Duration::ZERO).try_build(),
            BuildError::ZeroDuration("default_ttl"),
            "default_ttl must be greater than zero",
        ),
        (
            b().active_expiry(Duration::ZERO).try_build(),
            BuildError::ZeroDuration("active_expiry"),
            "active_expiry",
        ),
        (
            b().shards(3).try_build(),
            BuildError::ShardsNotPowerOfTwo(3),
            "power of two",
        ),
        (
            b().shards(0).try_build(),
            BuildError::ShardsNotPowerOfTwo(0),
            "got 0",
        ),
        (
            b().active_expiry_samples(0).try_build(),
            BuildError::ZeroSamples,
            "at least 1",
        ),
    ];
    for (result, want, hint) in cases {
        let err = result.expect_err("a mistake");
        assert_eq!(err, want);
        assert!(err.to_string().contains(hint), "{err}");
    }
    assert!(b().max_items(1).shards(1).try_build().is_ok());
    assert!(b().max_bytes(1).try_build().is_ok());
}

#[test]
#[should_panic(expected = "invalid cachelite configuration: max_items must be at least 1")]
fn build_panics_with_the_error_message() {
    let _ = Cache::<u8, u8>::builder().max_items(0).build();
}

#[test]
fn builder_defaults_and_getters() {
    let cache: Cache<u8, u8> = Cache::builder().build();
    assert_eq!(cache.policy(), Policy::Lru);
    assert_eq!(cache.max_items(), None);
    assert_eq!(cache.max_bytes(), None);
    assert!(cache.shard_count().is_power_of_two());
    let cache: Cache<u8, u8> = Cache::new(2);
    assert_eq!((cache.max_items(), cache.shard_count()), (Some(2), 1));
    let cache: Cache<String, String> = Cache::builder()
        .max_items(10)
        .max_items(20)
        .unbounded()
        .build();
    assert_eq!(cache.max_items(), None);
    let cache: Cache<String, String> = Cache::builder().max_bytes(1 << 20).build();
    assert_eq!(cache.max_bytes(), Some(1 << 20));
    let dbg = format!("{cache:?}");
    assert!(dbg.contains("Cache") && dbg.contains("max_bytes"), "{dbg}");
    assert!(
        format!("{:?}", Cache::<u8, u8>::builder().max_items(3)).contains("max_items: Some(3)")
    );
}

// Regression: an explicit shard count larger than the item bound gave some
// shards a zero share, so every key hashing to them was rejected.
#[test]
fn explicit_shard_count_is_capped_so_no_shard_has_zero_capacity() {
    let cache: Cache<u32, u32> = Cache::builder().max_items(4).shards(8).build();
    assert_eq!(cache.shard_count(), 4);
    assert!(
        (0..100).all(|k| cache.insert(k, k)),
        "every insert is stored"
    );
    assert_eq!(cache.len(), 4);
    assert_eq!(cache.stats().rejections, 0);
    let cache: Cache<u32, u32> = Cache::builder()
        .shards(16)
        .max_weight(2)
        .weigher(|_, _| 1)
        .build();
    assert_eq!(cache.shard_count(), 2);
    assert!((0..10).all(|k| cache.insert(k, k)));
    let cache: Cache<u32, u32> = Cache::builder().shards(16).build();
    assert_eq!(cache.shard_count(), 16, "no bound, no cap");
}

#[test]
fn policies_parse_and_print() {
    assert_eq!("lfu".parse::<Policy>(), Ok(Policy::Lfu));
    assert_eq!("LRU".parse::<Policy>(), Ok(Policy::Lru));
    assert_eq!(" fifo ".parse::<Policy>(), Ok(Policy::Fifo));
    assert_eq!("Random".parse::<Policy>(), Ok(Policy::Random));
    let err = "arc".parse::<Policy>().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "unknown eviction policy `arc`; valid policies: {}",
            Policy::valid_names()
        )
    );
    assert!(Policy::valid_names().starts_with("lru, lfu, fifo, random"));
    let names: Vec<&str> = Policy::ALL.iter().map(|p| p.name()).collect();
    assert_eq!(Policy::valid_names(), names.join(", "));
    assert_eq!(Policy::default(), Policy::Lru);
    for p in Policy::ALL {
        assert_eq!(p.to_string().parse::<Policy>(), Ok(*p));
        assert_eq!(p.name(), p.to_string());
        let c: Cache<u8, u8> = Cache::builder().policy(*p).build();
        assert_eq!(c.policy(), *p);
    }
}

#[test]
fn stats_fields_and_rates() {
    assert_copy::<Stats>();
    let s = Stats::default();
    assert_eq!((s.hit_rate(), s.miss_rate()), (0.0, 0.0));
    let clock = ManualClock::new();
    let cache: Cache<u32, u32> = Cache::builder()
        .max_items(2)
        .max_weight(10)
        .weigher(|_, v: &u32| *v as usize)
        .clock(clock.clone())
        .build();
    cache.insert(1, 1);
    cache.insert(2, 2);
    cache.insert(3, 3); // evicts 1
    cache.get(&2);
    cache.get(&2);
    cache.get(&3);
    cache.get(&9);
    cache.insert(4, 11); // rejected
    cache.remove(&2);
    cache.insert_with_ttl(5, 1, Duration::from_secs(1));
    clock.advance(Duration::from_secs(1));
    cache.get(&5);
    let s = cache.stats();
    assert_eq!(
        (
            s.hits,
            s.misses,
            s.inserts,
            s.evictions,
            s.expirations,
            s.invalidations
        ),
        (3, 2, 4, 1, 1, 1)
    );
    assert_eq!(
        (s.rejections, s.listener_panics, s.len, s.bytes),
        (1, 0, 1, 3)
    );
    assert_eq!(s.hit_rate(), 0.6);
    assert_eq!(s.miss_rate(), 0.4);
}

#[test]
fn info_reports_stats_and_configuration() {
    let cache: Cache<String, String> = Cache::builder()
        .max_items(100)
        .max_bytes(1 << 20)
        .policy(Policy::Fifo)
        .default_ttl(Duration::from_secs(30))
        .build();
    cache.insert("k".into(), "v".into());
    cache.get("k");
    cache.get("x");
    let info: CacheInfo = cache.info();
    assert_eq!(
        (
            info.stats.hits,
            info.stats.misses,
            info.stats.len,
            info.stats.inserts
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(info.config.max_items, Some(100));
    assert_eq!(info.config.max_bytes, Some(1 << 20));
    assert!(info.stats.bytes > 0 && info.stats.bytes == cache.stats().bytes);
    assert_eq!(info.config.policy, Policy::Fifo);
    assert_eq!(info.config.default_ttl, Some(Duration::from_secs(30)));
    assert_eq!(info.hit_rate(), 0.5);
    assert_eq!(cache.cache_info(), info);
}

#[test]
fn registry_lists_registered_caches_sorted_by_name() {
    let a: Cache<u8, u8> = Cache::new(8);
    let b: Cache<String, u64> = Cache::new(16);
    register("runtime_api::zeta", b.clone());
    register("runtime_api::alpha", a.clone());
    a.insert(1, 1);
    let mine = |r: &[(&'static str, CacheInfo)]| -> Vec<(&'static str, Option<usize>, usize)> {
        r.iter()
            .filter(|(n, _)| n.starts_with("runtime_api::"))
            .map(|(n, i)| (*n, i.config.max_items, i.stats.len))
            .collect()
    };
    let r = registry();
    assert!(r.windows(2).all(|w| w[0].0 <= w[1].0), "sorted by name");
    assert_eq!(
        mine(&r),
        [
            ("runtime_api::alpha", Some(8), 1),
            ("runtime_api::zeta", Some(16), 0)
        ]
    );
    // A taken name is not reused: every cache stays listed, the later
    // ones under `name#2`, `name#3`, ...
    assert_eq!(
        register("runtime_api::alpha", Cache::<u8, u8>::new(4)),
        "runtime_api::alpha#2"
    );
    assert_eq!(
        register("runtime_api::alpha", Cache::<u8, u8>::new(2)),
        "runtime_api::alpha#3"
    );
    assert_eq!(
        mine(&registry()),
        [
            ("runtime_api::alpha", Some(8), 1),
            ("runtime_api::alpha#2", Some(4), 0),
            ("runtime_api::alpha#3", Some(2), 0),
            ("runtime_api::zeta", Some(16), 0)
        ]
    );
}

#[test]
fn clones_are_handles_to_one_cache() {
    let a: Cache<u8, u8> = Cache::new(10);
    let b = a.clone();
    a.insert(1, 1);
    assert_eq!(b.get(&1), Some(1));
    b.clear();
    assert!(a.is_empty());
}

#[test]
fn borrowed_lookups_work_for_string_keys() {
    let c: Cache<String, u32> = Cache::new(10);
    c.insert("k".to_string(), 1);
    assert_eq!(c.get("k"), Some(1));
    assert_eq!(c.peek("k"), Some(1));
    assert!(c.contains_key("k"));
    assert!(c.expire("k", Duration::from_secs(5)));
    assert!(c.ttl("k").is_some());
    assert!(c.persist("k"));
    assert_eq!(c.remove("k"), Some(1));
}

#[test]
fn a_custom_hasher_is_used() {
    let c: Cache<u64, u64, BuildHasherDefault<DefaultHasher>> = Cache::builder()
        .hasher(BuildHasherDefault::default())
        .max_items(3)
        .build();
    for k in 0..10 {
        c.insert(k, k);
    }
    assert_eq!(c.len(), 3);
    assert_eq!(c.get(&9), Some(9));
}

#[test]
fn insertion_builder() {
    let i = Insertion::new(5)
        .with_ttl(Duration::from_secs(1))
        .without_ttl()
        .with_tags(["a"])
        .with_tags(vec![String::from("b")]);
    assert_eq!(*i.value(), 5);
    let c: Cache<u8, u8> = Cache::new(10);
    assert!(c.insert_entry(1, i));
    assert_eq!(c.ttl(&1), None, "the last TTL choice wins");
    assert_eq!(c.invalidate_tags(&["b"]), 1);
}

#[test]
fn try_get_or_insert_with_stores_only_successes() {
    let c: Cache<u8, u8> = Cache::new(10);
    assert_eq!(
        c.try_get_or_insert_with(1, || Err::<u8, _>("down")),
        Err("down")
    );
    assert!(c.is_empty());
    assert_eq!(c.try_get_or_insert_with(1, || Ok::<_, &str>(5)), Ok(5));
    assert_eq!(c.try_get_or_insert_with(1, || Err("unused")), Ok(5));
    let r =
        futures::executor::block_on(c.try_get_or_insert_with_async(2, async { Err::<u8, _>(()) }));
    assert!(r.is_err());
    assert!(!c.contains_key(&2));
    let r =
        futures::executor::block_on(c.try_get_or_insert_with_async(2, async { Ok::<_, ()>(7) }));
    assert_eq!(r, Ok(7));
    assert_eq!(c.get(&2), Some(7));
}

#[test]
fn get_or_compute_maps_hits_and_stores_only_what_it_is_given() {
    let c: Cache<u32, u32> = Cache::new(10);
    let out = c.get_or_compute(1, |v| format!("hit {v}"), || ("computed".to_string(), None));
    assert_eq!(out, "computed");
    assert!(c.is_empty());
    let out = c.get_or_compute(
        1,
        |v| format!("hit {v}"),
        || {
            (
                "stored".to_string(),
                Some(Insertion::new(10).with_tags(["t"])),
            )
        },
    );
    assert_eq!(out, "stored");
    assert_eq!(
        c.get_or_compute(1, |v| format!("hit {v}"), || unreachable!()),
        "hit 10"
    );
    let out =
        futures::executor::block_on(c.get_or_compute_async(1, |v| v * 2, async { (0, None) }));
    assert_eq!(out, 20, "a hit: the compute future is never polled");
    assert_eq!(c.invalidate_tags(&["t"]), 1);
}

#[test]
fn events_and_causes_are_public() {
    assert!(RemovalCause::Size.was_evicted());
    assert!(RemovalCause::Expired.was_evicted());
    assert!(!RemovalCause::Explicit.was_evicted());
    assert!(!RemovalCause::Replaced.was_evicted());
    let e: Event<'_, u8, u8> = Event::Miss { key: None };
    assert!(format!("{e:?}").contains("Miss"));
}

#[test]
fn manual_clock_is_shared_between_clones() {
    let a = ManualClock::new();
    let b = a.clone();
    a.advance(Duration::from_millis(1500));
    assert_eq!(b.now_nanos(), 1_500_000_000);
    assert_eq!(b.elapsed(), Duration::from_millis(1500));
    assert!(format!("{a:?}").contains("1.5s"));
}

#[test]
fn keys_len_is_empty_and_clear() {
    let c: Cache<u8, u8> = Cache::new(10);
    assert!(c.is_empty() && c.keys().is_empty());
    for k in 0..5 {
        c.insert(k, k);
    }
    let mut keys = c.keys();
    keys.sort_unstable();
    assert_eq!(keys, [0, 1, 2, 3, 4]);
    assert_eq!(c.len(), 5);
    c.clear();
    assert!(c.is_empty());
    assert_eq!(c.stats().invalidations, 5);
}

/// Hashes an integer key to itself, as "no-hash" hashers do.
#[derive(Default)]
struct Identity(u64);

impl std::hash::Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

// Regression: the shard was picked from the hash's high 32 bits alone, so
// with a hasher that leaves them zero every key went to shard 0 and an
// 800-item cache over 8 shards held 100 entries.
#[test]
fn keys_spread_over_every_shard_with_an_identity_hasher() {
    let c: Cache<u64, u64, BuildHasherDefault<Identity>> = Cache::builder()
        .hasher(BuildHasherDefault::default())
        .shards(8)
        .max_items(800)
        .build();
    for k in 0..800 {
        c.insert(k, k);
    }
    assert!(c.len() > 700, "only {} of 800 kept", c.len());
    assert!((0..800).filter(|k| c.get(k) == Some(*k)).count() > 700);
}

#[test]
fn reset_stats_zeroes_the_counters_and_keeps_the_entries() {
    let cache: Cache<u8, u8> = Cache::builder()
        .max_items(1)
        .on_event(|e: &cachelite::Event<'_, u8, u8>| {
            if matches!(e, cachelite::Event::Miss { .. }) {
                panic!("counted as a listener panic");
            }
        })
        .build();
    cache.insert(1, 1);
    cache.insert(2, 2); // evicts 1
    cache.get(&2);
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    cache.get(&3);
    std::panic::set_hook(prev);
    cache.remove(&2);
    cache.insert(4, 4);
    let s = cache.stats();
    assert_eq!(
        (
            s.hits,
            s.misses,
            s.inserts,
            s.evictions,
            s.invalidations,
            s.listener_panics
        ),
        (1, 1, 3, 1, 1, 1)
    );
    cache.reset_stats();
    let s = cache.stats();
    assert_eq!(
        (
            s.hits,
            s.misses,
            s.inserts,
            s.evictions,
            s.invalidations,
            s.listener_panics
        ),
        (0, 0, 0, 0, 0, 0)
    );
    assert_eq!((s.len, cache.get(&4)), (1, Some(4)));
    assert_eq!(cache.stats().hits, 1, "counting goes on");
    // `clear` is the other half: entries go, counts stay.
    cache.clear();
    let s = cache.stats();
    assert_eq!((s.len, s.hits, s.invalidations), (0, 1, 1));
}
