#!/usr/bin/env bash
# Progressive quality of the learner stages with their defaults beside River's defaults, on
# public data sets bundled in the River and scikit-learn packages (bench/ml_quality.py).
# Usage: bench/ml_quality.sh   Env: QUIVER (the binary, else a release build), PEERS (venvs),
#        WORK (default target/ml-quality: the data sets' CSVs and outputs, not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
PEERS=${PEERS:-$HOME/.cache/quiver-peers}
WORK=${WORK:-$PWD/target/ml-quality}
bench/peers_setup.sh ml >&2
QUIVER=$(quiver_bin)
"$PEERS/ml-venv/bin/python" bench/ml_quality.py "$QUIVER" "$WORK"
