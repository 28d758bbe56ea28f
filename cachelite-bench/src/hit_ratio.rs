//! Hit ratio: every cachelite policy and the peers replay traces and
//! synthetic workloads (get, then insert on a miss), beside Belady's OPT
//! and, on the IRM workloads, the theory for each classic policy.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use cached::Cached as _;
use cachelite::{Cache, Policy};
use serde_json::json;

use crate::plot::{BarChart, Chart, Series};
use crate::report::{Check, CheckKind, Report, Table, f};
use crate::workload::{self, Sizes, Workload};
use crate::{Options, opt, theory};

/// Who answers a workload: a cache replaying it, or a reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contender {
    /// Belady's MIN with bypass.
    Opt,
    /// Che's approximation for LRU (IRM workloads only).
    LruTheory,
    /// The IRM approximation for FIFO and Random (IRM workloads only).
    FifoRandomTheory,
    /// Perfect LFU: LFU's upper bound (IRM workloads only).
    PerfectLfu,
    /// A cachelite cache with this policy; `single_shard` adds `.shards(1)`.
    Cachelite {
        /// The eviction policy.
        policy: Policy,
        /// Whether the cache is built with `.shards(1)`.
        single_shard: bool,
    },
    /// `moka::sync::Cache`.
    Moka,
    /// `quick_cache::sync::Cache`.
    QuickCache,
    /// `mini_moka::sync::Cache`.
    MiniMoka,
    /// `lru::LruCache`.
    Lru,
    /// `cached::LruCache`.
    CachedLru,
}

impl Contender {
    /// Every contender, in column order.
    #[must_use]
    pub fn all() -> Vec<Contender> {
        let mut v = vec![
            Contender::Opt,
            Contender::LruTheory,
            Contender::FifoRandomTheory,
            Contender::PerfectLfu,
        ];
        for &policy in Policy::ALL {
            for single_shard in [false, true] {
                v.push(Contender::Cachelite {
                    policy,
                    single_shard,
                });
            }
        }
        v.extend([
            Contender::Moka,
            Contender::QuickCache,
            Contender::MiniMoka,
            Contender::Lru,
            Contender::CachedLru,
        ]);
        v
    }

    /// Column and legend name.
    #[must_use]
    pub fn name(self) -> String {
        match self {
            Contender::Opt => "OPT".into(),
            Contender::LruTheory => "LRU (Che)".into(),
            Contender::FifoRandomTheory => "FIFO/Random (IRM)".into(),
            Contender::PerfectLfu => "perfect LFU".into(),
            Contender::Cachelite {
                policy,
                single_shard,
            } => format!("cachelite {policy}{}", if single_shard { "/1" } else { "" }),
            Contender::Moka => "moka".into(),
            Contender::QuickCache => "quick_cache".into(),
            Contender::MiniMoka => "mini-moka".into(),
            Contender::Lru => "lru".into(),
            Contender::CachedLru => "cached LruCache".into(),
        }
    }

    /// Whether this is a cache (as opposed to a reference figure).
    #[must_use]
    pub fn is_cache(self) -> bool {
        !matches!(
            self,
            Contender::Opt
                | Contender::LruTheory
                | Contender::FifoRandomTheory
                | Contender::PerfectLfu
        )
    }

    fn is_theory(self) -> bool {
        matches!(
            self,
            Contender::LruTheory | Contender::FifoRandomTheory | Contender::PerfectLfu
        )
    }

    /// Rough cost per request, to start the slow jobs first.
    fn weight(self) -> usize {
        match self {
            Contender::Moka => 12,
            Contender::MiniMoka => 8,
            Contender::Opt => 4,
            Contender::LruTheory | Contender::FifoRandomTheory | Contender::PerfectLfu => 1,
            _ => 2,
        }
    }

