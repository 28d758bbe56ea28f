//! Hierarchical scopes: declared levels, keys under scope paths that never
//! share entries, `invalidate_scope` dropping exactly what lies under a
//! path (checked against a model by proptest), clear errors for paths
//! that name an undeclared level or skip one, and a manual clock for TTLs.

use std::collections::HashMap;
use std::time::Duration;

use cachelite::{BuildError, Cache, ManualClock, ScopeError, Scoped};
use proptest::prelude::*;

fn tenants() -> Cache<Scoped<String>, u32> {
    Cache::builder()
        .scope_levels(["org", "user", "session"])
        .build()
}

fn key(c: &Cache<Scoped<String>, u32>, path: &[&str], k: &str) -> Scoped<String> {
    c.scope(path).unwrap().key(k.to_string())
}

#[test]
fn the_same_key_under_two_paths_is_two_entries() {
    let c = tenants();
    c.insert(key(&c, &["org:1", "user:7"], "theme"), 1);
    c.insert(key(&c, &["org:2", "user:7"], "theme"), 2);
    c.insert(key(&c, &["org:1"], "theme"), 3);
    assert_eq!(c.get(&key(&c, &["org:1", "user:7"], "theme")), Some(1));
    assert_eq!(c.get(&key(&c, &["org:2", "user:7"], "theme")), Some(2));
    assert_eq!(c.get(&key(&c, &["org:1"], "theme")), Some(3));
    assert_eq!(c.get(&key(&c, &["org:1", "user:8"], "theme")), None);
    assert_eq!(c.len(), 3);
}

#[test]
fn invalidating_a_scope_takes_everything_below_it() {
    let c = tenants();
    c.insert(key(&c, &["org:42"], "plan"), 1);
    c.insert(key(&c, &["org:42", "user:7"], "name"), 2);
    c.insert(key(&c, &["org:42", "user:7", "session:a"], "cart"), 3);
    c.insert(key(&c, &["org:42", "user:8", "session:b"], "cart"), 4);
    c.insert(key(&c, &["org:43", "user:7"], "name"), 5);
    assert_eq!(c.invalidate_scope(&["org:42", "user:7"]), Ok(2));
    assert_eq!(c.len(), 3);
    assert_eq!(c.invalidate_scope(&["org:42"]), Ok(2));
    assert_eq!(c.get(&key(&c, &["org:43", "user:7"], "name")), Some(5));
    assert_eq!(c.invalidate_scope(&["org:42"]), Ok(0));
}

#[test]
fn a_scope_prefix_is_a_whole_segment_not_a_string_prefix() {
    let c = tenants();
    c.insert(key(&c, &["org:4"], "a"), 1);
    c.insert(key(&c, &["org:42"], "a"), 2);
    assert_eq!(c.invalidate_scope(&["org:4"]), Ok(1));
    assert_eq!(c.get(&key(&c, &["org:42"], "a")), Some(2));
}

