#!/usr/bin/env bash
# The Redis sink's cost in `quiver local`: a running count + sum per user of COUNT generated
# events over KEYS users (parallelism 2) into a `discard` sink, into Redis without checkpoints
# (a SET per row, one pipeline per batch), and into Redis with checkpoints every INTERVAL (the
# last row per key and interval, staged and applied by the commit scripts). RUNS rounds, the
# three modes alternating within each; prints events/s (engine rate from the final progress
# line) per run, then the medians. redis-server is started by scripts/services/redis.sh on a
# free port (FLUSHALL before each run) and stopped by PID on exit.
# Usage: bench/redis_sink.sh      Env: RUNS (5), COUNT (2000000), KEYS (100000), INTERVAL (1s),
#        QUIVER (the binary, else a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
echo "== command: $0 $*"
RUNS=${RUNS:-5}
COUNT=${COUNT:-2000000}
KEYS=${KEYS:-100000}
INTERVAL=${INTERVAL:-1s}
QUIVER=$(quiver_bin)
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis_pid=$(scripts/services/redis.sh start "$work/redis" "$port")
trap 'kill "$redis_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
uptime

# Writes $work/$1.toml: the job with sink table $2 and [job] extra $3.
spec() {
  cat > "$work/$1.toml" <<TOML
[job]
name = "redis-sink-$1"
parallelism = 2
$3

[[source]]
name = "events"
kind = "generator"
count = $COUNT
keys = $KEYS
rate = 0

[[stage]]
name = "running"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = { n = "count()", total = "sum(amount)" }

[[sink]]
name = "out"
input = "running"
$2
TOML
}
spec discard 'kind = "discard"' ''
spec direct "kind = \"redis\"
url = \"redis://127.0.0.1:$port/0\"
key = \"user:{user}\"" ''
spec ckpt "kind = \"redis\"
url = \"redis://127.0.0.1:$port/0\"
key = \"user:{user}\"" "checkpoint_interval = \"$INTERVAL\""

echo "run  mode  events_per_s  redis_keys" | tee "$work/table"
for run in $(seq 1 "$RUNS"); do
  for mode in discard direct ckpt; do
    redis-cli -p "$port" flushall > /dev/null
    out=$(cd "$work" && RUST_LOG=warn "$QUIVER" local "$work/$mode.toml" 2>&1)
    read -r _n rate < <(final_rate <<< "$out")
    echo "$run  $mode  $rate  $(redis-cli -p "$port" dbsize)" | tee -a "$work/table"
  done
done
uptime
for mode in discard direct ckpt; do
  echo "median $mode: $(grep " $mode " "$work/table" | awk '{print $3}' | sort -g | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}') events/s"
done
