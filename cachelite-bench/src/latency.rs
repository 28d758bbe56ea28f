//! Hit latency: `get` on a 1k-key working set for every cache, and a hit
//! of each memoizer, timed in one run (cases interleaved, minimum of runs),
//! optionally with instruction counts under callgrind.

use std::hint::black_box;

use cached::Cached as _;
use cachelite::Cache;
use parking_lot::Mutex;
use serde_json::json;

use crate::Options;
use crate::memo;
use crate::plot::{BarChart, Series};
use crate::report::{Check, CheckKind, Report, Table, f, ratio};
use crate::timing::{Sampler, min_ns_per_op};
use crate::workload::{SplitMix64, scramble};

/// Keys in the working set.
pub const WORKING_SET: usize = 1_000;
/// Capacity of every cache: the working set fits with room to spare.
pub const CAPACITY: usize = 4_096;
/// A TTL no run outlives.
const LONG_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

type Fold = foldhash::fast::RandomState;
type Sip = std::hash::RandomState;

/// Every cache of the suite, filled with the working set.
pub struct Caches {
    keys: Vec<u64>,
    cl: Cache<u64, u64>,
    cl1: Cache<u64, u64>,
    cl_ttl: Cache<u64, u64>,
    cl1_ttl: Cache<u64, u64>,
    cl_fold: Cache<u64, u64, Fold>,
    cl_sip: Cache<u64, u64, Sip>,
    qc: quick_cache::sync::Cache<u64, u64>,
    qc_unsync: quick_cache::unsync::Cache<u64, u64>,
    moka: moka::sync::Cache<u64, u64>,
    mini: mini_moka::sync::Cache<u64, u64>,
    lru: Mutex<lru::LruCache<u64, u64>>,
    cached: Mutex<cached::LruCache<u64, u64>>,
    map_sip: hashbrown::HashMap<u64, u64, Sip>,
    mutex_map_sip: Mutex<hashbrown::HashMap<u64, u64, Sip>>,
    map_fold: hashbrown::HashMap<u64, u64, Fold>,
    mutex_map_fold: Mutex<hashbrown::HashMap<u64, u64, Fold>>,
    cl_adaptive: Cache<u64, u64>,
}

