//! TinyLFU through the public API.
//!
//! - A reference model: random operations on a one-shard cache whose events
//!   drive a plain map of what the cache holds. After every step the cache
//!   and the model agree on `len`, the fresh keys, the values read back and
//!   the byte total; the item and byte bounds hold; every removal names an
//!   entry the model holds, with its value; a size eviction happens only
//!   while the cache is over a bound (so nothing is lost without need), and
//!   a freshly computed `get_or_insert_with` value is returned even when
//!   admission turns it away at once.
//! - Scan and loop resistance on a whole cache, against LRU.
//! - Threads on one shared cache: the bounds hold at every observation and
//!   `get_or_insert_with` computes each key once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use cachelite::{Cache, Event, ManualClock, Policy, RemovalCause};
use proptest::prelude::*;

const MS: u64 = 1_000_000;

#[derive(Clone, Debug)]
enum Op {
    Insert {
        key: u8,
        weight: u32,
        ttl_ms: Option<u64>,
    },
    Get(u8),
    GetOrInsert {
        key: u8,
        weight: u32,
    },
    Remove(u8),
    Advance(u64),
    Sweep,
}

fn op() -> impl Strategy<Value = Op> {
    // Keys skewed towards the low numbers, so frequency matters.
    let key = prop_oneof![3 => 0u8..4, 2 => 0u8..12, 1 => 0u8..40];
    prop_oneof![
        5 => (key.clone(), 0u32..8, prop::option::weighted(0.3, 1u64..20))
            .prop_map(|(key, weight, ttl_ms)| Op::Insert { key, weight, ttl_ms }),
        6 => key.clone().prop_map(Op::Get),
        3 => (key.clone(), 0u32..8).prop_map(|(key, weight)| Op::GetOrInsert { key, weight }),
        1 => key.prop_map(Op::Remove),
        1 => (0u64..10).prop_map(Op::Advance),
        1 => Just(Op::Sweep),
    ]
}

/// Values carry their weight in the low 4 bits.
fn weight_of(v: u32) -> u64 {
    u64::from(v % 16)
}

#[derive(Clone, Copy, Debug)]
struct MEntry {
    value: u32,
    expires_at: u64,
}

type Events = Arc<Mutex<Vec<(u8, u32, Option<RemovalCause>)>>>;

struct Harness {
    cache: Cache<u8, u32>,
    clock: ManualClock,
    now: u64,
    events: Events,
    model: BTreeMap<u8, MEntry>,
    max_items: usize,
    max_weight: Option<u64>,
    serial: u32,
}

