//! The cachelite benchmark lab: hit ratio against Belady's OPT and the
//! IRM theory, hit latency, get-or-insert throughput, throughput against
//! threads, memory per entry (heap and resident) and O(1) scaling, each
//! measured in one run beside peer caches.
//!
//! Each suite is a function returning a [`Report`]: Markdown tables, checks
//! (correctness checks and performance targets) and raw numbers for JSON.
//! The binary (`cargo run --release -p cachelite-bench -- <suite>`) prints
//! the report and writes `docs/bench/<suite>.{json,svg}`; the smoke test
//! runs the same functions in `--quick` mode.
//!
//! ```no_run
//! use cachelite_bench::{Options, Suite, run_suite};
//! let report = run_suite(Suite::HitRatio, &Options::quick());
//! assert!(report.failed_checks().next().is_none());
//! ```

pub mod alloc;
pub mod concurrency;
pub mod hit_ratio;
pub mod instr;
pub mod latency;
pub mod memo;
pub mod memory;
pub mod opt;
pub mod plot;
pub mod redis_suite;
pub mod report;
pub mod scaling;
pub mod theory;
pub mod throughput;
pub mod timing;
pub mod workload;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use report::{Check, CheckKind, Report, Status, Table};

/// Counts live heap bytes for the memory suite; a plain pass-through to
/// the system allocator while counting is off.
#[global_allocator]
static ALLOC: alloc::CountingAlloc = alloc::CountingAlloc;

/// One of the lab's suites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// Replays traces and synthetic workloads; compares with OPT and theory.
    HitRatio,
    /// Hit cost of `get` and of memoized calls.
    Latency,
    /// Get-or-insert operations per second, 1 and 2 threads.
    Throughput,
    /// Heap bytes per entry beyond key and value.
    Memory,
    /// Per-operation cost at 10^3 and 10^6 entries, per policy.
    Scaling,
    /// Throughput against threads, five workloads, beside lock-free maps.
    Concurrency,
    /// The two-tier Redis cache beside `cached`'s and raw redis-rs.
    Redis,
}

impl Suite {
    /// Every suite, in the order `all` runs them.
    pub const ALL: &'static [Suite] = &[
        Suite::HitRatio,
        Suite::Latency,
        Suite::Throughput,
        Suite::Memory,
        Suite::Scaling,
        Suite::Concurrency,
        Suite::Redis,
    ];

    /// The command-line name, also the stem of the files it writes.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Suite::HitRatio => "hit-ratio",
            Suite::Latency => "latency",
            Suite::Throughput => "throughput",
            Suite::Memory => "memory",
            Suite::Scaling => "scaling",
            Suite::Concurrency => "concurrency",
            Suite::Redis => "redis",
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Suite {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Suite::ALL
            .iter()
            .copied()
            .find(|x| x.name() == s || (s == "o1" && *x == Suite::Scaling))
            .ok_or_else(|| {
                let names: Vec<_> = Suite::ALL.iter().map(|x| x.name()).collect();
                format!(
                    "unknown suite `{s}`; valid suites: {}, all",
                    names.join(", ")
                )
            })
    }
}

/// How a suite runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Smaller workloads and fewer runs: seconds, for smoke tests.
    pub quick: bool,
    /// Where the trace files are.
    pub traces_dir: PathBuf,
    /// Worker threads for hit-ratio replays (results do not depend on it).
    pub threads: usize,
    /// Also count instructions per operation under cachegrind (latency).
    pub cachegrind: bool,
    /// Thread counts of the concurrency suite; empty: 1, 2, 4, ... up to
    /// the machine's hardware threads.
    pub concurrency_threads: Vec<usize>,
    /// The `cachelite-bench` binary, for measurements that need a fresh
    /// process each (the memory suite's resident-set rows). Defaults to the
    /// running executable when that is the binary; `None` skips them.
    pub exe: Option<PathBuf>,
}

impl Options {
    /// The full-size configuration.
    #[must_use]
    pub fn full() -> Self {
        Self {
            quick: false,
            traces_dir: workload::default_traces_dir(),
            threads: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            cachegrind: false,
            concurrency_threads: Vec::new(),
            exe: std::env::current_exe()
                .ok()
                .filter(|p| p.file_stem().is_some_and(|s| s == "cachelite-bench")),
        }
    }

    /// The seconds-long configuration.
    #[must_use]
    pub fn quick() -> Self {
        Self {
            quick: true,
            ..Self::full()
        }
    }
}

/// Runs one suite.
#[must_use]
pub fn run_suite(suite: Suite, opts: &Options) -> Report {
    let load_before = timing::load_average();
    let (secs, mut report) = timing::timed(|| match suite {
        Suite::HitRatio => hit_ratio::run(opts),
        Suite::Latency => latency::run(opts),
        Suite::Throughput => throughput::run(opts),
        Suite::Memory => memory::run(opts),
        Suite::Scaling => scaling::run(opts),
        Suite::Concurrency => concurrency::run(opts),
        Suite::Redis => redis_suite::run(opts),
    });
    // Other work on the machine is the main source of noise: say how much.
    if let (Some(before), Some(after)) = (load_before, timing::load_average()) {
        report.method.push(format!(
            "Ran in {secs:.0} s; 1-minute load average {before:.1} before, {after:.1} after, on {} hardware threads.",
            opts.threads
        ));
    }
    report
}

/// Redraws the plots of the suites that can be drawn again from their
/// written JSON (all but memory) in `dir`, without measuring
/// anything: for changes to a plot alone. Returns the files written.
///
/// # Errors
/// If a JSON file present in `dir` cannot be read or drawn.
pub fn replot(dir: &std::path::Path) -> Result<Vec<PathBuf>, String> {
    type Redraw = fn(&serde_json::Value) -> Result<plot::Chart, String>;
    let suites: [(&str, Redraw); 6] = [
        ("hit_ratio", hit_ratio::chart_from_json),
        ("throughput", |v| {
            throughput::chart_from_json(v).map(Into::into)
        }),
        ("latency", |v| latency::chart_from_json(v).map(Into::into)),
        ("scaling", scaling::chart_from_json),
        ("concurrency", |v| {
            concurrency::chart_from_json(v).map(Into::into)
        }),
        ("redis", |v| redis_suite::chart_from_json(v).map(Into::into)),
    ];
    let mut written = Vec::new();
    for (stem, redraw) in suites {
        let json = dir.join(format!("{stem}.json"));
        let Ok(text) = std::fs::read_to_string(&json) else {
            continue;
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.display()))?;
        let svg = dir.join(format!("{stem}.svg"));
        redraw(&value)?
            .write_svg(&svg)
            .map_err(|e| format!("{}: {e}", svg.display()))?;
        written.push(svg);
    }
    Ok(written)
}

/// The headline: cachelite against each peer, as ratios, from the reports
/// of one `all` run. Suites missing from `reports` leave their column `—`.
#[must_use]
pub fn headline(reports: &[Report]) -> String {
    headline::render(reports)
}

mod headline;