impl Caches {
    /// Builds and fills every cache, and warms every memoizer.
    #[must_use]
    pub fn new() -> Self {
        let ws: Vec<u64> = (0..WORKING_SET as u64).map(scramble).collect();
        // One access order for all: the working set shuffled.
        let mut keys = ws.clone();
        let mut rng = SplitMix64::new(42);
        for i in (1..keys.len()).rev() {
            keys.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let cap = CAPACITY;
        let c = Caches {
            keys,
            cl: Cache::new(cap),
            cl1: Cache::builder().max_items(cap).shards(1).build(),
            cl_ttl: Cache::new(cap),
            cl1_ttl: Cache::builder().max_items(cap).shards(1).build(),
            cl_fold: Cache::builder()
                .max_items(cap)
                .hasher(Fold::default())
                .build(),
            cl_sip: Cache::builder().max_items(cap).hasher(Sip::new()).build(),
            qc: quick_cache::sync::Cache::new(cap),
            qc_unsync: quick_cache::unsync::Cache::new(cap),
            moka: moka::sync::Cache::new(cap as u64),
            mini: mini_moka::sync::Cache::new(cap as u64),
            lru: Mutex::new(lru::LruCache::new(cap.try_into().expect("nonzero"))),
            cached: Mutex::new(cached::LruCache::new(cap)),
            map_sip: hashbrown::HashMap::default(),
            mutex_map_sip: Mutex::default(),
            map_fold: hashbrown::HashMap::default(),
            mutex_map_fold: Mutex::default(),
            cl_adaptive: Cache::builder()
                .max_items(cap)
                .policy(cachelite::Policy::Adaptive)
                .build(),
        };
        let mut c = c;
        for &k in &ws {
            c.cl.insert(k, k);
            c.cl1.insert(k, k);
            c.cl_ttl.insert_with_ttl(k, k, LONG_TTL);
            c.cl1_ttl.insert_with_ttl(k, k, LONG_TTL);
            c.cl_fold.insert(k, k);
            c.cl_sip.insert(k, k);
            c.qc.insert(k, k);
            c.qc_unsync.insert(k, k);
            c.moka.insert(k, k);
            c.mini.insert(k, k);
            c.lru.lock().put(k, k);
            c.cached.lock().cache_set(k, k);
            c.map_sip.insert(k, k);
            c.mutex_map_sip.lock().insert(k, k);
            c.map_fold.insert(k, k);
            c.mutex_map_fold.lock().insert(k, k);
            c.cl_adaptive.insert(k, k);
            for m in memo::CACHELITE_MEMOIZE.iter().chain(MEMOIZERS) {
                (m.call)(k);
            }
        }
        c.moka.run_pending_tasks();
        for &k in &ws {
            assert!(c.cl.get(&k).is_some() && c.qc.get(&k).is_some() && c.moka.get(&k).is_some());
        }
        c
    }

    /// The shard count of the default-configured cachelite cache.
    #[must_use]
    pub fn default_shards(&self) -> usize {
        self.cl.shard_count()
    }
}

impl Default for Caches {
    fn default() -> Self {
        Self::new()
    }
}

/// A memoized function and how it is configured.
pub struct Memoizer {
    /// Row name.
    pub name: &'static str,
    /// Store and hasher.
    pub detail: &'static str,
    /// The memoized function.
    pub call: fn(u64) -> u64,
}

/// Every memoizer measured, `#[memoize]` first when it is available.
pub const MEMOIZERS: &[Memoizer] = &[
    Memoizer {
        name: "#[cached]",
        detail: "cached 4: default (unbounded store, one lock, ahash)",
        call: memo::cached_default,
    },
    Memoizer {
        name: "#[cached(max_size = 4096)]",
        detail: "cached 4: LRU store, one lock, ahash",
        call: memo::cached_lru,
    },
    Memoizer {
        name: "#[memoize::memoize]",
        detail: "memoize 0.6: thread-local std HashMap (SipHash), no lock",
        call: memo::memoize_crate,
    },
    Memoizer {
        name: "#[memoize::memoize(SharedCache)]",
        detail: "memoize 0.6: std Mutex around a std HashMap (SipHash)",
        call: memo::memoize_crate_shared,
    },
    Memoizer {
        name: "hand-written, foldhash",
        detail: "parking_lot::Mutex<hashbrown::HashMap>, foldhash (hashbrown's default)",
        call: memo::hand_foldhash,
    },
    Memoizer {
        name: "hand-written, SipHash",
        detail: "parking_lot::Mutex<hashbrown::HashMap>, std RandomState",
        call: memo::hand_siphash,
    },
];

/// The row name of cachelite's `#[memoize]`.
pub const CACHELITE_MEMOIZE: &str = "#[cachelite::memoize]";

/// Why the `#[memoize]` row has no figure.
pub const MEMOIZE_PENDING: &str = memo::CACHELITE_MEMOIZE_PENDING;

/// One `get` case: its name, hasher and sampler.
pub struct Case<'a> {
    /// Row name.
    pub name: String,
    /// Hasher.
    pub hasher: &'static str,
    /// One sample: `passes` passes over the working set.
    pub sampler: Sampler<'a>,
}

fn case<'a, R>(
    name: &str,
    hasher: &'static str,
    keys: &'a [u64],
    passes: usize,
    get: impl Fn(&u64) -> R + 'a,
) -> Case<'a> {
    Case {
        name: name.to_owned(),
        hasher,
        sampler: Box::new(move || {
            for _ in 0..passes {
                for k in keys {
                    black_box(get(black_box(k)));
                }
            }
            (passes * keys.len()) as u64
        }),
    }
}

