//! Belady's MIN with bypass: the most hits any demand cache of `capacity`
//! entries can get on a request stream, given the future.
//!
//! A backward pass finds each request's next use. The replay then keeps
//! the cached keys' next-use positions in an ordered set: a cached key is
//! requested at position `i` exactly when `i` is in the set (its next use
//! is unique to it), so a hit is a removal. On a miss, the new key is
//! admitted only if it is needed again sooner than the farthest cached
//! key, which it then evicts. O(n log C) time, O(n) memory.

use std::collections::BTreeSet;

const NEVER: u32 = u32::MAX;

/// For each request, the position of the next request for the same key.
fn next_uses(keys: &[u64]) -> Vec<u32> {
    let n = u32::try_from(keys.len()).expect("fewer than 2^32 - 1 requests");
    let mut last: hashbrown::HashMap<u64, u32, foldhash::fast::FixedState> =
        hashbrown::HashMap::with_capacity_and_hasher(
            keys.len() / 4,
            foldhash::fast::FixedState::default(),
        );
    let mut next = vec![NEVER; keys.len()];
    for i in (0..n).rev() {
        let k = keys[i as usize];
        if let Some(j) = last.insert(k, i) {
            next[i as usize] = j;
        }
    }
    next
}

/// The number of hits OPT gets on `keys` with `capacity` entries.
#[must_use]
pub fn hits(keys: &[u64], capacity: usize) -> u64 {
    let next = next_uses(keys);
    let mut cached: BTreeSet<u32> = BTreeSet::new();
    let mut hits = 0;
    for (i, &n) in next.iter().enumerate() {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "next_uses checked the length"
        )]
        if cached.remove(&(i as u32)) {
            hits += 1;
            if n != NEVER {
                cached.insert(n);
            }
            continue;
        }
        if n == NEVER || capacity == 0 {
            continue; // bypass: never needed again
        }
        if cached.len() < capacity {
            cached.insert(n);
        } else if let Some(&farthest) = cached.last()
            && farthest > n
        {
            cached.pop_last();
            cached.insert(n);
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exhaustive search over every eviction and bypass choice.
    fn brute_force(keys: &[u64], capacity: usize) -> u64 {
        fn go(keys: &[u64], cap: usize, cache: &mut Vec<u64>) -> u64 {
            let Some((&k, rest)) = keys.split_first() else {
                return 0;
            };
            if cache.contains(&k) {
                return 1 + go(rest, cap, cache);
            }
            let mut best = go(rest, cap, cache); // bypass
            if cache.len() < cap {
                cache.push(k);
                best = best.max(go(rest, cap, cache));
                cache.pop();
            } else {
                for i in 0..cache.len() {
                    let old = std::mem::replace(&mut cache[i], k);
                    best = best.max(go(rest, cap, cache));
                    cache[i] = old;
                }
            }
            best
        }
        go(keys, capacity, &mut Vec::new())
    }

    #[test]
    fn matches_exhaustive_search_on_small_streams() {
        let mut rng = crate::workload::SplitMix64::new(7);
        for _ in 0..300 {
            let len = 1 + rng.below(11) as usize;
            let alphabet = 1 + rng.below(5);
            let keys: Vec<u64> = (0..len).map(|_| rng.below(alphabet)).collect();
            let cap = 1 + rng.below(3) as usize;
            assert_eq!(
                hits(&keys, cap),
                brute_force(&keys, cap),
                "{keys:?} cap {cap}"
            );
        }
    }

    #[test]
    fn a_loop_one_larger_than_the_cache() {
        // LRU gets nothing here; OPT keeps all but one key of each lap.
        let keys: Vec<u64> = (0..1000).map(|i| i % 10).collect();
        let h = hits(&keys, 9);
        assert!(h > 850 && h < 990, "{h}");
    }
}
