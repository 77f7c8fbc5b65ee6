#!/usr/bin/env python3
"""River and Vowpal Wabbit on the data sets of Quiver's online bench.

`QUIVER_BENCH_DATA=DIR cargo bench -p quiver-ml --bench online` writes ctr.csv,
linear.csv, blobs.csv and ratings.csv into DIR (see ml/benches/online/data.rs); this
script reads those files so the peers learn the very samples Quiver learns, and prints,
like the Rust bench, samples/s (median of the runs) and the final progressive metric
(every prediction is made before the sample is learnt).

Conversion to River dicts and to VW text files happens before any timer starts. River is
timed on its predict_one + learn_one loop; VW on one whole-file pass through its own
parser (`-d FILE -p PREDICTIONS`, progressive predictions), the fastest way to feed it.

Usage: ml_peers.py DIR [--runs 3] [--river-runs 1] [--only ftrl,linear,kmeans,mf]
Needs river, vowpalwabbit, numpy (bench/peers_setup.sh ml).
"""
import argparse
import csv
import math
import os
import statistics
import time


def read_csv(path):
    with open(path, newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        return header, list(rows)


def log_loss(ys, ps):
    total = 0.0
    for y, p in zip(ys, ps):
        p = min(max(p, 1e-15), 1 - 1e-15)
        total -= math.log(p) if y == 1 else math.log(1 - p)
    return total / len(ys)


def rmse(ys, ps):
    return math.sqrt(sum((p - y) ** 2 for y, p in zip(ys, ps)) / len(ys))


def report(name, n, secs, metric, value):
    med = statistics.median(secs)
    print(f"{name:<46} {n / med:>12,.0f} samples/s   (median of {len(secs)}, "
          f"{n} samples in {med:.3f} s)   {metric} {value:.5f}", flush=True)


def timed(runs, fn):
    secs, value = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        value = fn()
        secs.append(time.perf_counter() - t0)
    return secs, value


def vw_run(args, data, pred):
    """One progressive pass of VW over `data`; returns its seconds and the predictions."""
    from vowpalwabbit import pyvw
    t0 = time.perf_counter()
    vw = pyvw.Workspace(f"{args} -d {data} -p {pred} --no_stdin --quiet")
    vw.finish()
    secs = time.perf_counter() - t0
    with open(pred) as f:
        return secs, [float(line.split()[0]) for line in f]


def vw_bench(name, runs, args, data, ys, metric):
    secs, preds = [], None
    for _ in range(runs):
        s, preds = vw_run(args, data, data + ".pred")
        secs.append(s)
    value = log_loss(ys, preds) if metric == "log loss" else rmse(ys, preds)
    report(f"VW {name} [{args}]", len(ys), secs, metric, value)


def write_lines(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def bench_ftrl(d, a):
    from river import linear_model, optim
    header, rows = read_csv(os.path.join(d, "ctr.csv"))
    names = header[1:]
    ys = [int(float(r[0])) for r in rows]
    # One-hot "field=value" features: River's linear models take sparse dicts directly.
    xs = [{f"{n}={v}": 1.0 for n, v in zip(names, r[1:])} for r in rows]
    data = os.path.join(d, "ctr.vw")
    write_lines(data, (f"{1 if y else -1} |f " + " ".join(f"{n}={v}" for n, v in zip(names, r[1:]))
                       for y, r in zip(ys, rows)))

    def river():
        # Quiver's FtrlParams: alpha 0.1, beta 1, reg 0.001 split 50/50 into l1 / l2.
        model = linear_model.LogisticRegression(
            optimizer=optim.FTRLProximal(alpha=0.1, beta=1.0, l1=0.0005, l2=0.0005))
        out = [0.0] * len(xs)
        for i, (x, y) in enumerate(zip(xs, ys)):
            out[i] = model.predict_proba_one(x).get(True, 0.0)
            model.learn_one(x, y)
        return log_loss(ys, out)

    secs, value = timed(a.river_runs, river)
    report("River FTRL logistic (one-hot dict, 12 fields)", len(ys), secs, "log loss", value)
    vw_bench("logistic", a.runs, "-b 18 --loss_function logistic --link logistic", data, ys,
             "log loss")
    vw_bench("FTRL logistic", a.runs,
             "-b 18 --loss_function logistic --link logistic --ftrl --ftrl_alpha 0.1 --ftrl_beta 1",
             data, ys, "log loss")


def bench_linear(d, a):
    from river import linear_model
    header, rows = read_csv(os.path.join(d, "linear.csv"))
    names = header[1:]
    ys = [float(r[0]) for r in rows]
    xs = [{n: float(v) for n, v in zip(names, r[1:])} for r in rows]
    data = os.path.join(d, "linear.vw")
    write_lines(data, (f"{r[0]} |f " + " ".join(f"{n}:{v}" for n, v in zip(names, r[1:]))
                       for r in rows))

    def river():
        model = linear_model.LinearRegression()
        out = [0.0] * len(xs)
        for i, (x, y) in enumerate(zip(xs, ys)):
            out[i] = model.predict_one(x)
            model.learn_one(x, y)
        return rmse(ys, out)

    secs, value = timed(a.river_runs, river)
    report("River linear regression (dense 16)", len(ys), secs, "RMSE", value)
    vw_bench("squared loss", a.runs, "-b 18", data, ys, "RMSE")


def bench_kmeans(d, a):
    from river import cluster
    header, rows = read_csv(os.path.join(d, "blobs.csv"))
    names = header[1:]
    xs = [{n: float(v) for n, v in zip(names, r[1:])} for r in rows]

    def river():
        # River's bench settings (shared/peers/river_bench.py); the metric is computed in
        # the loop, as in Quiver's bench: squared distance to the centre predicted first.
        model = cluster.KMeans(n_clusters=5, halflife=0.5, sigma=3, seed=0)
        total = 0.0
        for x in xs:
            c = model.centers[model.predict_one(x)]
            total += sum((x[n] - c[n]) ** 2 for n in names)
            model.learn_one(x)
        return total / len(xs)

    secs, value = timed(a.river_runs, river)
    report("River k-means (k 5, halflife 0.5)", len(xs), secs, "mean sq. distance", value)


def bench_mf(d, a):
    from river import reco
    _, rows = read_csv(os.path.join(d, "ratings.csv"))
    triples = [(int(u), int(i), float(r)) for u, i, r in rows]
    ys = [r for _, _, r in triples]
    data = os.path.join(d, "ratings.vw")
    write_lines(data, (f"{r} |u {u} |i {i}" for u, i, r in rows))

    def river():
        model = reco.BiasedMF(n_factors=10, seed=0)
        out = [0.0] * len(triples)
        for k, (u, i, r) in enumerate(triples):
            out[k] = model.predict_one(u, i)
            model.learn_one(u, i, r)
        return rmse(ys, out)

    secs, value = timed(a.river_runs, river)
    report("River BiasedMF (10 factors, defaults)", len(ys), secs, "RMSE", value)
    vw_bench("matrix factorisation", a.runs, "-b 20 -q ui --rank 10", data, ys, "RMSE")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--runs", type=int, default=3, help="VW runs (median reported)")
    ap.add_argument("--river-runs", type=int, default=1, help="River runs (median reported)")
    ap.add_argument("--only", default="ftrl,linear,kmeans,mf")
    a = ap.parse_args()
    import river
    import vowpalwabbit
    print(f"river {river.__version__}, vowpalwabbit "
          f"{getattr(vowpalwabbit, '__version__', '?')}", flush=True)
    benches = {"ftrl": bench_ftrl, "linear": bench_linear, "kmeans": bench_kmeans,
               "mf": bench_mf}
    for name in a.only.split(","):
        benches[name](a.dir, a)


if __name__ == "__main__":
    main()