/// Case names, in table order (also what `instr` accepts).
pub const GET_CASES: &[&str] = &[
    "cachelite",
    "cachelite /1",
    "cachelite, TTL entries",
    "cachelite /1, TTL entries",
    "cachelite, foldhash",
    "cachelite, SipHash",
    "quick_cache::sync",
    "quick_cache::unsync",
    "moka::sync",
    "mini_moka::sync",
    "lru + Mutex",
    "cached LruCache + Mutex",
    "hashbrown::HashMap",
    "Mutex<hashbrown::HashMap>",
    "hashbrown::HashMap, foldhash",
    "Mutex<hashbrown::HashMap>, foldhash",
    "cachelite, adaptive policy",
];

/// The `get` cases over `c`, each sample `passes` passes long.
#[must_use]
pub fn get_cases(c: &Caches, passes: usize) -> Vec<Case<'_>> {
    let k = &c.keys[..];
    let p = passes;
    vec![
        case(GET_CASES[0], "aHash", k, p, |x| c.cl.get(x)),
        case(GET_CASES[1], "aHash", k, p, |x| c.cl1.get(x)),
        case(GET_CASES[2], "aHash", k, p, |x| c.cl_ttl.get(x)),
        case(GET_CASES[3], "aHash", k, p, |x| c.cl1_ttl.get(x)),
        case(GET_CASES[4], "foldhash", k, p, |x| c.cl_fold.get(x)),
        case(GET_CASES[5], "SipHash", k, p, |x| c.cl_sip.get(x)),
        case(GET_CASES[6], "foldhash", k, p, |x| c.qc.get(x)),
        case(GET_CASES[7], "foldhash", k, p, |x| {
            c.qc_unsync.get(x).copied()
        }),
        case(GET_CASES[8], "SipHash", k, p, |x| c.moka.get(x)),
        case(GET_CASES[9], "SipHash", k, p, |x| c.mini.get(x)),
        case(GET_CASES[10], "foldhash", k, p, |x| {
            c.lru.lock().get(x).copied()
        }),
        case(GET_CASES[11], "ahash", k, p, |x| {
            c.cached.lock().cache_get(x).copied()
        }),
        case(GET_CASES[12], "SipHash", k, p, |x| {
            c.map_sip.get(x).copied()
        }),
        case(GET_CASES[13], "SipHash", k, p, |x| {
            c.mutex_map_sip.lock().get(x).copied()
        }),
        case(GET_CASES[14], "foldhash", k, p, |x| {
            c.map_fold.get(x).copied()
        }),
        case(GET_CASES[15], "foldhash", k, p, |x| {
            c.mutex_map_fold.lock().get(x).copied()
        }),
        case(GET_CASES[16], "aHash", k, p, |x| c.cl_adaptive.get(x)),
    ]
}

/// The memoizer cases, each sample `passes` passes long.
#[must_use]
pub fn memo_cases(c: &Caches, passes: usize) -> Vec<Case<'_>> {
    memo::CACHELITE_MEMOIZE
        .iter()
        .chain(MEMOIZERS)
        .map(|m| {
            let call = m.call;
            case(m.name, m.detail, &c.keys, passes, move |x| call(*x))
        })
        .collect()
}

