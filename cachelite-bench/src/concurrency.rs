//! Throughput under contention: every cache shared by 1, 2, 4, ... threads
//! on five workloads (read-only Zipf and uniform hits, get-or-insert with
//! evictions, a half-insert mix, and a memoized fn over 64 hot keys), with
//! two lock-free maps without any policy (papaya, scc) as the floor.
//!
//! Each measurement is fixed-duration: the threads are spawned, wait on a
//! barrier, then replay their own pre-generated key streams until a stop
//! flag is raised; operations are counted per thread and summed. The best of
//! `runs` measurements is kept, with every case of a workload interleaved so
//! that a noisy moment on the machine hurts them alike.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, LazyLock};
use std::time::{Duration, Instant};

use cachelite::{Cache, Policy};
use serde_json::json;

use crate::Options;
use crate::memo::body;
use crate::plot::{Lines, PanelChart};
use crate::report::{Check, CheckKind, Report, Table, f, ratio};
use crate::workload::{SplitMix64, Zipf, scramble, zipf_keys};

type Fold = foldhash::fast::RandomState;

/// The cache rows, in table and legend order. `#[cached]` takes part in
/// the memoize workload only.
pub const CACHES: &[&str] = &[
    CACHELITE,
    CACHELITE_ADAPTIVE,
    QUICK_CACHE,
    MOKA,
    CACHED,
    PAPAYA,
    SCC,
];

/// cachelite's default configuration (`Cache::new`, `#[memoize]`).
pub const CACHELITE: &str = "cachelite";
/// cachelite with `.policy(Policy::Adaptive)` (`policy = "adaptive"`),
/// whose hits bump a per-entry counter instead of queueing in a ring.
pub const CACHELITE_ADAPTIVE: &str = "cachelite Adaptive";
/// quick_cache 0.7, `sync::Cache`.
pub const QUICK_CACHE: &str = "quick_cache";
/// moka 0.12, `sync::Cache`.
pub const MOKA: &str = "moka";
/// `#[cached]` with its defaults (memoize workload only).
pub const CACHED: &str = "#[cached]";
/// papaya 0.2 `HashMap`, no policy, unbounded: a floor.
pub const PAPAYA: &str = "papaya (no policy)";
/// scc 3 `HashIndex`, no policy, unbounded: a floor.
pub const SCC: &str = "scc (no policy)";

const FLOORS: &[&str] = &[PAPAYA, SCC];
/// cachelite's policies, each held to the no-collapse target.
const POLICIES: &[&str] = &[CACHELITE, CACHELITE_ADAPTIVE];

/// Memoized fns use this many distinct keys.
pub const HOT_KEYS: usize = 64;

/// One workload of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// `get` of Zipf 1.0 keys, all pre-loaded.
    ZipfReads,
    /// `get` of uniformly drawn keys, all pre-loaded.
    UniformReads,
    /// get-or-insert, Zipf 0.9 over ten times the capacity.
    GetOrInsert,
    /// Half `get`, half `insert` of Zipf 0.9 keys over ten times the capacity.
    InsertMix,
    /// A memoized fn over 64 hot keys.
    Memoize,
}

impl Workload {
    /// Every workload, in table order.
    pub const ALL: &'static [Workload] = &[
        Workload::ZipfReads,
        Workload::UniformReads,
        Workload::GetOrInsert,
        Workload::InsertMix,
        Workload::Memoize,
    ];

    /// Short name, the key in the JSON file.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Workload::ZipfReads => "zipf-reads",
            Workload::UniformReads => "uniform-reads",
            Workload::GetOrInsert => "get-or-insert",
            Workload::InsertMix => "insert-mix",
            Workload::Memoize => "memoize",
        }
    }

    /// Whether it only reads (the close-to-the-floor target applies).
    #[must_use]
    pub const fn reads_only(self) -> bool {
        matches!(
            self,
            Workload::ZipfReads | Workload::UniformReads | Workload::Memoize
        )
    }

    fn title(self, s: &Sizes) -> String {
        match self {
            Workload::ZipfReads => format!("Zipf 1.0 reads, {} keys", count(s.read_keys)),
            Workload::UniformReads => format!("uniform reads, {} keys", count(s.read_keys)),
            Workload::GetOrInsert => format!(
                "get-or-insert, Zipf 0.9, {} keys, capacity {}",
                count(s.write_keys),
                count(s.write_capacity)
            ),
            Workload::InsertMix => format!(
                "50% insert, Zipf 0.9, {} keys, capacity {}",
                count(s.write_keys),
                count(s.write_capacity)
            ),
            Workload::Memoize => format!("memoized fn, {HOT_KEYS} hot keys"),
        }
    }
}

