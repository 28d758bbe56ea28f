//! Model-based tests: random operation sequences run against a one-shard
//! cache and against a plain reference model that names every victim. After
//! each step the returned value, the events, `len`, `keys()`, `peek`, `ttl`
//! and every stats counter must agree with the model.
//!
//! The model keeps every entry the shard physically holds (expired ones
//! included, until something removes them) with the counters each policy
//! ranks by: LRU the tick of the last insert-or-hit, LFU the access count
//! and the tick it was reached, FIFO the insertion tick. Random evictions
//! cannot be predicted, and TinyLFU's depend on its sketch, so for those
//! two the model takes each victim from the cache's own
//! `Removed { cause: Size }` events and checks that it was a present entry
//! other than the newcomer, and that exactly as many were evicted as the
//! bounds require; every other behaviour is checked exactly.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use cachelite::{Cache, Event, Insertion, ManualClock, Policy, RemovalCause};
use parking_lot::Mutex;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm};

const NEVER: u64 = u64::MAX;
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;
const KEYS: u8 = 10;
const TAGS: [&str; 3] = ["a", "b", "c"];

/// Each value is `serial * 16 + weight`, so the weigher reads it back.
fn weight_of(v: u32) -> u64 {
    u64::from(v % 16)
}

fn key(n: u8) -> String {
    format!("k{n}")
}

fn key_num(k: &str) -> u8 {
    k[1..].parse().expect("keys are k0..k9")
}

fn tag_list(mask: u8) -> Vec<&'static str> {
    TAGS.iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, t)| *t)
        .collect()
}

