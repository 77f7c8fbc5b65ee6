#!/usr/bin/env bash
# Training throughput with parameter servers (issue 15, done-when 6; BENCHMARKS.md,
# "Parameter servers (issue 15)"): a coordinator and two `quiver node` processes (2 slots
# each) on 127.0.0.1 run COUNT generated events through STAGE — `logistic_regression`
# (features ["amount"], label "user", keys = 2), `kmeans` (features ["amount"], k = 4,
# the stage's defaults otherwise) or `matrix_factorization` (the generator's "behaviour"
# workload, 10,000 users and items: user, item, rating = "strength"; parameter_shards = the
# parallelism in the ps way) — into a `discard` sink, at each parallelism of PARS, each
# way:
#   ps    with checkpoint_interval = "1s": one model trained through parameter servers (the
#         hidden operators clf/params and clf/versions);
#   base  without checkpoints: each partition trains its own model (the baseline).
# Each run starts a fresh coordinator and nodes, `quiver job submit --wait`s the job, and
# reads the engine rate (records in / job time), the CPU seconds the two node processes
# used during the job (user + system, /proc), the coordinator's, and how many model
# versions the registry holds (ps: one per checkpoint that changed the model; base: 0).
#   own   (WAYS="ps own base"; matrix_factorization only) with checkpoints but without
#         parameter_shards: a model per partition, its items in each checkpoint.
# Runs alternate the WAYS (default "ps base") per parallelism, RUNS rounds; medians per
# (parallelism, way) and the ratios to base follow.
# The generator's labels are a hash bit independent of `amount`, so the learner learns
# nothing useful: this measures the runtime's training throughput, not model quality.
# Usage: QUIVER=/abs/path/to/release/quiver bench/ps_train.sh
# Env: QUIVER (required: an absolute path to a release binary), STAGE (logistic_regression
#      | kmeans | matrix_factorization, default logistic_regression), RUNS (3), PARS ("1 2 4"),
#      COUNT (events per run, default 100,000,000: 10-25 s a run here), NODE_THREADS (each process's --threads,
#      default the machine's cores / 2, at least 1; `default`: one worker per core each),
#      INTERVAL (ps checkpoint interval, "1s"), PORT (coordinator port, default random).
# Everything it writes lives in a fresh folder under /tmp, removed on exit; every process
# it starts is stopped by PID on exit (trap).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
case "${QUIVER:-}" in
  /*) [ -x "$QUIVER" ] || { echo "QUIVER=$QUIVER is not executable" >&2; exit 2; } ;;
  *) echo "set QUIVER to the absolute path of a release quiver binary" >&2; exit 2 ;;
esac
STAGE=${STAGE:-logistic_regression}
workload='keys = 2'
case "$STAGE" in
  logistic_regression) learner='features = ["amount"]
label = "user"' ;;
  kmeans) learner='features = ["amount"]
k = 4' ;;
  matrix_factorization)
    workload='keys = 10000
workload = "behaviour"
items = 10000'
    learner='user = "user"
item = "item"
rating = "strength"' ;;
  *) echo "STAGE=$STAGE: logistic_regression, kmeans or matrix_factorization" >&2; exit 2 ;;
esac
RUNS=${RUNS:-3}
PARS=${PARS:-1 2 4}
COUNT=${COUNT:-100000000}
INTERVAL=${INTERVAL:-1s}
WAYS=${WAYS:-ps base}
case " $WAYS " in
  *" own "*) [ "$STAGE" = matrix_factorization ] || { echo "WAYS: own is for STAGE=matrix_factorization (the others always train on parameter servers with checkpoints)" >&2; exit 2; } ;;
esac
threads=${NODE_THREADS:-$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))}
[ "$threads" = default ] || export QUIVER_THREADS=$threads
work=$(mktemp -d /tmp/ps_train.XXXXXX)
submit=
stop() {
  if [ -n "$submit" ]; then kill "$submit" 2>/dev/null || true; wait "$submit" 2>/dev/null || true; submit=; fi
  cluster_down
}
trap 'stop; rm -rf "$work"' EXIT

# Writes the spec of parallelism $1, way $2 (ps | own | base) to $3.
spec() {
  {
    echo "[job]"
    echo "name = \"ps-train-p$1-$2\""
    echo "parallelism = $1"
    [ "$2" = base ] || echo "checkpoint_interval = \"$INTERVAL\""
    cat <<EOF

[[source]]
name = "events"
kind = "generator"
count = $COUNT
$workload
rate = 0
seed = 0

[[stage]]
name = "clf"
kind = "$STAGE"
input = "events"
$learner
$( [ "$STAGE" != matrix_factorization ] || [ "$2" != ps ] || echo "parameter_shards = $1" )

[[sink]]
name = "out"
kind = "discard"
input = "clf"
EOF
  } > "$3"
}
nodes_cpu() { awk -v a="$(proc_cpu_s "${node_pids[0]}")" -v b="$(proc_cpu_s "${node_pids[1]}")" 'BEGIN {print a + b}'; }

echo "== $(date -u -Is) $QUIVER stage: $STAGE threads: $threads count: $COUNT load:$(uptime | sed 's/.*load/load/')"
row "run  par  way   wall_s  engine_ev/s  nodes_cpu_s  ev/cpu_s  coord_cpu_s  versions"
for r in $(seq 1 "$RUNS"); do
  for p in $PARS; do
    for way in $WAYS; do
      dir=$work/r$r-p$p-$way
      cluster_up "$dir" 2 2
      spec "$p" "$way" "$dir/job.toml"
      cpu0=$(nodes_cpu); coord0=$(proc_cpu_s "$coord_pid")
      start=$(now)
      qcli job submit --wait "$dir/job.toml" > "$dir/submit.log" 2>&1 &
      submit=$!
      wait "$submit" || { submit=; cat "$dir/submit.log" "$dir"/*.log >&2; exit 1; }
      submit=
      wall=$(awk -v s="$start" -v e="$(now)" 'BEGIN {printf "%.2f", e - s}')
      cpu=$(awk -v c1="$(nodes_cpu)" -v c0="$cpu0" 'BEGIN {printf "%.2f", c1 - c0}')
      coord=$(awk -v c1="$(proc_cpu_s "$coord_pid")" -v c0="$coord0" 'BEGIN {printf "%.2f", c1 - c0}')
      read -r n rate < <(final_rate < "$dir/submit.log")
      [ "$n" = "$COUNT" ] || { echo "run $r p$p $way: $n records in, expected $COUNT" >&2; cat "$dir/submit.log" >&2; exit 1; }
      versions=$(qcli model list job-1 --json 2>/dev/null | grep -c '"version"' || true)
      row "$r  $p  $way  $wall  $rate  $cpu  $(awk -v n="$n" -v c="$cpu" 'BEGIN {printf "%.0f", n / c}')  $coord  $versions"
      cluster_down
    done
  done
done

echo "== medians of $RUNS runs ($(date -u -Is) load:$(uptime | sed 's/.*load/load/'))"
echo "par  way   wall_s  engine_ev/s  nodes_cpu_s  ev/cpu_s  coord_cpu_s  versions"
for p in $PARS; do
  for way in $WAYS; do
    { head -1 "$work/table"; awk -v p="$p" -v w="$way" '$2 == p && $3 == w {$2 = ""; $3 = ""; print}' "$work/table"; } \
      | sed '1s/par  way  //' > "$work/m-$p-$way"
    m=$(medians "$work/m-$p-$way")
    echo "$p  $way  $m" | tee -a "$work/medians"
  done
done
echo "== each way / base (medians): engine rate, events per CPU-second"
for p in $PARS; do
  for way in $WAYS; do
    [ "$way" = base ] && continue
    awk -v p="$p" -v w="$way" '$1 == p && $2 == w {r = $4; c = $6} $1 == p && $2 == "base" {rb = $4; cb = $6}
      END {printf "par %s  %s  engine %.2fx  per-cpu %.2fx\n", p, w, r / rb, c / cb}' "$work/medians"
  done
done