    /// The hit ratio (0 to 1) on `w`, or `None` where it does not apply.
    #[must_use]
    pub fn hit_ratio(self, w: &Workload) -> Option<f64> {
        let keys = &w.keys[..];
        let cap = w.capacity;
        if self.is_theory() {
            let p = &w.irm.as_ref()?.probabilities;
            return Some(match self {
                Contender::LruTheory => theory::lru_che(p, cap),
                Contender::FifoRandomTheory => theory::fifo_random_irm(p, cap),
                _ => theory::perfect_lfu(p, cap),
            });
        }
        let hits = match self {
            Contender::Opt => opt::hits(keys, cap),
            Contender::Cachelite {
                policy,
                single_shard,
            } => {
                // Random eviction draws its seed from fastrand's thread-local
                // generator: seeding it makes every replay reproducible.
                fastrand::seed(0x5eed);
                let c = cachelite_cache(policy, cap, single_shard);
                replay(keys, |k| {
                    c.get(&k).is_some() || {
                        c.insert(k, k);
                        false
                    }
                })
            }
            Contender::Moka => {
                let c = moka::sync::Cache::new(cap as u64);
                replay(keys, |k| {
                    c.get(&k).is_some() || {
                        c.insert(k, k);
                        false
                    }
                })
            }
            Contender::QuickCache => {
                let c = quick_cache::sync::Cache::new(cap);
                replay(keys, |k| {
                    c.get(&k).is_some() || {
                        c.insert(k, k);
                        false
                    }
                })
            }
            Contender::MiniMoka => {
                let c = mini_moka::sync::Cache::new(cap as u64);
                replay(keys, |k| {
                    c.get(&k).is_some() || {
                        c.insert(k, k);
                        false
                    }
                })
            }
            Contender::Lru => {
                let mut c = lru::LruCache::new(NonZeroUsize::new(cap).expect("capacity > 0"));
                replay(keys, |k| {
                    c.get(&k).is_some() || {
                        c.put(k, k);
                        false
                    }
                })
            }
            Contender::CachedLru => {
                let mut c = cached::LruCache::new(cap);
                replay(keys, |k| {
                    c.cache_get(&k).is_some() || {
                        c.cache_set(k, k);
                        false
                    }
                })
            }
            Contender::LruTheory | Contender::FifoRandomTheory | Contender::PerfectLfu => {
                unreachable!("handled above")
            }
        };
        Some(hits as f64 / keys.len().max(1) as f64)
    }
}

/// A cachelite cache of `capacity` items with `policy`.
#[must_use]
pub fn cachelite_cache(policy: Policy, capacity: usize, single_shard: bool) -> Cache<u64, u64> {
    let b = Cache::builder().max_items(capacity).policy(policy);
    if single_shard { b.shards(1) } else { b }.build()
}

/// Requests each thread of the shared replay takes from one batch.
pub const SHARED_CHUNK: usize = 8;

/// The hit ratio of a cachelite cache (default configuration, `policy`)
/// replaying `w` from `threads` threads at once, in the stream's order up
/// to one batch: the stream is cut into batches of `threads ×`
/// [`SHARED_CHUNK`] consecutive requests; in each batch thread `t` takes
/// the `t`-th chunk, and no thread starts the next batch before every
/// thread has finished this one (a barrier). Requests of one batch run
/// concurrently and in any interleaving; no request ever overtakes one
/// more than a batch (32 requests with 4 threads) earlier in the stream.
/// A replay without the barrier (a shared cursor handing out chunks) lets
/// a thread that the OS preempts hold its chunk back while the others run
/// thousands of requests ahead, so on a machine with fewer cores than
/// threads it measures the scheduler's reordering of the stream rather
/// than the policy; and the longer the chunks, the larger the drop on
/// streams that depend on order (LRU on `zigzag@512` loses 0.3 points
/// with chunks of 8, 1.4 with 32, 5.5 with 128), which is reordering,
/// not sharing.
#[must_use]
pub fn shared_hit_ratio(policy: Policy, w: &Workload, threads: usize) -> f64 {
    let threads = threads.max(1);
    let c = cachelite_cache(policy, w.capacity, false);
    let barrier = std::sync::Barrier::new(threads);
    let batch = threads * SHARED_CHUNK;
    let hits = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (c, barrier, hits) = (&c, &barrier, &hits);
            s.spawn(move || {
                let mut mine = 0;
                for batch in w.keys.chunks(batch) {
                    let from = (t * SHARED_CHUNK).min(batch.len());
                    let to = ((t + 1) * SHARED_CHUNK).min(batch.len());
                    for &k in &batch[from..to] {
                        if c.get(&k).is_some() {
                            mine += 1;
                        } else {
                            c.insert(k, k);
                        }
                    }
                    barrier.wait();
                }
                hits.fetch_add(mine, Ordering::Relaxed);
            });
        }
    });
    hits.into_inner() as f64 / w.keys.len().max(1) as f64
}

/// The policies whose shared replay the suite reports, the default first.
fn shared_policies() -> Vec<Policy> {
    let mut v = vec![Policy::default()];
    for p in [Policy::Adaptive, Policy::TinyLfu, Policy::Lru] {
        if !v.contains(&p) {
            v.push(p);
        }
    }
    v
}

/// Threads of the shared replay.
pub const SHARED_THREADS: usize = 4;

/// Counts the requests for which `access` reports a hit.
fn replay(keys: &[u64], mut access: impl FnMut(u64) -> bool) -> u64 {
    let mut hits = 0;
    for &k in keys {
        hits += u64::from(access(k));
    }
    hits
}

