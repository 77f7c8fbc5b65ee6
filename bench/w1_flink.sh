#!/usr/bin/env bash
# W1 on Apache Flink 2.3 (PyFlink SQL job in the JVM), no checkpoints, with the peer script
# of the shared workspace (not copied here): 3M events, 100k keys, parallelism 1, both sinks.
# Usage: bench/w1_flink.sh [extra flink_sql_bench.py args, e.g. --par 2]
# Env: PEERS (venvs, default ~/.cache/quiver-peers), PEER_SCRIPTS (default ../shared/peers
#      relative to the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-$HOME/.cache/quiver-peers}
PEER_SCRIPTS=${PEER_SCRIPTS:-$(realpath ../shared/peers)}
bench/peers_setup.sh flink
echo "== $(date -Is) load:$(uptime | sed 's/.*load/load/')"
"$PEERS/flink-venv/bin/python" "$PEER_SCRIPTS/flink_sql_bench.py" \
  --n 3000000 --keys 100000 --par 1 --ckpt none --sinks both --runs 3 "$@"
echo "== $(date -Is) load:$(uptime | sed 's/.*load/load/')"
