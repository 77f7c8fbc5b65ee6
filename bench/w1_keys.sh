#!/usr/bin/env bash
# W1 in `quiver local` at 100k and 10M keys (the generator's `keys`; 10M events each, so the
# 10M-key run holds ~6.32M distinct keys: 1 - 1/e of them), runs interleaved so both key
# counts (and both binaries, with OLD set) share the machine's load; then medians, the
# 10M / 100k ratios and the RSS per key = (RSS at 10M - RSS at 100k) / 9.9M.
# Usage: bench/w1_keys.sh   Env: RUNS (3), QUIVER (the binary; default: release build),
#        OLD (a second binary to compare, e.g. one built by bench/snapshot.sh REV).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
RUNS=${RUNS:-3}
QUIVER=$(quiver_bin)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -E 's/^keys = .*/keys = 100_000/' examples/w1/job.toml > "$work/k100k.toml"
sed -E 's/^keys = .*/keys = 10_000_000/' examples/w1/job.toml > "$work/k10m.toml"
bins="new=$QUIVER${OLD:+ old=$OLD}"
echo "== $(date -Is) $bins load:$(uptime | sed 's/.*load/load/')"
for r in $(seq 1 "$RUNS"); do
  for b in $bins; do
    for k in k100k k10m; do
      (cd "$work" && /usr/bin/time -f "%e %U %S %M" -o "$work/time" "${b#*=}" local "$work/$k.toml" > "$work/out" 2>&1) \
        || { cat "$work/out"; exit 1; }
      read -r wall user sys rss < "$work/time"
      read -r n rate < <(final_rate < "$work/out")
      cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
      line="$r  $rate  $cpu  $(awk -v n="$n" -v c="$cpu" 'BEGIN{printf "%.0f", n/c}')  $rss"
      [ -f "$work/${b%%=*}.$k" ] || echo "run  engine_ev/s  cpu_s  ev/cpu_s  peak_rss_KB" > "$work/${b%%=*}.$k"
      echo "$line" >> "$work/${b%%=*}.$k"
      echo "${b%%=*} $k  $line"
    done
  done
done
for b in $bins; do
  read -r r1 c1 e1 m1 < <(medians "$work/${b%%=*}.k100k")
  read -r r2 c2 e2 m2 < <(medians "$work/${b%%=*}.k10m")
  echo "${b%%=*} median 100k: $r1 ev/s, $e1 ev/cpu_s, $((m1 / 1024)) MB;  10M: $r2 ev/s, $e2 ev/cpu_s, $((m2 / 1024)) MB"
  awk -v a="$r1" -v b="$r2" -v c="$e1" -v d="$e2" -v m1="$m1" -v m2="$m2" 'BEGIN {
    printf "  10M / 100k: %.0f%% of ev/s, %.0f%% of ev/cpu_s; RSS per key %.1f B (per distinct key %.1f B)\n",
      100 * b / a, 100 * d / c, (m2 - m1) * 1024 / 9.9e6, (m2 - m1) * 1024 / (6.32e6 - 1e5) }'
done
echo "== $(date -Is) load:$(uptime | sed 's/.*load/load/')"
