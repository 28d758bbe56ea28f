//! O(1) shown: per-operation cost of each policy at a small and a large
//! size, beside a plain `HashMap` at the same sizes (which is O(1) too, so
//! the ratio it shows is what the memory hierarchy alone costs).

use std::hint::black_box;

use cachelite::{Cache, Policy};
use serde_json::json;

use crate::Options;
use crate::plot::{BarChart, Chart, Series};
use crate::report::{Report, Table, f, ratio};
use crate::timing::{Sampler, min_ns_per_op};
use crate::workload::{SplitMix64, scramble};

/// Per-op nanoseconds for one structure at both sizes.
#[derive(Clone, Copy, Debug, Default)]
struct Row {
    get: [f64; 2],
    insert: [f64; 2],
}

fn probes(size: usize, count: usize, seed: u64) -> Vec<u64> {
    let mut rng = SplitMix64::new(seed);
    (0..count)
        .map(|_| scramble(rng.below(size as u64)))
        .collect()
}

fn cache(policy: Policy, size: usize) -> Cache<u64, u64> {
    let c = Cache::builder()
        .max_items(size)
        .policy(policy)
        .shards(1)
        .build();
    for i in 0..size as u64 {
        c.insert(scramble(i), i);
    }
    c
}

/// Runs the suite.
#[must_use]
pub fn run(opts: &Options) -> Report {
    let sizes = if opts.quick {
        [1_000, 20_000]
    } else {
        [1_000, 1_000_000]
    };
    let (runs, ops) = if opts.quick {
        (2, 20_000)
    } else {
        (7, 1_000_000)
    };
    let insert_ops = ops / 5;
    let mut rows: Vec<(String, Row)> = Vec::new();
    let probe: [Vec<u64>; 2] = [probes(sizes[0], ops, 1), probes(sizes[1], ops, 2)];

    for &policy in Policy::ALL {
        let caches = [cache(policy, sizes[0]), cache(policy, sizes[1])];
        let mut next_fresh = [sizes[0] as u64, sizes[1] as u64];
        let mut row = Row::default();
        {
            let mut samplers: Vec<Sampler<'_>> = Vec::new();
            for i in 0..2 {
                let (c, keys) = (&caches[i], &probe[i]);
                samplers.push(Box::new(move || {
                    for k in keys {
                        black_box(c.get(black_box(k)));
                    }
                    keys.len() as u64
                }));
            }
            let ns = min_ns_per_op(runs, &mut samplers);
            row.get = [ns[0], ns[1]];
        }
        {
            let mut samplers: Vec<Sampler<'_>> = Vec::new();
            for (c, fresh) in caches.iter().zip(next_fresh.iter_mut()) {
                samplers.push(Box::new(move || {
                    // Keys never seen before: each insert evicts one entry.
                    for _ in 0..insert_ops {
                        c.insert(scramble(*fresh), *fresh);
                        *fresh += 1;
                    }
                    insert_ops as u64
                }));
            }
            let ns = min_ns_per_op(runs, &mut samplers);
            row.insert = [ns[0], ns[1]];
        }
        debug_assert!(caches.iter().zip(sizes).all(|(c, s)| c.len() == s));
        rows.push((format!("cachelite {policy} /1"), row));
    }

    let floor = {
        let maps: Vec<hashbrown::HashMap<u64, u64, cachelite::DefaultHashBuilder>> = sizes
            .iter()
            .map(|&s| (0..s as u64).map(|i| (scramble(i), i)).collect())
            .collect();
        let mut samplers: Vec<Sampler<'_>> = Vec::new();
        for (m, keys) in maps.iter().zip(&probe) {
            samplers.push(Box::new(move || {
                for k in keys {
                    black_box(m.get(black_box(k)));
                }
                keys.len() as u64
            }));
        }
        let ns = min_ns_per_op(runs, &mut samplers);
        [ns[0], ns[1]]
    };

    let mut report = Report::new("scaling", opts.quick);
    report.method = vec![
        format!("Each policy runs in a single-shard cache filled to capacity with {} and with {} u64 keys.", sizes[0], sizes[1]),
        format!("`get` = hits on keys drawn uniformly from the resident set ({ops} per sample); `insert` = never-seen keys, so each insert also evicts ({insert_ops} per sample). Minimum of {runs} interleaved samples."),
        "Uniform random probes over a large table miss the CPU caches; the `hashbrown::HashMap` floor (same probes, same hasher as the caches: cachelite's default, aHash) shows that cost alone. `÷ floor` divides a policy's get ratio by the floor's: near 1 means the policy adds no growth of its own.".into(),
    ];
    let s0 = sizes[0].to_string();
    let s1 = sizes[1].to_string();
    let mut t = Table::new(
        format!("Per-operation cost at {s0} and {s1} entries (ns)"),
        &[
            "structure",
            &format!("get @{s0}"),
            &format!("get @{s1}"),
            "get ratio",
            "÷ floor",
            &format!("insert+evict @{s0}"),
            &format!("insert+evict @{s1}"),
            "insert ratio",
        ],
    );
    let floor_ratio = floor[1] / floor[0];
    for (name, r) in &rows {
        let g = r.get[1] / r.get[0];
        t.row(vec![
            name.clone(),
            f(r.get[0], 1),
            f(r.get[1], 1),
            ratio(g),
            ratio(g / floor_ratio),
            f(r.insert[0], 1),
            f(r.insert[1], 1),
            ratio(r.insert[1] / r.insert[0]),
        ]);
    }
    t.row(vec![
        "hashbrown::HashMap floor".into(),
        f(floor[0], 1),
        f(floor[1], 1),
        ratio(floor_ratio),
        ratio(1.0),
        "—".into(),
        "—".into(),
        "—".into(),
    ]);
    report.tables = vec![t];
    report.data = json!({
        "sizes": sizes,
        "rows": rows.iter().map(|(n, r)| (n.clone(), json!({"get": r.get, "insert": r.insert}))).collect::<serde_json::Map<_, _>>(),
        "floor_get": floor,
    });
    let plain: Vec<(String, [f64; 2], [f64; 2])> = rows
        .iter()
        .map(|(n, r)| (n.clone(), [r.get[0], r.get[1]], [r.insert[0], r.insert[1]]))
        .collect();
    report.chart = Some(chart([sizes[0], sizes[1]], &plain, [floor[0], floor[1]]));
    report
}