#[test]
fn scoped_entries_keep_their_own_tags_and_ttls() {
    let clock = ManualClock::new();
    let c: Cache<Scoped<String>, u32> = Cache::builder()
        .scope_levels(["org"])
        .clock(clock.clone())
        .build();
    let k = c.scope(&["org:1"]).unwrap().key("a".to_string());
    c.insert_with_tags(k.clone(), 1, ["mine"]);
    c.insert_with_ttl(
        c.scope(&["org:1"]).unwrap().key("b".into()),
        2,
        Duration::from_secs(1),
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(c.invalidate_scope(&["org:1"]), Ok(1), "b had expired");
    assert_eq!(c.stats().expirations, 1);
    c.insert(k, 3);
    assert_eq!(
        c.invalidate_tags(&["mine"]),
        0,
        "a replacement carries only its own tags"
    );
    assert_eq!(c.invalidate_scope(&["org:1"]), Ok(1));
}

#[test]
fn read_throughs_and_batches_file_their_entries_under_the_scope() {
    let c = tenants();
    let path = c.scope(&["org:1", "user:2"]).unwrap();
    assert_eq!(c.get_or_insert_with(path.key("a".into()), || 1), 1);
    c.get_or_insert_many(&[path.key("b".into())], |m| {
        m.iter().map(|k| (k.clone(), 2)).collect::<Vec<_>>()
    });
    c.incr(path.key("n".into()), 5, None).unwrap();
    assert_eq!(c.invalidate_scope(&["org:1"]), Ok(3));
    assert!(c.is_empty());
}

#[test]
fn paths_that_skip_or_invent_a_level_are_errors() {
    let c = tenants();
    let err = c.scope(&["org:1", "session:9"]).unwrap_err();
    assert_eq!(
        err,
        ScopeError::SkippedLevel {
            position: 2,
            segment: "session:9".into(),
            expected: Some("user".into()),
            declared: vec!["org".into(), "user".into(), "session".into()],
        }
    );
    assert!(
        err.to_string().contains("level `user` comes there"),
        "{err}"
    );
    let err = c.scope(&["team:1"]).unwrap_err();
    assert!(matches!(err, ScopeError::UndeclaredLevel { ref level, .. } if level == "team"));
    assert!(err.to_string().contains("org → user → session"), "{err}");
    assert!(matches!(
        c.scope(&["org:1", "org:2"]),
        Err(ScopeError::SkippedLevel { .. })
    ));
    assert!(matches!(
        c.scope(&["org:1", "user:1", "session:1", "session:2"]),
        Err(ScopeError::SkippedLevel { expected: None, .. })
    ));
    assert_eq!(c.scope::<&str>(&[]), Err(ScopeError::Empty));
    for bad in ["org", "org:", ":1", ""] {
        assert_eq!(c.scope(&[bad]), Err(ScopeError::Malformed(bad.into())));
    }
    let err = c.invalidate_scope(&["user:1"]).unwrap_err();
    assert!(err.to_string().contains("comes first"), "{err}");
}

#[test]
fn a_cache_without_levels_has_no_scopes() {
    let c: Cache<Scoped<u8>, u8> = Cache::new(10);
    assert_eq!(c.scope(&["org:1"]), Err(ScopeError::NoLevels));
    assert!(c.scope_levels().is_empty());
}

#[test]
fn bad_level_declarations_are_build_errors() {
    for levels in [vec![], vec!["org", "org"], vec!["a:b"], vec![""]] {
        let err = Cache::<Scoped<u8>, u8>::builder()
            .scope_levels(levels.clone())
            .try_build()
            .unwrap_err();
        assert!(matches!(err, BuildError::BadScopeLevels(_)), "{levels:?}");
    }
}

#[derive(Clone, Debug)]
enum Op {
    Insert(Vec<u8>, u8, u32),
    Get(Vec<u8>, u8),
    Invalidate(Vec<u8>),
}

const LEVELS: [&str; 3] = ["org", "user", "session"];

fn segments(path: &[u8]) -> Vec<String> {
    path.iter()
        .zip(LEVELS)
        .map(|(id, level)| format!("{level}:{id}"))
        .collect()
}

fn path() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..3, 1..=3)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (path(), 0u8..3, any::<u32>()).prop_map(|(p, k, v)| Op::Insert(p, k, v)),
        3 => (path(), 0u8..3).prop_map(|(p, k)| Op::Get(p, k)),
        1 => path().prop_map(Op::Invalidate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// No entry is ever visible under another path, and `invalidate_scope`
    /// removes exactly the entries whose path starts with its own.
    #[test]
    fn scopes_match_a_model(ops in prop::collection::vec(op(), 1..80)) {
        let c: Cache<Scoped<u8>, u32> = Cache::builder().shards(4).scope_levels(LEVELS).build();
        let mut model: HashMap<(Vec<u8>, u8), u32> = HashMap::new();
        for op in ops {
            match op {
                Op::Insert(p, k, v) => {
                    c.insert(c.scope(&segments(&p)).unwrap().key(k), v);
                    model.insert((p, k), v);
                }
                Op::Get(p, k) => {
                    let got = c.get(&c.scope(&segments(&p)).unwrap().key(k));
                    prop_assert_eq!(got, model.get(&(p, k)).copied());
                }
                Op::Invalidate(p) => {
                    let under = |q: &Vec<u8>| q.starts_with(&p);
                    let expected = model.keys().filter(|(q, _)| under(q)).count();
                    prop_assert_eq!(c.invalidate_scope(&segments(&p)), Ok(expected));
                    model.retain(|(q, _), _| !under(q));
                }
            }
            prop_assert_eq!(c.len(), model.len());
        }
        for ((p, k), v) in &model {
            prop_assert_eq!(c.peek(&c.scope(&segments(p)).unwrap().key(*k)), Some(*v));
        }
    }
}

use cachelite::memoize;
use std::sync::atomic::{AtomicU32, Ordering};

static RUNS: AtomicU32 = AtomicU32::new(0);

#[memoize(scope(org = org, user = user))]
fn preferences(org: u64, user: u64, page: u32) -> String {
    RUNS.fetch_add(1, Ordering::Relaxed);
    format!("{org}/{user}/{page}")
}

#[test]
fn memoize_files_each_call_under_the_scope_its_arguments_name() {
    assert_eq!(preferences(42, 7, 1), "42/7/1");
    preferences(42, 7, 2);
    preferences(42, 8, 1);
    preferences(43, 7, 1);
    preferences(42, 7, 1);
    assert_eq!(RUNS.load(Ordering::Relaxed), 4);
    assert_eq!(preferences_cache().scope_levels(), ["org", "user"]);
    assert_eq!(
        preferences_cache().invalidate_scope(&["org:42", "user:7"]),
        Ok(2)
    );
    assert_eq!(preferences_cache().invalidate_scope(&["org:42"]), Ok(1));
    assert_eq!(preferences_cache().len(), 1);
    assert!(preferences_cache_invalidate(43, 7, 1));
    assert!(matches!(
        preferences_cache().invalidate_scope(&["user:7"]),
        Err(ScopeError::SkippedLevel { .. })
    ));
}

#[memoize(key = page, scope(tenant = format!("t{tenant}")))]
fn report(tenant: u32, page: u32) -> u32 {
    tenant * 100 + page
}

#[test]
fn memoize_scope_works_with_a_key_of_its_own() {
    assert_eq!(report(1, 5), 105);
    assert_eq!(report(2, 5), 205, "same key, another tenant: another entry");
    assert_eq!(report_cache().invalidate_scope(&["tenant:t1"]), Ok(1));
    assert!(
        report_cache_invalidate(2, 5),
        "the accessor takes what the scope reads too"
    );
}

#[test]
fn a_scoped_cache_can_be_bounded_by_bytes() {
    let c: Cache<Scoped<String>, String> = Cache::builder()
        .scope_levels(["org"])
        .max_bytes(2_000)
        .build();
    for i in 0..100 {
        let k = c
            .scope(&[format!("org:{i}")])
            .unwrap()
            .key("page".to_string());
        c.insert(k, "x".repeat(100));
    }
    let s = c.stats();
    assert!(s.bytes <= 2_000 && s.evictions > 0, "{s:?}");
}
