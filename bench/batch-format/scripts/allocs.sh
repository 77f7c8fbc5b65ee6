#!/usr/bin/env bash
# Heap allocations (alloc + realloc calls) per W1 event, in total and per step, with the
# counting allocator (feature `count-allocs`, built into its own target folder).
#   EVENTS (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(realpath ../..)/target/batch-format}/count-allocs
EVENTS=${EVENTS:-1000000}
cargo build --release --quiet --features count-allocs
BIN="$CARGO_TARGET_DIR/release/batch-format-bench"
echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) events: $EVENTS"
for keys in i64 str; do
  for path in rows own own-plain arrow $( [ "$keys" = str ] && echo arrow-view ); do
    "$BIN" run --path "$path" --keys "$keys" --events "$EVENTS" | tr ' ' '\n' \
      | grep -E '^(path|keys|allocs_|alloc_bytes)' | tr '\n' ' '
    echo
  done
done
