#!/usr/bin/env bash
# Where W1's time goes in `quiver local`: a sampling profile with `perf record`.
# Hardware counters are not available on this VM (`perf stat -e instructions true` says
# "not supported"), so it samples the cpu-clock software event; the binary carries line
# tables (`debug = "line-tables-only"` in the release profile) for the DWARF call graphs.
# 1. flat profile of the full spec (10M events): self time per function;
# 2. call graphs (DWARF unwinding) of a 1M-event copy of the spec: time including callees.
# Usage: bench/w1_profile.sh [SPEC]   Env: QUIVER, OUT (default /tmp/quiver-w1-profile).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SPEC=$(realpath "${1:-examples/w1/job.toml}")
QUIVER=$(quiver_bin)
OUT=${OUT:-/tmp/quiver-w1-profile}
mkdir -p "$OUT"
small=$OUT/w1_1m.toml
sed -E 's/^count = .*/count = 1_000_000/' "$SPEC" > "$small"
echo "== $(date -Is) $QUIVER load:$(uptime | sed 's/.*load/load/')"
(cd "$OUT" && perf record -q -e cpu-clock -F 999 -o "$OUT/flat.data" -- "$QUIVER" local "$SPEC" 2>&1 | grep 'records in' | tail -1)
set +o pipefail # `head` closes the report pipes early
perf report -i "$OUT/flat.data" --no-children --stdio --sort symbol 2>/dev/null \
  | grep -E '^ +[0-9]' | head -25 | cut -c1-140
(cd "$OUT" && perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -o "$OUT/graph.data" -- "$QUIVER" local "$small" > /dev/null 2>&1)
echo "-- including callees (1M events), engine frames >= 4%:"
perf report -i "$OUT/graph.data" --children --stdio --sort symbol -g none 2>/dev/null \
  | grep -E '^ +[0-9]' | grep -E 'quiver_|malloc|free|clone|drop_in_place' \
  | grep -vE 'ractor|tokio|TaskActor' | awk '$1 + 0 >= 4' | head -30 | cut -c1-140
