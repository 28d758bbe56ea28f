//! The timing harness: each case is a closure that does some operations
//! and says how many; cases are sampled in turn (so a noisy moment hurts
//! them alike) and each keeps its fastest sample.

use std::time::Instant;

/// One sample of a case: performs operations, returns how many.
pub type Sampler<'a> = Box<dyn FnMut() -> u64 + 'a>;

/// Nanoseconds per operation for each case: the minimum over `runs`
/// interleaved samples, after one untimed warm-up sample each.
pub fn min_ns_per_op(runs: usize, cases: &mut [Sampler<'_>]) -> Vec<f64> {
    for c in cases.iter_mut() {
        std::hint::black_box(c());
    }
    let mut best = vec![f64::INFINITY; cases.len()];
    for _ in 0..runs.max(1) {
        for (c, b) in cases.iter_mut().zip(&mut best) {
            let start = Instant::now();
            let ops = c();
            let ns = start.elapsed().as_secs_f64() * 1e9;
            *b = b.min(ns / ops.max(1) as f64);
        }
    }
    best
}

/// The 1-minute load average, where the system reports one (Linux).
#[must_use]
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs `f` once and returns (seconds, its result).
pub fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64(), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slower_cases_measure_slower() {
        let mut sink = 0u64;
        let mut v = vec![0u64; 1 << 16];
        let mut cases: Vec<Sampler<'_>> = vec![
            Box::new(|| {
                for i in 0..1000u64 {
                    sink = std::hint::black_box(sink.wrapping_add(i));
                }
                1000
            }),
            Box::new(|| {
                for i in 0..1000usize {
                    for x in v.iter_mut().take(64) {
                        *x = std::hint::black_box(x.wrapping_add(i as u64));
                    }
                }
                1000
            }),
        ];
        let ns = min_ns_per_op(3, &mut cases);
        assert!(ns[0] > 0.0 && ns[1] > ns[0], "{ns:?}");
    }
}
