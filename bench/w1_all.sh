#!/usr/bin/env bash
# Every W1 figure of BENCHMARKS.md, one after the other so the ratios compare runs close in
# time: the hand-written limit, `quiver local`, two node processes, Flink.
# Usage: bench/w1_all.sh   Env: as the scripts it runs (QUIVER, RUNS, PEERS, ...).
set -euo pipefail
cd "$(dirname "$0")"
./w1_limit.sh
./w1_local.sh
./w1_cluster.sh
./w1_flink.sh
