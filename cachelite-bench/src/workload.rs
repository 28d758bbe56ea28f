//! Request streams: trace files and seeded synthetic workloads.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::read::GzDecoder;

/// Environment variable naming the trace directory.
pub const TRACES_ENV: &str = "CACHELITE_TRACES";

/// `$CACHELITE_TRACES`, or `shared/traces` beside the repository.
#[must_use]
pub fn default_traces_dir() -> PathBuf {
    std::env::var_os(TRACES_ENV).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces"),
        PathBuf::from,
    )
}

/// Reads a gzip trace: one unsigned integer key per line.
///
/// # Errors
/// If the file is missing, is not gzip, or a line is not a number.
pub fn read_trace(path: &Path) -> std::io::Result<Vec<u64>> {
    let file = std::fs::File::open(path).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "{}: {e} (set {TRACES_ENV} to the directory holding the traces)",
                path.display()
            ),
        )
    })?;
    let mut keys = Vec::new();
    for line in BufReader::new(GzDecoder::new(file)).lines() {
        let line = line?;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        keys.push(t.parse().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: bad key `{t}`: {e}", path.display()),
            )
        })?);
    }
    Ok(keys)
}

/// SplitMix64: a small, fixed generator, so workloads never change with a
/// dependency's version.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[0, n)` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// A bijection on `u64` (murmur3's finaliser): spreads consecutive ranks
/// over the whole key space, so no cache sees keys in hash-friendly order.
#[must_use]
pub fn scramble(x: u64) -> u64 {
    let mut h = x;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Zipf's law over ranks `0..n`: `P(rank i) ∝ 1 / (i + 1)^s`.
#[derive(Clone, Debug)]
pub struct Zipf {
    /// The exponent.
    pub s: f64,
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n` ranks with exponent `s`.
    #[must_use]
    pub fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for i in 1..=n {
            acc += (i as f64).powf(-s);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        Self { s, cdf }
    }

    /// The number of ranks.
    #[must_use]
    pub fn len(&self) -> usize {
        self.cdf.len()
    }

    /// Whether there are no ranks.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.cdf.is_empty()
    }

    /// The probability of every rank, most popular first.
    #[must_use]
    pub fn probabilities(&self) -> Vec<f64> {
        let mut prev = 0.0;
        self.cdf
            .iter()
            .map(|&c| {
                let p = c - prev;
                prev = c;
                p
            })
            .collect()
    }

    /// Draws a rank.
    pub fn sample(&self, rng: &mut SplitMix64) -> usize {
        let u = rng.next_f64();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

/// Under the independent reference model, what theory needs: the
/// popularity of every key.
#[derive(Clone, Debug)]
pub struct Irm {
    /// Zipf exponent.
    pub s: f64,
    /// Key probabilities, most popular first.
    pub probabilities: Arc<Vec<f64>>,
}

/// A request stream replayed at one capacity.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Name shown in tables (`zipf-0.9`, `OLTP`).
    pub name: String,
    /// The keys, in request order.
    pub keys: Arc<Vec<u64>>,
    /// Cache capacity in entries.
    pub capacity: usize,
    /// Set for IRM workloads, where the theory applies.
    pub irm: Option<Irm>,
}

impl Workload {
    /// `name@capacity`.
    #[must_use]
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.capacity)
    }
}

/// Sizes of the synthetic workloads (full or quick).
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Distinct keys under the Zipf law.
    pub keys: usize,
    /// Requests per IRM (pure Zipf) workload.
    pub requests: usize,
    /// Requests per other synthetic workload (not counting injected scans).
    pub side_requests: usize,
    /// The two capacities of the Zipf rows.
    pub capacities: [usize; 2],
    /// A scan of `scan_len` fresh keys after every `scan_every` requests.
    pub scan_every: usize,
    /// Length of each scan.
    pub scan_len: usize,
    /// Keys in the loop workload.
    pub loop_keys: usize,
    /// Capacity for the loop workload.
    pub loop_capacity: usize,
    /// Requests between hot-set shifts.
    pub shift_every: usize,
    /// Keys in the sliding hot window (recency wins).
    pub slide_width: usize,
    /// The sliding window moves on by `slide_step` keys every `slide_every` requests.
    pub slide_step: usize,
    /// Requests between the sliding window's moves.
    pub slide_every: usize,
    /// The longest gap (in new keys) between a read-twice key's two reads.
    pub twice_gap: usize,
    /// Capacity of the sliding-window, read-twice and hot+noise rows.
    pub side_capacity: usize,
    /// Hot keys of the hot+noise row (fewer than `side_capacity`).
    pub hot_keys: usize,
}

impl Sizes {
    /// The sizes of the issue: 100k keys, 2M requests, capacities 1k and
    /// 10k, 10k-key scans every 50k, a 10k loop at 9k, shifts every 200k.
    pub const FULL: Sizes = Sizes {
        keys: 100_000,
        requests: 2_000_000,
        side_requests: 2_000_000,
        capacities: [1_000, 10_000],
        scan_every: 50_000,
        scan_len: 10_000,
        loop_keys: 10_000,
        loop_capacity: 9_000,
        shift_every: 200_000,
        slide_width: 8_000,
        slide_step: 500,
        slide_every: 5_000,
        twice_gap: 800,
        side_capacity: 10_000,
        hot_keys: 7_500,
    };

    /// Small enough to replay in seconds in a debug build. The IRM rows
    /// keep 150k requests, enough for their theory checks (measured within
    /// ±0.15 points); the other streams are 20k long.
    pub const QUICK: Sizes = Sizes {
        keys: 5_000,
        requests: 150_000,
        side_requests: 20_000,
        capacities: [50, 500],
        scan_every: 2_000,
        scan_len: 500,
        loop_keys: 500,
        loop_capacity: 450,
        shift_every: 2_000,
        slide_width: 400,
        slide_step: 25,
        slide_every: 250,
        twice_gap: 40,
        side_capacity: 500,
        hot_keys: 375,
    };
}

/// Keys of scans live above this bit, so they never meet Zipf keys.
const SCAN_SPACE: u64 = 1 << 62;

/// Zipf requests, ranks scrambled over the key space.
#[must_use]
pub fn zipf_keys(z: &Zipf, requests: usize, seed: u64) -> Vec<u64> {
    let mut rng = SplitMix64::new(seed);
    (0..requests)
        .map(|_| scramble(z.sample(&mut rng) as u64))
        .collect()
}

/// Zipf requests with a scan of never-repeated keys after every
/// `every` requests.
#[must_use]
pub fn zipf_with_scans(z: &Zipf, sizes: &Sizes, seed: u64) -> Vec<u64> {
    let mut rng = SplitMix64::new(seed);
    let mut fresh = SCAN_SPACE;
    let n = sizes.side_requests;
    let mut out = Vec::with_capacity(n + n / sizes.scan_every * sizes.scan_len);
    for i in 0..n {
        out.push(scramble(z.sample(&mut rng) as u64));
        if (i + 1) % sizes.scan_every == 0 {
            for _ in 0..sizes.scan_len {
                out.push(scramble(fresh));
                fresh += 1;
            }
        }
    }
    out
}

/// `0, 1, ..., n-1, 0, 1, ...` (scrambled), `requests` long.
#[must_use]
pub fn loop_keys(n: usize, requests: usize) -> Vec<u64> {
    (0..requests).map(|i| scramble((i % n) as u64)).collect()
}

/// Zipf requests whose popular keys change every `every` requests: each
/// phase maps ranks onto a fresh set of keys.
#[must_use]
pub fn shifting_zipf(z: &Zipf, requests: usize, every: usize, seed: u64) -> Vec<u64> {
    let mut rng = SplitMix64::new(seed);
    let n = z.len() as u64;
    (0..requests)
        .map(|i| {
            let phase = (i / every) as u64;
            scramble(phase * n + z.sample(&mut rng) as u64)
        })
        .collect()
}

/// Uniform requests over a window of `width` consecutive keys that moves
/// on by `step` keys every `every` requests: each key is popular for a
/// while, then never requested again. Recency wins outright: a cache that
/// holds the window hits on all but each key's first request, while one
/// that makes newcomers prove their frequency against the keys that just
/// left the window misses.
#[must_use]
pub fn sliding_window(
    width: usize,
    step: usize,
    every: usize,
    requests: usize,
    seed: u64,
) -> Vec<u64> {
    let mut rng = SplitMix64::new(seed);
    (0..requests)
        .map(|i| {
            let base = (i / every * step) as u64;
            scramble(base + rng.next_u64() % width as u64)
        })
        .collect()
}

/// Every key is read twice, the second time after up to `max_gap` new keys
/// (uniform), and then never again: `requests` requests in all. A cache
/// of more than `max_gap` entries that keeps what it just inserted hits
/// every second read (50%, which is also OPT); one that admits only keys
/// with a history misses them.
#[must_use]
pub fn read_twice(max_gap: usize, requests: usize, seed: u64) -> Vec<u64> {
    let mut rng = SplitMix64::new(seed);
    let keys = requests / 2;
    // (time, key): the first read at 2i, the second after `gap` more new
    // keys, i.e. about 2 (i + gap) + 1.
    let mut events: Vec<(u64, u64)> = Vec::with_capacity(2 * keys);
    for i in 0..keys as u64 {
        let gap = 1 + rng.next_u64() % max_gap.max(1) as u64;
        events.push((2 * i, i));
        events.push((2 * (i + gap) + 1, i));
    }
    events.sort_unstable();
    events.into_iter().map(|(_, k)| scramble(k)).collect()
}

/// Half the requests go uniformly to `hot` keys that stay popular for the
/// whole stream, half to keys never seen before, interleaved at random.
/// Frequency wins outright: the hot set fits the cache, and only a policy
/// that keeps one-off keys from displacing it holds all of it (50%).
#[must_use]
pub fn hot_and_noise(hot: usize, requests: usize, seed: u64) -> Vec<u64> {
    let mut rng = SplitMix64::new(seed);
    let mut fresh = SCAN_SPACE;
    (0..requests)
        .map(|_| {
            let r = rng.next_u64();
            if r & 1 == 0 {
                scramble((r >> 1) % hot as u64)
            } else {
                fresh += 1;
                scramble(fresh)
            }
        })
        .collect()
}

/// The synthetic workloads, in table order.
#[must_use]
pub fn synthetic(sizes: &Sizes) -> Vec<Workload> {
    let mut out = Vec::new();
    let mut seed = 0x00c0_ffee_u64;
    let mut next_seed = || {
        seed += 1;
        seed
    };
    for s in [0.7, 0.9, 1.1] {
        let z = Zipf::new(sizes.keys, s);
        let irm = Irm {
            s,
            probabilities: Arc::new(z.probabilities()),
        };
        let keys = Arc::new(zipf_keys(&z, sizes.requests, next_seed()));
        for &c in &sizes.capacities {
            out.push(Workload {
                name: format!("zipf-{s}"),
                keys: keys.clone(),
                capacity: c,
                irm: Some(irm.clone()),
            });
        }
    }
    for s in [0.7, 0.9, 1.1] {
        let z = Zipf::new(sizes.keys, s);
        out.push(Workload {
            name: format!("zipf-{s}+scans"),
            keys: Arc::new(zipf_with_scans(&z, sizes, next_seed())),
            capacity: sizes.capacities[1],
            irm: None,
        });
    }
    out.push(Workload {
        name: format!("loop-{}", sizes.loop_keys),
        keys: Arc::new(loop_keys(sizes.loop_keys, sizes.side_requests)),
        capacity: sizes.loop_capacity,
        irm: None,
    });
    let z = Zipf::new(sizes.keys, 0.9);
    out.push(Workload {
        name: "zipf-0.9-shifting".to_owned(),
        keys: Arc::new(shifting_zipf(
            &z,
            sizes.requests,
            sizes.shift_every,
            next_seed(),
        )),
        capacity: sizes.capacities[1],
        irm: None,
    });
    out.push(Workload {
        name: "sliding".to_owned(),
        keys: Arc::new(sliding_window(
            sizes.slide_width,
            sizes.slide_step,
            sizes.slide_every,
            sizes.side_requests,
            next_seed(),
        )),
        capacity: sizes.side_capacity,
        irm: None,
    });
    out.push(Workload {
        name: "read-twice".to_owned(),
        keys: Arc::new(read_twice(
            sizes.twice_gap,
            sizes.side_requests,
            next_seed(),
        )),
        capacity: sizes.side_capacity / 10,
        irm: None,
    });
    out.push(Workload {
        name: "hot+noise".to_owned(),
        keys: Arc::new(hot_and_noise(
            sizes.hot_keys,
            sizes.side_requests,
            next_seed(),
        )),
        capacity: sizes.side_capacity,
        irm: None,
    });
    out
}

/// A trace file and the capacities it is replayed at.
#[derive(Clone, Copy, Debug)]
pub struct TraceSpec {
    /// Name in tables.
    pub name: &'static str,
    /// File name under the traces directory.
    pub file: &'static str,
    /// Capacities from the literature.
    pub capacities: &'static [usize],
}

/// The ARC OLTP trace at the ARC paper's capacities.
pub const OLTP: TraceSpec = TraceSpec {
    name: "OLTP",
    file: "arc_OLTP.txt.gz",
    capacities: &[256, 512, 1000, 2000],
};

/// Every trace the full run replays.
pub const TRACES: &[TraceSpec] = &[
    OLTP,
    TraceSpec {
        name: "loop",
        file: "lirs_loop.txt.gz",
        capacities: &[768],
    },
    TraceSpec {
        name: "sprite",
        file: "lirs_sprite.txt.gz",
        capacities: &[768],
    },
    TraceSpec {
        name: "multi1",
        file: "lirs_multi1.txt.gz",
        capacities: &[512],
    },
    TraceSpec {
        name: "2_pools",
        file: "lirs_2_pools.txt.gz",
        capacities: &[512],
    },
    TraceSpec {
        name: "cs",
        file: "lirs_cs.txt.gz",
        capacities: &[512],
    },
    TraceSpec {
        name: "cpp",
        file: "lirs_cpp.txt.gz",
        capacities: &[128],
    },
    TraceSpec {
        name: "ps",
        file: "lirs_ps.txt.gz",
        capacities: &[512],
    },
    TraceSpec {
        name: "zigzag",
        file: "lirs_zigzag.txt.gz",
        capacities: &[512],
    },
];

/// The traces `--quick` replays: the small ones.
pub const QUICK_TRACES: &[&str] = &["multi1", "cs"];

/// Loads `spec` from `dir` as one workload per capacity.
///
/// # Errors
/// If the trace cannot be read.
pub fn trace_workloads(dir: &Path, spec: &TraceSpec) -> std::io::Result<Vec<Workload>> {
    let keys = Arc::new(read_trace(&dir.join(spec.file))?);
    Ok(spec
        .capacities
        .iter()
        .map(|&capacity| Workload {
            name: spec.name.to_owned(),
            keys: keys.clone(),
            capacity,
            irm: None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scramble_is_injective_on_a_range() {
        let mut v: Vec<u64> = (0..10_000).map(scramble).collect();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), 10_000);
    }

    #[test]
    fn zipf_samples_follow_the_law() {
        let z = Zipf::new(1000, 1.0);
        let p = z.probabilities();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let mut rng = SplitMix64::new(1);
        let n = 200_000;
        let top = (0..n).filter(|_| z.sample(&mut rng) == 0).count();
        let measured = top as f64 / f64::from(n);
        assert!((measured - p[0]).abs() < 0.005, "{measured} vs {}", p[0]);
    }

    #[test]
    fn workloads_are_reproducible() {
        let a = synthetic(&Sizes::QUICK);
        let b = synthetic(&Sizes::QUICK);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.keys, y.keys, "{}", x.name);
        }
        let scans = a.iter().find(|w| w.name == "zipf-0.9+scans").unwrap();
        let q = Sizes::QUICK;
        assert_eq!(
            scans.keys.len(),
            q.side_requests + q.side_requests / q.scan_every * q.scan_len
        );
    }
}
