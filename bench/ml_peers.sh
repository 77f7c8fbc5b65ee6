#!/usr/bin/env bash
# Online learners, Quiver beside River and Vowpal Wabbit on the same generated samples.
# 1. Quiver's bench (ml/benches/online.rs) generates the data sets, writes them as CSV
#    into $DATA and prints Quiver's samples/s and progressive metrics;
# 2. bench/ml_peers.py runs River and VW on those files.
# Usage: bench/ml_peers.sh [extra ml_peers.py args, e.g. --river-runs 3 --only ftrl]
# Env: DATA (default /tmp/quiver-ml-bench, ~800 MB, not committed), PEERS, CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-$HOME/.cache/quiver-peers}
DATA=${DATA:-/tmp/quiver-ml-bench}
bench/peers_setup.sh ml
echo "== $(date -Is)  load: $(uptime)"
QUIVER_BENCH_DATA=$DATA cargo bench -p quiver-ml --bench online
echo "== $(date -Is)  load: $(uptime)"
# River's k-means draws its random initial centres in the iteration order of a set of
# feature names, which depends on Python's string hashing: fix it so runs repeat.
PYTHONHASHSEED=${PYTHONHASHSEED:-0} "$PEERS/ml-venv/bin/python" bench/ml_peers.py "$DATA" "$@"
echo "== $(date -Is)  load: $(uptime)"
