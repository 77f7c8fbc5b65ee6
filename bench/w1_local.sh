#!/usr/bin/env bash
# W1 in `quiver local`: RUNS runs of the spec, events/s and peak RSS of each, then medians.
# Usage: bench/w1_local.sh [SPEC]   (default examples/w1/job.toml: 10M events, parallelism 2)
# Env: RUNS (5), QUIVER (the binary; default: built with `cargo build --release -p quiver-cli`
#      into $CARGO_TARGET_DIR or target/).
# "engine" is the job's own rate (records in / job time, from the final progress line);
# "wall" is events / the command's wall time (start-up and shutdown included); "cpu_s" the
# process's user + system CPU seconds, and ev/cpu_s the events per CPU-second (per core).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SPEC=$(realpath "${1:-examples/w1/job.toml}")
RUNS=${RUNS:-5}
QUIVER=$(quiver_bin)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== $(date -Is) $QUIVER load:$(uptime | sed 's/.*load/load/')"
row "run  wall_s  wall_ev/s  engine_ev/s  cpu_s  ev/cpu_s  peak_rss_MB"
for r in $(seq 1 "$RUNS"); do
  (cd "$work" && /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$QUIVER" local "$SPEC" > "$work/out" 2>&1) \
    || { cat "$work/out"; exit 1; }
  read -r wall user sys rss < "$work/time"
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
  read -r n rate < <(final_rate < "$work/out")
  row "$r  $wall  $(awk -v n="$n" -v w="$wall" 'BEGIN{printf "%.0f", n/w}')  $rate  $cpu  $(awk -v n="$n" -v c="$cpu" 'BEGIN{printf "%.0f", n/c}')  $((rss / 1024))"
done
echo "median: $(medians "$work/table")"
echo "== $(date -Is) load:$(uptime | sed 's/.*load/load/')"
