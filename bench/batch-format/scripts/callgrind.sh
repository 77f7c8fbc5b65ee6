#!/usr/bin/env bash
# Instructions per W1 event, in total and per step, for every path and key kind, under
# callgrind (deterministic: repeatable to a few parts in 10^4 with the same binary).
#   EVENTS (default 1000000), OUT (default /tmp/batch-format-callgrind), PATHS, KEYS
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(realpath ../..)/target/batch-format}
EVENTS=${EVENTS:-1000000}
OUT=${OUT:-/tmp/batch-format-callgrind}
PATHS=${PATHS:-"rows own own-plain arrow"}
KEYS=${KEYS:-"i64 str"}
mkdir -p "$OUT"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/batch-format-bench"
echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) load: $(cut -d' ' -f1-3 /proc/loadavg) events: $EVENTS"
for keys in $KEYS; do
  for path in $PATHS $( [ "$keys" = str ] && echo arrow-view ); do
    f="$OUT/$path-$keys.out"
    valgrind --tool=callgrind --callgrind-out-file="$f" "$BIN" run --path "$path" --keys "$keys" --events "$EVENTS" 2>/dev/null | sed 's/^/# /'
    python3 scripts/callgrind_steps.py "$f" "$path" "$keys" "$EVENTS"
  done
done