/// Hit ratios of `contenders` on `workloads`, `[contender][workload]`
/// (`None` where skipped or not applicable), replayed on `threads`
/// threads, and the seconds spent on each contender.
#[must_use]
pub fn measure(
    contenders: &[Contender],
    workloads: &[Workload],
    threads: usize,
    skip: impl Fn(Contender, &Workload) -> bool,
) -> (Vec<Vec<Option<f64>>>, Vec<f64>) {
    // Where the default configuration is a single shard, `/1` is the same
    // cache: it is replayed once and its figure copied.
    let alias = |c: usize, w: usize| match contenders[c] {
        Contender::Cachelite {
            policy,
            single_shard: true,
        } if default_shards(workloads[w].capacity) == 1 => contenders.iter().position(|&x| {
            x == Contender::Cachelite {
                policy,
                single_shard: false,
            }
        }),
        _ => None,
    };
    type Jobs = Vec<(usize, usize)>;
    let (mut jobs, jobs_skipped): (Jobs, Jobs) = (0..contenders.len())
        .flat_map(|c| (0..workloads.len()).map(move |w| (c, w)))
        .filter(|&(c, w)| !skip(contenders[c], &workloads[w]))
        .partition(|&(c, w)| alias(c, w).is_none());
    jobs.sort_by_key(|&(c, w)| std::cmp::Reverse(contenders[c].weight() * workloads[w].keys.len()));
    let results = Mutex::new((
        vec![vec![None; workloads.len()]; contenders.len()],
        vec![0.0; contenders.len()],
    ));
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                while let Some(&(c, w)) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let (secs, r) = crate::timing::timed(|| contenders[c].hit_ratio(&workloads[w]));
                    let mut g = results.lock().expect("no replay panics");
                    g.0[c][w] = r;
                    g.1[c] += secs;
                }
            });
        }
    });
    let (mut ratios, busy) = results.into_inner().expect("no replay panics");
    let copies: Vec<(usize, usize, usize)> = jobs_skipped
        .into_iter()
        .filter_map(|(c, w)| alias(c, w).map(|same| (c, w, same)))
        .collect();
    for (c, w, same) in copies {
        ratios[c][w] = ratios[same][w];
    }
    (ratios, busy)
}

/// The shard count cachelite picks by default for `capacity` items.
#[must_use]
pub fn default_shards(capacity: usize) -> usize {
    Cache::<u64, u64>::new(capacity).shard_count()
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "—".to_owned(), |v| f(v * 100.0, 2))
}

/// The ARC paper's LRU hit ratios on OLTP (Table IV), in percent with two
/// decimals, by capacity.
pub const ARC_OLTP_LRU: &[(usize, &str)] = &[(1000, "32.83"), (2000, "42.47")];

/// Checks that a single-shard cachelite LRU reproduces the ARC paper's
/// OLTP figures to two decimals.
///
/// # Errors
/// If the OLTP trace cannot be read.
pub fn oltp_lru_checks(traces_dir: &Path) -> std::io::Result<Vec<Check>> {
    let keys = std::sync::Arc::new(workload::read_trace(&traces_dir.join(workload::OLTP.file))?);
    let lru = Contender::Cachelite {
        policy: Policy::Lru,
        single_shard: true,
    };
    Ok(ARC_OLTP_LRU
        .iter()
        .map(|&(capacity, expected)| {
            let w = Workload {
                name: "OLTP".into(),
                keys: keys.clone(),
                capacity,
                irm: None,
            };
            oltp_check(capacity, expected, lru.hit_ratio(&w))
        })
        .collect())
}

fn oltp_check(capacity: usize, expected: &str, measured: Option<f64>) -> Check {
    let got = pct(measured);
    Check::new(
        CheckKind::Correctness,
        format!("OLTP@{capacity}: cachelite lru/1 = ARC paper"),
        format!("{expected}%"),
        format!("{got}%"),
        got == expected,
    )
}

