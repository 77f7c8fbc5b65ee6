"""River's AdaGrad and Adam in its online linear learners, for quiver-ml's optimisers.

A seeded stream of 40 samples of 3 features, where each feature is absent (not in River's
dict; not stored in quiver-ml's sparse vector) with probability 0.3, learnt one by one by
River's `LinearRegression` and `LogisticRegression` with `optim.AdaGrad(0.1)` and
`optim.Adam(0.1)` (River's defaults: ε 1e-8, β1 0.9, β2 0.999) and `intercept_lr=0` (River
steps its intercept by plain SGD whatever the optimiser; quiver-ml steps it with the
optimiser, so the test compares models without one). Records the weights after the stream
and the prediction of every sample before it is learnt.

quiver-ml's squared-loss gradient is half River's; AdaGrad's and Adam's steps do not change
when the gradient is scaled but for ε, so River's regression takes ε 4e-8 (AdaGrad: its G is
4 times ours) and 2e-8 (Adam: its √v is twice ours) to take the steps quiver-ml takes with
ε 1e-8. (With River's ε 1e-8 they differ by about 1e-5 relative where gradients are small.)

Run: bench/peers_setup.sh ml   (a venv with river at ~/.cache/quiver-peers/ml-venv)
     ~/.cache/quiver-peers/ml-venv/bin/python ml/tests/reference/gen_river_optim.py \
         > ml/tests/reference/river_optim.json
"""
import json

import numpy as np
import river
from river import linear_model, optim

rng = np.random.default_rng(29)
X = np.round(rng.normal(size=(40, 3)), 4)
present = rng.random(size=(40, 3)) >= 0.3
y_reg = np.round(X @ [1.0, -2.0, 0.5] + 0.3 + rng.normal(scale=0.1, size=40), 4)
y_clf = (X @ [1.0, -2.0, 0.5] + rng.normal(scale=0.5, size=40) > 0).astype(int)


def rows():
    for row, mask in zip(X, present):
        yield {i: float(v) for i, (v, p) in enumerate(zip(row, mask)) if p}


out = {"river": river.__version__, "X": X.tolist(), "present": present.tolist(),
       "y_regression": y_reg.tolist(), "y_classification": y_clf.tolist()}
for name, make, eps in [("adagrad", optim.AdaGrad, 4e-8), ("adam", optim.Adam, 2e-8)]:
    reg = linear_model.LinearRegression(optimizer=make(0.1, eps=eps), intercept_lr=0.0)
    clf = linear_model.LogisticRegression(optimizer=make(0.1), intercept_lr=0.0)
    preds_reg, probs_clf = [], []
    for x, yr, yc in zip(rows(), y_reg, y_clf):
        preds_reg.append(reg.predict_one(x))
        probs_clf.append(clf.predict_proba_one(x)[True])
        reg.learn_one(x, float(yr))
        clf.learn_one(x, bool(yc))
    out[name] = {
        "regression": {"weights": [reg.weights.get(i, 0.0) for i in range(3)],
                       "predictions": preds_reg},
        "classification": {"weights": [clf.weights.get(i, 0.0) for i in range(3)],
                           "probabilities": probs_clf},
    }
print(json.dumps(out, indent=1))
