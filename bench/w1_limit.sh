#!/usr/bin/env bash
# W1's work as a hand-written single-threaded Rust loop (no engine): the per-core limit,
# with the shared peer crate (not copied here). Prints the median of 5 of 30M events.
# Env: PEER_SCRIPTS (default ../shared/peers), LIMIT_TARGET (its cargo target dir).
set -euo pipefail
cd "$(dirname "$0")/.."
PEER_SCRIPTS=${PEER_SCRIPTS:-$(realpath ../shared/peers)}
echo "== $(date -Is) load:$(uptime | sed 's/.*load/load/')"
cargo run --release --manifest-path "$PEER_SCRIPTS/w1-limit/Cargo.toml" \
  --target-dir "${LIMIT_TARGET:-target/w1-limit}" -- 30000000 fx
echo "== $(date -Is) load:$(uptime | sed 's/.*load/load/')"
