//! Heap bytes per entry beyond the key and the value, measured by the
//! counting allocator after `n` and after `3n` inserts of distinct keys
//! into a cache of capacity `n`.

use cached::Cached as _;
use cachelite::Cache;
use serde_json::json;

use crate::Options;
use crate::alloc::{counting, live_bytes};
use crate::plot::{BarChart, Series};
use crate::report::{Check, CheckKind, Report, Table, f, ratio};
use crate::workload::scramble;

/// Bytes of one key plus one value (`u64`, `u64`).
const PAYLOAD: f64 = 16.0;

/// Entries held and live bytes after `n`, then after `3n` inserts.
#[derive(Clone, Copy, Debug)]
pub struct Footprint {
    /// Entries the cache reports after `n` inserts.
    pub len_n: usize,
    /// Live heap bytes after `n` inserts.
    pub bytes_n: isize,
    /// Entries after `3n` inserts.
    pub len_3n: usize,
    /// Live heap bytes after `3n` inserts.
    pub bytes_3n: isize,
}

impl Footprint {
    fn overhead(bytes: isize, len: usize) -> f64 {
        bytes as f64 / len.max(1) as f64 - PAYLOAD
    }

    /// Bytes per entry beyond key + value after `n` inserts.
    #[must_use]
    pub fn overhead_n(&self) -> f64 {
        Self::overhead(self.bytes_n, self.len_n)
    }

    /// Bytes per entry beyond key + value at steady state (`3n` inserts).
    #[must_use]
    pub fn overhead_3n(&self) -> f64 {
        Self::overhead(self.bytes_3n, self.len_3n)
    }
}

/// Measures one cache: `build(n)`, then `insert` distinct keys; `len`
/// may settle pending work (moka) before counting entries.
pub fn footprint<C>(
    n: usize,
    build: impl FnOnce(usize) -> C,
    insert: impl Fn(&mut C, u64),
    len: impl Fn(&mut C) -> usize,
) -> Footprint {
    let guard = counting();
    let before = live_bytes();
    let mut c = build(n);
    for i in 0..n as u64 {
        insert(&mut c, scramble(i));
    }
    let len_n = len(&mut c);
    let bytes_n = live_bytes() - before;
    for i in n as u64..3 * n as u64 {
        insert(&mut c, scramble(i));
    }
    let len_3n = len(&mut c);
    let bytes_3n = live_bytes() - before;
    drop(c);
    drop(guard);
    Footprint {
        len_n,
        bytes_n,
        len_3n,
        bytes_3n,
    }
}

type Fold = foldhash::fast::RandomState;
type Sip = std::hash::RandomState;

/// Every cache measured: name and footprint.
#[must_use]
pub fn measure_all(n: usize) -> Vec<(String, Footprint)> {
    let shards = Cache::<u64, u64>::new(n).shard_count();
    vec![
        (
            format!("cachelite ({shards} shards)"),
            footprint(
                n,
                Cache::<u64, u64>::new,
                |c, k| _ = c.insert(k, k),
                |c| c.len(),
            ),
        ),
        (
            "cachelite /1".into(),
            footprint(
                n,
                |n| Cache::<u64, u64>::builder().max_items(n).shards(1).build(),
                |c, k| _ = c.insert(k, k),
                |c| c.len(),
            ),
        ),
        (
            "quick_cache::sync".into(),
            footprint(
                n,
                quick_cache::sync::Cache::<u64, u64>::new,
                |c, k| c.insert(k, k),
                |c| c.len(),
            ),
        ),
        (
            "quick_cache::unsync".into(),
            footprint(
                n,
                quick_cache::unsync::Cache::<u64, u64>::new,
                |c, k| c.insert(k, k),
                |c| c.len(),
            ),
        ),
        (
            "moka::sync".into(),
            footprint(
                n,
                |n| moka::sync::Cache::<u64, u64>::new(n as u64),
                |c, k| c.insert(k, k),
                |c| {
                    c.run_pending_tasks();
                    c.entry_count() as usize
                },
            ),
        ),
        (
            "mini_moka::sync".into(),
            footprint(
                n,
                |n| mini_moka::sync::Cache::<u64, u64>::new(n as u64),
                |c, k| c.insert(k, k),
                |c| c.entry_count() as usize,
            ),
        ),
        (
            "lru".into(),
            footprint(
                n,
                |n| lru::LruCache::<u64, u64>::new(n.try_into().expect("nonzero")),
                |c, k| _ = c.put(k, k),
                |c| c.len(),
            ),
        ),
        (
            "cached LruCache".into(),
            footprint(
                n,
                cached::LruCache::<u64, u64>::new,
                |c, k| _ = c.cache_set(k, k),
                |c| c.cache_size(),
            ),
        ),
        (
            "hashbrown::HashMap (unbounded), SipHash".into(),
            footprint(
                n,
                |_| hashbrown::HashMap::<u64, u64, Sip>::default(),
                |c, k| _ = c.insert(k, k),
                |c| c.len(),
            ),
        ),
        (
            "hashbrown::HashMap (unbounded), foldhash".into(),
            footprint(
                n,
                |_| hashbrown::HashMap::<u64, u64, Fold>::default(),
                |c, k| _ = c.insert(k, k),
                |c| c.len(),
            ),
        ),
    ]
}