/// Redis-style patterns over the keys `k0`..`k9`, each with the key numbers
/// it matches.
type GlobCase = (&'static str, fn(u8) -> bool);
const GLOBS: &[GlobCase] = &[
    ("k*", |_| true),
    ("k[0-3]", |n| n <= 3),
    ("k[^02468]", |n| n % 2 == 1),
    ("k?", |_| true),
    ("*5", |n| n == 5),
    ("[a-j]*", |_| false),
    (r"k\7", |n| n == 7),
    ("k[3-1]", |n| (1..=3).contains(&n)),
    ("?[29]", |n| n == 2 || n == 9),
    ("x*", |_| false),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Cause {
    Size,
    Expired,
    Explicit,
    Replaced,
}

impl From<RemovalCause> for Cause {
    fn from(c: RemovalCause) -> Self {
        match c {
            RemovalCause::Size => Cause::Size,
            RemovalCause::Expired => Cause::Expired,
            RemovalCause::Explicit => Cause::Explicit,
            RemovalCause::Replaced => Cause::Replaced,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Hit(u8, u32),
    Miss(Option<u8>),
    Inserted(u8, u32),
    Removed(u8, u32, Cause),
}

fn record(e: &Event<'_, String, u32>) -> Ev {
    match e {
        Event::Hit { key, value } => Ev::Hit(key_num(key), **value),
        Event::Miss { key } => Ev::Miss(key.map(|k| key_num(k))),
        Event::Inserted { key, value } => Ev::Inserted(key_num(key), **value),
        Event::Removed { key, value, cause } => {
            Ev::Removed(key_num(key), **value, Cause::from(*cause))
        }
        other => panic!("unexpected event {other:?}"),
    }
}

#[derive(Clone, Debug)]
struct Config {
    policy: Policy,
    max_items: usize,
    max_weight: Option<u64>,
    default_ttl: Option<u64>,
    stale: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
enum Ttl {
    Default,
    Never,
    Secs(u64),
}

#[derive(Clone, Debug)]
enum Op {
    Insert {
        key: u8,
        weight: u8,
        ttl: Ttl,
        tags: u8,
    },
    GetOrInsert {
        key: u8,
        weight: u8,
    },
    Get(u8),
    Peek(u8),
    Contains(u8),
    Remove(u8),
    Expire(u8, u64),
    Persist(u8),
    AdvanceMs(u64),
    InvalidateTags(u8),
    InvalidateGlob(usize),
    KeysMatching(usize),
    Sweep,
    Clear,
}

#[derive(Clone, Debug)]
struct MEntry {
    key: u8,
    value: u32,
    weight: u64,
    expires_at: u64,
    tags: Vec<&'static str>,
    last_use: u64,
    freq: u64,
    freq_since: u64,
    inserted: u64,
}

#[derive(Default, Debug, PartialEq, Eq)]
struct Counts {
    hits: u64,
    misses: u64,
    inserts: u64,
    evictions: u64,
    expirations: u64,
    invalidations: u64,
    rejections: u64,
}

enum Found {
    Fresh(usize),
    Stale,
    Absent,
}

struct Model {
    cfg: Config,
    entries: Vec<MEntry>,
    now: u64,
    tick: u64,
    serial: u32,
    counts: Counts,
    /// Removals of the current operation, in the order the cache reports them.
    removed: Vec<Ev>,
    /// For Random: the victims the cache chose during the current operation.
    victims: VecDeque<u8>,
}

impl Model {
    fn new(cfg: Config) -> Self {
        Self {
            cfg,
            entries: Vec::new(),
            now: 0,
            tick: 0,
            serial: 0,
            counts: Counts::default(),
            removed: Vec::new(),
            victims: VecDeque::new(),
        }
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn find(&self, k: u8) -> Option<usize> {
        self.entries.iter().position(|e| e.key == k)
    }

    fn fresh(&self, e: &MEntry) -> bool {
        e.expires_at == NEVER || self.now < e.expires_at
    }

    fn dead(&self, e: &MEntry) -> bool {
        let stale = self.cfg.stale.map_or(0, |s| s * SEC);
        e.expires_at != NEVER && self.now >= e.expires_at.saturating_add(stale)
    }

    fn weight(&self) -> u64 {
        self.entries.iter().map(|e| e.weight).sum()
    }

    fn remove_at(&mut self, i: usize, cause: Cause) -> MEntry {
        let e = self.entries.remove(i);
        match cause {
            Cause::Size => self.counts.evictions += 1,
            Cause::Expired => self.counts.expirations += 1,
            Cause::Explicit => self.counts.invalidations += 1,
            Cause::Replaced => {}
        }
        self.removed.push(Ev::Removed(e.key, e.value, cause));
        e
    }

    /// Finds `k`, removing it on the spot if it is past its stale window.
    fn lookup(&mut self, k: u8) -> Found {
        let Some(i) = self.find(k) else {
            return Found::Absent;
        };
        if self.fresh(&self.entries[i]) {
            Found::Fresh(i)
        } else if self.dead(&self.entries[i]) {
            self.remove_at(i, Cause::Expired);
            Found::Absent
        } else {
            Found::Stale
        }
    }

    fn access(&mut self, i: usize) {
        let t = self.next_tick();
        let e = &mut self.entries[i];
        e.last_use = t;
        e.freq += 1;
        e.freq_since = t;
    }

    fn victim(&mut self) -> usize {
        let by = |f: fn(&MEntry) -> (u64, u64)| {
            (0..self.entries.len())
                .min_by_key(|&i| f(&self.entries[i]))
                .expect("a victim exists")
        };
        match self.cfg.policy {
            Policy::Lru => by(|e| (e.last_use, 0)),
            Policy::Lfu => by(|e| (e.freq, e.freq_since)),
            Policy::Fifo => by(|e| (e.inserted, 0)),
            // Random, TinyLFU, adaptive: the cache's own choice, checked for validity.
            _ => {
                let k = self
                    .victims
                    .pop_front()
                    .expect("the cache evicted fewer entries than its bounds require");
                self.find(k).unwrap_or_else(|| {
                    panic!("random policy evicted k{k}, which was not a candidate")
                })
            }
        }
    }

    fn make_room(&mut self, extra_items: usize, extra_weight: u64) {
        loop {
            let over_items = self.entries.len() + extra_items > self.cfg.max_items;
            let over_weight = self
                .cfg
                .max_weight
                .is_some_and(|m| self.weight() + extra_weight > m);
            if !(over_items || over_weight) || self.entries.is_empty() {
                return;
            }
            let v = self.victim();
            self.remove_at(v, Cause::Size);
        }
    }

    fn new_value(&mut self, weight: u8) -> u32 {
        self.serial += 1;
        self.serial * 16 + u32::from(weight)
    }

    /// What `insert_entry` (and a leader's store) does; returns whether
    /// the value was stored and the events of the store.
    fn store(&mut self, k: u8, v: u32, ttl: Ttl, tags: Vec<&'static str>) -> (bool, Vec<Ev>) {
        let expires_at = match ttl {
            Ttl::Never => NEVER,
            Ttl::Secs(s) => self.now + s * SEC,
            Ttl::Default => self.cfg.default_ttl.map_or(NEVER, |s| self.now + s * SEC),
        };
        let w = weight_of(v);
        self.lookup(k);
        if self.cfg.max_weight.is_some_and(|m| w > m) {
            self.counts.rejections += 1;
            if let Some(i) = self.find(k) {
                self.remove_at(i, Cause::Replaced);
            }
            return (false, std::mem::take(&mut self.removed));
        }
        self.counts.inserts += 1;
        if let Some(i) = self.find(k) {
            let old = std::mem::replace(&mut self.entries[i].value, v);
            let e = &mut self.entries[i];
            e.weight = w;
            e.expires_at = expires_at;
            e.tags = tags;
            self.access(i);
            self.removed.push(Ev::Removed(k, old, Cause::Replaced));
            self.make_room(0, 0);
        } else {
            self.make_room(1, w);
            let t = self.next_tick();
            self.entries.push(MEntry {
                key: k,
                value: v,
                weight: w,
                expires_at,
                tags,
                last_use: t,
                freq: 1,
                freq_since: t,
                inserted: t,
            });
        }
        let mut evs = vec![Ev::Inserted(k, v)];
        evs.append(&mut self.removed);
        (true, evs)
    }

    /// Removes each entry `pred` selects, as `invalidate_*` do; returns how
    /// many were fresh.
    fn invalidate(&mut self, pred: impl Fn(&MEntry) -> bool) -> usize {
        let mut fresh = 0;
        let mut i = 0;
        while i < self.entries.len() {
            if pred(&self.entries[i]) {
                if self.fresh(&self.entries[i]) {
                    fresh += 1;
                    self.remove_at(i, Cause::Explicit);
                } else {
                    self.remove_at(i, Cause::Expired);
                }
            } else {
                i += 1;
            }
        }
        fresh
    }

    fn fresh_value(&self, k: u8) -> Option<u32> {
        let e = &self.entries[self.find(k)?];
        self.fresh(e).then_some(e.value)
    }

    fn ttl(&self, k: u8) -> Option<Duration> {
        let e = &self.entries[self.find(k)?];
        (e.expires_at != NEVER && self.now < e.expires_at)
            .then(|| Duration::from_nanos(e.expires_at - self.now))
    }
}

struct Harness {
    cache: Cache<String, u32>,
    clock: ManualClock,
    log: Arc<Mutex<Vec<Ev>>>,
    model: Model,
}

impl Harness {
    fn new(cfg: Config) -> Self {
        let clock = ManualClock::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let mut b = Cache::builder()
            .shards(1)
            .policy(cfg.policy)
            .max_items(cfg.max_items)
            .clock(clock.clone())
            .weigher(|_k: &String, v: &u32| weight_of(*v) as usize)
            .on_event(move |e: &Event<'_, String, u32>| sink.lock().push(record(e)));
        if let Some(w) = cfg.max_weight {
            b = b.max_weight(w);
        }
        if let Some(s) = cfg.default_ttl {
            b = b.default_ttl(Duration::from_secs(s));
        }
        if let Some(s) = cfg.stale {
            b = b.stale_ttl(Duration::from_secs(s));
        }
        let cache = b.build();
        assert_eq!(cache.shard_count(), 1);
        Self {
            cache,
            clock,
            log,
            model: Model::new(cfg),
        }
    }

    /// Runs `op` on both; panics (failing the proptest case) on any mismatch.
    fn step(&mut self, op: &Op) {
        let c = &self.cache;
        let m = &mut self.model;
        let log = &self.log;
        let take = || std::mem::take(&mut *log.lock());
        // (cache's result, model's result, cache's events, model's events,
        // whether event order is unspecified)
        let (got, want, mut events, mut expected, unordered): (
            String,
            String,
            Vec<Ev>,
            Vec<Ev>,
            bool,
        ) = match *op {
            Op::Insert {
                key: k,
                weight,
                ttl,
                tags,
            } => {
                let v = m.new_value(weight);
                let tags_v = tag_list(tags);
                let stored = match (ttl, tags) {
                    (Ttl::Default, 0) => c.insert(key(k), v),
                    (Ttl::Secs(s), 0) => c.insert_with_ttl(key(k), v, Duration::from_secs(s)),
                    (Ttl::Default, _) => c.insert_with_tags(key(k), v, &tags_v),
                    (Ttl::Secs(s), _) => c.insert_entry(
                        key(k),
                        Insertion::new(v)
                            .with_ttl(Duration::from_secs(s))
                            .with_tags(&tags_v),
                    ),
                    (Ttl::Never, _) => {
                        c.insert_entry(key(k), Insertion::new(v).without_ttl().with_tags(&tags_v))
                    }
                };
                let events = take();
                m.victims = size_victims(&events);
                let (ok, expected) = m.store(k, v, ttl, tags_v);
                (stored.to_string(), ok.to_string(), events, expected, false)
            }
            Op::GetOrInsert { key: k, weight } => {
                let v = m.new_value(weight);
                let out = c.get_or_insert_with(key(k), || v);
                let events = take();
                m.victims = size_victims(&events);
                let (model_out, expected) = match m.lookup(k) {
                    Found::Fresh(i) => {
                        m.counts.hits += 1;
                        m.access(i);
                        let val = m.entries[i].value;
                        (val, vec![Ev::Hit(k, val)])
                    }
                    Found::Stale | Found::Absent => {
                        m.counts.misses += 1;
                        let mut expected = vec![Ev::Miss(Some(k))];
                        expected.append(&mut m.removed);
                        let (_, mut stored) = m.store(k, v, Ttl::Default, Vec::new());
                        expected.append(&mut stored);
                        (v, expected)
                    }
                };
                (
                    out.to_string(),
                    model_out.to_string(),
                    events,
                    expected,
                    false,
                )
            }
            Op::Get(k) => {
                let out = c.get(&key(k));
                let events = take();
                let (model_out, mut expected) = match m.lookup(k) {
                    Found::Fresh(i) => {
                        m.counts.hits += 1;
                        m.access(i);
                        let val = m.entries[i].value;
                        (Some(val), vec![Ev::Hit(k, val)])
                    }
                    Found::Stale | Found::Absent => {
                        m.counts.misses += 1;
                        (None, vec![Ev::Miss(None)])
                    }
                };
                expected.append(&mut m.removed);
                (
                    format!("{out:?}"),
                    format!("{model_out:?}"),
                    events,
                    expected,
                    false,
                )
            }
            Op::Peek(k) => {
                let out = c.peek(&key(k));
                let want = format!("{:?}", m.fresh_value(k));
                (format!("{out:?}"), want, take(), Vec::new(), false)
            }
            Op::Contains(k) => {
                let out = c.contains_key(&key(k));
                let want = m.fresh_value(k).is_some().to_string();
                (out.to_string(), want, take(), Vec::new(), false)
            }
            Op::Remove(k) => {
                let out = c.remove(&key(k));
                let events = take();
                let model_out = m.find(k).and_then(|i| {
                    if m.fresh(&m.entries[i]) {
                        Some(m.remove_at(i, Cause::Explicit).value)
                    } else {
                        m.remove_at(i, Cause::Expired);
                        None
                    }
                });
                let expected = std::mem::take(&mut m.removed);
                (
                    format!("{out:?}"),
                    format!("{model_out:?}"),
                    events,
                    expected,
                    false,
                )
            }
            Op::Expire(k, secs) => {
                let out = c.expire(&key(k), Duration::from_secs(secs));
                let now = m.now;
                let model_out = match m.find(k) {
                    Some(i) if m.fresh(&m.entries[i]) => {
                        m.entries[i].expires_at = now + secs * SEC;
                        true
                    }
                    _ => false,
                };
                (
                    out.to_string(),
                    model_out.to_string(),
                    take(),
                    Vec::new(),
                    false,
                )
            }
            Op::Persist(k) => {
                let out = c.persist(&key(k));
                // As Redis's PERSIST: true only when a TTL was removed.
                let model_out = match m.find(k) {
                    Some(i) if m.fresh(&m.entries[i]) && m.entries[i].expires_at != NEVER => {
                        m.entries[i].expires_at = NEVER;
                        true
                    }
                    _ => false,
                };
                (
                    out.to_string(),
                    model_out.to_string(),
                    take(),
                    Vec::new(),
                    false,
                )
            }
            Op::AdvanceMs(ms) => {
                self.clock.advance(Duration::from_millis(ms));
                m.now += ms * MS;
                (String::new(), String::new(), take(), Vec::new(), false)
            }
            Op::InvalidateTags(mask) => {
                let tags = tag_list(mask);
                let out = c.invalidate_tags(&tags);
                let events = take();
                let model_out = m.invalidate(|e| e.tags.iter().any(|t| tags.contains(t)));
                let expected = std::mem::take(&mut m.removed);
                (
                    out.to_string(),
                    model_out.to_string(),
                    events,
                    expected,
                    true,
                )
            }
            Op::InvalidateGlob(g) => {
                let (pattern, pred) = GLOBS[g];
                let out = c.invalidate_glob(pattern);
                let events = take();
                let model_out = m.invalidate(|e| pred(e.key));
                let expected = std::mem::take(&mut m.removed);
                (
                    out.to_string(),
                    model_out.to_string(),
                    events,
                    expected,
                    true,
                )
            }
            Op::KeysMatching(g) => {
                let (pattern, pred) = GLOBS[g];
                let mut out: Vec<u8> = c
                    .keys_matching(pattern)
                    .iter()
                    .map(|k| key_num(k))
                    .collect();
                out.sort_unstable();
                let model_out: Vec<u8> = (0..KEYS)
                    .filter(|&n| pred(n) && m.fresh_value(n).is_some())
                    .collect();
                (
                    format!("{out:?}"),
                    format!("{model_out:?}"),
                    take(),
                    Vec::new(),
                    false,
                )
            }
            Op::Sweep => {
                let with_ttl = m.entries.iter().filter(|e| e.expires_at != NEVER).count();
                let all_dead = m
                    .entries
                    .iter()
                    .filter(|e| e.expires_at != NEVER)
                    .all(|e| m.dead(e));
                let out = c.sweep_expired();
                let events = take();
                for ev in &events {
                    let Ev::Removed(k, _, Cause::Expired) = *ev else {
                        panic!("the sweeper reported {ev:?}");
                    };
                    let i = m.find(k).expect("the sweeper removed a present entry");
                    assert!(m.dead(&m.entries[i]), "the sweeper removed live k{k}");
                    m.remove_at(i, Cause::Expired);
                }
                let expected = std::mem::take(&mut m.removed);
                if all_dead {
                    // A small shard whose TTL entries are all dead is swept clean.
                    assert_eq!(out, with_ttl, "sweep left dead entries behind");
                }
                (
                    out.to_string(),
                    events.len().to_string(),
                    events,
                    expected,
                    false,
                )
            }
            Op::Clear => {
                c.clear();
                while !m.entries.is_empty() {
                    m.remove_at(0, Cause::Explicit);
                }
                let expected = std::mem::take(&mut m.removed);
                (String::new(), String::new(), take(), expected, true)
            }
        };
        assert_eq!(got, want, "{op:?}: returned value");
        assert!(
            std::mem::take(&mut self.model.victims).is_empty()
                || matches!(
                    self.model.cfg.policy,
                    Policy::Lru | Policy::Lfu | Policy::Fifo
                ),
            "{op:?}: the cache evicted more entries than its bounds require"
        );
        if unordered {
            events.sort();
            expected.sort();
        }
        assert_eq!(events, expected, "{op:?}: events");
        self.check(op);
    }

    /// Compares every observable the model predicts.
    fn check(&self, op: &Op) {
        let c = &self.cache;
        let m = &self.model;
        let s = c.stats();
        let got = Counts {
            hits: s.hits,
            misses: s.misses,
            inserts: s.inserts,
            evictions: s.evictions,
            expirations: s.expirations,
            invalidations: s.invalidations,
            rejections: s.rejections,
        };
        assert_eq!(got, m.counts, "after {op:?}: stats");
        assert_eq!(s.len, m.entries.len(), "after {op:?}: stats.len");
        assert_eq!(c.len(), m.entries.len(), "after {op:?}: len");
        assert!(c.len() <= m.cfg.max_items);
        assert_eq!(s.bytes, m.weight(), "after {op:?}: stats.bytes");
        if let Some(w) = m.cfg.max_weight {
            assert!(s.bytes <= w, "weight {} over budget {w}", s.bytes);
        }
        let mut keys: Vec<u8> = c.keys().iter().map(|k| key_num(k)).collect();
        keys.sort_unstable();
        let mut want: Vec<u8> = m
            .entries
            .iter()
            .filter(|e| m.fresh(e))
            .map(|e| e.key)
            .collect();
        want.sort_unstable();
        assert_eq!(keys, want, "after {op:?}: keys()");
        for k in 0..KEYS {
            assert_eq!(c.peek(&key(k)), m.fresh_value(k), "after {op:?}: peek k{k}");
            assert_eq!(c.ttl(&key(k)), m.ttl(k), "after {op:?}: ttl k{k}");
        }
        // The reads above must not have changed anything.
        assert_eq!(c.stats(), s, "peek/ttl/keys changed the stats");
        assert!(self.log.lock().is_empty(), "peek/ttl/keys emitted events");
    }
}

fn size_victims(events: &[Ev]) -> VecDeque<u8> {
    events
        .iter()
        .filter_map(|e| match e {
            Ev::Removed(k, _, Cause::Size) => Some(*k),
            _ => None,
        })
        .collect()
}

fn run(cfg: Config, ops: &[Op]) {
    let mut h = Harness::new(cfg);
    for op in ops {
        h.step(op);
    }
}

fn ttl_strategy() -> impl Strategy<Value = Ttl> {
    prop_oneof![
        3 => Just(Ttl::Default),
        1 => Just(Ttl::Never),
        2 => (0u64..4).prop_map(Ttl::Secs),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let k = || 0..KEYS;
    prop_oneof![
        8 => (k(), 0u8..16, ttl_strategy(), 0u8..8)
            .prop_map(|(key, weight, ttl, tags)| Op::Insert { key, weight, ttl, tags }),
        3 => (k(), 0u8..16).prop_map(|(key, weight)| Op::GetOrInsert { key, weight }),
        6 => k().prop_map(Op::Get),
        2 => k().prop_map(Op::Peek),
        1 => k().prop_map(Op::Contains),
        2 => k().prop_map(Op::Remove),
        1 => (k(), 0u64..4).prop_map(|(k, s)| Op::Expire(k, s)),
        1 => k().prop_map(Op::Persist),
        3 => (0u64..6).prop_map(|n| Op::AdvanceMs(n * 500)),
        1 => (1u8..8).prop_map(Op::InvalidateTags),
        1 => (0..GLOBS.len()).prop_map(Op::InvalidateGlob),
        1 => (0..GLOBS.len()).prop_map(Op::KeysMatching),
        1 => Just(Op::Sweep),
        1 => Just(Op::Clear),
    ]
}

fn config_strategy(policy: Policy) -> impl Strategy<Value = Config> {
    (
        1usize..=8,
        prop::option::weighted(0.4, 1u64..=40),
        prop::option::weighted(0.3, 1u64..=4),
        prop::option::weighted(0.3, 1u64..=3),
    )
        .prop_map(move |(max_items, max_weight, default_ttl, stale)| Config {
            policy,
            max_items,
            max_weight,
            default_ttl,
            stale,
        })
}

fn proptest_config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        // ChaCha is slow in unoptimised test builds; these cases need speed,
        // not cryptographic randomness.
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    }
}

/// Plain reads and writes only, on the documented two-item cache.
fn two_item_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..4).prop_map(|key| Op::Insert { key, weight: 0, ttl: Ttl::Default, tags: 0 }),
        3 => (0u8..4).prop_map(Op::Get),
        1 => (0u8..4).prop_map(Op::Peek),
        1 => (0u8..4).prop_map(Op::Remove),
    ]
}

fn two_items(policy: Policy) -> Config {
    Config {
        policy,
        max_items: 2,
        max_weight: None,
        default_ttl: None,
        stale: None,
    }
}

proptest! {
    #![proptest_config(proptest_config(1000))]

    #[test]
    fn lru_matches_model(cfg in config_strategy(Policy::Lru), ops in prop::collection::vec(op_strategy(), 1..60)) {
        run(cfg, &ops);
    }

    #[test]
    fn lfu_matches_model(cfg in config_strategy(Policy::Lfu), ops in prop::collection::vec(op_strategy(), 1..60)) {
        run(cfg, &ops);
    }

    #[test]
    fn fifo_matches_model(cfg in config_strategy(Policy::Fifo), ops in prop::collection::vec(op_strategy(), 1..60)) {
        run(cfg, &ops);
    }

    #[test]
    fn tinylfu_matches_model(cfg in config_strategy(Policy::TinyLfu), ops in prop::collection::vec(op_strategy(), 1..60)) {
        run(cfg, &ops);
    }

    #[test]
    fn adaptive_matches_model(cfg in config_strategy(Policy::Adaptive), ops in prop::collection::vec(op_strategy(), 1..60)) {
        run(cfg, &ops);
    }

    #[test]
    fn random_matches_model(cfg in config_strategy(Policy::Random), ops in prop::collection::vec(op_strategy(), 1..60)) {
        run(cfg, &ops);
    }
}

proptest! {
    #![proptest_config(proptest_config(1000))]

    #[test]
    fn two_item_caches_match_model(
        policy in prop::sample::select(Policy::ALL),
        ops in prop::collection::vec(two_item_op(), 1..40),
    ) {
        run(two_items(policy), &ops);
    }
}

/// The documented example, step by step through the model harness.
#[test]
fn documented_two_item_lru_example() {
    let ops = [
        Op::Insert {
            key: 0,
            weight: 0,
            ttl: Ttl::Default,
            tags: 0,
        },
        Op::Insert {
            key: 1,
            weight: 0,
            ttl: Ttl::Default,
            tags: 0,
        },
        Op::Get(0),
        Op::Insert {
            key: 2,
            weight: 0,
            ttl: Ttl::Default,
            tags: 0,
        },
    ];
    let mut h = Harness::new(two_items(Policy::Lru));
    for op in &ops {
        h.step(op);
    }
    let mut keys = h.cache.keys();
    keys.sort();
    assert_eq!(keys, [key(0), key(2)]);
    assert_eq!(h.cache.stats().evictions, 1);
}

/// Replacing an entry keeps its place for FIFO, makes it most recent for
/// LRU and adds one to its count for LFU: the victim differs per policy.
#[test]
fn replacement_counts_as_an_access_per_policy() {
    for (policy, victim) in [
        (Policy::Lru, "k1"),
        (Policy::Lfu, "k1"),
        (Policy::Fifo, "k0"),
    ] {
        let c: Cache<String, u32> = Cache::builder()
            .shards(1)
            .max_items(2)
            .policy(policy)
            .build();
        c.insert(key(0), 1);
        c.insert(key(1), 2);
        c.insert(key(0), 3);
        c.insert(key(2), 4);
        assert!(
            !c.contains_key(victim),
            "{policy}: {victim} should be evicted"
        );
        assert_eq!(c.len(), 2);
        if policy != Policy::Fifo {
            assert_eq!(c.peek(&key(0)), Some(3));
        }
    }
}

/// LFU ties go to the entry that reached the shared count first, and a
/// newcomer is never its own victim even when its count is the lowest.
#[test]
fn lfu_ties_and_newcomers() {
    let c: Cache<String, u32> = Cache::builder()
        .shards(1)
        .max_items(3)
        .policy(Policy::Lfu)
        .build();
    for n in 0..3 {
        c.insert(key(n), 0);
    }
    c.get(&key(2));
    c.get(&key(0));
    c.get(&key(1)); // all at 2; k2 reached it first
    c.insert(key(3), 0);
    assert!(!c.contains_key(&key(2)));
    c.insert(key(4), 0); // k3 (count 1) goes, not the newcomer k4
    assert!(!c.contains_key(&key(3)));
    assert!(c.contains_key(&key(4)));
}

/// Every present entry is sometimes the Random victim, the newcomer never.
#[test]
fn random_victims_are_spread_over_present_entries() {
    let mut seen = [0usize; 4];
    for _ in 0..400 {
        let c: Cache<u8, u8> = Cache::builder()
            .shards(1)
            .max_items(4)
            .policy(Policy::Random)
            .build();
        for k in 0..4 {
            c.insert(k, k);
        }
        c.insert(9, 9);
        assert!(c.contains_key(&9));
        assert_eq!(c.len(), 4);
        let gone: Vec<u8> = (0..4).filter(|k| !c.contains_key(k)).collect();
        assert_eq!(gone.len(), 1);
        seen[usize::from(gone[0])] += 1;
    }
    assert!(seen.iter().all(|&n| n > 0), "victims: {seen:?}");
}

/// Weight budgets: never exceeded, an entry heavier than the whole budget
/// is rejected without flushing the others (but drops its own old value).
#[test]
fn overweight_entry_is_rejected_without_flushing() {
    let c: Cache<u32, Vec<u8>> = Cache::builder()
        .shards(1)
        .max_weight(100)
        .weigher(|_k, v: &Vec<u8>| v.len())
        .build();
    for k in 0..5 {
        assert!(c.insert(k, vec![0; 20]));
    }
    assert_eq!(c.stats().bytes, 100);
    assert!(!c.insert(9, vec![0; 101]));
    assert_eq!(c.len(), 5, "a rejected entry must not flush the cache");
    assert_eq!(c.stats().rejections, 1);
    assert_eq!(c.stats().evictions, 0);
    // Rejecting a new value for a present key drops the old one: no stale
    // value may outlive a write.
    assert!(!c.insert(2, vec![0; 500]));
    assert_eq!(c.get(&2), None);
    assert_eq!(c.stats().bytes, 80);
    // A heavier replacement evicts others, and the budget holds.
    assert!(c.insert(0, vec![0; 60]));
    assert!(c.stats().bytes <= 100);
    assert_eq!(c.peek(&0).map(|v| v.len()), Some(60));
}

/// `max_bytes` with deep sizes: the budget holds under a stream of inserts.
#[test]
fn max_bytes_budget_holds() {
    let c: Cache<String, String> = Cache::builder().shards(1).max_bytes(4096).build();
    for i in 0..500 {
        c.insert(format!("key{i}"), "x".repeat(i % 300));
        assert!(c.stats().bytes <= 4096);
    }
    assert!(c.len() > 1);
    assert!(!c.insert("huge".into(), "x".repeat(5000)));
    assert!(c.len() > 1, "a rejected entry must not flush the cache");
}
