#!/usr/bin/env python3
"""Progressive-validation quality of Quiver's learner stages beside River's defaults.

Public data sets that ship inside the River and scikit-learn packages (nothing is downloaded
and nothing is committed): each is written as a CSV with a `ts` column (the row number, so the
stream keeps the data set's order), then

  * River runs its defaults, `StandardScaler() | LogisticRegression()` (classification) or
    `StandardScaler() | LinearRegression()` (regression): predict, then learn, row by row;
  * Quiver runs `quiver local` on a job of two stages with their defaults, `standard_scaler`
    (`with_mean = true`) then `logistic_regression` or `linear_regression`, and the rows of
    its file sink are scored the same way (a null prediction counts as wrong, or as 0).

Then the optimiser choices on the same sets (River's `optim.AdaGrad()` / `optim.Adam()`, their
default learning rate 0.1, in `LinearRegression(optimizer=...)` / `LogisticRegression(...)`,
beside the stage with `optimizer = "adagrad"` / `"adam"` and its default learning rate, the
same 0.1), and for classification `optimizer = "sgd"` (learning rate 0.01) beside River's
default, which is SGD at 0.01. The other settings stay each side's defaults.

Then ratings: a MovieLens-sized set drawn here (seeded: 943 users, 1,682 items, 100k
ratings, Zipf-skewed activity and popularity, 5 latent factors, noise 0.8, rounded to 1-5),
River's `BiasedMF()` beside the `matrix_factorization` stage, both with defaults, RMSE.

Usage: ml_quality.py QUIVER WORKDIR   (bench/ml_quality.sh sets both up)
Prints one line per data set, learner and optimiser: samples, Quiver's metric, River's, and
which is better.
"""
import csv
import glob
import numpy as np
import json
import math
import os
import subprocess
import sys

from river import datasets, linear_model, metrics, optim, preprocessing, reco
from sklearn import datasets as skdatasets


def river_sets():
    """(name, task, rows of (features dict, label)) for the bundled sets."""
    out = []
    for name, ds in [("phishing", datasets.Phishing()), ("bananas", datasets.Bananas()),
                     ("shuttle", datasets.Shuttle())]:
        out.append((name, "classification", [(x, int(bool(y))) for x, y in ds]))
    for name, ds in [("trump_approval", datasets.TrumpApproval()),
                     ("chick_weights", datasets.ChickWeights())]:
        out.append((name, "regression", [(x, float(y)) for x, y in ds]))
    return out


def sklearn_sets():
    """scikit-learn's bundled sets in their file order."""
    out = []
    for name, load, task in [("breast_cancer", skdatasets.load_breast_cancer, "classification"),
                             ("diabetes", skdatasets.load_diabetes, "regression")]:
        bunch = load()
        names = [f"f{i}" for i in range(bunch.data.shape[1])]
        rows = [(dict(zip(names, map(float, row))), (int(y) if task == "classification" else float(y)))
                for row, y in zip(bunch.data, bunch.target)]
        out.append((name, task, rows))
    return out


def write_csv(path, rows):
    """Writes `ts, x0..xn, y`; returns the number of features."""
    keys = list(rows[0][0].keys())
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts"] + [f"x{i}" for i in range(len(keys))] + ["y"])
        for i, (x, y) in enumerate(rows):
            w.writerow([i] + [float(x[k]) for k in keys] + [y])
    return len(keys)


def job(name, schema, stages, data=None):
    """A job reading `DATA.csv` (default `NAME.csv`; columns `schema`) through `stages` (TOML
    `[[stage]]` tables, the last one named `model`) into the file sink `out-NAME/`."""
    data = data or name
    return f"""[job]
name = "quality-{name}"
parallelism = 1

[[source]]
name = "rows"
kind = "file"
path = "{data}.csv"
format = "csv"
schema = {{ {schema} }}
event_time = "ts"
{stages}
[[sink]]
name = "out"
kind = "file"
input = "model"
path = "out-{name}/"
mode = "overwrite"
"""


def learner_job(name, task, dim, optimizer=None):
    """`standard_scaler` then the task's learner, both with their defaults but the learner's
    `optimizer` (when given: the job is `NAME-OPTIMIZER`, reading `NAME.csv`)."""
    learner = "logistic_regression" if task == "classification" else "linear_regression"
    label = "i64" if task == "classification" else "f64"
    cols = ", ".join(f'x{i} = "f64"' for i in range(dim))
    names = ", ".join(f'"x{i}"' for i in range(dim))
    choice = f'optimizer = "{optimizer}"\n' if optimizer else ""
    job_name = f"{name}-{optimizer}" if optimizer else name
    return job(job_name, f'ts = "i64", {cols}, y = "{label}"', f"""
[[stage]]
name = "scaled"
kind = "standard_scaler"
input = "rows"
columns = [{names}]
output = "features"
with_mean = true

[[stage]]
name = "model"
kind = "{learner}"
input = "scaled"
features = "features"
label = "y"
{choice}""", data=name)


