#!/usr/bin/env bash
# Watches one checkpointed W1 run on a coordinator + NODES `quiver node` processes: polls
# `quiver job status job-1` every POLL seconds and `quiver checkpoint list job-1` every
# second while `job submit --wait` runs, then reports
#  1. every completed checkpoint: duration (coordinator log "complete in X ms", trigger →
#     last acknowledgement), SIZE / NEW bytes and TOOK (checkpoint list), and the tasks'
#     alignment / state-copy pause maxima and state bytes of their last checkpoint (job status);
#     medians and maxima;
#  2. throughput over time: each node sends its tasks' counters in its heartbeat every 500 ms,
#     so `records in` moves in steps; every step (per source partition) gives a rate over the
#     interval since the previous step, classed "ckpt" when a checkpoint's trigger →
#     completion span overlaps the interval, else "between". 500 ms is the finest resolution
#     the product's counters give.
# Usage: bench/checkpoint_probe.sh [SPEC]   (default examples/w1/job.toml)
# Env: QUIVER, KEYS (set `keys`), COUNT (set `count`), RATE (set `rate`), INTERVAL (1s),
#      DROP (stages to remove with the sinks that read them, e.g. DROP=per_second),
#      NODES (2), SLOTS (1), POLL (0.2 s; each poll starts a CLI process, ~1% of a core each),
#      PROFILE (a file: a cpu-clock `perf record -g` of the coordinator and the nodes for the
#      job; read it with `perf report -i FILE --no-children --sort comm,dso,sym`).
# Examples: KEYS=1000000 COUNT=20000000 bench/checkpoint_probe.sh   (checkpoints of 1M keys)
#           COUNT=60000000 bench/checkpoint_probe.sh                (throughput dip, 100k keys)
# Every process it starts is stopped by PID on exit (trap); it writes only to a mktemp folder
# (kept when KEEP=1, path printed).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
echo "== command: $0 $*  (DROP=${DROP:-} KEYS=${KEYS:-} COUNT=${COUNT:-} RATE=${RATE:-} INTERVAL=${INTERVAL:-1s} NODES=${NODES:-2} SLOTS=${SLOTS:-1} POLL=${POLL:-0.2})"
SPEC=$(realpath "${1:-examples/w1/job.toml}")
INTERVAL=${INTERVAL:-1s}
POLL=${POLL:-0.2}
QUIVER=$(quiver_bin)
export QUIVER
work=$(mktemp -d)
node_pids=()
coord_pid=
submit=
perf_pid=
stop() {
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; perf_pid=; fi
  if [ -n "$submit" ]; then kill "$submit" 2>/dev/null || true; wait "$submit" 2>/dev/null || true; submit=; fi
  cluster_down
}
trap 'stop; [ "${KEEP:-0}" = 1 ] && echo "kept $work" || rm -rf "$work"' EXIT
with_checkpoints "$SPEC" "$work/job.toml" "$INTERVAL"
[ -n "${KEYS:-}" ] && set_field "$work/job.toml" keys "$KEYS"
[ -n "${COUNT:-}" ] && set_field "$work/job.toml" count "$COUNT"
[ -n "${RATE:-}" ] && set_field "$work/job.toml" rate "$RATE"
for stage in ${DROP:-}; do drop_stage "$work/job.toml" "$stage"; done
grep -E '^(checkpoint_interval|parallelism|count|keys|rate|name) *=' "$work/job.toml" | sed 's/^/   spec: /'

echo "== $(date -Is) $QUIVER load:$(uptime | sed 's/.*load/load/')"
cluster_up "$work/cluster" "${NODES:-2}" "${SLOTS:-1}"
if [ -n "${PROFILE:-}" ]; then
  perf record -q -e cpu-clock -F 999 -g -p "$coord_pid,$(IFS=,; echo "${node_pids[*]}")" -o "$PROFILE" 2> /dev/null &
  perf_pid=$!
fi
qcli job submit --wait "$work/job.toml" > "$work/submit.log" 2>&1 &
submit=$!
next_list=0
while kill -0 "$submit" 2>/dev/null; do
  t=$(now)
  { echo "@@ $t"; qcli job status job-1 2>&1 || true; } >> "$work/status.log"
  if awk -v t="$t" -v n="$next_list" 'BEGIN {exit !(t >= n)}'; then
    qcli checkpoint list job-1 >> "$work/list.log" 2>&1 || true
    next_list=$(awk -v t="$t" 'BEGIN {printf "%.3f", t + 1}')
  fi
  sleep "$POLL"
done
wait "$submit" || { submit=; cat "$work/submit.log" >&2; exit 1; }
submit=
if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; perf_pid=; fi
qcli checkpoint list job-1 >> "$work/list.log" 2>&1 || true
rss="coordinator $(proc_peak_mb "$coord_pid") MB, nodes"
cpu="coordinator $(proc_cpu_s "$coord_pid") s, nodes"
for p in "${node_pids[@]}"; do rss="$rss $(proc_peak_mb "$p")"; cpu="$cpu $(proc_cpu_s "$p")"; done
cluster_down
echo "== $(date -Is) load:$(uptime | sed 's/.*load/load/')"
grep "records in (" "$work/submit.log" | tail -1
echo "status polls: $(grep -c '^@@' "$work/status.log"); peak RSS: $rss MB; CPU: $cpu s"

