//! cachelite in one page: a memoized function, then the cache it sits on.
//!
//! `cargo run --release --example quickstart`
//!
//! Every line that shows a number says what it is: `label: value`.

use std::io::{self, Write};
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

/// One `label: value` line, values aligned.
fn line(out: &mut impl Write, label: &str, value: impl std::fmt::Display) -> io::Result<()> {
    writeln!(out, "  {:<40} {value}", format!("{label}:"))
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// The whole tour, with `slow_n` as the slow function's argument.
fn tour(out: &mut impl Write, slow_n: u64) -> io::Result<()> {
    writeln!(out, "== #[memoize] on a slow function")?;
    let (n, cold) = timed(|| primes_below(slow_n));
    let (_, warm) = timed(|| primes_below(slow_n));
    line(out, &format!("primes below {slow_n}"), n)?;
    line(out, "first call, computed", format!("{cold:.2?}"))?;
    line(out, "second call, from the cache", format!("{warm:.2?}"))?;

    writeln!(out, "\n== #[memoize] on a recursive function")?;
    let (f, t) = timed(|| fib(90));
    let info = fib_cache_info();
    line(out, "fib(90)", f)?;
    line(out, "time, each fib(n) computed once", format!("{t:.2?}"))?;
    line(out, "fib's cache entries", info.stats.len)?;
    line(out, "fib's cache hits", info.stats.hits)?;
    line(out, "fib's cache misses", info.stats.misses)?;
    line(out, "fib's cache hit rate", percent(info.hit_rate()))?;

    writeln!(out, "\n== a Cache by hand: LFU, 1000 entries, 60 s TTL")?;
    let cache: Cache<String, u64> = Cache::builder()
        .max_items(1_000)
        .policy(Policy::Lfu)
        .default_ttl(Duration::from_secs(60))
        .build();
    // Three rounds over the same keys: the first computes, the others hit.
    for round in 0..3 {
        for n in [10_000u64, 20_000, 30_000] {
            let key = format!("primes<{n}");
            let v = cache.get_or_insert_with(key, || primes_below(n));
            if round == 0 {
                line(out, &format!("primes below {n}"), v)?;
            }
        }
    }
    cache.insert_with_tags("report:q1".into(), 1, ["reports"]);
    cache.insert_with_tags("report:q2".into(), 2, ["reports"]);
    let removed = cache.invalidate_tags(&["reports"]);
    line(out, "entries removed by the tag \"reports\"", removed)?;
    let s = cache.stats();
    line(out, "cache entries", s.len)?;
    line(out, "cache hits", s.hits)?;
    line(out, "cache misses", s.misses)?;
    line(out, "cache inserts", s.inserts)?;
    line(out, "cache hit rate", percent(s.hit_rate()))?;
    Ok(())
}

fn main() -> io::Result<()> {
    tour(&mut io::stdout().lock(), 300_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line that shows a number is `label: value`, where the label
    /// has words and the value is one number (with its unit, if any).
    #[test]
    fn every_number_is_labelled() {
        let mut out = Vec::new();
        tour(&mut out, 2_000).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut numbers = 0;
        for l in text.lines().filter(|l| !l.starts_with("==")) {
            if !l.contains(|c: char| c.is_ascii_digit()) {
                continue;
            }
            let (label, value) = l
                .split_once(": ")
                .unwrap_or_else(|| panic!("no `label: value` in {l:?}"));
            assert!(
                label.chars().filter(char::is_ascii_alphabetic).count() >= 3,
                "the label of {l:?} has no words"
            );
            let value = value.trim();
            let groups = value
                .split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .filter(|g| !g.is_empty())
                .count();
            assert_eq!(groups, 1, "{l:?} shows more than one number");
            numbers += 1;
        }
        assert!(numbers >= 15, "{text}");
        assert!(text.contains("primes below 2000:"), "{text}");
        assert!(text.contains("fib(90):"), "{text}");
    }
}