fn count(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// Sizes and durations of one run.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    /// Keys pre-loaded for the read workloads.
    read_keys: usize,
    /// Key space of the write workloads.
    write_keys: usize,
    /// Capacity of the write workloads.
    write_capacity: usize,
    /// Length of each thread's key stream (replayed cyclically).
    stream: usize,
    /// One measurement.
    duration: Duration,
    /// Measurements per case and thread count; the best is kept.
    runs: usize,
}

const FULL: Sizes = Sizes {
    read_keys: 100_000,
    write_keys: 1_000_000,
    write_capacity: 100_000,
    stream: 1 << 20,
    duration: Duration::from_millis(100),
    runs: 15,
};

const QUICK: Sizes = Sizes {
    read_keys: 2_000,
    write_keys: 20_000,
    write_capacity: 2_000,
    stream: 1 << 12,
    duration: Duration::from_millis(5),
    runs: 1,
};

/// The thread counts measured: `opts.concurrency_threads` if given, else
/// 1, 2, 4, ... up to the machine's hardware threads (which is included
/// even when not a power of two); `--quick` stops at 2.
#[must_use]
pub fn thread_counts(opts: &Options) -> Vec<usize> {
    if !opts.concurrency_threads.is_empty() {
        let mut t = opts.concurrency_threads.clone();
        t.sort_unstable();
        t.dedup();
        return t;
    }
    let max = if opts.quick {
        opts.threads.clamp(1, 2)
    } else {
        opts.threads.max(1)
    };
    let mut t: Vec<usize> = std::iter::successors(Some(1_usize), |&n| n.checked_mul(2))
        .take_while(|&n| n < max)
        .collect();
    t.push(max);
    t
}

/// What a workload needs from a cache; one impl per crate, so each loop is
/// compiled for its cache and no call is dynamic.
trait Target: Sync {
    /// A lookup; whether it hit.
    fn read(&self, k: u64) -> bool;
    /// An insert (or overwrite) of `k`.
    fn write(&self, k: u64);
    /// Get-or-insert; whether the value had to be made.
    fn get_or_insert(&self, k: u64) -> bool;
}

impl Target for Cache<u64, u64> {
    fn read(&self, k: u64) -> bool {
        black_box(self.get(&k)).is_some()
    }
    fn write(&self, k: u64) {
        black_box(self.insert(k, k));
    }
    fn get_or_insert(&self, k: u64) -> bool {
        let mut made = false;
        black_box(self.get_or_insert_with(k, || {
            made = true;
            k
        }));
        made
    }
}

impl Target for quick_cache::sync::Cache<u64, u64> {
    fn read(&self, k: u64) -> bool {
        black_box(self.get(&k)).is_some()
    }
    fn write(&self, k: u64) {
        self.insert(k, k);
    }
    fn get_or_insert(&self, k: u64) -> bool {
        let mut made = false;
        let v = self.get_or_insert_with(&k, || {
            made = true;
            Ok::<_, Infallible>(k)
        });
        black_box(v.ok());
        made
    }
}

impl Target for moka::sync::Cache<u64, u64> {
    fn read(&self, k: u64) -> bool {
        black_box(self.get(&k)).is_some()
    }
    fn write(&self, k: u64) {
        self.insert(k, k);
    }
    fn get_or_insert(&self, k: u64) -> bool {
        let mut made = false;
        black_box(self.get_with(k, || {
            made = true;
            k
        }));
        made
    }
}

