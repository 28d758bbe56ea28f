//! `cachelite demo`: the engine at work in well under a second of waiting,
//! touching no file.
//!
//! 1. Memoization: a `#[memoize]`d slow function, before and after, and
//!    eight threads asking for the same key at once (computed once).
//! 2. Every eviction policy ([`Policy::ALL`]) on one skewed (Zipf) workload.
//! 3. TTL expiry.
//! 4. Tag and glob invalidation.
//! 5. The stats, and the registry of named caches.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use cachelite::{Cache, Insertion, Policy};
use serde_json::{Value, json};

use crate::cli::Failure;
use crate::format::{percent, table};

/// How long the memoized function takes.
const SLOW: Duration = Duration::from_millis(200);
/// The TTL shown expiring, and how long the demo waits for it.
const SHORT_TTL: Duration = Duration::from_millis(100);
const TTL_WAIT: Duration = Duration::from_millis(150);

/// The policy workload: requests over keys, Zipf exponent, cache size.
const REQUESTS: usize = 100_000;
const KEYS: usize = 5_000;
const ZIPF_S: f64 = 1.0;
const CAPACITY: usize = 250;
/// Same sequence every run, so the numbers are comparable.
const SEED: u64 = 42;

/// Runs the demo and returns what to print.
///
/// # Errors
/// Never in practice; the signature matches the other commands.
pub(crate) fn run(as_json: bool) -> Result<String, Failure> {
    let started = Instant::now();
    let memo = memoization();
    let policies = policies();
    let ttl = ttl_expiry();
    let tags = tag_invalidation();
    let registry = cachelite::registry();
    if as_json {
        let registry: serde_json::Map<String, Value> = registry
            .iter()
            .map(|(n, i)| ((*n).to_owned(), crate::server::info_json(i)))
            .collect();
        let doc = json!({
            "memoization": memo.json(),
            "policies": {
                "workload": {"requests": REQUESTS, "keys": KEYS, "zipf_s": ZIPF_S, "capacity": CAPACITY},
                "hit_rates": policies.iter().map(|(p, r)| (p.name().to_owned(), json!(r))).collect::<serde_json::Map<_, _>>(),
            },
            "ttl": ttl.json(),
            "tags": tags.json(),
            "registry": registry,
            "elapsed_secs": crate::secs(started.elapsed()),
        });
        return Ok(format!("{doc}\n"));
    }
    let mut out = String::new();
    out.push_str("cachelite demo: the engine at work (no files touched)\n\n");
    memo.print(&mut out);
    print_policies(&mut out, &policies);
    ttl.print(&mut out);
    tags.print(&mut out);
    print_registry(&mut out, &registry);
    let _ = writeln!(out, "\nDone in {:.2}s.", started.elapsed().as_secs_f64());
    Ok(out)
}

// ---------------------------------------------------------------------------
// 1. Memoization

struct Memo {
    first: Duration,
    second: Duration,
    value: u64,
    threads: usize,
    computed: usize,
}

/// How many times the body of `slow_square` ran.
static CALLS: AtomicUsize = AtomicUsize::new(0);

/// The function being memoized: slow, and counting its runs.
#[cachelite::memoize(capacity = 1_000, name = "demo::slow_square")]
fn slow_square(n: u64) -> u64 {
    CALLS.fetch_add(1, Ordering::Relaxed);
    thread::sleep(SLOW);
    n * n
}

fn memoization() -> Memo {
    let t = Instant::now();
    let value = slow_square(12);
    let first = t.elapsed();
    let t = Instant::now();
    let again = slow_square(12);
    let second = t.elapsed();
    debug_assert_eq!(value, again);

    // Eight threads miss on the same key together: one computes, seven wait.
    let before = CALLS.load(Ordering::Relaxed);
    let threads = 8;
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| slow_square(7));
        }
    });
    let computed = CALLS.load(Ordering::Relaxed) - before;
    Memo {
        first,
        second,
        value,
        threads,
        computed,
    }
}

