#!/usr/bin/env bash
# MovieLens-100K replayed in time order: the `matrix_factorization` stage with its defaults
# (examples/recommender/movielens.toml in `quiver local`) beside River's `BiasedMF()`, same
# file, alternating runs; ratings/s and online RMSE, medians (bench/movielens_mf.py).
# Usage: bench/movielens_mf.sh [RUNS]   (default 5)
# Env: QUIVER (the binary, else a release build), PEERS (venvs), DATA (where ML-100K is
#      cached, default ~/.cache/quiver-data), RATINGS (use this u.data-format file instead).
# ML-100K comes from the `recbole` wheel on PyPI, which bundles it (ml-100k.inter: u.data
# with a header line); it is cached outside the clone and never committed. Without it the
# script says so and uses a synthetic MovieLens-sized file (bench/ml_quality.py's draw).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
PEERS=${PEERS:-$HOME/.cache/quiver-peers}
DATA=${DATA:-$HOME/.cache/quiver-data}
bench/peers_setup.sh ml >&2
QUIVER=$(quiver_bin)
mkdir -p "$DATA"
if [ -z "${RATINGS:-}" ]; then
  RATINGS=$DATA/ml-100k-by-time.tsv
  if [ ! -s "$RATINGS" ]; then
    inter=recbole/dataset_example/ml-100k/ml-100k.inter
    if [ ! -s "$DATA/$inter" ]; then
      "$PEERS/ml-venv/bin/pip" download --quiet --no-deps -d "$DATA" recbole==1.2.1 >&2 \
        && (cd "$DATA" && "$PEERS/ml-venv/bin/python" -m zipfile -e recbole-1.2.1-py3-none-any.whl x \
        && mkdir -p "$(dirname "$inter")" && mv "x/$inter" "$inter" && rm -rf x) \
        || echo "ML-100K could not be fetched from PyPI: using a synthetic MovieLens-sized file" >&2
    fi
    if [ -s "$DATA/$inter" ]; then
      tail -n +2 "$DATA/$inter" | sort -s -t$'\t' -k4,4n > "$RATINGS"
    else
      RATINGS=$DATA/synthetic-ml-sized.tsv
      "$PEERS/ml-venv/bin/python" -c 'import sys; sys.path.insert(0, "bench")
from ml_quality import ratings
for t, (u, i, r) in enumerate(ratings()):
    print(f"{u}\t{i}\t{int(r)}\t{1_000_000_000 + t}")' > "$RATINGS"
    fi
  fi
fi
"$PEERS/ml-venv/bin/python" bench/movielens_mf.py "$QUIVER" "$RATINGS" "${1:-5}"