impl Target for papaya::HashMap<u64, u64, Fold> {
    fn read(&self, k: u64) -> bool {
        black_box(self.pin().get(&k).copied()).is_some()
    }
    fn write(&self, k: u64) {
        self.pin().insert(k, k);
    }
    fn get_or_insert(&self, k: u64) -> bool {
        let mut made = false;
        black_box(*self.pin().get_or_insert_with(k, || {
            made = true;
            k
        }));
        made
    }
}

impl Target for scc::HashIndex<u64, u64, Fold> {
    fn read(&self, k: u64) -> bool {
        black_box(self.peek_with(&k, |_, v| *v)).is_some()
    }
    fn write(&self, k: u64) {
        match self.entry_sync(k) {
            scc::hash_index::Entry::Occupied(mut o) => o.update(k),
            scc::hash_index::Entry::Vacant(v) => _ = v.insert_entry(k),
        }
    }
    fn get_or_insert(&self, k: u64) -> bool {
        if black_box(self.peek_with(&k, |_, v| *v)).is_some() {
            return false;
        }
        let mut made = false;
        self.entry_sync(k).or_insert_with(|| {
            made = true;
            k
        });
        made
    }
}

/// A cache under load: runs a chunk of keys, returns how many missed.
type Op = Box<dyn Fn(&[u64]) -> u64 + Sync>;

fn op<T: Target + 'static>(w: Workload, t: T) -> Op {
    match w {
        Workload::ZipfReads | Workload::UniformReads => {
            Box::new(move |keys| keys.iter().map(|&k| u64::from(!t.read(k))).sum())
        }
        Workload::GetOrInsert => {
            Box::new(move |keys| keys.iter().map(|&k| u64::from(t.get_or_insert(k))).sum())
        }
        // Even positions read, odd ones write: the same key law for both.
        Workload::InsertMix => Box::new(move |keys| {
            let mut misses = 0;
            for pair in keys.chunks(2) {
                misses += u64::from(!t.read(pair[0]));
                if let Some(&k) = pair.get(1) {
                    t.write(k);
                }
            }
            misses
        }),
        Workload::Memoize => unreachable!("memoized fns are not caches"),
    }
}

fn memo_op(f: impl Fn(u64) -> u64 + Sync + 'static) -> Op {
    Box::new(move |keys| {
        for &k in keys {
            black_box(f(black_box(k)));
        }
        0
    })
}

#[cachelite::memoize]
fn memo_cachelite(x: u64) -> u64 {
    body(x)
}

#[cachelite::memoize(policy = "adaptive")]
fn memo_cachelite_adaptive(x: u64) -> u64 {
    body(x)
}

#[cached::macros::cached]
fn memo_cached(x: u64) -> u64 {
    body(x)
}

/// The peers' memo stores, at `#[memoize]`'s default capacity.
const MEMO_CAPACITY: usize = 10_000;
static MEMO_QC: LazyLock<quick_cache::sync::Cache<u64, u64>> =
    LazyLock::new(|| quick_cache::sync::Cache::new(MEMO_CAPACITY));
static MEMO_MOKA: LazyLock<moka::sync::Cache<u64, u64>> =
    LazyLock::new(|| moka::sync::Cache::new(MEMO_CAPACITY as u64));
static MEMO_PAPAYA: LazyLock<papaya::HashMap<u64, u64, Fold>> =
    LazyLock::new(|| papaya::HashMap::with_hasher(Fold::default()));
static MEMO_SCC: LazyLock<scc::HashIndex<u64, u64, Fold>> =
    LazyLock::new(|| scc::HashIndex::with_hasher(Fold::default()));

fn memo_qc(x: u64) -> u64 {
    MEMO_QC
        .get_or_insert_with(&x, || Ok::<_, Infallible>(body(x)))
        .unwrap_or_else(|e| match e {})
}

fn memo_moka(x: u64) -> u64 {
    MEMO_MOKA.get_with(x, || body(x))
}

