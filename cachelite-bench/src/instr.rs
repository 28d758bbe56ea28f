//! Instruction counts per operation, under valgrind's callgrind: stable
//! where wall-clock time on a shared machine is not.
//!
//! The binary re-runs itself as `cachelite-bench instr <case> <samples>`
//! under callgrind with collection switched on only inside
//! [`instr_measured_loop`], so setup, other threads and exit are not
//! counted; the count divided by the operations done is the figure.

use std::process::Command;

use crate::timing::Sampler;

/// Samples (one pass over the 1k working set each) per count.
pub const SAMPLES: usize = 100;

/// The only code whose instructions are collected.
#[inline(never)]
pub fn instr_measured_loop(mut sampler: Sampler<'_>, samples: usize) -> u64 {
    let mut ops = 0;
    for _ in 0..samples {
        ops += sampler();
    }
    std::hint::black_box(ops)
}

/// Runs `sampler` for `samples` samples inside the collected function.
pub fn measured_loop(sampler: Sampler<'_>, samples: usize) {
    instr_measured_loop(sampler, samples);
}

/// Instructions per operation of latency case `case`.
///
/// # Errors
/// If valgrind is missing or its output has no count.
pub fn count(case: &str) -> std::io::Result<f64> {
    let exe = std::env::current_exe()?;
    let out = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            "--toggle-collect=*instr_measured_loop*",
        ])
        .arg(&exe)
        .args(["instr", case, &SAMPLES.to_string()])
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let collected = stderr
        .lines()
        .find_map(|l| {
            l.split_once("Collected :")
                .map(|(_, n)| n.trim().replace(',', ""))
        })
        .and_then(|n| n.parse::<f64>().ok())
        .ok_or_else(|| {
            std::io::Error::other(format!("no callgrind count for `{case}`: {stderr}"))
        })?;
    Ok(collected / (SAMPLES * crate::latency::WORKING_SET) as f64)
}
