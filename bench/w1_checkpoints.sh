#!/usr/bin/env bash
# W1 with and without checkpoints, in one session: RUNS pairs of runs alternating "none" and
# "ckpt" (the spec + `checkpoint_interval = INTERVAL`), first in `quiver local`, then across a
# coordinator and two `quiver node` processes (1 slot each, as in w1_cluster.sh, so half the
# keyed records cross QUIC); then Flink W1 with checkpoints (peer script, minutes later).
# For each run: events/s (engine rate from the final progress line, and wall), CPU seconds,
# peak RSS, and the checkpoints the coordinator completed ("complete in X ms" log lines):
# count, median and max duration.
# Usage: bench/w1_checkpoints.sh [SPEC]   (default examples/w1/job.toml)
# Env: RUNS (5), INTERVAL (1s), COUNT (events, replacing the spec's `count`; W1's 10M take
#      ~2 s locally, so only ~2 checkpoints: COUNT=50000000 gives ~10),
#      QUIVER (the binary, else built as in w1_local.sh),
#      MODES ("local cluster"), FLINK ("hashmap rocksdb", or "" to skip Flink),
#      FLINK_ARGS (extra flink_sql_bench.py args; default: 3M events, 3 runs for hashmap,
#      1M events and 1 run for rocksdb, which does ~15k events/s here).
# Every process it starts is stopped by PID on exit (trap); it writes only to a mktemp folder.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
echo "== command: $0 $*"
SPEC=$(realpath "${1:-examples/w1/job.toml}")
RUNS=${RUNS:-5}
INTERVAL=${INTERVAL:-1s}
MODES=${MODES:-local cluster}
FLINK=${FLINK-hashmap rocksdb}
QUIVER=$(quiver_bin)
export QUIVER
work=$(mktemp -d)
local_pid=
node_pids=()
coord_pid=
submit=
stop() {
  if [ -n "$local_pid" ]; then
    # the subshell runs /usr/bin/time, whose child is quiver: stop that child, then time
    for c in $(pgrep -P "$local_pid" 2>/dev/null); do kill "$c" 2>/dev/null || true; done
    kill "$local_pid" 2>/dev/null || true; wait "$local_pid" 2>/dev/null || true; local_pid=
  fi
  if [ -n "$submit" ]; then kill "$submit" 2>/dev/null || true; wait "$submit" 2>/dev/null || true; submit=; fi
  cluster_down
}
trap 'stop; rm -rf "$work"' EXIT
cp "$SPEC" "$work/none.toml"
[ -n "${COUNT:-}" ] && set_field "$work/none.toml" count "$COUNT"
with_checkpoints "$work/none.toml" "$work/ckpt.toml" "$INTERVAL"

# One `quiver local` run of $work/$1.toml (run $2); appends its row.
local_run() {
  local dir=$work/local-$1-$2 wall user sys rss cpu n rate ck
  mkdir -p "$dir"
  (cd "$dir" && RUST_LOG=warn,quiver_coordinator=info exec /usr/bin/time -f "%e %U %S %M" -o "$dir/time" \
    "$QUIVER" local "$work/$1.toml" > "$dir/out" 2>&1) &
  local_pid=$!
  wait "$local_pid" || { local_pid=; cat "$dir/out" >&2; exit 1; }
  local_pid=
  read -r wall user sys rss < "$dir/time"
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
  read -r n rate < <(final_rate < "$dir/out")
  ck=$(checkpoint_stats < "$dir/out")
  row "$2  $1  $wall  $(awk -v n="$n" -v w="$wall" 'BEGIN{printf "%.0f", n/w}')  $rate  $cpu  $(awk -v n="$n" -v c="$cpu" 'BEGIN{printf "%.0f", n/c}')  $((rss / 1024))  $ck"
}

# One run of $work/$1.toml on a fresh coordinator + two 1-slot nodes (run $2); appends its row.
cluster_run() {
  local dir=$work/cluster-$1-$2 cpu0 start wall cpu n rate ck
  cluster_up "$dir" 2 1
  cpu0=$(awk -v a="$(proc_cpu_s "${node_pids[0]}")" -v b="$(proc_cpu_s "${node_pids[1]}")" 'BEGIN {print a + b}')
  start=$(now)
  qcli job submit --wait "$work/$1.toml" > "$dir/submit.log" 2>&1 &
  submit=$!
  wait "$submit" || { submit=; cat "$dir/submit.log" >&2; exit 1; }
  submit=
  wall=$(awk -v s="$start" -v e="$(now)" 'BEGIN {printf "%.2f", e - s}')
  cpu=$(awk -v a="$(proc_cpu_s "${node_pids[0]}")" -v b="$(proc_cpu_s "${node_pids[1]}")" -v c0="$cpu0" 'BEGIN {printf "%.2f", a + b - c0}')
  read -r n rate < <(final_rate < "$dir/submit.log")
  ck=$(checkpoint_stats < "$dir/coordinator.log")
  row "$2  $1  $wall  $(awk -v n="$n" -v w="$wall" 'BEGIN{printf "%.0f", n/w}')  $rate  $cpu  $(awk -v n="$n" -v c="$cpu" 'BEGIN{printf "%.0f", n/c}')  $(proc_peak_mb "${node_pids[0]}")+$(proc_peak_mb "${node_pids[1]}")  $ck"
  cluster_down
}

# Median of column $2 over the rows of mode $1 in $work/table.
median_of() {
  awk -v m="$1" -v c="$2" '$2 == m {print $c}' "$work/table" | sort -g \
    | awk '{a[NR] = $1} END {printf "%.10g", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'
}

for mode in $MODES; do
  echo "== $mode $(date -Is) $QUIVER load:$(uptime | sed 's/.*load/load/')"
  echo "   ckpt = $(basename "$SPEC") + checkpoint_interval = \"$INTERVAL\"; count = $(sed -n 's/^count *= *//p' "$work/none.toml"); rss: MB (local) or node1+node2 MB (cluster)"
  : > "$work/table"
  echo "run  mode  wall_s  wall_ev/s  engine_ev/s  cpu_s  ev/cpu_s  rss_MB  checkpoints  ckpt_median_ms  ckpt_max_ms"
  for r in $(seq 1 "$RUNS"); do
    for spec in none ckpt; do "${mode}_run" "$spec" "$r"; done
  done
  for spec in none ckpt; do
    echo "median $spec: engine $(median_of "$spec" 5) ev/s, wall $(median_of "$spec" 4) ev/s, $(median_of "$spec" 7) ev/cpu_s, checkpoints $(median_of "$spec" 9), ckpt median $(median_of "$spec" 10) ms"
  done
  echo "ckpt / none (engine medians): $(awk -v a="$(median_of ckpt 5)" -v b="$(median_of none 5)" 'BEGIN {printf "%.3f", a / b}')"
done
echo "== $(date -Is) load:$(uptime | sed 's/.*load/load/')"

for backend in $FLINK; do
  args=${FLINK_ARGS:-$([ "$backend" = rocksdb ] && echo "--n 1000000 --runs 1" || echo "--runs 3")}
  echo "== flink --ckpt $backend $args"
  # shellcheck disable=SC2086
  bench/w1_flink.sh --ckpt "$backend" $args
done