fn memo_papaya(x: u64) -> u64 {
    *MEMO_PAPAYA.pin().get_or_insert_with(x, || body(x))
}

fn memo_scc(x: u64) -> u64 {
    MEMO_SCC.peek_with(&x, |_, v| *v).unwrap_or_else(|| {
        let v = body(x);
        let _ = MEMO_SCC.insert_sync(x, v);
        v
    })
}

/// Every case of workload `w`, built and pre-loaded: (name, operation).
fn cases(w: Workload, s: &Sizes) -> Vec<(&'static str, Op)> {
    if w == Workload::Memoize {
        return vec![
            (CACHELITE, memo_op(memo_cachelite)),
            (CACHELITE_ADAPTIVE, memo_op(memo_cachelite_adaptive)),
            (QUICK_CACHE, memo_op(memo_qc)),
            (MOKA, memo_op(memo_moka)),
            (CACHED, memo_op(memo_cached)),
            (PAPAYA, memo_op(memo_papaya)),
            (SCC, memo_op(memo_scc)),
        ];
    }
    // Read workloads hold every key: capacity with room to spare, so no
    // cache's admission or sharding turns a pre-loaded key into a miss.
    let capacity = if matches!(w, Workload::ZipfReads | Workload::UniformReads) {
        s.read_keys * 2
    } else {
        s.write_capacity
    };
    let preload = if matches!(w, Workload::ZipfReads | Workload::UniformReads) {
        s.read_keys
    } else {
        0
    };
    let cl: Cache<u64, u64> = Cache::new(capacity);
    let adaptive: Cache<u64, u64> = Cache::builder()
        .max_items(capacity)
        .policy(Policy::Adaptive)
        .build();
    let qc = quick_cache::sync::Cache::<u64, u64>::new(capacity);
    let moka = moka::sync::Cache::<u64, u64>::new(capacity as u64);
    let pap = papaya::HashMap::<u64, u64, Fold>::with_hasher(Fold::default());
    let idx = scc::HashIndex::<u64, u64, Fold>::with_hasher(Fold::default());
    for k in (0..preload as u64).map(scramble) {
        cl.insert(k, k);
        adaptive.insert(k, k);
        qc.insert(k, k);
        moka.insert(k, k);
        pap.pin().insert(k, k);
        let _ = idx.insert_sync(k, k);
    }
    moka.run_pending_tasks();
    vec![
        (CACHELITE, op(w, cl)),
        (CACHELITE_ADAPTIVE, op(w, adaptive)),
        (QUICK_CACHE, op(w, qc)),
        (MOKA, op(w, moka)),
        (PAPAYA, op(w, pap)),
        (SCC, op(w, idx)),
    ]
}

/// One key stream per thread, generated in parallel.
fn streams(w: Workload, s: &Sizes, threads: usize) -> Vec<Vec<u64>> {
    let zipf = match w {
        Workload::ZipfReads => Some(Zipf::new(s.read_keys, 1.0)),
        Workload::GetOrInsert | Workload::InsertMix => Some(Zipf::new(s.write_keys, 0.9)),
        Workload::UniformReads | Workload::Memoize => None,
    };
    let one = |t: u64| {
        let seed = 0xc0c0_0000 + t;
        let mut rng = SplitMix64::new(seed);
        match (w, &zipf) {
            (_, Some(z)) => zipf_keys(z, s.stream, seed),
            (Workload::Memoize, None) => (0..s.stream.min(1 << 16))
                .map(|_| scramble(rng.below(HOT_KEYS as u64)))
                .collect(),
            (_, None) => (0..s.stream)
                .map(|_| scramble(rng.below(s.read_keys as u64)))
                .collect(),
        }
    };
    std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|t| sc.spawn(move || one(t)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panics"))
            .collect()
    })
}

/// Keys per call of a case's operation, between two looks at the stop flag.
const CHUNK: usize = 256;

