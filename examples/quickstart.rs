//! cachelite in one page: a memoized function, then the cache it sits on.
//!
//! `cargo run --release --example quickstart`

use std::time::{Duration, Instant};

use cachelite::{Cache, Policy, memoize};

/// A deliberately slow function: the number of primes below `n`.
#[memoize(capacity = 1_000)]
fn primes_below(n: u64) -> u64 {
    (2..n)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count() as u64
}

/// Recursion through the cache: exponential without it, linear with it.
#[memoize]
fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

fn main() {
    println!("== #[memoize]");
    let (n, cold) = timed(|| primes_below(300_000));
    let (_, warm) = timed(|| primes_below(300_000));
    println!("primes_below(300000) = {n}: first call {cold:?}, second call {warm:?}");
    let (f, t) = timed(|| fib(90));
    println!("fib(90) = {f} in {t:?}");
    let info = fib_cache_info();
    println!(
        "fib cache: {} entries, {} hits, {} misses ({:.1}% hit rate)",
        info.len,
        info.hits,
        info.misses,
        info.hit_rate() * 100.0
    );

    println!("\n== a Cache by hand");
    let cache: Cache<String, u64> = Cache::builder()
        .max_items(1_000)
        .policy(Policy::Lfu)
        .default_ttl(Duration::from_secs(60))
        .build();
    for round in 0..3 {
        for n in [10_000u64, 20_000, 30_000] {
            let key = format!("primes<{n}");
            let v = cache.get_or_insert_with(key, || primes_below(n));
            if round == 0 {
                println!("{n}: {v}");
            }
        }
    }
    cache.insert_with_tags("report:q1".into(), 1, ["reports"]);
    cache.insert_with_tags("report:q2".into(), 2, ["reports"]);
    println!(
        "invalidated {} reports by tag",
        cache.invalidate_tags(&["reports"])
    );
    let s = cache.stats();
    println!(
        "stats: {} entries, {} hits, {} misses, {} inserts, {:.1}% hit rate",
        s.len,
        s.hits,
        s.misses,
        s.inserts,
        s.hit_rate() * 100.0
    );
}
