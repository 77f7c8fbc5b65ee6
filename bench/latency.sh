#!/usr/bin/env bash
# Source-to-sink latency of W1's running aggregate (issue 17, done-when 5) at half of W1's
# maximum rate, from the sink latency histograms on /metrics: once in `quiver local` and once
# across two `quiver node` processes (a coordinator and 2 nodes with 1 slot each, so the keyed
# exchange crosses QUIC). Prints p50 / p99 (interpolated in the histogram's buckets over the
# measured window, after a warm-up) and the max (exact, whole run) per setup.
# Usage: bench/latency.sh [SPEC]   (default examples/w1/job.toml; its count is dropped: the
#        generator runs unbounded at RATE)
# Env: RATE (events/s; default half the median engine rate of `RUNS=3 bench/w1_local.sh SPEC`),
#      WARMUP (s, 5), WINDOW (s, 20), QUIVER (the binary, else built as in w1_local.sh),
#      PORT (the cluster's coordinator UDP port, default random).
# Every process it starts is stopped by PID on exit (trap).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SPEC=$(realpath "${1:-examples/w1/job.toml}")
QUIVER=$(quiver_bin)
export QUIVER
WARMUP=${WARMUP:-5}
WINDOW=${WINDOW:-20}
work=$(mktemp -d)
local_pid=
stop() {
  if [ -n "$local_pid" ]; then kill "$local_pid" 2>/dev/null || true; wait "$local_pid" 2>/dev/null || true; local_pid=; fi
  cluster_down
}
trap 'stop; rm -rf "$work"' EXIT

if [ -z "${RATE:-}" ]; then
  max=$(RUNS=3 bench/w1_local.sh "$SPEC" | tee /dev/stderr | awk '/^median:/ {print $4}')
  RATE=$(awk -v m="$max" 'BEGIN {printf "%d", m / 2}')
  echo "W1 maximum (median engine rate): $max ev/s; measuring at $RATE ev/s"
fi
spec=$work/job.toml
sed '/^count *=/d' "$SPEC" > "$spec"
set_field "$spec" rate "$RATE"

free_tcp() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
scrape() { curl -sf "http://$1/metrics"; }

# Reads two /metrics scrapes (files $1, $2) $3 seconds apart; prints "p50_ms p99_ms max_ms
# batches ev/s" of the sink latency of the tasks whose operator label starts with "running":
# quantiles of what the buckets gained in between (linear within a bucket, as Prometheus'
# histogram_quantile), the max as of the second scrape, and the rate the source read at.
quantiles_between() {
  python3 - "$1" "$2" "$3" <<'PY'
import re, sys
def buckets(path):
    out, top, read = {}, 0.0, 0.0
    for line in open(path):
        m = re.match(r'quiver_task_records_in_total\{(.*)\} (\S+)', line)
        if m and 'operator="events' in m.group(1):
            read += float(m.group(2))
        m = re.match(r'quiver_task_sink_latency_seconds_bucket\{le="([^"]+)",(.*)\} (\S+)', line)
        if m and 'operator="running' in m.group(2):
            le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            out[le] = out.get(le, 0) + float(m.group(3))
        m = re.match(r'quiver_task_sink_latency_max_seconds\{(.*)\} (\S+)', line)
        if m and 'operator="running' in m.group(1):
            top = max(top, float(m.group(2)))
    return out, top, read
(a, _, read_a), (b, top, read_b) = buckets(sys.argv[1]), buckets(sys.argv[2])
bounds = sorted(b)
cum = [b[le] - a.get(le, 0) for le in bounds]
total = cum[-1] if cum else 0
def q(f):
    rank, lower, below = f * total, 0.0, 0.0
    for le, c in zip(bounds, cum):
        if c >= rank and c > below:
            if le == float("inf"):
                return top
            return min(top, lower + (le - lower) * (rank - below) / (c - below))
        lower, below = le, c
    return top
rate = (read_b - read_a) / float(sys.argv[3])
print("%.2f %.2f %.2f %d %.0f" % (q(0.5) * 1e3, q(0.99) * 1e3, top * 1e3, total, rate))
PY
}

# Scrapes $1 after the warm-up and after the window; prints the quantiles between.
measure() {
  sleep "$WARMUP"
  scrape "$1" > "$work/a.txt"
  sleep "$WINDOW"
  scrape "$1" > "$work/b.txt"
  quantiles_between "$work/a.txt" "$work/b.txt" "$WINDOW"
}

echo "== $(date -Is) $QUIVER rate $RATE ev/s, warm-up ${WARMUP}s, window ${WINDOW}s, load:$(uptime | sed 's/.*load/load/')"
echo "setup    p50_ms  p99_ms  max_ms  batches  source_ev/s"

http=127.0.0.1:$(free_tcp)
(cd "$work" && exec "$QUIVER" local --http "$http" "$spec" > "$work/local.log" 2>&1) &
local_pid=$!
for i in $(seq 100); do grep -qs "dashboard:" "$work/local.log" && break; sleep 0.1; done
echo "local    $(measure "$http")"
kill "$local_pid"; wait "$local_pid" 2>/dev/null || true; local_pid=

http=127.0.0.1:$(free_tcp)
COORDINATOR_HTTP=$http cluster_up "$work/cluster" 2 1
job=$(qcli job submit "$spec")
echo "2 nodes  $(measure "$http")"
qcli job cancel "$job" > /dev/null
echo "== $(date -Is) load:$(uptime | sed 's/.*load/load/')"
