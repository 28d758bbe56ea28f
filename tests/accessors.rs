//! What a memoized fn's accessors and registry entry promise: every cache
//! is listed under a name of its own, and `<fn>_cache_clear()` resets the
//! stats along with the entries.

use cachelite::{CacheInfo, memoize, registry};

fn listed(prefix: &str) -> Vec<(&'static str, CacheInfo)> {
    registry()
        .into_iter()
        .filter(|(n, _)| n.starts_with(prefix))
        .collect()
}

#[memoize(name = "accessors::shared_name")]
fn doubled(n: u32) -> u32 {
    n * 2
}

#[memoize(name = "accessors::shared_name", capacity = 7)]
fn tripled(n: u32) -> u32 {
    n * 3
}

#[test]
fn two_fns_given_one_name_are_both_listed() {
    assert_eq!(doubled(1), 2);
    assert_eq!(tripled(1), 3);
    tripled(2);
    let names: Vec<&str> = listed("accessors::shared_name")
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(
        names,
        ["accessors::shared_name", "accessors::shared_name#2"]
    );
    // Each entry reports its own cache; which one got `#2` depends on
    // which was called first.
    let mut lens: Vec<(Option<usize>, usize)> = listed("accessors::shared_name")
        .iter()
        .map(|(_, i)| (i.config.max_items, i.stats.len))
        .collect();
    lens.sort_unstable();
    assert_eq!(lens, [(Some(7), 2), (Some(10_000), 1)]);
}

fn first_local() -> u32 {
    #[memoize]
    fn local(n: u32) -> u32 {
        n + 1
    }
    local(1) + local(1)
}

fn second_local() -> u32 {
    #[memoize]
    fn local(n: u32) -> u32 {
        n + 100
    }
    local(1)
}

#[test]
fn same_named_local_fns_of_one_module_are_both_listed() {
    assert_eq!(first_local(), 4);
    assert_eq!(second_local(), 101);
    let found = listed("accessors::local");
    let names: Vec<&str> = found.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["accessors::local", "accessors::local#2"]);
    let mut hits: Vec<u64> = found.iter().map(|(_, i)| i.stats.hits).collect();
    hits.sort_unstable();
    assert_eq!(hits, [0, 1]);
}

#[memoize]
fn squared(n: u64) -> u64 {
    n * n
}

#[test]
fn cache_clear_empties_the_cache_and_resets_its_stats() {
    squared(3);
    squared(3);
    squared(4);
    let before = squared_cache_info();
    assert_eq!(
        (before.stats.hits, before.stats.misses, before.stats.len),
        (1, 2, 2)
    );
    squared_cache_clear();
    let after = squared_cache_info();
    assert_eq!(
        (
            after.stats.hits,
            after.stats.misses,
            after.stats.len,
            after.stats.inserts,
            after.stats.invalidations
        ),
        (0, 0, 0, 0, 0)
    );
    squared(3);
    assert_eq!(
        (
            squared_cache_info().stats.misses,
            squared_cache_info().stats.hits
        ),
        (1, 0)
    );
    // The cache's own `clear` keeps the counts.
    squared_cache().clear();
    let kept = squared_cache_info();
    assert_eq!(
        (kept.stats.len, kept.stats.misses, kept.stats.invalidations),
        (0, 1, 1)
    );
}
