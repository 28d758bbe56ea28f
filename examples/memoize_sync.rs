//! `#[memoize]` on sync fns: what is cached, for how long, and the
//! accessors every memoized fn gets.
//!
//! `cargo run --example memoize_sync`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use cachelite::memoize;

static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

/// A slow lookup: 20 ms per call that reaches the body.
#[memoize(ttl = 60, capacity = 1_000, policy = "lfu")]
fn population(city: &str) -> Option<u64> {
    LOOKUPS.fetch_add(1, Ordering::Relaxed);
    thread::sleep(Duration::from_millis(20));
    match city {
        "Lyon" => Some(522_000),
        "Turin" => Some(848_000),
        _ => None,
    }
}

/// Parses a port: an `Err` is returned but never cached.
#[memoize]
fn port(text: &str) -> Result<u16, String> {
    text.trim().parse().map_err(|e| format!("{text:?}: {e}"))
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
    println!("== a slow lookup, memoized");
    for city in ["Lyon", "Lyon", "Turin", "Atlantis", "Atlantis"] {
        let (pop, t) = timed(|| population(city));
        println!("population({city:?}) = {pop:?} in {t:?}");
    }
    println!(
        "the body ran {} times: a `None` is not cached (add `cache_none` to cache it)",
        LOOKUPS.load(Ordering::Relaxed)
    );
    let info = population_cache_info();
    println!(
        "population cache: {} entries, {} hits, {} misses, policy {}, ttl {:?}",
        info.stats.len,
        info.stats.hits,
        info.stats.misses,
        info.config.policy,
        info.config.default_ttl
    );

    println!("\n== eight threads ask for the same city at once");
    population_cache_clear();
    let before = LOOKUPS.load(Ordering::Relaxed);
    let handles: Vec<_> = (0..8)
        .map(|_| thread::spawn(|| population("Turin")))
        .collect();
    for h in handles {
        let _ = h.join();
    }
    println!(
        "the body ran {} time(s) for 8 callers (singleflight)",
        LOOKUPS.load(Ordering::Relaxed) - before
    );

    println!("\n== invalidation");
    println!(
        "population_cache_invalidate(\"Turin\") = {}",
        population_cache_invalidate("Turin")
    );
    println!(
        "population_cache_invalidate(\"Turin\") = {}",
        population_cache_invalidate("Turin")
    );
    // The full cache API: `&str` arguments are keyed by `String`.
    population("Lyon");
    println!("cache.get(\"Lyon\") = {:?}", population_cache().get("Lyon"));

    println!("\n== Result: only Ok is cached");
    println!("port(\"8080\") = {:?}", port("8080"));
    println!("port(\"http\") = {:?}", port("http"));
    println!("cached entries: {}", port_cache_info().stats.len);

    println!("\n== recursion");
    let (f, t) = timed(|| fib(90));
    println!(
        "fib(90) = {f} in {t:?} ({} entries)",
        fib_cache_info().stats.len
    );

    println!("\n== the registry: every memoized fn called so far");
    for (name, info) in cachelite::registry() {
        println!(
            "{name}: {} entries, {:.0}% hits",
            info.stats.len,
            info.hit_rate() * 100.0
        );
    }
}