/// The suite's plot: `get` (with the `HashMap` floor) and insert+evict, one
/// chart each, a row per policy and a bar per size. `rows` = (name, get
/// ns at both sizes, insert ns at both sizes).
#[must_use]
pub fn chart(sizes: [usize; 2], rows: &[(String, [f64; 2], [f64; 2])], floor: [f64; 2]) -> Chart {
    let series = |pick: &dyn Fn(usize) -> Vec<Option<f64>>| {
        (0..2)
            .map(|i| Series {
                name: format!("{} entries", sizes[i]),
                values: pick(i),
            })
            .collect()
    };
    let get = BarChart {
        title: format!(
            "get hit at {} and {} entries (ns, lower is better)",
            sizes[0], sizes[1]
        ),
        y_label: "ns per get".into(),
        groups: rows
            .iter()
            .map(|r| r.0.clone())
            .chain(std::iter::once("hashbrown::HashMap floor".to_owned()))
            .collect(),
        series: series(&|i| {
            rows.iter()
                .map(|r| Some(r.1[i]))
                .chain(std::iter::once(Some(floor[i])))
                .collect()
        }),
        reference: None,
        y_max: None,
    };
    let insert = BarChart {
        title: format!(
            "insert of a new key, evicting, at {} and {} entries (ns, lower is better)",
            sizes[0], sizes[1]
        ),
        y_label: "ns per insert".into(),
        groups: rows.iter().map(|r| r.0.clone()).collect(),
        series: series(&|i| rows.iter().map(|r| Some(r.2[i])).collect()),
        reference: None,
        y_max: None,
    };
    Chart::Stacked(vec![get, insert])
}

/// The plot again from a written report (`scaling.json`).
///
/// # Errors
/// If the report lacks the sizes, the rows or the floor.
pub fn chart_from_json(report: &serde_json::Value) -> Result<Chart, String> {
    let data = &report["data"];
    let pair = |v: &serde_json::Value| -> Option<[f64; 2]> {
        Some([v.get(0)?.as_f64()?, v.get(1)?.as_f64()?])
    };
    let sizes = pair(&data["sizes"]).ok_or("scaling.json: no sizes")?;
    let floor = pair(&data["floor_get"]).ok_or("scaling.json: no floor")?;
    // The table keeps the policies' order; the data holds the figures.
    let rows: Vec<(String, [f64; 2], [f64; 2])> = report["tables"][0]["rows"]
        .as_array()
        .ok_or("scaling.json: no table")?
        .iter()
        .filter_map(|r| {
            let name = r.get(0)?.as_str()?;
            let row = &data["rows"][name];
            Some((name.to_owned(), pair(&row["get"])?, pair(&row["insert"])?))
        })
        .collect();
    Ok(chart([sizes[0] as usize, sizes[1] as usize], &rows, floor))
}
