#!/usr/bin/env bash
# W1 into file sinks in `quiver local`: the W1 spec with COUNT events whose two `discard`
# sinks write JSON-lines part files instead (a fresh folder per run), so sink I/O is measured.
# Usage: bench/w1_files.sh   Env: RUNS (5), COUNT (2000000), QUIVER (as in w1_local.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
RUNS=${RUNS:-5}
COUNT=${COUNT:-2000000}
QUIVER=$(quiver_bin)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== $(date -Is) $QUIVER load:$(uptime | sed 's/.*load/load/')"
row "run  wall_s  engine_ev/s  cpu_s  ev/cpu_s  peak_rss_MB  out_MB"
for r in $(seq 1 "$RUNS"); do
  run="$work/run$r"
  mkdir -p "$run"
  sed -e "s/^count = .*/count = $COUNT/" \
      -e 's/^kind = "discard"/kind = "file"/' examples/w1/job.toml > "$run/job.toml"
  sed -i -e '/^input = "running"$/a path = "running_out/"' \
         -e '/^input = "per_second"$/a path = "per_second_out/"' "$run/job.toml"
  # The stage inputs are `input = "events"`; only the sinks read "running" / "per_second".
  (cd "$run" && /usr/bin/time -f "%e %U %S %M" -o "$run/time" "$QUIVER" local job.toml > "$run/out" 2>&1) \
    || { cat "$run/out"; exit 1; }
  read -r wall user sys rss < "$run/time"
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
  read -r n rate < <(final_rate < "$run/out")
  out=$(du -sm "$run" | cut -f1)
  row "$r  $wall  $rate  $cpu  $(awk -v n="$n" -v c="$cpu" 'BEGIN{printf "%.0f", n/c}')  $((rss / 1024))  $out"
  rm -rf "$run"
done
echo "median: $(medians "$work/table")"
echo "== $(date -Is) load:$(uptime | sed 's/.*load/load/')"
