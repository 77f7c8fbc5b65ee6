# Helpers shared by the W1 scripts (sourced, not run).

# The quiver binary: $QUIVER, or a release build into $CARGO_TARGET_DIR (default target/).
quiver_bin() {
  if [ -n "${QUIVER:-}" ]; then echo "$QUIVER"; return; fi
  cargo build --release -p quiver-cli >&2
  echo "${CARGO_TARGET_DIR:-$PWD/target}/release/quiver"
}

# Reads a `quiver local` / `job submit --wait` log on stdin; prints "RECORDS_IN RATE" from the
# last "Finished: 2.0 s, 1,000,000 records in (493,827/s), ..." line.
final_rate() {
  grep 'records in (' | tail -1 | sed -E 's/.* ([0-9,]+) records in \(([0-9,]+)\/s\).*/\1 \2/' | tr -d ,
}

# Appends a line to the run table ($work/table) and shows it.
row() { echo "$*" | tee -a "$work/table"; }

# Median of every column but the first of a whitespace table with a header line.
medians() {
  local cols i
  cols=$(head -1 "$1" | wc -w)
  for i in $(seq 2 "$cols"); do
    tail -n +2 "$1" | awk -v c="$i" '{print $c}' | sort -g \
      | awk '{a[NR] = $1} END {printf "%.10g ", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'
  done
  echo
}