/// One fixed-duration measurement: `threads` threads, each on its own
/// stream from where its previous measurement stopped (`cursors`), released
/// together by a barrier. Returns (ops/s, miss ratio).
fn measure(
    op: &Op,
    streams: &[Vec<u64>],
    cursors: &mut [usize],
    threads: usize,
    duration: Duration,
) -> (f64, f64) {
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(threads + 1);
    let (secs, counts): (f64, Vec<(u64, u64, usize)>) = std::thread::scope(|s| {
        let handles: Vec<_> = streams[..threads]
            .iter()
            .zip(cursors.iter())
            .map(|(keys, &from)| {
                let (stop, barrier) = (&stop, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let (mut ops, mut misses, mut i) = (0_u64, 0_u64, from % keys.len());
                    while !stop.load(Ordering::Relaxed) {
                        let end = (i + CHUNK).min(keys.len());
                        misses += op(&keys[i..end]);
                        ops += (end - i) as u64;
                        i = if end == keys.len() { 0 } else { end };
                    }
                    (ops, misses, i)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let counts = handles
            .into_iter()
            .map(|h| h.join().expect("no panics"))
            .collect();
        (start.elapsed().as_secs_f64(), counts)
    });
    for (c, n) in cursors.iter_mut().zip(&counts) {
        *c = n.2;
    }
    let ops: u64 = counts.iter().map(|c| c.0).sum();
    let misses: u64 = counts.iter().map(|c| c.1).sum();
    (ops as f64 / secs, misses as f64 / ops.max(1) as f64)
}

/// Best figures of one case: per thread count, (ops/s, miss ratio).
struct Row {
    cache: &'static str,
    best: Vec<(f64, f64)>,
}

/// Measures every case of one workload at every thread count.
fn run_workload(w: Workload, s: &Sizes, threads: &[usize]) -> Vec<Row> {
    let max = threads.iter().copied().max().unwrap_or(1);
    let streams = streams(w, s, max);
    let cases = cases(w, s);
    // Warm-up: 3x the capacity of requests from thread 0's stream brings
    // the write workloads' caches to steady state (and fills the memo
    // stores); then one measurement at the most threads faults pages in.
    // Each case keeps its own stream positions, so no measurement replays
    // requests that the previous one just made.
    let warm = (3 * s.write_capacity).min(streams[0].len());
    let mut cursors: Vec<Vec<usize>> = cases
        .iter()
        .map(|(_, op)| {
            if !w.reads_only() {
                streams[0][..warm].chunks(CHUNK).for_each(|c| _ = op(c));
            }
            let mut at = vec![0; max];
            at[0] = warm;
            measure(op, &streams, &mut at, max, s.duration);
            at
        })
        .collect();
    let mut rows: Vec<Row> = cases
        .iter()
        .map(|(cache, _)| Row {
            cache,
            best: vec![(0.0, 0.0); threads.len()],
        })
        .collect();
    for _ in 0..s.runs {
        for (((_, op), row), at) in cases.iter().zip(&mut rows).zip(&mut cursors) {
            for (ti, &t) in threads.iter().enumerate() {
                let m = measure(op, &streams, at, t, s.duration);
                if m.0 > row.best[ti].0 {
                    row.best[ti] = m;
                }
            }
        }
    }
    rows
}

fn thread_header(t: usize) -> String {
    format!("{t} T")
}

/// Runs the suite.
#[must_use]
pub fn run(opts: &Options) -> Report {
    let s = if opts.quick { QUICK } else { FULL };
    let threads = thread_counts(opts);
    let max_i = threads.len() - 1;
    let max_t = threads[max_i];
    let results: Vec<(Workload, Vec<Row>)> = Workload::ALL
        .iter()
        .map(|&w| (w, run_workload(w, &s, &threads)))
        .collect();

    let mut report = Report::new("concurrency", opts.quick);
    report.method = vec![
        format!(
            "Threads: {}. Each measurement runs for {} ms: threads are spawned, released together by a barrier, and replay their own seeded key streams ({} keys each, cyclically, each measurement going on from where the last one stopped) until told to stop; operations of all threads are summed. Figures are the best of {} measurements, in millions of operations per second; cases of a workload run interleaved. Warm-up: the write workloads first replay 3× their capacity in requests on one thread (steady state, evicting), then every case runs once at {max_t} threads.",
            threads.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            s.duration.as_millis(),
            s.stream,
            s.runs,
        ),
        format!(
            "Reads: {} u64 keys pre-loaded at capacity {} (room to spare: every read is a hit), `get` only. Get-or-insert: Zipf 0.9 over {} keys at capacity {}, each cache's get-or-insert (`get_or_insert_with`; moka `get_with`). Insert mix: the same keys, alternately `get` and `insert`. Memoize: a fn over {HOT_KEYS} hot keys (uniform) through `#[cachelite::memoize]` (default; and `policy = \"adaptive\"`), `#[cached]` (default), and a static quick_cache (`get_or_insert_with`), moka (`get_with`), papaya and scc of capacity {MEMO_CAPACITY}.",
            s.read_keys,
            s.read_keys * 2,
            s.write_keys,
            s.write_capacity,
        ),
        "cachelite = `Cache::new(capacity)` (the default: LRU, aHash, shards following the CPU count); Adaptive adds `.policy(Policy::Adaptive)`. quick_cache 0.7 and moka 0.12 are their `sync::Cache::new(capacity)`. papaya 0.2 `HashMap` and scc 3 `HashIndex` (foldhash) are floors: no policy, no bound, no TTL.".into(),
        format!("The machine has {} hardware threads; thread counts above that oversubscribe it.", opts.threads),
    ];

    let mut headers: Vec<String> = vec!["workload".into(), "cache".into()];
    headers.extend(threads.iter().map(|&t| thread_header(t)));
    headers.extend([
        format!("{max_t} T ÷ 1 T"),
        format!("÷ quick_cache at {max_t} T"),
        format!("÷ best floor at {max_t} T"),
        "hit ratio".into(),
    ]);
    let mut table = Table::new(
        "Throughput (million ops/s, all threads together)",
        &headers.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let by = |rows: &[Row], name: &str| {
        rows.iter()
            .find(|r| r.cache == name)
            .map(|r| r.best.clone())
    };
    let best_floor = |rows: &[Row], ti: usize| {
        rows.iter()
            .filter(|r| FLOORS.contains(&r.cache))
            .map(|r| (r.cache, r.best[ti].0))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    };
    for (w, rows) in &results {
        let qc = by(rows, QUICK_CACHE);
        let floor = best_floor(rows, max_i);
        for r in rows {
            let mut cells = vec![w.name().to_owned(), r.cache.to_owned()];
            cells.extend(r.best.iter().map(|b| f(b.0 / 1e6, 2)));
            let top = r.best[max_i].0;
            cells.push(ratio(top / r.best[0].0));
            cells.push(qc.as_ref().map_or("—".into(), |q| ratio(top / q[max_i].0)));
            cells.push(floor.map_or("—".into(), |fl| ratio(top / fl.1)));
            cells.push(if *w == Workload::Memoize {
                "—".into()
            } else {
                format!("{:.1}%", (1.0 - r.best[max_i].1) * 100.0)
            });
            table.row(cells);
        }
    }

    // The headline: cachelite against its peers at 1 thread and at the most.
    let head_threads: Vec<usize> = if threads.len() <= 2 {
        (0..threads.len()).collect()
    } else {
        vec![0, max_i]
    };
    let mut head = Table::new(
        "Headline: million ops/s (and cachelite ÷ quick_cache)",
        &[
            "workload",
            "threads",
            CACHELITE,
            CACHELITE_ADAPTIVE,
            QUICK_CACHE,
            MOKA,
            "best floor (papaya, scc)",
            "cachelite ÷ quick_cache",
        ],
    );
    for (w, rows) in &results {
        for &ti in &head_threads {
            let get = |n: &str| by(rows, n).map_or("—".into(), |b| f(b[ti].0 / 1e6, 2));
            let cl = by(rows, CACHELITE).map(|b| b[ti].0);
            let qc = by(rows, QUICK_CACHE).map(|b| b[ti].0);
            head.row(vec![
                w.title(&s),
                threads[ti].to_string(),
                get(CACHELITE),
                get(CACHELITE_ADAPTIVE),
                get(QUICK_CACHE),
                get(MOKA),
                best_floor(rows, ti).map_or("—".into(), |(n, v)| {
                    format!("{} ({})", f(v / 1e6, 2), n.split(' ').next().unwrap_or(n))
                }),
                cl.zip(qc).map_or("—".into(), |(a, b)| ratio(a / b)),
            ]);
        }
    }

    report.checks = checks(&results, &threads);
    report.tables = vec![head, table];
    report.data = json!({
        "threads": threads,
        "duration_ms": s.duration.as_millis(),
        "runs": s.runs,
        "stream_per_thread": s.stream,
        "read_keys": s.read_keys,
        "write_keys": s.write_keys,
        "write_capacity": s.write_capacity,
        "hot_keys": HOT_KEYS,
        "workloads": results.iter().map(|(w, rows)| (w.name().to_owned(), json!({
            "title": w.title(&s),
            "caches": rows.iter().map(|r| (r.cache.to_owned(), json!({
                "ops_per_sec": threads.iter().zip(&r.best).map(|(t, b)| (t.to_string(), json!(b.0))).collect::<serde_json::Map<_, _>>(),
                "hit_ratio": threads.iter().zip(&r.best).map(|(t, b)| (t.to_string(), json!(1.0 - b.1))).collect::<serde_json::Map<_, _>>(),
            }))).collect::<serde_json::Map<_, _>>(),
        }))).collect::<serde_json::Map<_, _>>(),
    });
    let panels: Vec<(String, Vec<Option<Vec<f64>>>)> = results
        .iter()
        .map(|(w, rows)| {
            let lines = CACHES
                .iter()
                .map(|&c| by(rows, c).map(|b| b.iter().map(|x| x.0 / 1e6).collect()))
                .collect();
            (w.title(&s), lines)
        })
        .collect();
    report.chart = Some(chart(&threads, panels).into());
    report
}

/// The suite's plot: a panel per workload, throughput (Mops/s) against
/// threads, a line per cache (floors dashed). Each panel gives its title
/// and, per cache of [`CACHES`], the figures per thread count.
#[must_use]
pub fn chart(threads: &[usize], panels: Vec<(String, Vec<Option<Vec<f64>>>)>) -> PanelChart {
    PanelChart {
        title: "Throughput against threads (million ops/s, higher is better)".into(),
        x_label: "threads".into(),
        y_label: "million ops / s".into(),
        x_ticks: threads.iter().map(ToString::to_string).collect(),
        series: CACHES.iter().map(|&c| c.to_owned()).collect(),
        dashed: FLOORS.iter().map(|&c| c.to_owned()).collect(),
        panels: panels
            .into_iter()
            .map(|(title, values)| Lines { title, values })
            .collect(),
    }
}

/// The plot again from a written report (`concurrency.json`).
///
/// # Errors
/// If the report lacks the thread counts or the workloads.
pub fn chart_from_json(report: &serde_json::Value) -> Result<PanelChart, String> {
    let data = &report["data"];
    let threads: Vec<usize> = data["threads"]
        .as_array()
        .ok_or("concurrency.json: no thread counts")?
        .iter()
        .filter_map(|t| usize::try_from(t.as_u64()?).ok())
        .collect();
    let panels = Workload::ALL
        .iter()
        .filter_map(|w| {
            let wl = data["workloads"].get(w.name())?;
            let lines = CACHES
                .iter()
                .map(|&c| {
                    let ops = wl["caches"].get(c)?["ops_per_sec"].as_object()?;
                    threads
                        .iter()
                        .map(|t| Some(ops.get(&t.to_string())?.as_f64()? / 1e6))
                        .collect()
                })
                .collect();
            Some((wl["title"].as_str()?.to_owned(), lines))
        })
        .collect::<Vec<_>>();
    if threads.is_empty() || panels.is_empty() {
        return Err("concurrency.json: no figures".into());
    }
    Ok(chart(&threads, panels))
}

/// The targets, each a ratio within this run.
fn checks(results: &[(Workload, Vec<Row>)], threads: &[usize]) -> Vec<Check> {
    let max_i = threads.len() - 1;
    let max_t = threads[max_i];
    let mut out = Vec::new();
    let find =
        |rows: &'_ [Row], n: &str| rows.iter().find(|r| r.cache == n).map(|r| r.best.clone());

    // No collapse: the most threads do at least what one thread does.
    for &p in POLICIES {
        let name = format!("no collapse: {p}, {max_t} threads ≥ 1 thread on every workload");
        if threads.len() < 2 || threads[0] != 1 {
            out.push(Check::pending(
                CheckKind::Target,
                name,
                "≥ 1.00×",
                "needs 1 thread and at least one more thread count",
            ));
            continue;
        }
        let worst = results
            .iter()
            .filter_map(|(w, rows)| {
                let b = find(rows, p)?;
                Some((w.name(), b[max_i].0 / b[0].0, b[max_i].0, b[0].0))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((w, r, top, one)) = worst {
            out.push(Check::new(
                CheckKind::Target,
                name,
                "≥ 1.00×",
                format!(
                    "worst {w}: {} ({:.2} vs {:.2} Mops/s)",
                    ratio(r),
                    top / 1e6,
                    one / 1e6
                ),
                r >= 1.0,
            ));
        }
    }

    // The default configuration against quick_cache at every thread count.
    for (w, rows) in results {
        let (Some(cl), Some(qc)) = (find(rows, CACHELITE), find(rows, QUICK_CACHE)) else {
            continue;
        };
        let (ti, r) = cl
            .iter()
            .zip(&qc)
            .map(|(a, b)| a.0 / b.0)
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, f64::NAN));
        out.push(Check::new(
            CheckKind::Target,
            format!(
                "{}: cachelite ÷ quick_cache at every thread count",
                w.name()
            ),
            "≥ 1.00×",
            format!(
                "worst at {} T: {} ({:.2} vs {:.2} Mops/s)",
                threads[ti],
                ratio(r),
                cl[ti].0 / 1e6,
                qc[ti].0 / 1e6
            ),
            r >= 1.0,
        ));
    }

    // Close to the limit: reads and memoize at the most threads.
    for (w, rows) in results.iter().filter(|(w, _)| w.reads_only()) {
        let Some(cl) = find(rows, CACHELITE) else {
            continue;
        };
        let Some((floor, v)) = rows
            .iter()
            .filter(|r| FLOORS.contains(&r.cache))
            .map(|r| (r.cache, r.best[max_i].0))
            .max_by(|a, b| a.1.total_cmp(&b.1))
        else {
            continue;
        };
        let r = cl[max_i].0 / v;
        out.push(Check::new(
            CheckKind::Target,
            format!(
                "{}: cachelite ÷ best bare index at {max_t} threads",
                w.name()
            ),
            "≥ 0.50×",
            format!(
                "{} ({:.2} vs {:.2} Mops/s, {floor})",
                ratio(r),
                cl[max_i].0 / 1e6,
                v / 1e6
            ),
            r >= 0.5,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_double_up_to_the_machine() {
        let mut o = Options::full();
        o.threads = 16;
        assert_eq!(thread_counts(&o), [1, 2, 4, 8, 16]);
        o.threads = 6;
        assert_eq!(thread_counts(&o), [1, 2, 4, 6]);
        o.threads = 1;
        assert_eq!(thread_counts(&o), [1]);
        o.concurrency_threads = vec![16, 1, 8, 2, 8];
        assert_eq!(thread_counts(&o), [1, 2, 8, 16]);
    }

    #[test]
    fn counts_are_short() {
        assert_eq!(count(100_000), "100k");
        assert_eq!(count(1_000_000), "1M");
        assert_eq!(count(1_500), "1500");
    }
}
