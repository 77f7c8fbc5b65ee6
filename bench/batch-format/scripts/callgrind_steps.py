#!/usr/bin/env python3
"""Prints one line per run: instructions per event of the whole pipeline (`pipeline::run`)
and of each `step_*` function (inclusive), from a callgrind output file."""
import re
import subprocess
import sys

path_out, path, keys, events = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
text = subprocess.run(
    ["callgrind_annotate", "--inclusive=yes", "--threshold=100", "--auto=no", path_out],
    capture_output=True, text=True, check=True).stdout
costs = {}
for line in text.splitlines():
    m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+\S*?:?(batch_format_bench::pipeline::(step_\w+|run))", line)
    if not m:
        m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+.*?(batch_format_bench::pipeline::(step_\w+|run))\b", line)
    if m:
        name = m.group(3)
        # The function table comes first; later mentions are call sites.
        costs.setdefault(name, int(m.group(1).replace(",", "")))
steps = ["generate", "fan_out", "scatter", "wire", "running", "window", "fire", "sink"]
fields = [f"path={path}", f"keys={keys}", f"Ir_per_event={costs.get('run', 0) / events:.1f}"]
fields += [f"{s}={costs.get('step_' + s, 0) / events:.1f}" for s in steps]
print(" ".join(fields))
