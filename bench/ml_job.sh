#!/usr/bin/env bash
# The ML stages in a job (BENCHMARKS.md, "ML stages in a job"): bench/ml-job/job.toml
# (1M generated events through five ML stages) in `quiver local`:
# 1. RUNS (default 3) runs timed by bench/w1_local.sh: events/s and events per CPU-second;
# 2. instructions per event under `valgrind --tool=callgrind` on a copy of the spec with
#    EVENTS (default 200,000) events, outside sled's start-up spin: repeatable on a shared
#    machine.
# Usage: bench/ml_job.sh   Env: QUIVER (the binary; default: a release build), RUNS, EVENTS.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SPEC=$(realpath bench/ml-job/job.toml)
EVENTS=${EVENTS:-200000}
QUIVER=$(quiver_bin)
export QUIVER
RUNS=${RUNS:-3} bench/w1_local.sh "$SPEC"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -E "s/^count = .*/count = $EVENTS/" "$SPEC" > "$work/job.toml"
(cd "$work" && valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
  "$QUIVER" local "$work/job.toml" > "$work/log" 2>&1) || { cat "$work/log"; exit 1; }
ir=$(grep -E '^(summary|totals):' "$work/cg.out" | head -1 | awk '{print $2}')
# sled's start-up spin (a thread spinning on `sled::lazy::Lazy::deref` while another
# initialises it) runs for whole valgrind time slices and varies from run to run (0.01G to
# 0.6G): the figure per event leaves it out.
sled=$(callgrind_annotate --inclusive=no "$work/cg.out" | grep sled | awk '{gsub(",", "", $1); s += $1} END {print s + 0}')
echo "callgrind: $ir instructions for $EVENTS events, $sled of them in sled's start-up spin:" \
  "$(awk -v i="$ir" -v s="$sled" -v n="$EVENTS" 'BEGIN {printf "%.0f", (i - s) / n}') per event outside sled"
