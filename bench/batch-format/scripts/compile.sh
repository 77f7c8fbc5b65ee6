#!/usr/bin/env bash
# What Arrow costs to build and ship, against the own format: clean release builds (each in
# a fresh target folder, nothing cached but the downloaded sources) of
#   1. arrow-array + arrow-select + arrow-ipc alone, and own-batch alone (release and dev);
#   2. the whole benchmark with and without the `arrow` feature (quiver-protocol and its
#      QUIC/TLS stack in both), and the binaries' sizes (as built, and stripped);
# then the crates Arrow adds to the dependency graph, duplicates, crypto providers and the
# minimum Rust version. The machine is shared: wall times move with other builds.
#   BASE (default target/batch-format-clean at the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${BASE:-$(realpath ../..)/target/batch-format-clean}
echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) load: $(cut -d' ' -f1-3 /proc/loadavg) cores: $(nproc) $(rustc --version)"
build() { # name, cargo args...
  local name=$1; shift
  rm -rf "$BASE-$name"
  local start end
  start=$(date +%s.%N)
  cargo build --quiet --target-dir "$BASE-$name" "$@"
  end=$(date +%s.%N)
  printf 'build=%s secs=%.1f load_after=%s\n' "$name" "$(echo "$end - $start" | bc)" "$(cut -d' ' -f1 /proc/loadavg)"
}
build arrow-alone --release -p arrow-array -p arrow-select -p arrow-ipc
build own-alone --release -p own-batch
build dev-arrow-alone -p arrow-array -p arrow-select -p arrow-ipc
build dev-own-alone -p own-batch
build bench-without-arrow --release --no-default-features
build bench-with-arrow --release
for v in without with; do
  b="$BASE-bench-$v-arrow/release/batch-format-bench"
  strip -o "$b.stripped" "$b"
  printf 'binary=%s-arrow bytes=%s stripped=%s\n' "$v" "$(stat -c %s "$b")" "$(stat -c %s "$b.stripped")"
done
# Code attributed to each crate (symbols by their demangled crate prefix) in the Arrow build.
nm --size-sort -S -C "$BASE-bench-with-arrow/release/batch-format-bench" | python3 -c '
import collections, re, sys
total = collections.Counter()
for line in sys.stdin:
    parts = line.split(None, 3)
    if len(parts) < 4 or parts[2] not in "tTwW":
        continue
    name = parts[3].lstrip("<")
    crate = re.split(r"::| as |<", name, maxsplit=1)[0]
    total[crate] += int(parts[1], 16)
for crate, size in total.most_common(25):
    print(f"symbols={crate} bytes={size}")
'
echo "# crates Arrow adds (normal dependencies):"
comm -13 <(cargo tree -e normal --no-default-features --prefix none | sed 's/ (.*//' | sort -u) \
         <(cargo tree -e normal --prefix none | sed 's/ (.*//' | sort -u) | tr '\n' ' '; echo
echo "# crates in two versions, with Arrow: $(cargo tree -e normal -d --depth 0 --prefix none | grep -v '^$' | sort -u | tr '\n' ' ')"
echo "# crates in two versions, without Arrow: $(cargo tree -e normal -d --depth 0 --no-default-features --prefix none | grep -v '^$' | sort -u | tr '\n' ' ')"
echo "# crypto providers: $(cargo tree -e normal --prefix none | grep -oE '^(ring|aws-lc-rs|aws-lc-sys|openssl|openssl-sys) v[0-9.]+' | sort -u | tr '\n' ' ')"
echo "# rust-version: arrow-array $(cargo metadata --format-version 1 | python3 -c 'import json,sys; m=json.load(sys.stdin); print(" ".join(sorted({p["name"]+"="+str(p.get("rust_version")) for p in m["packages"] if p["name"].startswith("arrow") or p["name"]=="flatbuffers"})))'), workspace: $(grep rust-version ../../Cargo.toml)"