impl Memo {
    fn print(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "1. Memoization: #[cachelite::memoize] on slow_square(n), which sleeps {} ms",
            SLOW.as_millis()
        );
        let _ = writeln!(
            out,
            "   first call   slow_square(12) = {:<4} {:>10}  (computed)",
            self.value,
            fmt_duration(self.first)
        );
        let _ = writeln!(
            out,
            "   second call  slow_square(12) = {:<4} {:>10}  (cached, {:.0}x faster)",
            self.value,
            fmt_duration(self.second),
            self.first.as_secs_f64() / self.second.as_secs_f64().max(1e-9)
        );
        let _ = writeln!(
            out,
            "   {} threads ask for slow_square(7) at once: computed {} time{} (singleflight)\n",
            self.threads,
            self.computed,
            if self.computed == 1 { "" } else { "s" }
        );
    }

    fn json(&self) -> Value {
        json!({
            "first_call_secs": self.first.as_secs_f64(),
            "second_call_secs": self.second.as_secs_f64(),
            "value": self.value,
            "concurrent_callers": self.threads,
            "computed": self.computed,
        })
    }
}

fn fmt_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.1} ms", us / 1_000.0)
    }
}

// ---------------------------------------------------------------------------
// 2. Policies

/// Draws key ranks with probability proportional to `1 / rank^s`.
struct Zipf {
    cdf: Vec<f64>,
    rng: fastrand::Rng,
}

