#!/usr/bin/env bash
# Creates the peer virtualenvs used by the benchmark scripts, idempotently:
#   $PEERS/flink-venv  apache-flink==2.3.0            (bench/w1_flink.sh)
#   $PEERS/ml-venv     river, vowpalwabbit, numpy ... (bench/ml_peers.sh)
# Usage: bench/peers_setup.sh [flink|ml|all]   (default all)
# PEERS defaults to ~/.cache/quiver-peers. A venv is reused when its packages import.
set -euo pipefail
PEERS=${PEERS:-$HOME/.cache/quiver-peers}
mkdir -p "$PEERS"
what=${1:-all}

venv() { # venv NAME CHECK-IMPORT PACKAGES...
  local dir="$PEERS/$1" check=$2; shift 2
  if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "$check" 2>/dev/null; then
    echo "$dir: ready"
    return
  fi
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --upgrade pip
  "$dir/bin/pip" install --quiet "$@"
  "$dir/bin/python" -c "$check"
  echo "$dir: installed $*"
}

case $what in
  flink|all) venv flink-venv "import pyflink" apache-flink==2.3.0 ;;&
  ml|all) venv ml-venv "import river, vowpalwabbit, numpy, sklearn" river vowpalwabbit scikit-learn numpy ;;
  flink|ml|all) ;;
  *) echo "usage: $0 [flink|ml|all]" >&2; exit 2 ;;
esac