/// Runs the suite.
#[must_use]
pub fn run(opts: &Options) -> Report {
    let n = if opts.quick { 10_000 } else { 100_000 };
    let rows = measure_all(n);
    let mut report = Report::new("memory", opts.quick);
    report.method = vec![
        format!("A counting global allocator (wrapping `System`) records live heap bytes while each cache is built with capacity n = {n} and fed distinct u64 keys (u64 values): first n, then 3n in all (steady state, evicting)."),
        "Overhead per entry = live bytes / entries the cache reports − 16 (the key and the value). moka is settled with `run_pending_tasks` before counting; mini-moka reports its own (possibly lagging) count.".into(),
        "The unbounded `HashMap` rows are floors: they keep all 3n keys.".into(),
    ];
    let mut t = Table::new(
        format!("Heap bytes per entry beyond key + value (n = {n})"),
        &[
            "cache",
            "entries @n",
            "bytes/entry extra @n",
            "entries @3n",
            "bytes/entry extra @3n",
            "total MiB @3n",
            "@3n × cachelite",
        ],
    );
    let base = rows[0].1.overhead_3n();
    for (name, fp) in &rows {
        t.row(vec![
            name.clone(),
            fp.len_n.to_string(),
            f(fp.overhead_n(), 2),
            fp.len_3n.to_string(),
            f(fp.overhead_3n(), 2),
            f(fp.bytes_3n as f64 / (1 << 20) as f64, 2),
            ratio(fp.overhead_3n() / base),
        ]);
    }
    let by = |n: &str| {
        rows.iter()
            .find(|r| r.0 == n)
            .map_or(f64::NAN, |r| r.1.overhead_3n())
    };
    let qc = by("quick_cache::sync");
    let moka = by("moka::sync");
    report.checks = vec![
        Check::new(
            CheckKind::Target,
            "memory per entry at steady state: cachelite ≤ quick_cache::sync",
            "≤ 1.00×",
            format!("{} ({base:.2} vs {qc:.2} B)", ratio(base / qc)),
            base <= qc,
        ),
        Check::new(
            CheckKind::Target,
            "memory per entry at steady state: cachelite / moka::sync",
            "≤ 0.50×",
            format!("{} ({base:.2} vs {moka:.2} B)", ratio(base / moka)),
            base / moka <= 0.5,
        ),
    ];
    report.tables = vec![t];
    report.data = json!({
        "n": n,
        "caches": rows.iter().map(|(name, fp)| (name.clone(), json!({
            "len_n": fp.len_n, "bytes_n": fp.bytes_n, "len_3n": fp.len_3n, "bytes_3n": fp.bytes_3n,
            "overhead_n": fp.overhead_n(), "overhead_3n": fp.overhead_3n(),
        }))).collect::<serde_json::Map<_, _>>(),
    });
    report.chart = Some(
        BarChart {
            title: format!("Heap bytes per entry beyond key + value (n = {n}, lower is better)"),
            y_label: "bytes per entry".into(),
            groups: rows.iter().map(|r| r.0.clone()).collect(),
            series: vec![
                Series {
                    name: "after n inserts".into(),
                    values: rows.iter().map(|r| Some(r.1.overhead_n())).collect(),
                },
                Series {
                    name: "after 3n inserts".into(),
                    values: rows.iter().map(|r| Some(r.1.overhead_3n())).collect(),
                },
            ],
            reference: None,
            y_max: None,
        }
        .into(),
    );
    report
}
