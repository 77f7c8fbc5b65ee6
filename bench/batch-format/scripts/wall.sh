#!/usr/bin/env bash
# Wall time per W1 event, median of ROUNDS runs per configuration; the configurations run
# in turn within each round (rows, own, arrow, ... then again), so that a burst of load
# from other work on the machine hits all of them alike. Prints every run, then medians.
#   EVENTS (default 10000000), ROUNDS (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(realpath ../..)/target/batch-format}
EVENTS=${EVENTS:-10000000}
ROUNDS=${ROUNDS:-5}
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/batch-format-bench"
RUNS=$(mktemp)
echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) load before: $(cut -d' ' -f1-3 /proc/loadavg) events: $EVENTS rounds: $ROUNDS"
for round in $(seq "$ROUNDS"); do
  for keys in i64 str; do
    for path in rows own own-plain arrow $( [ "$keys" = str ] && echo arrow-view ); do
      "$BIN" run --path "$path" --keys "$keys" --events "$EVENTS" | tee -a "$RUNS" | sed "s/^/# round $round: /"
    done
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RUNS" <<'PY'
import statistics, sys, collections
runs = collections.defaultdict(list)
order = []
for line in open(sys.argv[1]):
    f = dict(kv.split("=", 1) for kv in line.split())
    k = (f["path"], f["keys"])
    if k not in runs:
        order.append(k)
    runs[k].append(float(f["ns_per_event"]))
for k in order:
    v = runs[k]
    print(f"path={k[0]} keys={k[1]} median_ns_per_event={statistics.median(v):.1f} "
          f"min={min(v):.1f} max={max(v):.1f} runs={len(v)}")
PY
rm -f "$RUNS"
