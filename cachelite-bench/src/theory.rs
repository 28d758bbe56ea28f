//! Hit ratios predicted under the independent reference model (IRM), from
//! the key probabilities `p` of a workload.
//!
//! - LRU: Che's approximation (Che, Tung and Wang, 2002): the
//!   characteristic time `T` solves `Σ (1 - e^(-p_i T)) = C`, and the hit
//!   ratio is `Σ p_i (1 - e^(-p_i T))`.
//! - FIFO and Random share one approximation (Gelenbe 1973; Fricker, Robert
//!   and Roberts 2012): `T` solves `Σ p_i T / (1 + p_i T) = C`, and the hit
//!   ratio is `Σ p_i · p_i T / (1 + p_i T)`.
//! - Perfect LFU keeps the `C` most popular keys: `Σ` of the `C` largest `p_i`.

/// Finds `T > 0` with `occupancy(T) = c`, for an increasing `occupancy`.
fn characteristic_time(c: f64, occupancy: impl Fn(f64) -> f64) -> f64 {
    let mut lo = 0.0;
    let mut hi = 1.0;
    while occupancy(hi) < c {
        lo = hi;
        hi *= 2.0;
        assert!(hi.is_finite(), "capacity {c} not reachable");
    }
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if occupancy(mid) < c {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// LRU's hit ratio by Che's approximation; 1.0 when everything fits.
#[must_use]
pub fn lru_che(p: &[f64], capacity: usize) -> f64 {
    if capacity >= p.len() {
        return 1.0;
    }
    let c = capacity as f64;
    let t = characteristic_time(c, |t| p.iter().map(|&q| -(-q * t).exp_m1()).sum());
    p.iter().map(|&q| q * -(-q * t).exp_m1()).sum()
}

/// FIFO's (and Random's) hit ratio under the IRM approximation.
#[must_use]
pub fn fifo_random_irm(p: &[f64], capacity: usize) -> f64 {
    if capacity >= p.len() {
        return 1.0;
    }
    let c = capacity as f64;
    let t = characteristic_time(c, |t| p.iter().map(|&q| q * t / (1.0 + q * t)).sum());
    p.iter().map(|&q| q * (q * t) / (1.0 + q * t)).sum()
}

/// Perfect LFU: the probability mass of the `capacity` most popular keys.
/// `p` must be sorted most popular first.
#[must_use]
pub fn perfect_lfu(p: &[f64], capacity: usize) -> f64 {
    p.iter().take(capacity).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_popularity_gives_c_over_n() {
        let p = vec![0.001; 1000];
        for f in [lru_che, fifo_random_irm, perfect_lfu] {
            assert!((f(&p, 100) - 0.1).abs() < 1e-6);
        }
    }

    #[test]
    fn skew_orders_the_policies() {
        let z = crate::workload::Zipf::new(10_000, 0.9);
        let p = z.probabilities();
        let (lru, fifo, lfu) = (
            lru_che(&p, 500),
            fifo_random_irm(&p, 500),
            perfect_lfu(&p, 500),
        );
        assert!(fifo < lru && lru < lfu, "{fifo} {lru} {lfu}");
        assert_eq!(lru_che(&p, 20_000), 1.0);
    }
}