# Checkpoints: coordinator log line (time, id, ms) joined with the checkpoint list's columns.
grep -E 'chk-[0-9]+ complete in' "$work/cluster/coordinator.log" \
  | sed -E 's/^([^ ]+) .*(chk-[0-9]+) complete in ([0-9]+) ms.*/\1 \2 \3/' \
  | while read -r ts id ms; do echo "$(epoch "$ts") $id $ms"; done > "$work/complete"
awk '$1 ~ /^job-1\/chk-/ {split($1, a, "/"); gsub(",", "", $4); gsub(",", "", $5); print a[2], $4, $5, $6}' \
  "$work/list.log" | sort -u -k1,1 > "$work/sizes"
# The tasks' figures of their last checkpoint, attributed to the job's last checkpoint then.
awk '/^last checkpoint: / {id = $3}
     /^last checkpoint per task:/ {
       s = $0; gsub(",", "", s)
       # "alignment ≤ A ms, state copy ≤ C ms, B B uploaded" ("snapshot ≤" before 5040ae1, "B of state" before the keyed-state layer)
       split(s, part, "≤ "); split(part[2], x, " "); al = x[1]; split(part[3], y, " "); sn = y[1]
       match(s, /[0-9]+ B (uploaded|of state)/); by = substr(s, RSTART, RLENGTH - 11)
       if (id != "") print id, al, sn, by}
     /^state: / {st = $2}' "$work/status.log" | sort -u -k1,1 > "$work/tasks"
echo
echo "checkpoint  complete_in_ms  took_ms  size_B  new_B  align_max_ms  copy_max_ms  task_state_B"
awk 'FILENAME ~ /sizes$/ {size[$1] = $2; new[$1] = $3; took[$1] = $4; next}
     FILENAME ~ /tasks$/ {al[$1] = $2; sn[$1] = $3; by[$1] = $4; next}
     {id = $2; printf "%s  %s  %s  %s  %s  %s  %s  %s\n", id, $3,
        (id in took) ? took[id] : "-", (id in size) ? size[id] : "-", (id in new) ? new[id] : "-",
        (id in al) ? al[id] : "-", (id in sn) ? sn[id] : "-", (id in by) ? by[id] : "-"}' \
  "$work/sizes" "$work/tasks" "$work/complete" | tee "$work/ckpt_table"
for c in 2 4 5 6 7; do
  awk -v c="$c" '$c != "-" {print $c}' "$work/ckpt_table" | sort -g \
    | awk -v c="$c" 'BEGIN {split("id complete_in_ms took_ms size_B new_B align_max_ms copy_max_ms", h)}
        {a[NR] = $1} END {if (NR) printf "%s: median %.10g, max %.10g (n %d)\n", h[c], (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), a[NR], NR}'
done
echo "state entries at the end: $(grep '^state: ' "$work/status.log" | tail -1 | cut -d' ' -f2)"

# Throughput steps per source partition: time of the poll that first saw a new `in` count.
src=$(awk '/^\[\[source\]\]/ {s = 1} s && /^name *=/ {gsub(/[" ]/, "", $3); print $3; exit}' "$work/job.toml")
awk -v src="$src" '/^@@ / {t = $2; next}
  $1 == src && $2 ~ /^\[p[0-9]+\]$/ {
    n = $0; sub(/.*: in /, "", n); sub(/,? out.*/, "", n); gsub(",", "", n)
    if (n != last[$2]) {print $2, t, n; last[$2] = n}}' "$work/status.log" > "$work/steps"
awk 'FILENAME ~ /complete$/ {n++; done_at[n] = $1; start[n] = $1 - $3 / 1000; next}
     {p = $1; t = $2; c = $3
      if (p in pt && c > pc[p]) {
        dt = t - pt[p]; rate = (c - pc[p]) / dt; cls = "between"
        for (i = 1; i <= n; i++) if (start[i] < t && done_at[i] > pt[p]) cls = "ckpt"
        printf "%s %.3f %.3f %.0f %s\n", p, pt[p], dt, rate, cls
      }
      pt[p] = t; pc[p] = c}' "$work/complete" "$work/steps" > "$work/windows"
echo
echo "throughput windows (per source partition; a window is the time between two heartbeat samples):"
for cls in ckpt between; do
  awk -v k="$cls" '$5 == k && $3 > 0.3 && $3 < 0.8 {print $4}' "$work/windows" | sort -g \
    | awk -v k="$cls" '{a[NR] = $1; s += $1} END {if (NR) printf "  %-8s n %3d  median %.0f ev/s  mean %.0f  min %.0f  max %.0f\n", k, NR, (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), s / NR, a[1], a[NR]}'
done
echo "  (windows of 0.3-0.8 s only: a longer one means a missed heartbeat sample)"
