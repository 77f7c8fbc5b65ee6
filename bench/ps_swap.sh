#!/usr/bin/env bash
# Time of a cluster-wide model swap, and latency through it (issue 15, done-when 6;
# BENCHMARKS.md, "Parameter servers (issue 15)"). For each run and each checkpoint interval
# of INTERVALS: a coordinator and two `quiver node` processes (2 slots each) on 127.0.0.1
# run an unbounded generator at RATE events/s (keys = 2) through `logistic_regression`
# (features ["amount"], label "user", parallelism 2: one model on parameter servers) into a
# `stdout` sink. Each node's standard output goes through a pipe to a one-line perl filter
# that prefixes every output row with the wall-clock time it arrived (µs).
# Once the registry holds two versions V1 < V2 (after WARM seconds at least), they get the
# aliases keep-a / keep-b (so retention keeps them); once it holds V2 + 3 (so the working
# copy's rows no longer carry V1's or V2's number), `model status --json` is saved, and
# SWAPS `quiver model deploy JOB clf V` alternate V1, V2, V1, ..., GAP + a random 0..JITTER
# seconds apart (the jitter keeps the swaps from locking onto the checkpoint period), each
# timed from the command's start to its return; the S the command prints (the coordinator's
# own time from request to the completion of the checkpoint that carried the swap) is kept.
# Then `model status --json` again.
# From the stamped rows, per swap: when each partition's first row scored by the new
# version arrived (from the command's start). And the latency of every row, computed
# without changing the engine: the generator at rate R emits partition p's k-th row
# (ts = p + k·P) in a batch of b = R/P/100 rows due at start_p + floor(k/b)·b/(R/P)
# (`SourceDriver::due`); latency = arrival − due. start_p is unknown, so each partition's
# smallest arrival − due offset is taken as 0: the figures are the latency above the
# fastest row's (which is ≥ 0, and on this path well under a millisecond to a few), so they
# understate the true latency by that minimum. Quantiles are given for the rows due from
# the first `model status` on (start-up and warm-up left out): all of them, those due while
# a `model deploy` ran (its start to its return), those due within NEAR s of a switch (the
# deploy's start + the later partition's switch), and those due outside every deploy.
# Usage: QUIVER=/abs/path/to/release/quiver bench/ps_swap.sh
# Env: QUIVER (required, absolute), RUNS (3: rounds over INTERVALS), INTERVALS ("1s 250ms"),
#      SWAPS (10), GAP (1 s between swaps), JITTER (1.5 s), RATE (20000 events/s over both partitions),
#      WARM (5 s of load before the first swap), NEAR (0.05 s), NODE_THREADS (each process's --threads,
#      default cores / 2), PORT, KEEP (a folder: copy each run's stamped rows and logs there).
# Writes only in a fresh folder under /tmp (removed on exit) and KEEP if set; every process
# it starts is stopped by PID on exit (trap).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
case "${QUIVER:-}" in
  /*) [ -x "$QUIVER" ] || { echo "QUIVER=$QUIVER is not executable" >&2; exit 2; } ;;
  *) echo "set QUIVER to the absolute path of a release quiver binary" >&2; exit 2 ;;
esac
RUNS=${RUNS:-3}
INTERVALS=${INTERVALS:-1s 250ms}
SWAPS=${SWAPS:-10}
GAP=${GAP:-1}
JITTER=${JITTER:-1.5}
NEAR=${NEAR:-0.05}
RATE=${RATE:-20000}
WARM=${WARM:-5}
PAR=2
threads=${NODE_THREADS:-$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))}
[ "$threads" = default ] || export QUIVER_THREADS=$threads
work=$(mktemp -d /tmp/ps_swap.XXXXXX)
stamp_pids=()
stop() {
  local p
  cluster_down
  for p in "${stamp_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${stamp_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  stamp_pids=()
}
trap 'stop; rm -rf "$work"' EXIT

# cluster_up of lib.sh, but each node's standard output (the stdout sink's rows) goes
# through a FIFO to a perl filter that prefixes each line with its arrival time (epoch s,
# µs); its log (standard error) goes to nodeK.log. Usage: stamped_cluster_up DIR NODES SLOTS
stamped_cluster_up() {
  local dir=$1 nodes=$2 slots=$3 port=${PORT:-$((20000 + RANDOM % 10000))} i k
  mkdir -p "$dir"
  certs=$dir/certs
  "$QUIVER" certs init --dir "$certs" > /dev/null
  addr=127.0.0.1:$port
  node_pids=()
  "$QUIVER" coordinator --certs "$certs" --data-dir "$dir/coordinator" --listen "$addr" \
    > "$dir/coordinator.log" 2>&1 &
  coord_pid=$!
  for i in $(seq 100); do grep -qs "coordinator listening on $addr" "$dir/coordinator.log" && break; sleep 0.1; done
  for k in $(seq "$nodes"); do
    mkfifo "$dir/node$k.pipe"
    perl -MTime::HiRes=time -ne 'printf "%.6f %s", time, $_' < "$dir/node$k.pipe" > "$dir/node$k.out" &
    stamp_pids+=($!)
    "$QUIVER" node --certs "$certs" --coordinator "$addr" --data-dir "$dir/node$k" --slots "$slots" \
      > "$dir/node$k.pipe" 2> "$dir/node$k.log" &
    node_pids+=($!)
    for i in $(seq 200); do
      grep -qs "as node-$k;" "$dir/node$k.log" && break
      sleep 0.05
    done
    grep -qs "as node-$k;" "$dir/node$k.log" \
      || { echo "node $k did not join as node-$k: $(cat "$dir/node$k.log")" >&2; return 1; }
  done
}

spec() {
  cat > "$2" <<EOF
[job]
name = "ps-swap"
parallelism = $PAR
checkpoint_interval = "$1"

[[source]]
name = "events"
kind = "generator"
keys = 2
rate = $RATE
seed = 0

[[stage]]
name = "clf"
kind = "logistic_regression"
input = "events"
features = ["amount"]
label = "user"

[[sink]]
name = "out"
kind = "stdout"
input = "clf"
EOF
}

# The registered versions of job-1, oldest first, one a line.
versions() {
  qcli model list job-1 --json 2>/dev/null \
    | python3 -c 'import json, sys; [print(v["version"]) for v in json.load(sys.stdin) if v.get("stage") == "clf"]' \
    | sort -n
}

# `model status --json` on stdin: one line per version (version scored share latency_us),
# then `summary:` the mean scoring µs per record of the working copy (rows of versions
# marked latest, weighted by rows scored) and of each pinned version.
status_lines() {
  python3 -c '
import json, sys
s = json.load(sys.stdin)
for st in s["stages"]:
    work, pinned = [0, 0.0], {}
    for v in st["versions"]:
        lat = v.get("latency_us")
        print("chk-%s%s scored=%d share=%.3f latency_us=%s" % (v["version"], "(latest)" if v.get("latest") else "",
              v["scored"], v["share"], "-" if lat is None else "%.3f" % lat))
        if lat is None or not v["scored"]:
            continue
        if v.get("latest"):
            work[0] += v["scored"]; work[1] += v["scored"] * lat
        else:
            pinned[v["version"]] = (v["scored"], lat)
    print("serving:", st["serving"])
    print("summary: working_copy %s us/rec over %d rows%s" % ("%.3f" % (work[1] / work[0]) if work[0] else "-", work[0],
          "".join("; chk-%s pinned %.3f us/rec over %d rows" % (k, l, n) for k, (n, l) in sorted(pinned.items()))))'
}

echo "== $(date -u -Is) $QUIVER threads: $threads rate: $RATE/s swaps: $SWAPS gap: ${GAP}s + 0..${JITTER}s load:$(uptime | sed 's/.*load/load/')"
echo "run interval swap version wall_s said_s switch_p0_s switch_p1_s" > "$work/swaps"
echo "run interval rows lat_p50_ms lat_p99_ms lat_p999_ms lat_max_ms | swap_rows p50 p99 p999 max | near_rows p50 p99 p999 max | other_rows p50 p99 p999 max | nodes_cpu_s chk_count chk_median_ms chk_max_ms" > "$work/latency"
for r in $(seq 1 "$RUNS"); do
  for interval in $INTERVALS; do
    dir=$work/r$r-$interval
    stamped_cluster_up "$dir" 2 2
    spec "$interval" "$dir/job.toml"
    cpu0=$(awk -v a="$(proc_cpu_s "${node_pids[0]}")" -v b="$(proc_cpu_s "${node_pids[1]}")" 'BEGIN {print a + b}')
    qcli job submit "$dir/job.toml" > "$dir/submit.log" 2>&1 || { cat "$dir/submit.log" >&2; exit 1; }
    begun=$(now)
    for i in $(seq 600); do
      mapfile -t vs < <(versions)
      [ "${#vs[@]}" -ge 2 ] && awk -v b="$begun" -v n="$(now)" -v w="$WARM" 'BEGIN {exit !(n - b >= w)}' && break
      sleep 0.1
    done
    [ "${#vs[@]}" -ge 2 ] || { echo "run $r $interval: fewer than 2 versions after 60 s" >&2; cat "$dir"/*.log >&2; exit 1; }
    v1=${vs[-2]} v2=${vs[-1]}
    qcli model alias job-1 clf keep-a "$v1" > /dev/null
    qcli model alias job-1 clf keep-b "$v2" > /dev/null
    # Rows name the version that scored them; the working copy's is the newest version the
    # workers adopted, which lags the registry by about one: wait until the registry is 3
    # versions past V2, so no row of the working copy carries V1's or V2's number.
    for i in $(seq 600); do
      [ "$(versions | tail -1)" -ge $((v2 + 3)) ] && break
      sleep 0.1
    done
    qcli model status job-1 --json > "$dir/status-before.json"
    # Latency counts the rows due from here on (start-up and warm-up left out), with GAP
    # seconds without a swap first.
    mark=$(now)
    sleep "$GAP"
    : > "$dir/swaps"
    for s in $(seq 1 "$SWAPS"); do
      v=$([ $((s % 2)) = 1 ] && echo "$v1" || echo "$v2")
      t0=$(now)
      said=$(qcli model deploy job-1 clf "$v" 2>&1) || { echo "deploy $s failed: $said" >&2; exit 1; }
      t1=$(now)
      echo "$s $v $t0 $t1 $(echo "$said" | sed -E 's/.*, ([0-9.]+) s\)$/\1/')" >> "$dir/swaps"
      echo "  run $r $interval swap $s: $said ($(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}') s)"
      sleep "$(awk -v g="$GAP" -v j="$JITTER" -v r="$RANDOM" 'BEGIN {printf "%.3f", g + j * r / 32768}')"
    done
    qcli model status job-1 --json > "$dir/status-after.json"
    cpu=$(awk -v a="$(proc_cpu_s "${node_pids[0]}")" -v b="$(proc_cpu_s "${node_pids[1]}")" -v c0="$cpu0" 'BEGIN {printf "%.2f", a + b - c0}')
    read -r chk_n chk_med chk_max < <(checkpoint_stats < "$dir/coordinator.log")
    cluster_down
    # The filters end at their node's end of file: wait for them to write their last rows.
    for p in "${stamp_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    stamp_pids=()
    [ -z "${KEEP:-}" ] || { mkdir -p "$KEEP/r$r-$interval"; cp "$dir"/*.log "$dir"/*.out "$dir"/*.json "$dir/swaps" "$KEEP/r$r-$interval/"; }
    echo "  model status before the swaps:"; status_lines < "$dir/status-before.json" | sed 's/^/    /'
    echo "  model status after the swaps:"; status_lines < "$dir/status-after.json" | sed 's/^/    /'
    echo "$r $interval before: $(status_lines < "$dir/status-before.json" | sed -n 's/^summary: //p')" >> "$work/scoring"
    echo "$r $interval after: $(status_lines < "$dir/status-after.json" | sed -n 's/^summary: //p')" >> "$work/scoring"

    # Per row: partition, arrival, model_version, latency offset (arrival - due since start).
    awk -v rate="$RATE" -v par="$PAR" '
      BEGIN {rp = int((rate + par - 1) / par); b = int(rp / 100); if (b < 1) b = 1; if (b > 4096) b = 4096}
      /^[0-9.]+ \{[^{}]*\}$/ && match($0, /"ts": ?-?[0-9]+/) {
        f = substr($0, RSTART, RLENGTH); sub(/.*: ?/, "", f); ts = f + 0
        v = -1
        if (match($0, /"model_version": ?[0-9]+/)) {v = substr($0, RSTART, RLENGTH); sub(/.*: ?/, "", v)}
        p = ts % par; k = (ts - p) / par
        due = int(k / b) * b / rp
        printf "%d %.6f %s %.6f\n", p, $1, v, $1 - due
      }' "$dir"/node*.out > "$dir/rows"
    awk 'NR == FNR {if (!($1 in m) || $4 < m[$1]) m[$1] = $4; next}
         {printf "%s %.3f\n", $2, ($4 - m[$1]) * 1000}' "$dir/rows" "$dir/rows" > "$dir/lat"
    # Per swap and partition: the first row scored by the new version after the deploy began.
    awk 'NR == FNR {s[NR] = $3; v[NR] = $2; n = NR; next}
         {for (i = 1; i <= n; i++) if ($3 == v[i] && $2 >= s[i] && (i == n || $2 < s[i + 1]) && !((i, $1) in f)) f[i, $1] = $2 - s[i]}
         END {for (i = 1; i <= n; i++) printf "%d %s %s\n", i, ((i, 0) in f) ? sprintf("%.3f", f[i, 0]) : "-", ((i, 1) in f) ? sprintf("%.3f", f[i, 1]) : "-"}' \
      "$dir/swaps" "$dir/rows" > "$dir/switch"
    paste -d ' ' "$dir/swaps" "$dir/switch" > "$dir/swaps+"
    awk -v r="$r" -v iv="$interval" '{printf "%s %s %d %s %.3f %s %s %s\n", r, iv, $1, $2, $4 - $3, $5, $7, $8}' \
      "$dir/swaps+" | tee -a "$work/swaps"
    # Rows by when they were due (arrival - latency), from `mark` on: "swap" while a deploy
    # ran (its start to its return), "near" within NEAR s of a switch (the deploy's start +
    # the later partition's switch: the barrier that carried it), "other" the rest.
    awk 'NR == FNR {s[NR] = $3; e[NR] = $4; w[NR] = $3 + ($7 > $8 ? $7 : $8); n = NR; next}
         {due = $1 - $2 / 1000; if (due < mark) next; inside = 0; near = 0
          for (i = 1; i <= n; i++) {
            if (due >= s[i] && due <= e[i]) inside = 1
            if (due >= w[i] - d && due <= w[i] + d) near = 1
          }
          print $2 > (inside ? F "/lat-swap" : F "/lat-other")
          if (near) print $2 > (F "/lat-near")
          print $2 > (F "/lat-all")}' F="$dir" mark="$mark" d="$NEAR" "$dir/swaps+" "$dir/lat"
    touch "$dir/lat-all" "$dir/lat-swap" "$dir/lat-other" "$dir/lat-near"
    read -r a50 a99 a999 amax arows < <(quantiles "$dir/lat-all")
    read -r s50 s99 s999 smax srows < <(quantiles "$dir/lat-swap")
    read -r n50 n99 n999 nmax nrows < <(quantiles "$dir/lat-near")
    read -r o50 o99 o999 omax orows < <(quantiles "$dir/lat-other")
    echo "$r $interval $arows $a50 $a99 $a999 $amax | $srows $s50 $s99 $s999 $smax | $nrows $n50 $n99 $n999 $nmax | $orows $o50 $o99 $o999 $omax | $cpu $chk_n $chk_med $chk_max" >> "$work/latency"
    rm -f "$dir"/node*.out "$dir/rows" "$dir/lat"*
  done
done

echo "== swaps (each: wall = the deploy command's start to its return; said = the S it printed;"
echo "   switch_pN = from the command's start to partition N's first row scored by the new version)"
column -t "$work/swaps"
echo "== per interval over all runs: median / max of wall_s, said_s, and of the later partition's switch"
med_max() { sort -g | awk '{a[NR] = $1} END {printf "%.3f / %.3f", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), a[NR]}'; }
for interval in $INTERVALS; do
  awk -v iv="$interval" 'NR > 1 && $2 == iv {print $5, $6, ($7 > $8 ? $7 : $8)}' "$work/swaps" > "$work/s-$interval"
  echo "$interval (n = $(wc -l < "$work/s-$interval")): wall $(awk '{print $1}' "$work/s-$interval" | med_max) s" \
    "| said $(awk '{print $2}' "$work/s-$interval" | med_max) s | switch $(awk '{print $3}' "$work/s-$interval" | med_max) s"
done
echo "== latency above the fastest row's (ms), per run: all rows, rows due during a deploy, within ${NEAR} s of a switch, outside every deploy"
column -t "$work/latency"
echo "== scoring µs per record (model status latency_us) before and after the swaps"
cat "$work/scoring"
echo "== $(date -u -Is) load:$(uptime | sed 's/.*load/load/')"
