//! `cachelite-bench <suite>|all [--quick] [--check] [--strict]
//! [--cachegrind] [--out DIR | --no-write] [--traces DIR]`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cachelite_bench::{CheckKind, Options, Report, Status, Suite, headline, run_suite};

const USAGE: &str = "\
usage: cachelite-bench <suite>... [options]

suites: hit-ratio, latency, throughput, memory, scaling (alias o1),
        concurrency, redis, all
replot: redraw every plot but memory's from the JSON in --out (nothing is
        measured)

options:
  --quick        small workloads, few runs: a seconds-long smoke
  --check        exit 1 if a correctness check fails (hit-ratio checks)
  --strict       with --check, also exit 1 if a performance target is missed
  --cachegrind   latency: also count instructions per op under valgrind
  --threads LIST concurrency: thread counts, e.g. 1,2,8,16
                 (default: 1, 2, 4, ... up to the hardware threads)
  --out DIR      write JSON/SVG/Markdown there (default: docs/bench)
  --no-write     print only
  --traces DIR   trace directory (default: $CACHELITE_TRACES or shared/traces)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("instr") {
        // Re-entered under valgrind by `--cachegrind`.
        let (Some(case), Some(samples)) = (args.get(1), args.get(2).and_then(|s| s.parse().ok()))
        else {
            eprintln!("usage: cachelite-bench instr <latency case> <samples>");
            return ExitCode::from(2);
        };
        cachelite_bench::latency::run_case_for_instr(case, samples);
        return ExitCode::SUCCESS;
    }
    if args.first().map(String::as_str) == Some("rss") {
        // Re-entered by the memory suite: one cache, in a fresh process.
        let (Some(cache), Some(n)) = (args.get(1), args.get(2).and_then(|s| s.parse().ok())) else {
            eprintln!("usage: cachelite-bench rss <cache> <entries>");
            return ExitCode::from(2);
        };
        return match cachelite_bench::memory::resident_in_this_process(cache, n) {
            Ok(r) => {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// `1,2,8,16` -> `[1, 2, 8, 16]`; every count at least 1.
fn parse_threads(list: &str) -> Result<Vec<usize>, String> {
    list.split(',')
        .map(|t| match t.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(format!(
                "--threads: `{t}` is not a thread count (a comma-separated list of integers ≥ 1, e.g. 1,2,8,16)"
            )),
        })
        .collect()
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut opts = Options::full();
    let mut suites = Vec::new();
    let (mut check, mut strict, mut write, mut replot) = (false, false, true, false);
    let mut out = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(
        || PathBuf::from("docs/bench"),
        |root| root.join("docs/bench"),
    );
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => opts.quick = true,
            "--check" => check = true,
            "--strict" => strict = true,
            "--cachegrind" => opts.cachegrind = true,
            "--no-write" => write = false,
            "--out" => out = it.next().ok_or("--out needs a directory")?.into(),
            "--traces" => opts.traces_dir = it.next().ok_or("--traces needs a directory")?.into(),
            "--threads" => {
                opts.concurrency_threads =
                    parse_threads(it.next().ok_or("--threads needs a list, e.g. 1,2,8,16")?)?;
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            "all" => suites.extend_from_slice(Suite::ALL),
            "replot" => replot = true,
            s if s.starts_with('-') => return Err(format!("unknown option `{s}`")),
            s => suites.push(s.parse::<Suite>()?),
        }
    }
    if replot {
        // Plots only, from the JSON already written: nothing is measured.
        for p in cachelite_bench::replot(&out)? {
            eprintln!("wrote {}", p.display());
        }
        if suites.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    if suites.is_empty() {
        return Err("name a suite".into());
    }
    let mut reports: Vec<Report> = Vec::new();
    for suite in suites {
        eprintln!(
            "running {suite}{} ...",
            if opts.quick { " (quick)" } else { "" }
        );
        let start = std::time::Instant::now();
        let report = run_suite(suite, &opts);
        eprintln!("{suite} took {:.1} s", start.elapsed().as_secs_f64());
        println!("{}", report.markdown());
        if write {
            for p in report.write_files(&out).map_err(|e| e.to_string())? {
                eprintln!("wrote {}", p.display());
            }
        }
        reports.push(report);
    }
    if write && reports.len() > 1 {
        let head = headline(&reports);
        println!("{head}");
        let results: String = reports.iter().map(|r| r.markdown() + "\n").collect();
        for (name, text) in [("headline.md", head), ("results.md", results)] {
            let p = out.join(name);
            std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
            eprintln!("wrote {}", p.display());
        }
    }

    let mut summary = (0, 0, 0, 0);
    for c in reports.iter().flat_map(|r| &r.checks) {
        match (c.kind, c.status) {
            (CheckKind::Correctness, Status::Fail) => summary.0 += 1,
            (CheckKind::Target, Status::Fail) => summary.1 += 1,
            (_, Status::Pending) => summary.2 += 1,
            (_, Status::Pass) => summary.3 += 1,
        }
    }
    eprintln!(
        "checks: {} passed or met, {} correctness failures, {} targets missed, {} pending",
        summary.3, summary.0, summary.1, summary.2
    );
    let failed = summary.0 > 0 || (strict && summary.1 > 0);
    Ok(if check && failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::parse_threads;

    #[test]
    fn thread_lists_parse_and_bad_counts_are_refused() {
        assert_eq!(parse_threads("1,2,8,16"), Ok(vec![1, 2, 8, 16]));
        assert_eq!(parse_threads(" 4 "), Ok(vec![4]));
        for bad in ["0", "1,,2", "two", "-1", ""] {
            let e = parse_threads(bad).unwrap_err();
            assert!(e.contains("--threads"), "{bad}: {e}");
        }
    }
}