impl Harness {
    fn new(max_items: usize, max_weight: Option<u64>) -> Self {
        let clock = ManualClock::new();
        let events: Events = Arc::default();
        let log = events.clone();
        let mut b = Cache::builder()
            .policy(Policy::TinyLfu)
            .shards(1)
            .max_items(max_items)
            .clock(clock.clone())
            .on_event(move |e: &Event<'_, u8, u32>| match e {
                Event::Inserted { key, value } => log.lock().unwrap().push((**key, **value, None)),
                Event::Removed { key, value, cause } => {
                    log.lock().unwrap().push((**key, **value, Some(*cause)));
                }
                _ => {}
            });
        if let Some(w) = max_weight {
            b = b
                .max_weight(w)
                .weigher(|_k: &u8, v: &u32| (v % 16) as usize);
        }
        Self {
            cache: b.build(),
            clock,
            now: 0,
            events,
            model: BTreeMap::new(),
            max_items,
            max_weight,
            serial: 0,
        }
    }

    fn value(&mut self, weight: u32) -> u32 {
        self.serial += 1;
        self.serial * 16 + weight
    }

    /// Without a byte bound there is no weigher: every entry weighs 0.
    fn model_weight(&self) -> u64 {
        if self.max_weight.is_none() {
            return 0;
        }
        self.model.values().map(|e| weight_of(e.value)).sum()
    }

    fn over_budget(&self) -> bool {
        self.model.len() > self.max_items
            || self.max_weight.is_some_and(|m| self.model_weight() > m)
    }

    fn fresh(&self, e: &MEntry) -> bool {
        e.expires_at == u64::MAX || self.now < e.expires_at
    }

    /// Applies the events of one operation to the model, checking each.
    fn apply_events(&mut self, expires_at: u64) {
        let events = std::mem::take(&mut *self.events.lock().unwrap());
        let mut replaced: Option<(u8, u32)> = None;
        for (key, value, cause) in events {
            match cause {
                None => {
                    let old = self.model.insert(key, MEntry { value, expires_at });
                    replaced = old.map(|o| (key, o.value));
                }
                Some(RemovalCause::Replaced) if replaced == Some((key, value)) => {
                    replaced = None;
                }
                Some(cause) if replaced == Some((key, value)) => {
                    // The old entry of a key just stored, found dead first.
                    assert_eq!(cause, RemovalCause::Expired, "k{key}'s old entry");
                    replaced = None;
                }
                Some(cause) => {
                    let e = self
                        .model
                        .get(&key)
                        .unwrap_or_else(|| panic!("removed k{key}, which the cache did not hold"));
                    assert_eq!(
                        e.value, value,
                        "removed k{key} with a value it did not hold"
                    );
                    match cause {
                        RemovalCause::Size => {
                            assert!(self.over_budget(), "evicted k{key} while within bounds")
                        }
                        RemovalCause::Expired => assert!(!self.fresh(e), "expired a fresh k{key}"),
                        _ => {}
                    }
                    self.model.remove(&key);
                }
            }
        }
    }

    fn step(&mut self, op: &Op) {
        let mut expires_at = u64::MAX;
        match *op {
            Op::Insert {
                key,
                weight,
                ttl_ms,
            } => {
                let v = self.value(weight);
                let stored = match ttl_ms {
                    Some(t) => {
                        expires_at = self.now + t * MS;
                        self.cache.insert_with_ttl(key, v, Duration::from_millis(t))
                    }
                    None => self.cache.insert(key, v),
                };
                let fits = self.max_weight.is_none_or(|m| u64::from(weight) <= m);
                assert_eq!(stored, fits, "insert reports whether the entry fits at all");
            }
            Op::Get(key) => {
                // Lazy expiry may remove a dead entry: its events come first.
                let got = self.cache.get(&key);
                let want = self
                    .model
                    .get(&key)
                    .filter(|e| self.fresh(e))
                    .map(|e| e.value);
                assert_eq!(got, want, "get k{key}");
            }
            Op::GetOrInsert { key, weight } => {
                let want = self
                    .model
                    .get(&key)
                    .filter(|e| self.fresh(e))
                    .map(|e| e.value);
                let v = self.value(weight);
                let computed = AtomicBool::new(false);
                let got = self.cache.get_or_insert_with(key, || {
                    computed.store(true, Ordering::Relaxed);
                    v
                });
                match want {
                    Some(w) => assert_eq!(got, w, "a held value is returned"),
                    None => {
                        assert!(computed.load(Ordering::Relaxed));
                        assert_eq!(got, v, "the computed value is returned, admitted or not");
                    }
                }
            }
            Op::Remove(key) => {
                let want = self
                    .model
                    .get(&key)
                    .filter(|e| self.fresh(e))
                    .map(|e| e.value);
                assert_eq!(self.cache.remove(&key), want, "remove k{key}");
            }
            Op::Advance(ms) => {
                self.now += ms * MS;
                self.clock.advance(Duration::from_millis(ms));
            }
            Op::Sweep => {
                self.cache.sweep_expired();
            }
        }
        self.apply_events(expires_at);
        self.check();
    }

    fn check(&self) {
        let s = self.cache.stats();
        assert_eq!(self.cache.len(), self.model.len(), "len");
        assert!(self.model.len() <= self.max_items, "item bound");
        assert_eq!(s.bytes, self.model_weight(), "byte total");
        if let Some(m) = self.max_weight {
            assert!(s.bytes <= m, "byte bound");
        }
        let mut keys = self.cache.keys();
        keys.sort_unstable();
        let fresh: Vec<u8> = self
            .model
            .iter()
            .filter(|(_, e)| self.fresh(e))
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(keys, fresh, "fresh keys");
        for (k, e) in &self.model {
            let want = self.fresh(e).then_some(e.value);
            assert_eq!(self.cache.peek(k), want, "peek k{k}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn tinylfu_matches_a_reference_model(
        max_items in 1usize..10,
        max_weight in prop::option::of(4u64..30),
        ops in prop::collection::vec(op(), 1..150),
    ) {
        let mut h = Harness::new(max_items, max_weight);
        for op in &ops {
            h.step(op);
        }
    }
}

fn lcg(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    }
}

/// Hits of get-then-insert over `keys` on a cache of `cap` with `policy`.
fn hits(policy: Policy, cap: usize, keys: &[u64]) -> usize {
    let c: Cache<u64, u64> = Cache::builder().max_items(cap).policy(policy).build();
    keys.iter()
        .filter(|&&k| {
            c.get(&k).is_some() || {
                c.insert(k, k);
                false
            }
        })
        .count()
}

#[test]
fn scans_do_not_flush_the_working_set() {
    // A hot set of 400 keys under a 1000-entry cache, with a 3000-key scan
    // of fresh keys after every 5000 requests.
    let mut rng = lcg(1);
    let mut keys = Vec::new();
    let mut fresh = 1u64 << 40;
    for round in 0..20 {
        for _ in 0..5000 {
            keys.push(rng() % 400);
        }
        if round % 2 == 1 {
            for _ in 0..3000 {
                keys.push(fresh);
                fresh += 1;
            }
        }
    }
    let (t, l) = (
        hits(Policy::TinyLfu, 1000, &keys),
        hits(Policy::Lru, 1000, &keys),
    );
    assert!(t > l, "tinylfu {t} vs lru {l}");
    let hot_requests = 20 * 5000;
    assert!(
        t * 100 >= hot_requests * 98,
        "tinylfu kept the hot set: {t} of {hot_requests}"
    );
}

