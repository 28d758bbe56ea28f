//! Every eviction policy side by side on one skewed workload.
//!
//! `cargo run --release --example policies`

use cachelite::{Cache, Policy};

/// A Zipf-like key stream: key k has weight 1 / (k + 1).
fn skewed_keys(n: usize, universe: u64, seed: u64) -> Vec<u64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let weights: Vec<f64> = (0..universe).map(|k| 1.0 / (k as f64 + 1.0)).collect();
    let total: f64 = weights.iter().sum();
    let mut cdf = Vec::with_capacity(weights.len());
    let mut acc = 0.0;
    for w in &weights {
        acc += w / total;
        cdf.push(acc);
    }
    (0..n)
        .map(|_| {
            let u = rng.f64();
            cdf.partition_point(|&c| c < u) as u64
        })
        .collect()
}

fn main() {
    let keys = skewed_keys(200_000, 10_000, 7);
    println!("200k requests over 10k keys (Zipf s = 1), cache of 500 entries\n");
    println!("{:<8} {:>9} {:>10}", "policy", "hit rate", "evictions");
    for &policy in Policy::ALL {
        let cache: Cache<u64, u64> = Cache::builder().max_items(500).policy(policy).build();
        for &k in &keys {
            if cache.get(&k).is_none() {
                cache.insert(k, k);
            }
        }
        let s = cache.stats();
        println!(
            "{:<8} {:>8.1}% {:>10}",
            policy.name(),
            s.hit_rate() * 100.0,
            s.evictions
        );
    }
}
