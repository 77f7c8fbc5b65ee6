#!/usr/bin/env bash
# W1 across two node processes: for each of RUNS runs, start a coordinator and two
# `quiver node` processes (1 slot each, so W1's 2 partitions of every operator land on
# different nodes and the keyed exchange crosses QUIC), `quiver job submit --wait` the spec,
# read each node's peak RSS (VmHWM), the CPU seconds the two nodes used (user + system, from
# /proc) and the bytes they sent over QUIC, then stop them.
# Usage: bench/w1_cluster.sh [SPEC]   (default examples/w1/job.toml)
# Env: RUNS (5), QUIVER (the binary, else built as in w1_local.sh), PORT (coordinator UDP
#      port, default random in 20000-29999), PROFILE (a file: record a cpu-clock `perf` profile
#      of both nodes during run 1 into it; read it with `perf report -i FILE`), NODE_THREADS
#      (each node's `--threads`, default: the machine's cores / 2, at least 1, since the two
#      nodes share the machine; `default` leaves the flag out: one worker thread per core each).
# Every process it starts is stopped by PID on exit (trap).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SPEC=$(realpath "${1:-examples/w1/job.toml}")
RUNS=${RUNS:-5}
QUIVER=$(quiver_bin)
threads=${NODE_THREADS:-$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))}
thread_args=()
[ "$threads" = default ] || thread_args=(--threads "$threads")
work=$(mktemp -d)
pids=()
submit=
perf_pid=
stop() {
  local p
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; perf_pid=; fi
  if [ -n "$submit" ]; then kill "$submit" 2>/dev/null || true; wait "$submit" 2>/dev/null || true; submit=; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop; rm -rf "$work"' EXIT
"$QUIVER" certs init --dir "$work/certs" > /dev/null

# Starts the coordinator and the two nodes of run $1; waits until both nodes are alive.
start_cluster() {
  local dir=$work/run$1 port=${PORT:-$((20000 + RANDOM % 10000))} i
  mkdir -p "$dir"
  addr=127.0.0.1:$port
  "$QUIVER" coordinator --certs "$work/certs" --data-dir "$dir/coordinator" --listen "$addr" \
    > "$dir/coordinator.log" 2>&1 &
  pids+=($!)
  for i in $(seq 100); do grep -qs "coordinator listening on $addr" "$dir/coordinator.log" && break; sleep 0.1; done
  for i in 1 2; do
    "$QUIVER" node --certs "$work/certs" --coordinator "$addr" --data-dir "$dir/node$i" --slots 1 "${thread_args[@]}" \
      > "$dir/node$i.log" 2>&1 &
    pids+=($!)
  done
  for i in $(seq 200); do
    [ "$(status | grep -c ' alive ')" -ge 2 ] && return
    sleep 0.1
  done
  echo "the nodes did not join: $(status)" >&2
  exit 1
}
status() { "$QUIVER" cluster status --certs "$work/certs" --coordinator "$addr" 2>&1 || true; }
# CPU seconds (user + system) a process has used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
# Peak resident set of a process, in MB.
peak_mb() { awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }

echo "== $(date -Is) $QUIVER node threads: $threads load:$(uptime | sed 's/.*load/load/')"
row "run  wall_s  wall_ev/s  engine_ev/s  cpu_s  ev/cpu_s  node1_rss_MB  node2_rss_MB  quic_sent_MB"
for r in $(seq 1 "$RUNS"); do
  start_cluster "$r"
  out=$work/run$r/submit.log
  cpu0=$(awk -v a="$(cpu_s "${pids[1]}")" -v b="$(cpu_s "${pids[2]}")" 'BEGIN {print a + b}')
  if [ -n "${PROFILE:-}" ] && [ "$r" = 1 ]; then
    perf record -q -e cpu-clock -F 999 -p "${pids[1]},${pids[2]}" -o "$PROFILE" &
    perf_pid=$!
  fi
  start=$(date +%s.%N)
  "$QUIVER" job submit --wait --certs "$work/certs" --coordinator "$addr" "$SPEC" > "$out" 2>&1 &
  submit=$!
  wait "$submit" || { submit=; cat "$out" >&2; exit 1; }
  submit=
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; perf_pid=; fi
  wall=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", e - s}')
  cpu=$(awk -v a="$(cpu_s "${pids[1]}")" -v b="$(cpu_s "${pids[2]}")" -v c0="$cpu0" 'BEGIN {printf "%.2f", a + b - c0}')
  read -r n rate < <(final_rate < "$out")
  sent=$(status | awk '/^node-/ {gsub(",", "", $6); s += $6} END {printf "%.0f", s / 1e6}')
  row "$r  $wall  $(awk -v n="$n" -v w="$wall" 'BEGIN{printf "%.0f", n/w}')  $rate  $cpu  $(awk -v n="$n" -v c="$cpu" 'BEGIN{printf "%.0f", n/c}')  $(peak_mb "${pids[1]}")  $(peak_mb "${pids[2]}")  $sent"
  stop
done
echo "median: $(medians "$work/table")"
echo "== $(date -Is) load:$(uptime | sed 's/.*load/load/')"
