#!/usr/bin/env bash
# Builds the quiver binary of one commit (default HEAD) from a clean `git archive` of it, so
# a benchmark measures committed code, not a working tree that others are editing.
# Prints the binary's path (/tmp/quiver-bench-bin/quiver-<commit>); use it as QUIVER=... .
# Usage: bench/snapshot.sh [REV]   Env: CARGO_TARGET_DIR (default target/bench-snapshot)
set -euo pipefail
cd "$(dirname "$0")/.."
rev=$(git rev-parse --short "${1:-HEAD}")
bin=/tmp/quiver-bench-bin/quiver-$rev
if [ ! -x "$bin" ]; then
  src=/tmp/quiver-snapshot-$rev
  rm -rf "$src" && mkdir -p "$src" /tmp/quiver-bench-bin
  # `git archive` dates files at the commit; cargo hashes a workspace member by its path inside
  # the workspace, so another revision's build in the same target dir, newer than those dates,
  # would be taken as fresh. Dated now, every file is newer than any earlier build.
  git archive "$rev" | tar -x -m -C "$src"
  target=${CARGO_TARGET_DIR:-$PWD/target/bench-snapshot}
  (cd "$src" && CARGO_TARGET_DIR=$target cargo build --release -p quiver-cli >&2)
  cp "$target/release/quiver" "$bin"
  rm -rf "$src"
fi
echo "$bin"