def quiver_run(quiver, work, name, spec):
    """Runs `spec` in `quiver local`; its output rows in `ts` order."""
    path = os.path.join(work, f"{name}.toml")
    with open(path, "w") as f:
        f.write(spec)
    subprocess.run([quiver, "local", path], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    out = []
    for part in sorted(glob.glob(os.path.join(work, f"out-{name}", "*.jsonl"))):
        with open(part) as f:
            out += [json.loads(line) for line in f]
    out.sort(key=lambda r: r["ts"])
    return out


def metric(task, ys, preds):
    """Accuracy (classification) or MAE (regression); a missing prediction is wrong / 0."""
    if task == "classification":
        return sum(1 for y, p in zip(ys, preds) if p is not None and int(p) == y) / len(ys)
    return sum(abs((p if p is not None else 0.0) - y) for y, p in zip(ys, preds)) / len(ys)


def river_optimizer(optimizer):
    """River's optimiser of that name with its defaults; None: the learner's default."""
    return {None: None, "adagrad": optim.AdaGrad, "adam": optim.Adam}[optimizer]


def river_run(task, rows, optimizer=None):
    make = river_optimizer(optimizer)
    kwargs = {"optimizer": make()} if make else {}
    if task == "classification":
        model = preprocessing.StandardScaler() | linear_model.LogisticRegression(**kwargs)
    else:
        model = preprocessing.StandardScaler() | linear_model.LinearRegression(**kwargs)
    preds = []
    for x, y in rows:
        p = model.predict_one(x)
        preds.append(None if p is None else (int(bool(p)) if task == "classification" else p))
        model.learn_one(x, bool(y) if task == "classification" else y)
    return preds


def ratings():
    """(user, item, rating) triples of a MovieLens-sized set with latent structure."""
    rng = np.random.default_rng(3)
    users, items, n, k = 943, 1682, 100_000, 5
    pu, qi = rng.normal(0, 0.5, (users, k)), rng.normal(0, 0.5, (items, k))
    bu, bi = rng.normal(0, 0.4, users), rng.normal(0, 0.5, items)
    who, what = rng.zipf(1.2, n) % users, rng.zipf(1.3, n) % items
    out = []
    for u, i in zip(who, what):
        r = 3.5 + bu[u] + bi[i] + pu[u] @ qi[i] + rng.normal(0, 0.8)
        out.append((int(u), int(i), float(np.clip(np.round(r), 1, 5))))
    return out


def mf_compare(quiver, work):
    """Progressive RMSE of River's BiasedMF() and of the stage, both with defaults."""
    rows = ratings()
    with open(os.path.join(work, "ratings.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "user", "item", "rating"])
        w.writerows((t, u, i, r) for t, (u, i, r) in enumerate(rows))
    stage = """
[[stage]]
name = "model"
kind = "matrix_factorization"
input = "rows"
user = "user"
item = "item"
rating = "rating"
"""
    schema = 'ts = "i64", user = "i64", item = "i64", rating = "f64"'
    out = quiver_run(quiver, work, "ratings", job("ratings", schema, stage))
    q = math.sqrt(sum((r["prediction"] - r["rating"]) ** 2 for r in out) / len(out))
    model, rmse = reco.BiasedMF(), metrics.RMSE()
    for u, i, r in rows:
        rmse.update(r, model.predict_one(str(u), str(i)))
        model.learn_one(str(u), str(i), r)
    better = "Quiver" if q < rmse.get() else "River"
    print(f"{'ratings (synth.)':16} {len(rows):>6} {'RMSE':9} {'defaults':9} {q:9.5f} "
          f"{rmse.get():9.5f}  {better}")


def main():
    quiver, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    print(f"{'data set':16} {'n':>6} {'metric':9} {'optimizer':9} {'Quiver':>9} {'River':>9}  better")
    for name, task, rows in river_sets() + sklearn_sets():
        dim = write_csv(os.path.join(work, f"{name}.csv"), rows)
        ys = [y for _, y in rows]
        higher_is_better = task == "classification"
        kind = "accuracy" if higher_is_better else "MAE"
        river = {}
        # (label, Quiver's optimizer field, River's optimizer): "defaults" is each side's.
        runs = [("defaults", None, None), ("adagrad", "adagrad", "adagrad"),
                ("adam", "adam", "adam")]
        if task == "classification":
            runs.append(("sgd", "sgd", None))
        for label, ours, theirs in runs:
            spec = learner_job(name, task, dim, ours)
            job_name = f"{name}-{ours}" if ours else name
            out = quiver_run(quiver, work, job_name, spec)
            q = [r["prediction"] for r in out]
            if len(q) != len(rows):
                sys.exit(f"{job_name}: Quiver wrote {len(q)} rows of {len(rows)}")
            if theirs not in river:
                river[theirs] = metric(task, ys, river_run(task, rows, theirs))
            mq, mr = metric(task, ys, q), river[theirs]
            if math.isclose(mq, mr, rel_tol=1e-9):
                better = "equal"
            else:
                better = "Quiver" if (mq > mr) == higher_is_better else "River"
            print(f"{name:16} {len(rows):>6} {kind:9} {label:9} {mq:9.5f} {mr:9.5f}  {better}",
                  flush=True)
    mf_compare(quiver, work)


if __name__ == "__main__":
    main()
