# Helpers shared by the W1 scripts (sourced, not run).

# The quiver binary: $QUIVER, or a release build into $CARGO_TARGET_DIR (default target/).
quiver_bin() {
  if [ -n "${QUIVER:-}" ]; then echo "$QUIVER"; return; fi
  cargo build --release -p quiver-cli >&2
  echo "${CARGO_TARGET_DIR:-$PWD/target}/release/quiver"
}

# Reads a `quiver local` / `job submit --wait` log on stdin; prints "RECORDS_IN RATE" from the
# last "Finished: 2.0 s, 1,000,000 records in (493,827/s), ..." line.
final_rate() {
  grep 'records in (' | tail -1 | sed -E 's/.* ([0-9,]+) records in \(([0-9,]+)\/s\).*/\1 \2/' | tr -d ,
}

# Appends a line to the run table ($work/table) and shows it.
row() { echo "$*" | tee -a "$work/table"; }

# Median of every column but the first of a whitespace table with a header line.
medians() {
  local cols i
  cols=$(head -1 "$1" | wc -w)
  for i in $(seq 2 "$cols"); do
    tail -n +2 "$1" | awk -v c="$i" '{print $c}' | sort -g \
      | awk '{a[NR] = $1} END {printf "%.10g ", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'
  done
  echo
}

# --- Checkpoint benchmarks (w1_checkpoints.sh, checkpoint_1m.sh, recovery_time.sh) ---

# Copies spec $1 to $2 with `checkpoint_interval = "$3"` added to its [job] table.
with_checkpoints() {
  sed "/^\[job\]/a checkpoint_interval = \"$3\"" "$1" > "$2"
}

# Sets `KEY = VALUE` (the first line starting with KEY) in spec $1 in place; appends the line
# to the first [[source]] table when the spec has no such key.
set_field() {
  if grep -q "^$2 *=" "$1"; then
    sed -i "0,/^$2 *=.*/s//$2 = $3/" "$1"
  else
    sed -i "0,/^\[\[source\]\]/s//[[source]]\n$2 = $3/" "$1"
  fi
}

# Seconds since the epoch (with fraction) of a timestamp, e.g. a tracing log line's first field.
epoch() { date -d "$1" +%s.%N; }
now() { date +%s.%N; }

# Reads coordinator log lines on stdin; prints "COUNT MEDIAN_MS MAX_MS" of the
# "job-N: chk-M complete in X ms" lines (savepoints and final checkpoints included).
checkpoint_stats() {
  { grep -o 'chk-[0-9]* complete in [0-9]* ms' || true; } | awk '{print $4}' | sort -g \
    | awk '{a[NR] = $1} END {if (NR == 0) {print "0 - -"; exit}
             printf "%d %g %g\n", NR, (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), a[NR]}'
}

# Quantiles (p50 p99 p99.9 max, and the count) of the numbers in file $1, with $2 decimals
# (default 1). Usage: read -r p50 p99 p999 max n < <(quantiles FILE [DECIMALS])
quantiles() {
  sort -g "$1" | awk -v d="${2:-1}" '{a[NR] = $1}
    function q(f) {i = int(f * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return a[i]}
    END {if (NR == 0) {print "- - - - 0"; exit}
         f = "%." d "f"; printf f " " f " " f " " f " %d\n", q(0.5), q(0.99), q(0.999), a[NR], NR}'
}

# CPU seconds (user + system) a process has used so far, and its peak resident set in MB.
proc_cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
proc_peak_mb() { awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }

# A coordinator and NODES `quiver node` processes with SLOTS slots each, in folder $1, started
# one after the other so that node-K is the K-th started (its PID is ${node_pids[K-1]}).
# Sets addr, certs, coord_pid, node_pids; cluster_down stops them by PID (call it from a trap).
# Needs $QUIVER; with COORDINATOR_HTTP=ADDR the coordinator serves /metrics there.
# Usage: cluster_up DIR NODES SLOTS
cluster_up() {
  local dir=$1 nodes=$2 slots=$3 port=${PORT:-$((20000 + RANDOM % 10000))} i k
  mkdir -p "$dir"
  certs=$dir/certs
  [ -d "$certs" ] || "$QUIVER" certs init --dir "$certs" > /dev/null
  addr=127.0.0.1:$port
  node_pids=()
  "$QUIVER" coordinator --certs "$certs" --data-dir "$dir/coordinator" --listen "$addr" \
    ${COORDINATOR_HTTP:+--http "$COORDINATOR_HTTP"} > "$dir/coordinator.log" 2>&1 &
  coord_pid=$!
  for i in $(seq 100); do grep -qs "coordinator listening on $addr" "$dir/coordinator.log" && break; sleep 0.1; done
  for k in $(seq "$nodes"); do
    "$QUIVER" node --certs "$certs" --coordinator "$addr" --data-dir "$dir/node$k" --slots "$slots" \
      > "$dir/node$k.log" 2>&1 &
    node_pids+=($!)
    for i in $(seq 200); do
      grep -qs "as node-$k;" "$dir/node$k.log" && break
      sleep 0.05
    done
    grep -qs "as node-$k;" "$dir/node$k.log" \
      || { echo "node $k did not join as node-$k: $(cat "$dir/node$k.log")" >&2; return 1; }
  done
}
cluster_down() {
  local p
  for p in "${node_pids[@]}" ${coord_pid:-}; do kill "$p" 2>/dev/null || true; done
  for p in "${node_pids[@]}" ${coord_pid:-}; do wait "$p" 2>/dev/null || true; done
  node_pids=()
  coord_pid=
}
# `quiver ARGS...` against the cluster of cluster_up.
qcli() { "$QUIVER" --certs "$certs" --coordinator "$addr" "$@"; }

# Removes stage $2 from spec $1 in place: the blank-line separated table that defines it
# (`name = "$2"`) and every table that reads it (`input = "$2"`).
drop_stage() {
  awk -v n="\"$2\"" 'BEGIN {RS = ""; ORS = "\n\n"}
    {keep = 1; split($0, lines, "\n")
     for (i in lines) if (lines[i] ~ "^(name|input) *= *" n "$") keep = 0}
    keep' "$1" > "$1.tmp" && mv "$1.tmp" "$1"
}

# --- Recovery benchmarks (recovery_time.sh, coordinator_restart_time.sh) ---

# Writes to $1 the recovery job: W1's stages, unbounded and rate-limited (RATE events/s over
# KEYS keys, checkpoints every INTERVAL), into committed part files.
w1_recovery_spec() {
  cat > "$1" <<EOF
[job]
name = "w1-recovery"
parallelism = 4
checkpoint_interval = "$INTERVAL"

[[source]]
name = "events"
kind = "generator"
keys = $KEYS
rate = $RATE
seed = 0
max_out_of_orderness = "1s"

[[stage]]
name = "running"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = { n = "count()", total = "sum(amount)" }

[[stage]]
name = "per_second"
kind = "aggregate"
input = "events"
key = ["user"]
window = { kind = "tumbling", size = "1s" }
aggregates = { n = "count()", total = "sum(amount)" }

[[sink]]
name = "running_out"
kind = "file"
input = "running"
path = "out/running/"

[[sink]]
name = "per_second_out"
kind = "file"
input = "per_second"
path = "out/per_second/"
EOF
}