/// Runs the suite.
#[must_use]
pub fn run(opts: &Options) -> Report {
    let sizes = if opts.quick {
        Sizes::QUICK
    } else {
        Sizes::FULL
    };
    let mut report = Report::new("hit-ratio", opts.quick);
    let mut workloads = Vec::new();
    let mut missing = Vec::new();
    for spec in workload::TRACES {
        if opts.quick && !workload::QUICK_TRACES.contains(&spec.name) {
            continue;
        }
        match workload::trace_workloads(&opts.traces_dir, spec) {
            Ok(w) => workloads.extend(w),
            Err(e) => missing.push(e.to_string()),
        }
    }
    let n_traces = workloads.len();
    workloads.extend(workload::synthetic(&sizes));
    // `CACHELITE_CONTENDERS=name,name` replays only those caches (names as
    // in the tables; OPT always runs), for quick iterations on a policy.
    let only: Option<Vec<String>> = std::env::var("CACHELITE_CONTENDERS")
        .ok()
        .map(|v| v.split(',').map(|x| x.trim().to_owned()).collect());
    let contenders: Vec<Contender> = Contender::all()
        .into_iter()
        .filter(|c| {
            only.as_ref()
                .is_none_or(|o| !c.is_cache() || o.contains(&c.name()))
        })
        .collect();
    // Quick runs keep the long IRM streams for cachelite and the references
    // only: peers have no theory to meet there.
    let quick = opts.quick;
    let skip = move |c: Contender, w: &Workload| {
        quick && w.irm.is_some() && c.is_cache() && !matches!(c, Contender::Cachelite { .. })
    };
    let (secs, (results, busy)) =
        crate::timing::timed(|| measure(&contenders, &workloads, opts.threads, skip));
    let get = |c: Contender, w: usize| {
        contenders
            .iter()
            .position(|&x| x == c)
            .and_then(|i| results[i][w])
    };

    report.method = vec![
        "Each cache replays each request stream: `get(k)`, then `insert(k, k)` on a miss; hit ratio = hits / requests, cold start included.".into(),
        format!(
            "Synthetic streams (seeded): Zipf s ∈ {{0.7, 0.9, 1.1}} over {} keys (ranks scrambled over the u64 key space), {} requests, capacities {} and {}; the others are {} requests long: `+scans` injects a {}-key scan of never-repeated keys after every {} Zipf requests (capacity {}); `loop-{}` cycles {} keys at capacity {}; `shifting` moves the Zipf 0.9 hot set to fresh keys every {} requests.",
            sizes.keys, sizes.requests, sizes.capacities[0], sizes.capacities[1], sizes.side_requests, sizes.scan_len, sizes.scan_every, sizes.capacities[1], sizes.loop_keys, sizes.loop_keys, sizes.loop_capacity, sizes.shift_every
        ),
        "OPT is Belady's MIN with bypass (backward next-use pass, then an ordered set of next uses: O(n log C)). Theory (IRM rows only): LRU by Che's approximation, FIFO and Random by the IRM approximation, LFU between Che's LRU figure and perfect LFU (the C most popular keys).".into(),
        "`cachelite <policy>` is the default configuration (shard count below); `/1` is the same with `.shards(1)`. Peers use their defaults at the same capacity.".into(),
        format!("{} streams × {} contenders replayed on {} threads in {secs:.1} s.", workloads.len(), contenders.len(), opts.threads),
    ];
    if quick {
        report.method.push(
            "Quick run: peers skip the IRM rows (`—`), and the hit-ratio targets are not checked (the streams are too short for them).".into(),
        );
    }
    for m in &missing {
        report.method.push(format!("Skipped: {m}"));
    }

    let shards_of = |cap: usize| default_shards(cap).to_string();

    // Table 1: cachelite's policies.
    let mut headers: Vec<String> = vec![
        "workload".into(),
        "requests".into(),
        "shards".into(),
        "OPT".into(),
    ];
    let mut policy_cols = Vec::new();
    for &policy in Policy::ALL {
        for single_shard in [false, true] {
            let c = Contender::Cachelite {
                policy,
                single_shard,
            };
            headers.push(c.name().trim_start_matches("cachelite ").to_owned());
            policy_cols.push(c);
        }
    }
    let mut t1 = Table {
        title: "cachelite policies, hit ratio (%)".into(),
        headers,
        ..Table::default()
    };
    for (wi, w) in workloads.iter().enumerate() {
        let mut row = vec![
            w.label(),
            w.keys.len().to_string(),
            shards_of(w.capacity),
            pct(get(Contender::Opt, wi)),
        ];
        row.extend(policy_cols.iter().map(|&c| pct(get(c, wi))));
        t1.rows.push(row);
    }
    t1.notes.push("`/1`: built with `.shards(1)`. `shards`: the default shard count at that capacity on this machine.".into());

    // Table 2: theory on the IRM rows.
    let mut t2 = Table::new(
        "IRM workloads: measured (single shard) against theory, hit ratio (%)",
        &[
            "workload",
            "LRU Che",
            "lru/1",
            "Δ",
            "FIFO/Random IRM",
            "fifo/1",
            "Δ",
            "random/1",
            "Δ",
            "LFU ≥ (Che)",
            "lfu/1",
            "LFU ≤ (perfect)",
        ],
    );
    let single = |policy| Contender::Cachelite {
        policy,
        single_shard: true,
    };
    let mut checks = Vec::new();
    for (wi, w) in workloads.iter().enumerate() {
        if w.irm.is_none() {
            continue;
        }
        let che = get(Contender::LruTheory, wi).unwrap_or(f64::NAN) * 100.0;
        let irm = get(Contender::FifoRandomTheory, wi).unwrap_or(f64::NAN) * 100.0;
        let perfect = get(Contender::PerfectLfu, wi).unwrap_or(f64::NAN) * 100.0;
        let m = |p| get(single(p), wi).unwrap_or(f64::NAN) * 100.0;
        let (lru, fifo, random, lfu) = (
            m(Policy::Lru),
            m(Policy::Fifo),
            m(Policy::Random),
            m(Policy::Lfu),
        );
        t2.row(vec![
            w.label(),
            f(che, 2),
            f(lru, 2),
            format!("{:+.2}", lru - che),
            f(irm, 2),
            f(fifo, 2),
            format!("{:+.2}", fifo - irm),
            f(random, 2),
            format!("{:+.2}", random - irm),
            f(che, 2),
            f(lfu, 2),
            f(perfect, 2),
        ]);
        for (name, measured, theory) in [
            ("lru/1", lru, che),
            ("fifo/1", fifo, irm),
            ("random/1", random, irm),
        ] {
            checks.push(Check::new(
                CheckKind::Correctness,
                format!("{}: {name} within 0.5 points of theory", w.label()),
                format!("{theory:.2} ± 0.50"),
                format!("{measured:.2} ({:+.2})", measured - theory),
                (measured - theory).abs() <= 0.5,
            ));
        }
        checks.push(Check::new(
            CheckKind::Correctness,
            format!("{}: lfu/1 between Che's LRU and perfect LFU", w.label()),
            format!("[{che:.2}, {perfect:.2}]"),
            format!("{lfu:.2}"),
            (che..=perfect).contains(&lfu),
        ));
    }

    // Table 3: peers.
    let peers = [
        Contender::Moka,
        Contender::QuickCache,
        Contender::MiniMoka,
        Contender::Lru,
        Contender::CachedLru,
    ];
    let best_cachelite = |wi: usize| {
        Policy::ALL
            .iter()
            .filter_map(|&p| {
                get(
                    Contender::Cachelite {
                        policy: p,
                        single_shard: false,
                    },
                    wi,
                )
                .map(|r| (r, p))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
    };
    let mut headers = vec!["workload", "OPT", "cachelite lru", "cachelite best"];
    let peer_names: Vec<String> = peers.iter().map(|p| p.name()).collect();
    headers.extend(peer_names.iter().map(String::as_str));
    let mut t3 = Table::new(
        "cachelite (default configuration) and peers, hit ratio (%)",
        &headers,
    );
    for (wi, w) in workloads.iter().enumerate() {
        let mut row = vec![
            w.label(),
            pct(get(Contender::Opt, wi)),
            pct(get(
                Contender::Cachelite {
                    policy: Policy::Lru,
                    single_shard: false,
                },
                wi,
            )),
            best_cachelite(wi)
                .map_or_else(|| "—".into(), |(r, p)| format!("{} ({p})", f(r * 100.0, 2))),
        ];
        row.extend(peers.iter().map(|&p| pct(get(p, wi))));
        t3.row(row);
    }

    // Table 4: the adaptive policy against the best of LRU and the peers.
    let (t4, mut target_checks) = target_table(&workloads, &get);

    // Table 5: hit ratio when 4 threads share the cache.
    let (t5, mut shared_checks, shared_json) = if opts.quick && only.is_some() {
        (None, Vec::new(), json!({}))
    } else {
        let (t, c, j) = shared_table(&workloads, &get);
        (Some(t), c, j)
    };
    if opts.quick {
        // Streams of 20k requests say nothing about these targets.
        target_checks.clear();
        shared_checks.clear();
    }

    // OPT bounds every cache.
    let mut opt_checks = Vec::new();
    for &c in contenders.iter().filter(|c| c.is_cache()) {
        let mut worst: Option<(f64, String)> = None;
        for (wi, w) in workloads.iter().enumerate() {
            if let (Some(o), Some(x)) = (get(Contender::Opt, wi), get(c, wi)) {
                let margin = (o - x) * 100.0;
                if worst.as_ref().is_none_or(|(m, _)| margin < *m) {
                    worst = Some((margin, w.label()));
                }
            }
        }
        if let Some((margin, at)) = worst {
            opt_checks.push(Check::new(
                CheckKind::Correctness,
                format!("{} never exceeds OPT", c.name()),
                "OPT − hit ratio ≥ 0 on every workload",
                format!("closest: {margin:+.2} points at {at}"),
                margin >= -1e-9,
            ));
        }
    }

    // The ARC paper's OLTP figures.
    let mut oltp_checks = Vec::new();
    if !opts.quick {
        let lru1 = Contender::Cachelite {
            policy: Policy::Lru,
            single_shard: true,
        };
        for &(capacity, expected) in ARC_OLTP_LRU {
            let wi = workloads[..n_traces]
                .iter()
                .position(|w| w.name == "OLTP" && w.capacity == capacity);
            oltp_checks.push(match wi {
                Some(wi) => oltp_check(capacity, expected, get(lru1, wi)),
                None => Check::pending(
                    CheckKind::Correctness,
                    format!("OLTP@{capacity}: cachelite lru/1 = ARC paper"),
                    format!("{expected}%"),
                    "OLTP trace not found",
                ),
            });
        }
    }
    report.checks = opt_checks
        .into_iter()
        .chain(oltp_checks)
        .chain(checks)
        .chain(target_checks)
        .chain(shared_checks)
        .collect();
    report.tables = vec![t1, t2, t3, t4];
    report.tables.extend(t5);

    report.data = json!({
        "workloads": workloads.iter().map(|w| json!({
            "name": w.name,
            "capacity": w.capacity,
            "requests": w.keys.len(),
            "zipf_s": w.irm.as_ref().map(|i| i.s),
        })).collect::<Vec<_>>(),
        "hit_ratio": contenders.iter().zip(&results).map(|(c, r)| (c.name(), json!(r))).collect::<serde_json::Map<_, _>>(),
        "shared": shared_json,
        "replay_seconds": contenders.iter().zip(&busy).map(|(c, s)| (c.name(), json!(s))).collect::<serde_json::Map<_, _>>(),
    });

    let labels: Vec<String> = workloads.iter().map(Workload::label).collect();
    report.chart = Some(chart(&labels, |name| {
        contenders
            .iter()
            .position(|c| c.name() == name)
            .map(|i| results[i].clone())
    }));
    report
}

/// Whether a workload is one where the adaptive policy must match the best
/// of LRU and the peers outright (loops, scans, shifting popularity).
fn must_lead(w: &Workload) -> bool {
    w.name.contains("loop") || w.name.contains("scans") || w.name.contains("shifting")
}

/// The per-row targets of the adaptive policy: at least
/// max(LRU, quick_cache, moka) − 0.5 points everywhere, and at least the
/// best of them on loops, scans and shifting popularity.
fn target_table(
    workloads: &[Workload],
    get: &impl Fn(Contender, usize) -> Option<f64>,
) -> (Table, Vec<Check>) {
    let adaptive = Contender::Cachelite {
        policy: Policy::Adaptive,
        single_shard: false,
    };
    let lru = Contender::Cachelite {
        policy: Policy::Lru,
        single_shard: false,
    };
    let mut t = Table::new(
        "adaptive against the best of LRU, quick_cache and moka, hit ratio (%)",
        &[
            "workload",
            "OPT",
            "adaptive",
            "best of lru, quick_cache, moka",
            "adaptive − best (points)",
            "target",
            "met",
        ],
    );
    let mut worst: Option<(f64, String)> = None;
    let mut failed = Vec::new();
    for (wi, w) in workloads.iter().enumerate() {
        let Some(a) = get(adaptive, wi) else { continue };
        let best = [lru, Contender::QuickCache, Contender::Moka]
            .into_iter()
            .filter_map(|c| get(c, wi).map(|r| (r, c)))
            .max_by(|x, y| x.0.total_cmp(&y.0));
        let Some((b, who)) = best else { continue };
        let gap = (a - b) * 100.0;
        let slack = if must_lead(w) { 0.0 } else { -0.5 };
        let met = gap >= slack - 1e-9;
        if !met {
            failed.push(format!("{} ({gap:+.2})", w.label()));
        }
        if worst.as_ref().is_none_or(|(g, _)| gap - slack < *g) {
            worst = Some((gap - slack, w.label()));
        }
        t.row(vec![
            w.label(),
            pct(get(Contender::Opt, wi)),
            pct(Some(a)),
            format!(
                "{} ({})",
                pct(Some(b)),
                who.name().trim_start_matches("cachelite ")
            ),
            format!("{gap:+.2}"),
            if must_lead(w) {
                "≥ best"
            } else {
                "≥ best − 0.5"
            }
            .into(),
            if met { "yes" } else { "no" }.into(),
        ]);
    }
    t.notes.push("`lru` is cachelite's LRU in the default configuration; loops, scans and shifting rows must match the best outright.".into());
    let checks = worst
        .map(|(margin, at)| {
            Check::new(
                CheckKind::Target,
                "adaptive ≥ max(lru, quick_cache, moka) − 0.5 on every row, ≥ the best on loop, scan and shifting rows",
                "every row",
                if failed.is_empty() {
                    format!("met; closest {margin:+.2} points over its target at {at}")
                } else {
                    format!("missed on {}", failed.join(", "))
                },
                failed.is_empty(),
            )
        })
        .into_iter()
        .collect();
    (t, checks)
}

/// Each policy of [`shared_policies`] replaying every workload from
/// [`SHARED_THREADS`] threads, against its single-threaded replay.
fn shared_table(
    workloads: &[Workload],
    get: &impl Fn(Contender, usize) -> Option<f64>,
) -> (Table, Vec<Check>, serde_json::Value) {
    let policies = shared_policies();
    let mut headers = vec!["workload".to_owned()];
    for p in &policies {
        headers.push(format!("{p}, 1 thread"));
        headers.push(format!("{p}, {SHARED_THREADS} threads"));
        headers.push(format!("{p} drop"));
    }
    let mut t = Table {
        title: format!(
            "hit ratio (%) with {SHARED_THREADS} threads sharing one cache, against one thread"
        ),
        headers,
        ..Table::default()
    };
    let mut worst = vec![(f64::NEG_INFINITY, String::new()); policies.len()];
    let mut data = serde_json::Map::new();
    for (wi, w) in workloads.iter().enumerate() {
        let mut row = vec![w.label()];
        let mut per = serde_json::Map::new();
        for (pi, &p) in policies.iter().enumerate() {
            let single = get(
                Contender::Cachelite {
                    policy: p,
                    single_shard: false,
                },
                wi,
            );
            let Some(single) = single else {
                row.extend(["—".into(), "—".into(), "—".into()]);
                continue;
            };
            let shared = shared_hit_ratio(p, w, SHARED_THREADS);
            let drop = (single - shared) * 100.0;
            if drop > worst[pi].0 {
                worst[pi] = (drop, w.label());
            }
            per.insert(
                p.name().into(),
                json!({ "single": single, "shared": shared }),
            );
            row.extend([pct(Some(single)), pct(Some(shared)), format!("{drop:+.2}")]);
        }
        data.insert(w.label(), serde_json::Value::Object(per));
        t.rows.push(row);
    }
    t.notes.push(format!("The default configuration of each policy; the stream is cut into batches of {} requests, thread t takes the t-th run of {SHARED_CHUNK} consecutive requests of each batch, and a barrier ends each batch, so no request overtakes one more than a batch earlier. Drop = 1 thread − {SHARED_THREADS} threads, in points (positive: fewer hits when shared).", SHARED_THREADS * SHARED_CHUNK));
    let default = Policy::default();
    let checks = policies
        .iter()
        .zip(&worst)
        .filter(|(p, _)| **p == default || **p == Policy::Adaptive)
        .filter(|(_, (d, _))| d.is_finite())
        .map(|(p, (d, at))| {
            Check::new(
                CheckKind::Target,
                format!("{p}: hit ratio with {SHARED_THREADS} threads sharing the cache, drop against 1 thread < 1 point on every row"),
                "< 1.00 point",
                format!("worst {d:+.2} at {at}"),
                *d < 1.0,
            )
        })
        .collect();
    (t, checks, serde_json::Value::Object(data))
}

/// Where the per-workload panel cuts its axis (points below OPT): only
/// LRU's loops and a few peers' recency rows reach past it, and their
/// bars are drawn cut with their value printed.
const ROWS_AXIS: f64 = 40.0;

/// The suite's plot, two panels: on top, each cache's mean shortfall from
/// OPT over the workloads that every one of them replayed (one bar per
/// cache, value printed: the two-second answer); below, a row per
/// workload with one bar per cache for how far it falls short of OPT
/// (points of hit ratio; shorter is better, so a row's winner is the
/// shortest bar). The caches are cachelite's default configuration, its
/// adaptive policy (if not the default), quick_cache and moka; every
/// policy and peer is in the tables. `ratios(name)` gives a contender's
/// hit ratio (0..1) per workload, `None` where not run.
#[must_use]
pub fn chart(labels: &[String], ratios: impl Fn(&str) -> Option<Vec<Option<f64>>>) -> Chart {
    let default_policy = Policy::default();
    let mut cols: Vec<(String, Contender)> = vec![(
        format!("cachelite default ({default_policy})"),
        Contender::Cachelite {
            policy: default_policy,
            single_shard: false,
        },
    )];
    if default_policy != Policy::Adaptive {
        cols.push((
            "cachelite adaptive".into(),
            Contender::Cachelite {
                policy: Policy::Adaptive,
                single_shard: false,
            },
        ));
    }
    for c in [Contender::QuickCache, Contender::Moka] {
        cols.push((c.name(), c));
    }
    let opt = ratios(&Contender::Opt.name()).unwrap_or_else(|| vec![None; labels.len()]);
    let below_opt = |c: Contender| -> Vec<Option<f64>> {
        ratios(&c.name())
            .unwrap_or_else(|| vec![None; labels.len()])
            .iter()
            .zip(&opt)
            .map(|(r, o)| Some(((*o)? - (*r)?).max(0.0) * 100.0))
            .collect()
    };
    let series: Vec<Series> = cols
        .iter()
        .map(|(name, c)| Series {
            name: name.clone(),
            values: below_opt(*c),
        })
        .collect();
    // The mean over the rows every cache has a figure for, so the means
    // compare like with like.
    let common: Vec<usize> = (0..labels.len())
        .filter(|&i| {
            series
                .iter()
                .all(|s| s.values.get(i).copied().flatten().is_some())
        })
        .collect();
    let mean = |s: &Series| -> Option<f64> {
        if common.is_empty() {
            return None;
        }
        let sum: f64 = common.iter().filter_map(|&i| s.values[i]).sum();
        Some(sum / common.len() as f64)
    };
    let summary = BarChart {
        title: "Hit ratio below OPT: the mean, then each workload (points; shorter is better)"
            .into(),
        y_label: "mean points of hit ratio below Belady's OPT".into(),
        groups: vec![format!("mean over {} workloads", common.len())],
        series: series
            .iter()
            .map(|s| Series {
                name: s.name.clone(),
                values: vec![mean(s)],
            })
            .collect(),
        reference: None,
        y_max: None,
    };
    let widest = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0_f64, |a, &b| a.max(b));
    let rows = BarChart {
        title: "By workload (0 = optimal)".into(),
        y_label: if widest > ROWS_AXIS {
            format!(
                "points of hit ratio below Belady's OPT (axis cut at {ROWS_AXIS:.0}: longer bars print their value)"
            )
        } else {
            "points of hit ratio below Belady's OPT".into()
        },
        groups: labels.to_vec(),
        series,
        reference: None,
        y_max: (widest > ROWS_AXIS).then_some(ROWS_AXIS),
    };
    Chart::Stacked(vec![summary, rows])
}

/// The plot again from a written report (`hit_ratio.json`).
///
/// # Errors
/// If the report lacks the workloads or the hit ratios.
pub fn chart_from_json(report: &serde_json::Value) -> Result<Chart, String> {
    let data = &report["data"];
    let labels: Vec<String> = data["workloads"]
        .as_array()
        .ok_or("hit_ratio.json: no workloads")?
        .iter()
        .map(|w| format!("{}@{}", w["name"].as_str().unwrap_or("?"), w["capacity"]))
        .collect();
    let ratios = data["hit_ratio"]
        .as_object()
        .ok_or("hit_ratio.json: no hit ratios")?;
    Ok(chart(&labels, |name| {
        Some(
            ratios
                .get(name)?
                .as_array()?
                .iter()
                .map(serde_json::Value::as_f64)
                .collect(),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of 72 keys, each requested twice: the second request of a
    /// key comes 72 requests after the first, so a batch boundary (a
    /// barrier) separates them, and (72 being 2 batches and 1 run) another
    /// thread replays it. However the threads are scheduled, the first has
    /// been replayed (and inserted) before the second starts: exactly half
    /// the requests hit, as with one thread.
    #[test]
    fn the_shared_replay_never_lets_a_request_overtake_a_batch() {
        const BLOCK: u64 = 72;
        assert_eq!(
            BLOCK as usize % (SHARED_THREADS * SHARED_CHUNK),
            SHARED_CHUNK
        );
        let keys: Vec<u64> = (0..2000u64)
            .flat_map(|b| (0..2).flat_map(move |_| (0..BLOCK).map(move |k| b * BLOCK + k)))
            .collect();
        let w = Workload {
            name: "twice-64-apart".into(),
            keys: std::sync::Arc::new(keys),
            capacity: 1000,
            irm: None,
        };
        for threads in [1, 2, SHARED_THREADS] {
            for _ in 0..3 {
                let r = shared_hit_ratio(Policy::Lru, &w, threads);
                assert!((r - 0.5).abs() < 1e-12, "{threads} threads: {r}");
            }
        }
    }

    /// The plot leads with one bar per cache for its mean shortfall from
    /// OPT over the rows every cache has, then one row per workload with
    /// the axis cut where a bar runs far past the others.
    #[test]
    fn the_plot_summarises_the_mean_shortfall_first() {
        let labels = vec!["a@1".to_owned(), "b@1".to_owned()];
        let chart = chart(&labels, |name| match name {
            "OPT" => Some(vec![Some(0.9), Some(0.8)]),
            "quick_cache" => Some(vec![Some(0.8), Some(0.7)]),
            "moka" => Some(vec![Some(0.7), None]),
            "cachelite adaptive" => Some(vec![Some(0.85), Some(0.75)]),
            n if n == format!("cachelite {}", Policy::default()) => {
                Some(vec![Some(0.0), Some(0.8)])
            }
            _ => None,
        });
        let Chart::Stacked(panels) = chart else {
            panic!("two panels expected");
        };
        let [summary, rows] = &panels[..] else {
            panic!("two panels expected, got {}", panels.len());
        };
        assert_eq!(summary.groups, vec!["mean over 1 workloads".to_owned()]);
        let means: Vec<(String, f64)> = summary
            .series
            .iter()
            .map(|s| (s.name.clone(), s.values[0].unwrap()))
            .collect();
        // Only row a@1 has every cache (moka has no b@1).
        let want = [90.0, 5.0, 10.0, 20.0];
        assert_eq!(means.len(), 4, "{means:?}");
        for ((name, got), want) in means.iter().zip(want) {
            assert!((got - want).abs() < 1e-9, "{name}: {got} vs {want}");
        }
        assert_eq!(rows.groups, labels);
        assert_eq!(rows.y_max, Some(ROWS_AXIS), "90 points runs past the axis");
    }
}
