#!/usr/bin/env python3
"""A MovieLens-format ratings file (tab-separated `user item rating timestamp`, in time order)
through the `matrix_factorization` stage with its defaults and through River's `BiasedMF()`
with its defaults: progressive validation (predict, then learn, rating by rating), RMSE and
ratings/s, alternating runs, medians.

Quiver runs `examples/recommender/movielens.toml` in `quiver local` with `path` set to the
file and a `discard` sink; its figures are the final report's: the rate of the progress line
(ratings over the job's running time, parsing the file included) and the `ratings:` line's
RMSE. The whole process's wall time (start-up of an in-process coordinator and node with
TLS, the job, shut-down) is shown beside it. River's time is its predict/learn loop alone
(the file is parsed before the timer starts), as in the peers' scripts.

Usage: movielens_mf.py QUIVER RATINGS RUNS   (bench/movielens_mf.sh sets them up)
"""
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from river import reco

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "recommender", "movielens.toml")


def quiver_spec(ratings, folder):
    """The example reading `ratings` into a discard sink, written in `folder`."""
    with open(EXAMPLE) as f:
        spec = f.read()
    spec = spec.replace('path = "ratings.tsv"', f'path = "{os.path.abspath(ratings)}"')
    spec = re.sub(r'kind = "file"\ninput = "mf"\npath = "predictions/"\nmode = "overwrite"\n',
                  'kind = "discard"\ninput = "mf"\n', spec)
    path = os.path.join(folder, "movielens.toml")
    with open(path, "w") as f:
        f.write(spec)
    return path


def quiver_run(quiver, spec):
    """(ratings/s of the job, RMSE, rated rows, wall seconds of the process)."""
    t0 = time.perf_counter()
    out = subprocess.run([quiver, "local", spec], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rate = re.findall(r"records in \(([\d,]+)/s\)", out.stderr)[-1]
    m = re.search(r"ratings: RMSE ([\d.]+), MAE [\d.]+ over ([\d,]+) rated rows", out.stderr)
    return int(rate.replace(",", "")), float(m.group(1)), int(m.group(2).replace(",", "")), wall


def river_run(rows):
    """(ratings/s of the predict/learn loop, RMSE)."""
    model = reco.BiasedMF()
    squared = 0.0
    t0 = time.perf_counter()
    for u, i, r in rows:
        p = model.predict_one(u, i)
        squared += (p - r) ** 2
        model.learn_one(u, i, r)
    dt = time.perf_counter() - t0
    return len(rows) / dt, math.sqrt(squared / len(rows))


def main():
    quiver, ratings, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(ratings) as f:
        rows = [(u, i, float(r)) for u, i, r, _ in (line.split("\t") for line in f if line.strip())]
    import river
    print(f"{ratings}: {len(rows):,} ratings; river {river.__version__}", flush=True)
    q, r = [], []
    with tempfile.TemporaryDirectory() as folder:
        spec = quiver_spec(ratings, folder)
        for run in range(runs):
            q.append(quiver_run(quiver, spec))
            r.append(river_run(rows))
            print(f"run {run}: Quiver {q[-1][0]:,}/s RMSE {q[-1][1]:.4f} "
                  f"({q[-1][2]:,} rated, process {q[-1][3]:.2f} s) | "
                  f"River {r[-1][0]:,.0f}/s RMSE {r[-1][1]:.4f}", flush=True)
    qr, qe = statistics.median(x[0] for x in q), statistics.median(x[1] for x in q)
    qw = statistics.median(x[3] for x in q)
    rr, re_ = statistics.median(x[0] for x in r), statistics.median(x[1] for x in r)
    print(f"median of {runs}: Quiver {qr:,.0f} ratings/s (whole process {len(rows) / qw:,.0f}/s), "
          f"RMSE {qe:.4f} | River BiasedMF() {rr:,.0f} ratings/s, RMSE {re_:.4f} | "
          f"speed ×{qr / rr:.1f} (whole process ×{len(rows) / qw / rr:.1f})")


if __name__ == "__main__":
    main()