impl Zipf {
    #[allow(clippy::cast_precision_loss)]
    fn new(n: usize, s: f64, seed: u64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 1..=n {
            total += 1.0 / (rank as f64).powf(s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Self {
            cdf,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    fn sample(&mut self) -> usize {
        let u = self.rng.f64();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

fn policies() -> Vec<(Policy, f64)> {
    let mut zipf = Zipf::new(KEYS, ZIPF_S, SEED);
    // Keys are scattered so that popularity does not follow insertion order.
    let workload: Vec<u64> = (0..REQUESTS)
        .map(|_| (zipf.sample() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect();
    Policy::ALL
        .iter()
        .map(|&policy| {
            let cache: Cache<u64, u64> =
                Cache::builder().max_items(CAPACITY).policy(policy).build();
            for &k in &workload {
                if cache.get(&k).is_none() {
                    cache.insert(k, k);
                }
            }
            (policy, cache.stats().hit_rate())
        })
        .collect()
}

fn print_policies(out: &mut String, results: &[(Policy, f64)]) {
    let _ = writeln!(
        out,
        "2. Eviction policies: {REQUESTS} requests over {KEYS} keys (Zipf, s = {ZIPF_S:.1}), cache of {CAPACITY} entries"
    );
    let best = results.iter().map(|r| r.1).fold(0.0_f64, f64::max);
    let rows: Vec<[String; 3]> = results
        .iter()
        .map(|&(p, rate)| {
            let bar_len = if best > 0.0 {
                (rate / best * 30.0).round()
            } else {
                0.0
            };
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let bar = "#".repeat(bar_len as usize);
            [p.name().to_owned(), percent(rate), bar]
        })
        .collect();
    for line in table(["POLICY", "HIT RATE", ""], &rows).lines() {
        let _ = writeln!(out, "   {line}");
    }
    out.push('\n');
}

// ---------------------------------------------------------------------------
// 3. TTL

struct Ttl {
    before: Option<Duration>,
    present_before: bool,
    present_after: bool,
    expirations: u64,
}

fn ttl_expiry() -> Ttl {
    let cache: Cache<String, String> = Cache::new(100);
    cache.insert_with_ttl("session:42".into(), "token".into(), SHORT_TTL);
    let before = cache.ttl("session:42");
    let present_before = cache.get("session:42").is_some();
    thread::sleep(TTL_WAIT);
    let present_after = cache.get("session:42").is_some();
    Ttl {
        before,
        present_before,
        present_after,
        expirations: cache.stats().expirations,
    }
}

impl Ttl {
    fn print(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "3. TTL: session:42 stored with a {} ms TTL",
            SHORT_TTL.as_millis()
        );
        let _ = writeln!(
            out,
            "   right away     {} (ttl {})",
            presence(self.present_before),
            self.before.map_or("-".to_owned(), fmt_duration)
        );
        let _ = writeln!(
            out,
            "   after {} ms   {} (expirations: {})\n",
            TTL_WAIT.as_millis(),
            presence(self.present_after),
            self.expirations
        );
    }

    fn json(&self) -> Value {
        json!({
            "ttl_secs": SHORT_TTL.as_secs_f64(),
            "waited_secs": TTL_WAIT.as_secs_f64(),
            "present_before": self.present_before,
            "present_after": self.present_after,
        })
    }
}

fn presence(present: bool) -> &'static str {
    if present { "present" } else { "gone" }
}

// ---------------------------------------------------------------------------
// 4. Tags and globs

struct Tags {
    by_tag: usize,
    by_glob: usize,
    left: Vec<String>,
    stats: cachelite::Stats,
}

fn tag_invalidation() -> Tags {
    let cache: Cache<String, String> = Cache::new(100);
    for (key, tags) in [
        ("user:1:profile", ["user:1", "profiles"]),
        ("user:1:orders", ["user:1", "orders"]),
        ("user:2:profile", ["user:2", "profiles"]),
        ("user:2:orders", ["user:2", "orders"]),
    ] {
        cache.insert_entry(key.into(), Insertion::new("...".into()).with_tags(tags));
    }
    let by_tag = cache.invalidate_tags(&["user:1"]);
    let by_glob = cache.invalidate_glob("*:orders");
    cache.get("user:2:profile");
    cache.get("user:1:profile");
    let mut left = cache.keys();
    left.sort();
    Tags {
        by_tag,
        by_glob,
        left,
        stats: cache.stats(),
    }
}

impl Tags {
    fn print(&self, out: &mut String) {
        out.push_str(
            "4. Invalidation: user:{1,2}:{profile,orders}, tagged user:N and profiles/orders\n",
        );
        let _ = writeln!(out, "   invalidate tag user:1     removed {}", self.by_tag);
        let _ = writeln!(out, "   invalidate glob *:orders  removed {}", self.by_glob);
        let _ = writeln!(out, "   left: {}\n", self.left.join(", "));
        let s = &self.stats;
        out.push_str("5. Stats of that cache\n");
        let rows = [
            ("inserts", s.inserts),
            ("invalidations", s.invalidations),
            ("hits", s.hits),
            ("misses", s.misses),
        ]
        .map(|(name, v)| [name.to_owned(), v.to_string()]);
        for line in table(["STAT", "VALUE"], &rows).lines() {
            let _ = writeln!(out, "   {line}");
        }
        out.push('\n');
    }

    fn json(&self) -> Value {
        json!({
            "removed_by_tag": self.by_tag,
            "removed_by_glob": self.by_glob,
            "left": self.left,
            "stats": {
                "inserts": self.stats.inserts,
                "invalidations": self.stats.invalidations,
                "hits": self.stats.hits,
                "misses": self.stats.misses,
            },
        })
    }
}

fn print_registry(out: &mut String, registry: &[(&'static str, cachelite::CacheInfo)]) {
    out.push_str("   Named caches (cachelite::registry(), also served at GET /stats)\n");
    let rows: Vec<[String; 5]> = registry
        .iter()
        .map(|(name, i)| {
            [
                (*name).to_owned(),
                i.stats.hits.to_string(),
                i.stats.misses.to_string(),
                percent(i.hit_rate()),
                i.stats.len.to_string(),
            ]
        })
        .collect();
    for line in table(["NAME", "HITS", "MISSES", "HIT RATE", "ENTRIES"], &rows).lines() {
        let _ = writeln!(out, "   {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_favours_low_ranks_and_stays_in_range() {
        let mut z = Zipf::new(100, 1.0, 1);
        let mut counts = [0usize; 100];
        for _ in 0..10_000 {
            counts[z.sample()] += 1;
        }
        assert!(counts[0] > counts[10] && counts[10] > counts[99]);
    }
}
