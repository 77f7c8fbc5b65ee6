#!/usr/bin/env bash
# Recovery time after `kill -9` of a node. For each of RUNS runs: a fresh coordinator and 3
# `quiver node` processes (2 slots each) run an unbounded, rate-limited W1-like job
# (generator at RATE events/s, running + 1 s windowed count/sum per user, parallelism 4,
# checkpoints every INTERVAL) into two `file` sinks; once it has run WARM seconds, the node
# running the last task listed by `job status` is killed with SIGKILL, and the script polls
# (every ~20 ms plus the CLI's own time) until
#   (a) `quiver job status job-1` shows "Running (generation 2)" with restarts ≥ 1, and
#   (b) the first committed part file of generation 2 (`part-*-g2-c*.jsonl`) exists.
# From the coordinator's log it also reads when the node was declared lost (the heartbeat
# timeout, 3 s), when the job was placed again, and when generation 2's first checkpoint
# completed. All times are seconds after the kill.
# Usage: bench/recovery_time.sh
# Env: RUNS (5), RATE (20000), KEYS (10000), INTERVAL (500ms), WARM (4), QUIVER.
# Every process it starts is stopped by PID on exit (trap); it writes only to a mktemp folder
# (kept when KEEP=1, path printed).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
RUNS=${RUNS:-5}
RATE=${RATE:-20000}
KEYS=${KEYS:-10000}
INTERVAL=${INTERVAL:-500ms}
WARM=${WARM:-4}
echo "== command: $0 $*  (RUNS=$RUNS RATE=$RATE KEYS=$KEYS INTERVAL=$INTERVAL WARM=$WARM)"
QUIVER=$(quiver_bin)
export QUIVER
work=$(mktemp -d)
node_pids=()
coord_pid=
trap 'cluster_down; [ "${KEEP:-0}" = 1 ] && echo "kept $work" || rm -rf "$work"' EXIT


# Seconds from $1 (epoch) to the first coordinator log line after it matching $2, or "-".
log_after() {
  local line t=$1
  line=$(awk -v t="$t" -v re="$2" '$0 ~ re {print}' "$dir/cluster/coordinator.log" \
    | while read -r ts rest; do
        e=$(epoch "$ts")
        if awk -v e="$e" -v t="$t" 'BEGIN {exit !(e >= t)}'; then echo "$e"; break; fi
      done)
  if [ -n "$line" ]; then awk -v e="$line" -v t="$t" 'BEGIN {printf "%.2f", e - t}'; else echo -; fi
}

echo "== $(date -Is) $QUIVER load:$(uptime | sed 's/.*load/load/')"
: > "$work/table"
row "run  victim  lost_s  placed_s  running_s  g2_checkpoint_s  g2_output_s  polls  restarts"
for r in $(seq 1 "$RUNS"); do
  dir=$work/run$r
  mkdir -p "$dir"
  w1_recovery_spec "$dir/job.toml"
  cluster_up "$dir/cluster" 3 2
  qcli job submit "$dir/job.toml" > "$dir/submit.log" 2>&1 || { cat "$dir/submit.log" >&2; exit 1; }
  sleep "$WARM"
  qcli job status job-1 > "$dir/before.txt" 2>&1 || true
  grep -q 'last checkpoint: chk-' "$dir/before.txt" || { echo "no checkpoint after ${WARM}s:" >&2; cat "$dir/before.txt" >&2; exit 1; }
  victim=$(awk '/ on node-/ {for (i = 1; i <= NF; i++) if ($i == "on") n = $(i + 1)} END {print n}' "$dir/before.txt")
  k=${victim#node-}
  t0=$(now)
  kill -9 "${node_pids[$((k - 1))]}"
  wait "${node_pids[$((k - 1))]}" 2>/dev/null || true
  running=- output=- polls=0 restarts=-
  while [ "$running" = - ] || [ "$output" = - ]; do
    polls=$((polls + 1))
    if [ "$running" = - ]; then
      st=$(qcli job status job-1 2>&1 || true)
      if grep -q '— Running (generation [2-9]' <<< "$st"; then
        running=$(awk -v s="$t0" -v e="$(now)" 'BEGIN {printf "%.2f", e - s}')
        restarts=$(sed -nE 's/.*restarts: ([0-9]+) of.*/\1/p' <<< "$st")
      fi
    fi
    if [ "$output" = - ] && compgen -G "$dir/out/*/part-*-g2-c*.jsonl" > /dev/null; then
      output=$(awk -v s="$t0" -v e="$(now)" 'BEGIN {printf "%.2f", e - s}')
    fi
    if awk -v s="$t0" -v e="$(now)" 'BEGIN {exit !(e - s > 60)}'; then
      echo "run $r: no recovery within 60 s" >&2
      qcli job status job-1 >&2 || true
      exit 1
    fi
    sleep 0.02
  done
  lost=$(log_after "$t0" "$victim lost")
  placed=$(log_after "$t0" "job-1 placed on")
  ckpt=$(log_after "$t0" "chk-[0-9]+ complete in")
  row "$r  $victim  $lost  $placed  $running  $ckpt  $output  $polls  $restarts"
  echo "   $(grep -m1 "$victim lost" "$dir/cluster/coordinator.log" | sed 's/.*WARN //')"
  cp "$dir/cluster/coordinator.log" "$work/coordinator-run$r.log"
  cluster_down
done
awk '{$2 = ""; print}' "$work/table" > "$work/num"
echo "median (lost_s ... restarts): $(medians "$work/num")"
echo "(seconds after the kill; minus lost_s, the rest is redeploy + restore + first checkpoint)"
echo "== $(date -Is) load:$(uptime | sed 's/.*load/load/')"