/// Runs the suite.
#[must_use]
pub fn run(opts: &Options) -> Report {
    let (runs, passes) = if opts.quick { (3, 20) } else { (41, 100) };
    let caches = Caches::new();
    let mut report = Report::new("latency", opts.quick);
    report.method = vec![
        format!(
            "Every cache holds the same {WORKING_SET} u64 keys (u64 values) at capacity {CAPACITY}; one sample = {passes} passes over the working set in a fixed shuffled order, each `get` through `black_box`."
        ),
        format!(
            "Samples of all cases are interleaved; each figure is the minimum over {runs} samples (ns per `get`, one thread). Memoized fns are timed the same way on warmed caches."
        ),
        format!(
            "cachelite default configuration here = {} shards (follows the CPU count); `/1` adds `.shards(1)`. TTL entries were inserted with a 1 h TTL.",
            caches.default_shards()
        ),
    ];

    let mut cases = get_cases(&caches, passes);
    let memo_start = cases.len();
    cases.extend(memo_cases(&caches, passes));
    let mut samplers: Vec<Sampler<'_>> = Vec::new();
    let mut names = Vec::new();
    for c in cases {
        names.push((c.name, c.hasher));
        samplers.push(c.sampler);
    }
    let ns = min_ns_per_op(runs, &mut samplers);
    drop(samplers);
    let instr: Vec<Option<f64>> = if opts.cachegrind {
        names
            .iter()
            .map(|(n, _)| crate::instr::count(n).ok())
            .collect()
    } else {
        vec![None; names.len()]
    };
    let by_name = |n: &str| names.iter().position(|(x, _)| x == n).map(|i| ns[i]);
    let base = ns[0];
    let qc = by_name("quick_cache::sync").unwrap_or(f64::NAN);

    let mut t = Table::new(
        "`get` hit, 1k-key working set",
        &[
            "cache",
            "hasher",
            "ns/op (min)",
            "instr/op",
            "× cachelite",
            "× quick_cache::sync",
        ],
    );
    for (i, (n, h)) in names.iter().enumerate().take(memo_start) {
        t.row(vec![
            n.clone(),
            (*h).to_owned(),
            f(ns[i], 1),
            instr[i].map_or_else(|| "—".into(), |x| f(x, 0)),
            ratio(ns[i] / base),
            ratio(ns[i] / qc),
        ]);
    }

    let mut tm = Table::new(
        "Memoized fn hit (u64 -> u64)",
        &[
            "memoizer",
            "store",
            "ns/call (min)",
            "instr/call",
            "× hand-written (foldhash)",
        ],
    );
    let hand = by_name("hand-written, foldhash").unwrap_or(f64::NAN);
    let memoize_ns = by_name(CACHELITE_MEMOIZE);
    if memoize_ns.is_none() {
        tm.row(vec![
            CACHELITE_MEMOIZE.into(),
            MEMOIZE_PENDING.into(),
            "—".into(),
            "—".into(),
            "—".into(),
        ]);
    }
    for (i, (n, h)) in names.iter().enumerate().skip(memo_start) {
        tm.row(vec![
            n.clone(),
            (*h).to_owned(),
            f(ns[i], 1),
            instr[i].map_or_else(|| "—".into(), |x| f(x, 0)),
            ratio(ns[i] / hand),
        ]);
    }

    let moka = by_name("moka::sync").unwrap_or(f64::NAN);
    let ttl = by_name("cachelite, TTL entries").unwrap_or(f64::NAN);
    let ttl1 = by_name("cachelite /1, TTL entries").unwrap_or(f64::NAN);
    let one = by_name("cachelite /1").unwrap_or(f64::NAN);
    let cached = by_name("#[cached]").unwrap_or(f64::NAN);
    report.checks = vec![
        Check::new(
            CheckKind::Target,
            "get hit: cachelite / quick_cache::sync",
            "≤ 1.00×",
            format!("{} ({} vs {} ns)", ratio(base / qc), f(base, 1), f(qc, 1)),
            base / qc <= 1.0,
        ),
        Check::new(
            CheckKind::Target,
            "get hit: cachelite / moka::sync",
            "≤ 0.10×",
            format!(
                "{} ({} vs {} ns)",
                ratio(base / moka),
                f(base, 1),
                f(moka, 1)
            ),
            base / moka <= 0.1,
        ),
        Check::new(
            CheckKind::Target,
            "get hit: TTL entry − no-TTL entry (default config)",
            "≤ 2 ns",
            {
                let i = |n: &str| {
                    names
                        .iter()
                        .position(|(x, _)| x == n)
                        .and_then(|i| instr[i])
                };
                let extra = i("cachelite, TTL entries")
                    .zip(i("cachelite"))
                    .map_or_else(String::new, |(a, b)| format!(", {:+.0} instr", a - b));
                format!("{:+.1} ns (/1: {:+.1} ns{extra})", ttl - base, ttl1 - one)
            },
            ttl - base <= 2.0,
        ),
    ];
    match memoize_ns {
        Some(x) => {
            report.checks.push(Check::new(
                CheckKind::Target,
                "memoized hit: #[memoize] / #[cached]",
                "≤ 0.75×",
                format!("{} ({} vs {} ns)", ratio(x / cached), f(x, 1), f(cached, 1)),
                x / cached <= 0.75,
            ));
            report.checks.push(Check::new(
                CheckKind::Target,
                "memoized hit: #[memoize] / hand-written Mutex<hashbrown::HashMap>",
                "≤ 1.50×",
                format!("{} ({} vs {} ns)", ratio(x / hand), f(x, 1), f(hand, 1)),
                x / hand <= 1.5,
            ));
        }
        None => {
            for (name, target) in [
                ("memoized hit: #[memoize] / #[cached]", "≤ 0.75×"),
                (
                    "memoized hit: #[memoize] / hand-written Mutex<hashbrown::HashMap>",
                    "≤ 1.50×",
                ),
            ] {
                report.checks.push(Check::pending(
                    CheckKind::Target,
                    name,
                    target,
                    MEMOIZE_PENDING,
                ));
            }
        }
    }
    report.tables = vec![t, tm];
    report.data = json!({
        "working_set": WORKING_SET,
        "capacity": CAPACITY,
        "runs": runs,
        "ops_per_sample": passes * WORKING_SET,
        "default_shards": caches.default_shards(),
        "ns_per_op": names.iter().zip(&ns).map(|((n, _), v)| (n.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "instr_per_op": names.iter().zip(&instr).map(|((n, _), v)| (n.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
    });
    let rows: Vec<(String, f64)> = names
        .iter()
        .zip(&ns)
        .map(|((n, _), &v)| (n.clone(), v))
        .collect();
    report.chart = Some(chart(&rows).into());
    report
}

/// Runs case `name` for `samples` samples of one pass each: what the
/// instruction counter measures (setup is the same for every count).
///
/// # Panics
/// If `name` is not a case.
pub fn run_case_for_instr(name: &str, samples: usize) {
    let caches = Caches::new();
    let mut cases = get_cases(&caches, 1);
    cases.extend(memo_cases(&caches, 1));
    let case = cases
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no latency case named `{name}`"));
    crate::instr::measured_loop(case.sampler, samples);
}

/// The suite's plot: a bar per case (ns per hit), the axis cut at 4× the
/// median so the fast rows can be told apart; cut bars carry their value.
#[must_use]
pub fn chart(rows: &[(String, f64)]) -> BarChart {
    let mut sorted: Vec<f64> = rows.iter().map(|r| r.1).filter(|x| x.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(1.0);
    let largest = sorted.last().copied().unwrap_or(1.0);
    BarChart {
        title: "Hit latency, 1k-key working set (ns, lower is better)".into(),
        y_label: "ns per hit".into(),
        groups: rows.iter().map(|r| r.0.clone()).collect(),
        series: vec![Series {
            name: "ns per hit, fastest sample".into(),
            values: rows
                .iter()
                .map(|r| Some(r.1).filter(|x| x.is_finite()))
                .collect(),
        }],
        reference: None,
        y_max: Some((4.0 * median).min(largest * 1.1)),
    }
}

/// The plot again from a written report (`latency.json`): the tables keep
/// the cases' order, the data holds the figures.
///
/// # Errors
/// If the report lacks its tables or figures.
pub fn chart_from_json(report: &serde_json::Value) -> Result<BarChart, String> {
    let ns = report["data"]["ns_per_op"]
        .as_object()
        .ok_or("latency.json: no figures")?;
    let rows: Vec<(String, f64)> = report["tables"]
        .as_array()
        .ok_or("latency.json: no tables")?
        .iter()
        .filter_map(|t| t["rows"].as_array())
        .flatten()
        .filter_map(|r| {
            let name = r.get(0)?.as_str()?;
            Some((name.to_owned(), ns.get(name)?.as_f64()?))
        })
        .collect();
    if rows.is_empty() {
        return Err("latency.json: no rows".into());
    }
    Ok(chart(&rows))
}
