//! Invalidation by tag and by Redis-style glob: the tag index stays right
//! through every removal path, counts are exact, globs follow Redis's
//! dialect, and hostile patterns stay fast.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use cachelite::{Cache, Glob, Insertion, ManualClock, Policy};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm};

fn tagged(cache: &Cache<u32, u32>, k: u32, tags: &[&str]) {
    assert!(cache.insert_with_tags(k, k, tags));
}

#[test]
fn invalidating_several_tags_counts_each_entry_once() {
    let cache: Cache<u32, u32> = Cache::new(100);
    tagged(&cache, 1, &["a", "b"]);
    tagged(&cache, 2, &["a"]);
    tagged(&cache, 3, &["b", "b"]);
    tagged(&cache, 4, &["c"]);
    cache.insert(5, 5);
    assert_eq!(cache.invalidate_tags(&["a", "b", "missing"]), 3);
    let mut keys = cache.keys();
    keys.sort_unstable();
    assert_eq!(keys, [4, 5]);
    assert_eq!(
        cache.invalidate_tags(&["a", "b"]),
        0,
        "nothing left to remove"
    );
    assert_eq!(cache.invalidate_tags::<String>(&[]), 0);
    assert_eq!(cache.stats().invalidations, 3);
}

#[test]
fn evicted_entries_leave_the_tag_index() {
    let cache: Cache<u32, u32> = Cache::builder().shards(1).max_items(2).build();
    tagged(&cache, 1, &["t"]);
    tagged(&cache, 2, &["t"]);
    tagged(&cache, 3, &["t"]); // evicts 1
    assert_eq!(cache.invalidate_tags(&["t"]), 2);
    assert!(cache.is_empty());
}

#[test]
fn a_reused_slot_does_not_inherit_the_old_entrys_tags() {
    // One slot: every new key reuses the slot of the one it evicts.
    let cache: Cache<u32, u32> = Cache::builder().shards(1).max_items(1).build();
    tagged(&cache, 1, &["t"]);
    cache.insert(2, 2);
    assert_eq!(cache.invalidate_tags(&["t"]), 0);
    assert_eq!(cache.get(&2), Some(2));
    tagged(&cache, 3, &["u"]);
    assert_eq!(cache.remove(&3), Some(3));
    cache.insert(4, 4);
    assert_eq!(cache.invalidate_tags(&["u"]), 0);
    assert_eq!(cache.get(&4), Some(4));
}

#[test]
fn replacing_an_entry_replaces_its_tags() {
    let cache: Cache<u32, u32> = Cache::new(10);
    tagged(&cache, 1, &["old", "both"]);
    tagged(&cache, 1, &["new", "both"]);
    assert_eq!(cache.invalidate_tags(&["old"]), 0);
    assert_eq!(cache.get(&1), Some(1));
    assert_eq!(cache.invalidate_tags(&["both"]), 1);
    tagged(&cache, 2, &["x"]);
    cache.insert(2, 20); // a plain insert clears the tags
    assert_eq!(cache.invalidate_tags(&["x"]), 0);
    assert_eq!(cache.get(&2), Some(20));
}

#[test]
fn removed_and_cleared_entries_leave_the_tag_index() {
    let cache: Cache<u32, u32> = Cache::new(10);
    tagged(&cache, 1, &["t"]);
    tagged(&cache, 2, &["t"]);
    cache.remove(&1);
    assert_eq!(cache.invalidate_tags(&["t"]), 1);
    tagged(&cache, 3, &["t"]);
    cache.clear();
    cache.insert(3, 3);
    assert_eq!(cache.invalidate_tags(&["t"]), 0);
    assert_eq!(cache.len(), 1);
}

// Regression: invalidation counted entries that had already expired (but
// that no read had removed yet) as invalidated, so the count depended on
// whether a read happened to come first, and the expiration was never
// counted.
#[test]
fn invalidating_expired_entries_counts_them_as_expirations() {
    let clock = ManualClock::new();
    let cache: Cache<String, u32> = Cache::builder().clock(clock.clone()).build();
    cache.insert_entry(
        "user:1".into(),
        Insertion::new(1)
            .with_ttl(Duration::from_secs(1))
            .with_tags(["users"]),
    );
    cache.insert_entry("user:2".into(), Insertion::new(2).with_tags(["users"]));
    cache.insert_with_ttl("user:3".into(), 3, Duration::from_secs(1));
    cache.insert("user:4".into(), 4);
    clock.advance(Duration::from_secs(1));
    assert_eq!(cache.invalidate_tags(&["users"]), 1, "only user:2 was live");
    assert_eq!(cache.invalidate_glob("user:*"), 1, "only user:4 was live");
    let s = cache.stats();
    assert_eq!((s.invalidations, s.expirations, s.len), (2, 2, 0));
}

