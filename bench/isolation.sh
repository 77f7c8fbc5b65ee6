#!/usr/bin/env bash
# Serving latency while training overloads the machine, with and without pools (issue 15,
# resource isolation; BENCHMARKS.md, "Resource isolation"). One `quiver local` process
# (--threads THREADS) runs one job with two paths:
#   serving:  generator `requests` (RATE events/s, parallelism 1, COUNT = RATE x SECONDS
#             events) -> standard_scaler -> stdout sink (its rows are what is measured);
#   training: generator `clicks` (unbounded, flat out, parallelism TRAIN_PAR) ->
#             logistic_regression (on parameter servers: checkpoints every 1 s) -> discard.
# Mode `alone`: the serving path only, no training (the baseline on this machine).
# Mode `shared`: no pool anywhere (today's behaviour: every task on the node's threads).
# Mode `pools`:  the serving path in `pool = "serving"`, the training path in
# `pool = "training"` (own threads at nice 19). Same job, same binary otherwise.
# The process's standard output goes through a pipe to a perl filter (autoflushed) that stamps each row
# with its arrival time (µs). Latency of a row = arrival - when the generator was due to emit
# it: partition 0 of a rate-R generator emits row k (ts = k) in a batch of b = R/100 rows due
# at start + floor(k/b)*b/R (`SourceDriver::due`); start is not visible, so the smallest
# arrival - due of the run is taken as 0 (figures are latency above the fastest row's, as in
# bench/ps_swap.sh). Rows due in the first WARM seconds are left out. Once the last serving
# row arrived the process is stopped (the training source never ends). The training rate is
# read from the progress lines (records in over the last seconds, minus the serving rate).
# Modes alternate within each of RUNS rounds.
# Usage: QUIVER=/abs/path/to/release/quiver bench/isolation.sh
# Env: QUIVER (required, absolute), RUNS (3), SECONDS_ (20 s of serving per run), RATE (1000),
#      WARM (3 s), THREADS (2: --threads), TRAIN_PAR (2), MODES ("alone shared pools"),
#      NICE (0: the nice value quiver and the perl filter start at; on a machine others
#      load, e.g. -10 makes the job's own training the overload: training threads still
#      drop to nice 19),
#      KEEP (a folder: keep each run's stamped rows and log).
# Writes only in a fresh folder under TMPFS (/dev/shm; removed on exit) and KEEP if set; every process
# it starts is stopped by PID on exit (trap).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
case "${QUIVER:-}" in
  /*) [ -x "$QUIVER" ] || { echo "QUIVER=$QUIVER is not executable" >&2; exit 2; } ;;
  *) echo "set QUIVER to the absolute path of a release quiver binary" >&2; exit 2 ;;
esac
RUNS=${RUNS:-3}
SECS=${SECONDS_:-20}
RATE=${RATE:-1000}
WARM=${WARM:-3}
THREADS=${THREADS:-2}
TRAIN_PAR=${TRAIN_PAR:-2}
MODES=${MODES:-alone shared pools}
NICE=${NICE:-0}
COUNT=$((RATE * SECS))
# On tmpfs: the stamped rows and quiver's own data (checkpoints, with fsyncs) stay off a disk
# that other work may keep busy.
work=$(mktemp -d "${TMPFS:-/dev/shm}/isolation.XXXXXX")
pids=()
stop() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop; rm -rf "$work"' EXIT

# The job of mode $1 into file $2.
spec() {
  local serving="" training=""
  if [ "$1" = pools ]; then serving='pool = "serving"'; training='pool = "training"'; fi
  cat > "$2" <<EOF
[job]
name = "isolation"
checkpoint_interval = "1s"

[[source]]
name = "requests"
kind = "generator"
parallelism = 1
rate = $RATE
count = $COUNT
keys = 1000
$serving

[[stage]]
name = "scaled"
kind = "standard_scaler"
input = "requests"
columns = ["amount"]
output = "features"

[[sink]]
name = "scores"
kind = "stdout"
input = "scaled"

EOF
  [ "$1" != alone ] || return 0
  cat >> "$2" <<EOF

[[source]]
name = "clicks"
kind = "generator"
parallelism = $TRAIN_PAR
keys = 2
$training

[[stage]]
name = "clf"
kind = "logistic_regression"
input = "clicks"
features = ["amount"]
label = "user"

[[sink]]
name = "trained"
kind = "discard"
input = "clf"
EOF
}

# Records in per second over the last progress lines of log $1 ("Running: 12.0 s, 3,456
# records in (...)"), from the line at WARM s on to the last.
records_rate() {
  grep -o '[0-9.]* s, [0-9,]* records in' "$1" | tr -d , \
    | awk -v w="$WARM" '$1 >= w && !t0 {t0 = $1; n0 = $3} {t = $1; n = $3}
        END {if (t > t0) printf "%.0f", (n - n0) / (t - t0); else print "-"}'
}

echo "== $(date -u -Is) $QUIVER nice: $NICE threads: $THREADS serving: $RATE/s x $SECS s training parallelism: $TRAIN_PAR load:$(uptime | sed 's/.*load/load/')"
echo "run mode rows p50_ms p99_ms p999_ms max_ms records_in_per_s training_per_s cpu_s" > "$work/table"
for r in $(seq 1 "$RUNS"); do
  for mode in $MODES; do
    dir=$work/r$r-$mode
    mkdir -p "$dir"
    spec "$mode" "$dir/job.toml"
    mkfifo "$dir/out.pipe"
    nice -n "$NICE" perl -MTime::HiRes=time -ne 'BEGIN {$| = 1} printf "%.6f %s", time, $_' < "$dir/out.pipe" > "$dir/out" &
    stamp=$!
    pids+=("$stamp")
    TMPDIR=$work nice -n "$NICE" "$QUIVER" --threads "$THREADS" local "$dir/job.toml" > "$dir/out.pipe" 2> "$dir/log" &
    q=$!
    pids+=("$q")
    # The serving rows take SECS s; give the start and the tail 60 s more at most.
    for i in $(seq $(( (SECS + 60) * 10 ))); do
      [ -f "$dir/out" ] && [ "$(wc -l < "$dir/out")" -ge "$COUNT" ] && break
      kill -0 "$q" 2>/dev/null || break
      sleep 0.1
    done
    cpu=$(proc_cpu_s "$q" 2>/dev/null || echo -)
    kill "$q" 2>/dev/null || true
    wait "$q" 2>/dev/null || true
    wait "$stamp" 2>/dev/null || true
    pids=()
    rows=$(grep -c '"ts"' "$dir/out" || true)
    [ "$rows" -ge "$COUNT" ] || { echo "run $r $mode: $rows of $COUNT serving rows arrived" >&2; tail -20 "$dir/log" >&2; exit 1; }
    awk -v rate="$RATE" -v warm="$WARM" '
      BEGIN {b = int(rate / 100); if (b < 1) b = 1; if (b > 4096) b = 4096}
      /^[0-9.]+ \{/ && match($0, /"ts": ?-?[0-9]+/) {
        f = substr($0, RSTART, RLENGTH); sub(/.*: ?/, "", f); k = f + 0
        due = int(k / b) * b / rate
        if (due >= warm) printf "%.6f\n", $1 - due
      }' "$dir/out" > "$dir/offsets"
    sort -g "$dir/offsets" | awk 'NR == 1 {m = $1} {printf "%.3f\n", ($1 - m) * 1000}' > "$dir/lat"
    read -r p50 p99 p999 pmax n < <(quantiles "$dir/lat" 2)
    rin=$(records_rate "$dir/log")
    train=$(awk -v a="$rin" -v r="$RATE" 'BEGIN {if (a == "-") print "-"; else printf "%.0f", a - r}')
    echo "$r $mode $n $p50 $p99 $p999 $pmax $rin $train $cpu" | tee -a "$work/table"
    [ -z "${KEEP:-}" ] || { mkdir -p "$KEEP/r$r-$mode"; cp "$dir/out" "$dir/log" "$dir/job.toml" "$KEEP/r$r-$mode/"; }
    rm -f "$dir/out" "$dir/offsets" "$dir/lat"
  done
done
echo "== per run (latency above the fastest row's, ms; rows due from ${WARM} s on)"
column -t "$work/table"
echo "== medians per mode"
for mode in $MODES; do
  { head -1 "$work/table"; awk -v m="$mode" '$2 == m' "$work/table"; } \
    | awk '{$2 = ""; print}' > "$work/t-$mode"
  echo "$mode: $(medians "$work/t-$mode")" \
    | awk '{print $1, "rows", $2, "p50", $3, "p99", $4, "p99.9", $5, "max", $6, "in/s", $7, "training/s", $8, "cpu_s", $9}'
done
echo "== $(date -u -Is) load:$(uptime | sed 's/.*load/load/')"
