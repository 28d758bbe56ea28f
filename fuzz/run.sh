#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, one after
# another: fuzz/run.sh 60, fuzz/run.sh 600 http.
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# The seeds in fuzz/seeds/TARGET are read, never written; what the fuzzer
# discovers goes to fuzz/corpus/TARGET, crashes to fuzz/artifacts/TARGET,
# and each run's output to fuzz/logs/TARGET.log. Extra libFuzzer flags can
# be passed in FUZZ_FLAGS (for example FUZZ_FLAGS=-jobs=1).
set -euo pipefail
cd "$(dirname "$0")"

secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(glob snapshot store http)
fi

mkdir -p logs
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "== $t: ${secs}s"
  # -timeout: one input taking more than 2 s (a matcher gone exponential,
  # a hang) is a finding. -close_fd_mask=1: the CLI target prints.
  # shellcheck disable=SC2086
  if ! cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$secs" -timeout=2 -rss_limit_mb=2048 -max_len=8192 \
      -close_fd_mask=1 -print_final_stats=1 ${FUZZ_FLAGS:-} >"logs/$t.log" 2>&1; then
    echo "!! $t found a failure: see fuzz/logs/$t.log and fuzz/artifacts/$t" >&2
    status=1
  fi
  # With -jobs=N, libFuzzer's workers log to fuzz-K.log instead.
  for j in fuzz-*.log; do
    [ -e "$j" ] && cat "$j" >>"logs/$t.log" && rm -f "$j"
  done
  grep -E "^(Done|stat::number_of_executed_units)" "logs/$t.log" | tail -2 || true
done
exit $status