#[test]
fn expired_entries_read_first_are_not_counted_either() {
    let clock = ManualClock::new();
    let cache: Cache<u32, u32> = Cache::builder().clock(clock.clone()).build();
    cache.insert_entry(
        1,
        Insertion::new(1)
            .with_ttl(Duration::from_secs(1))
            .with_tags(["t"]),
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.invalidate_tags(&["t"]), 0);
}

#[test]
fn concurrent_writers_keep_the_tag_index_exact() {
    let cache: Cache<u32, u32> = Cache::builder()
        .shards(4)
        .max_items(64)
        .policy(Policy::Lfu)
        .build();
    let barrier = Arc::new(Barrier::new(4));
    let hs: Vec<_> = (0..4u32)
        .map(|t| {
            let (cache, barrier) = (cache.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for i in 0..3000u32 {
                    let k = (i * 31 + t * 7) % 256;
                    let tag = format!("t{}", k % 4);
                    match i % 7 {
                        0 => {
                            let _ = cache.remove(&k);
                        }
                        1 => {
                            let _ = cache.get(&k);
                        }
                        2 if i.is_multiple_of(5) => {
                            let _ = cache.invalidate_tags(&[format!("t{}", i % 4)]);
                        }
                        _ => {
                            let _ = cache.insert_with_tags(k, i, [tag, "all".to_string()]);
                        }
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let keys = cache.keys();
    assert!(keys.len() <= 64);
    for t in 0..4 {
        let live = keys.iter().filter(|k| *k % 4 == t).count();
        assert_eq!(cache.invalidate_tags(&[format!("t{t}")]), live, "tag t{t}");
    }
    assert!(cache.is_empty());
    assert_eq!(cache.invalidate_tags(&["all"]), 0);
}

fn string_cache(keys: &[&str]) -> Cache<String, u32> {
    let cache = Cache::new(1000);
    for (i, k) in keys.iter().enumerate() {
        cache.insert((*k).to_string(), i as u32);
    }
    cache
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn glob_syntax_in_keys_matching_and_invalidate_glob() {
    let keys = [
        "user:1", "user:2", "user:10", "user:a", "post:1", "u", "", "a*b", "a?b", "a[b", "axb",
    ];
    let cases: &[(&str, &[&str])] = &[
        ("*", &keys),
        ("user:*", &["user:1", "user:2", "user:10", "user:a"]),
        ("user:?", &["user:1", "user:2", "user:a"]),
        ("user:[0-9]", &["user:1", "user:2"]),
        ("user:[^0-9]", &["user:a"]),
        ("user:[12]*", &["user:1", "user:2", "user:10"]),
        ("user:[9-0]", &["user:1", "user:2"]),
        ("*:1", &["user:1", "post:1"]),
        (r"a\*b", &["a*b"]),
        (r"a\?b", &["a?b"]),
        (r"a\[b", &["a[b"]),
        ("a?b", &["a*b", "a?b", "a[b", "axb"]),
        ("a[*?]b", &["a*b", "a?b"]),
        ("u", &["u"]),
        ("", &[""]),
        ("nope*", &[]),
    ];
    for (pattern, want) in cases {
        let want: Vec<String> = sorted(want.iter().map(|s| s.to_string()).collect());
        let cache = string_cache(&keys);
        assert_eq!(
            sorted(cache.keys_matching(pattern)),
            want,
            "keys_matching({pattern:?})"
        );
        assert_eq!(
            cache.invalidate_glob(pattern),
            want.len(),
            "invalidate_glob({pattern:?})"
        );
        for k in &keys {
            assert_eq!(
                cache.contains_key(*k),
                !want.iter().any(|w| w == k),
                "{k} after invalidate_glob({pattern:?})"
            );
        }
    }
}

#[test]
fn invalidate_matching_takes_a_compiled_glob() {
    let cache = string_cache(&["s:1", "s:2", "t:1"]);
    let glob = Glob::new("s:*").unwrap();
    assert_eq!(cache.invalidate_matching(&glob), 2);
    assert_eq!(cache.keys(), ["t:1".to_string()]);
}

#[test]
fn an_uncompilable_pattern_matches_nothing() {
    let cache = string_cache(&["a", "b"]);
    let long = "*".repeat(Glob::MAX_PATTERN_LEN + 1);
    assert!(Glob::new(&long).is_err());
    assert_eq!(cache.invalidate_glob(&long), 0);
    assert!(cache.keys_matching(&long).is_empty());
    assert_eq!(cache.len(), 2);
}

#[test]
fn hostile_patterns_finish_fast() {
    // A guard against exponential matching, which would take years on these
    // patterns, not a speed measurement: the bound is loose enough for a
    // debug build on a loaded machine.
    let cache: Cache<String, u32> = Cache::new(10_000);
    for i in 0..1000 {
        cache.insert(format!("{}{i}", "a".repeat(200)), i);
    }
    let patterns = [
        format!("{}b", "*a".repeat(30)),
        format!("{}b", "a*".repeat(30)),
        format!("{}[b]", "*?".repeat(30)),
        "*".repeat(Glob::MAX_PATTERN_LEN),
        format!("{}*b", "[a-z]".repeat(150)),
    ];
    for p in &patterns {
        let start = Instant::now();
        let matched = cache.keys_matching(p).len();
        let removed = cache.invalidate_glob(p);
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(30),
            "{} chars took {took:?}",
            p.len()
        );
        assert_eq!(matched, removed);
        if p.ends_with('b') || p.ends_with("[b]") {
            assert_eq!(removed, 0);
        }
    }
    assert!(cache.is_empty(), "the all-star pattern matched everything");
    // Exponential for a naive backtracking matcher; polynomial here. The
    // trailing star defeats the suffix shortcut.
    let text = "a".repeat(20_000);
    for p in [
        format!("{}b*", "a*".repeat(40)),
        format!("*{}b*", "a".repeat(200)),
        format!("{}b", "*a".repeat(40)),
    ] {
        let g = Glob::new(&p).unwrap();
        let start = Instant::now();
        assert!(!g.is_match(&text));
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{p} took {:?}",
            start.elapsed()
        );
    }
}

/// Redis's `stringmatchlen` (non-recursive apart from `*`), over chars; the
/// empty text is matched by the all-star patterns, as `Glob` documents.
fn redis_match(p: &[char], s: &[char]) -> bool {
    if s.is_empty() {
        return p.iter().all(|&c| c == '*');
    }
    stringmatch(p, s)
}

fn stringmatch(mut p: &[char], mut s: &[char]) -> bool {
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            '*' => {
                while p.len() > 1 && p[1] == '*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if stringmatch(&p[1..], s) {
                        return true;
                    }
                    s = &s[1..];
                }
                return false;
            }
            '?' => s = &s[1..],
            '[' => {
                p = &p[1..];
                let negated = p.first() == Some(&'^');
                if negated {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    if p.first() == Some(&'\\') && p.len() >= 2 {
                        p = &p[1..];
                        matched |= p[0] == s[0];
                    } else if p.first() == Some(&']') {
                        break;
                    } else if p.is_empty() {
                        break; // unclosed: the pattern ends the class
                    } else if p.len() >= 3 && p[1] == '-' {
                        let (lo, hi) = if p[0] <= p[2] {
                            (p[0], p[2])
                        } else {
                            (p[2], p[0])
                        };
                        p = &p[2..];
                        matched |= lo <= s[0] && s[0] <= hi;
                    } else {
                        matched |= p[0] == s[0];
                    }
                    p = &p[1..];
                }
                if matched == negated {
                    return false;
                }
                s = &s[1..];
            }
            c => {
                let lit = if c == '\\' && p.len() >= 2 {
                    p = &p[1..];
                    p[0]
                } else {
                    c
                };
                if lit != s[0] {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = p.get(1..).unwrap_or(&[]);
        if s.is_empty() {
            while p.first() == Some(&'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

fn chars_of(alphabet: &'static [char], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(alphabet), 0..max)
        .prop_map(|v| v.into_iter().collect())
}

const PATTERN_CHARS: &[char] = &['a', 'b', 'c', '*', '?', '[', ']', '^', '-', '\\', 'é'];
const TEXT_CHARS: &[char] = &['a', 'b', 'c', '-', ']', '^', '\\', '*', 'é'];

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    })]

    #[test]
    fn glob_agrees_with_redis_stringmatch(
        pattern in chars_of(PATTERN_CHARS, 10),
        text in chars_of(TEXT_CHARS, 8),
    ) {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        let glob = Glob::new(&pattern).unwrap();
        prop_assert_eq!(glob.is_match(&text), redis_match(&p, &t), "pattern {:?} text {:?}", pattern, text);
    }

    #[test]
    fn invalidate_glob_removes_exactly_keys_matching(
        pattern in chars_of(PATTERN_CHARS, 6),
        keys in prop::collection::btree_set(chars_of(TEXT_CHARS, 5), 0..12),
    ) {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let cache = string_cache(&keys);
        let matching = sorted(cache.keys_matching(&pattern));
        let expected: Vec<String> = sorted(
            keys.iter()
                .filter(|k| redis_match(&pattern.chars().collect::<Vec<_>>(), &k.chars().collect::<Vec<_>>()))
                .map(|k| k.to_string())
                .collect(),
        );
        prop_assert_eq!(&matching, &expected);
        prop_assert_eq!(cache.invalidate_glob(&pattern), expected.len());
        prop_assert_eq!(cache.len(), keys.len() - expected.len());
        prop_assert!(cache.keys_matching(&pattern).is_empty());
    }
}