#[test]
fn loops_larger_than_the_cache_keep_a_resident_subset() {
    let keys: Vec<u64> = (0..50_000).map(|i| i % 1100).collect();
    let (t, l) = (
        hits(Policy::TinyLfu, 1000, &keys),
        hits(Policy::Lru, 1000, &keys),
    );
    assert_eq!(l, 0, "LRU never hits a loop larger than itself");
    // OPT keeps 1000 of 1100 keys resident: about 90% of requests after the
    // first pass.
    assert!(
        t * 100 >= keys.len() * 85,
        "tinylfu hit {t} of {}",
        keys.len()
    );
}

#[test]
fn the_window_follows_recency_when_the_hot_set_moves() {
    // The hot set moves to fresh keys every 20k requests: a frequency-only
    // policy would cling to the old keys.
    let mut rng = lcg(7);
    let keys: Vec<u64> = (0..200_000u64)
        .map(|i| (i / 20_000) * 1_000_000 + rng() % 800)
        .collect();
    let (t, lfu) = (
        hits(Policy::TinyLfu, 1000, &keys),
        hits(Policy::Lfu, 1000, &keys),
    );
    let l = hits(Policy::Lru, 1000, &keys);
    assert!(t > lfu, "tinylfu {t} vs lfu {lfu}");
    assert!(t * 100 >= l * 97, "tinylfu {t} vs lru {l}");
}

#[test]
fn threads_keep_the_bounds_on_a_shared_cache() {
    const THREADS: usize = 8;
    let cache: Cache<u32, Vec<u8>> = Cache::builder()
        .policy(Policy::TinyLfu)
        .shards(4)
        .max_items(256)
        .max_weight(4000)
        .weigher(|_k, v: &Vec<u8>| v.len())
        .build();
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let observer = {
        let (cache, stop, barrier) = (cache.clone(), stop.clone(), barrier.clone());
        thread::spawn(move || {
            barrier.wait();
            let mut looks = 0u64;
            while !stop.load(Ordering::Relaxed) || looks == 0 {
                let s = cache.stats();
                assert!(s.len <= 256, "len {}", s.len);
                assert!(s.bytes <= 4000, "bytes {}", s.bytes);
                looks += 1;
            }
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (cache, barrier) = (cache.clone(), barrier.clone());
            thread::spawn(move || {
                let mut rng = lcg(t as u64 + 11);
                barrier.wait();
                for _ in 0..20_000 {
                    // Skewed keys: a few hot, many cold.
                    let r = rng();
                    let k = if r.is_multiple_of(4) {
                        (r >> 8) % 2048
                    } else {
                        (r >> 8) % 64
                    };
                    #[allow(clippy::cast_possible_truncation)]
                    let (k, len) = (k as u32, (rng() % 40) as usize);
                    match rng() % 8 {
                        0..=3 => {
                            cache.get(&k);
                        }
                        4 | 5 => {
                            let v = cache.get_or_insert_with(k, || vec![1; len]);
                            assert!(v.iter().all(|&b| b <= 2));
                        }
                        6 => {
                            cache.insert(k, vec![2; len]);
                        }
                        _ => {
                            cache.remove(&k);
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    observer.join().unwrap();
    let s = cache.stats();
    assert_eq!(s.len, cache.len());
    assert!(s.len <= 256 && s.bytes <= 4000);
    assert!(s.hits > 0 && s.evictions > 0);
}

#[test]
fn get_or_insert_with_computes_once_per_key_across_threads() {
    const THREADS: usize = 8;
    const KEYS: u32 = 64;
    let cache: Cache<u32, u64> = Cache::builder()
        .policy(Policy::TinyLfu)
        .max_items(1000)
        .build();
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..KEYS).map(|_| AtomicUsize::new(0)).collect());
    let barrier = Arc::new(Barrier::new(THREADS));
    let results: Vec<Vec<u64>> = (0..THREADS)
        .map(|t| {
            let (cache, runs, barrier) = (cache.clone(), runs.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                (0..KEYS)
                    .map(|i| {
                        let k = (i + t as u32 * 7) % KEYS;
                        let v = cache.get_or_insert_with(k, || {
                            runs[k as usize].fetch_add(1, Ordering::SeqCst);
                            thread::sleep(Duration::from_millis(2));
                            u64::from(k) * 1000 + t as u64
                        });
                        (k, v)
                    })
                    .fold(vec![0; KEYS as usize], |mut acc, (k, v)| {
                        acc[k as usize] = v;
                        acc
                    })
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    for k in 0..KEYS as usize {
        assert_eq!(runs[k].load(Ordering::SeqCst), 1, "key {k} computed once");
        assert!(
            results.iter().all(|r| r[k] == results[0][k]),
            "every thread saw one value"
        );
        assert_eq!(cache.get(&(k as u32)), Some(results[0][k]));
    }
}
