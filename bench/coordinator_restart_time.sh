#!/usr/bin/env bash
# Recovery time after `kill -9` and an immediate restart of the coordinator (same address and
# data folder). For each of RUNS runs: a fresh coordinator and 3 `quiver node` processes
# (2 slots each) run the unbounded job of recovery_time.sh; once it has run WARM seconds the
# coordinator is killed with SIGKILL and started again at once, and the script polls (every
# ~20 ms plus the CLI's own time) until
#   (a) `quiver cluster status` counts 3 alive nodes again (they noticed the old coordinator
#       was gone and rejoined the new one),
#   (b) `quiver job status job-1` shows it Running in a newer generation, and
#   (c) the first committed part file of that generation exists.
# All times are seconds after the kill.
# Usage: bench/coordinator_restart_time.sh
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

since() { awk -v s="$1" -v e="$(now)" 'BEGIN {printf "%.2f", e - s}'; }

echo "== $(date -Is) $QUIVER load:$(uptime | sed 's/.*load/load/')"
: > "$work/table"
row "run  rejoined_s  running_s  output_s  generation"
for r in $(seq 1 "$RUNS"); do
  dir=$work/run$r
  mkdir -p "$dir"
  w1_recovery_spec "$dir/job.toml"
  cluster_up "$dir/cluster" 3 2
  qcli job submit "$dir/job.toml" > "$dir/submit.log" 2>&1 || { cat "$dir/submit.log" >&2; exit 1; }
  sleep "$WARM"
  qcli job status job-1 > "$dir/before.txt" 2>&1 || true
  grep -q 'last checkpoint: chk-' "$dir/before.txt" || { echo "no checkpoint after ${WARM}s:" >&2; cat "$dir/before.txt" >&2; exit 1; }
  before=$(sed -nE 's/.*Running \(generation ([0-9]+)\).*/\1/p' "$dir/before.txt" | head -1)
  t0=$(now)
  kill -9 "$coord_pid"
  wait "$coord_pid" 2>/dev/null || true
  "$QUIVER" coordinator --certs "$certs" --data-dir "$dir/cluster/coordinator" --listen "$addr" \
    >> "$dir/cluster/coordinator.log" 2>&1 &
  coord_pid=$!
  rejoined=- running=- output=- generation=-
  while [ "$rejoined" = - ] || [ "$running" = - ] || [ "$output" = - ]; do
    if [ "$rejoined" = - ] && [ "$(qcli cluster status 2>/dev/null | grep -c ' alive ')" -ge 3 ]; then
      rejoined=$(since "$t0")
    fi
    if [ "$running" = - ]; then
      st=$(qcli job status job-1 2>&1 || true)
      g=$(sed -nE 's/.*— Running \(generation ([0-9]+)\).*/\1/p' <<< "$st" | head -1)
      if [ -n "$g" ] && [ "$g" -gt "$before" ]; then
        running=$(since "$t0")
        generation=$g
      fi
    fi
    if [ "$running" != - ] && [ "$output" = - ] \
      && compgen -G "$dir/out/*/part-*-g$generation-c*.jsonl" > /dev/null; then
      output=$(since "$t0")
    fi
    if awk -v s="$t0" -v e="$(now)" 'BEGIN {exit !(e - s > 60)}'; then
      echo "run $r: no recovery within 60 s" >&2
      tail -20 "$dir/cluster/coordinator.log" >&2
      exit 1
    fi
    sleep 0.02
  done
  row "$r  $rejoined  $running  $output  $before->$generation"
  cluster_down
done
awk '{print $1, $2, $3, $4}' "$work/table" > "$work/times"
echo "== medians (rejoined_s running_s output_s): $(medians "$work/times")"
