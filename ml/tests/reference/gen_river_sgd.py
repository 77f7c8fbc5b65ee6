"""River's online linear regression, for quiver-ml's StreamingLinearRegressionSgd.

quiver-ml steps `w -= lr (w.x + b - y) x`; River's squared loss has the gradient
2 (w.x + b - y), so River with learning rates lr / 2 (weights and intercept) takes the same
steps as quiver-ml with lr. A seeded stream of 40 samples; records River's weights and
intercept after it.

Run: python3 -m venv .venv/ml && .venv/ml/bin/pip install river numpy
     .venv/ml/bin/python ml/tests/reference/gen_river_sgd.py > ml/tests/reference/river_sgd.json
"""
import json

import numpy as np
import river
from river import linear_model, optim

rng = np.random.default_rng(15)
X = np.round(rng.normal(size=(40, 3)), 4)
y = np.round(X @ [1.0, -2.0, 0.5] + 0.3 + rng.normal(scale=0.1, size=40), 4)
lr = 0.05
model = linear_model.LinearRegression(optimizer=optim.SGD(lr / 2), intercept_lr=lr / 2, l2=0.0)
for row, target in zip(X, y):
    model.learn_one({i: float(v) for i, v in enumerate(row)}, float(target))
print(json.dumps({
    "river": river.__version__,
    "quiver_learning_rate": lr,
    "X": X.tolist(),
    "y": y.tolist(),
    "weights": [model.weights[i] for i in range(3)],
    "intercept": model.intercept,
}, indent=1))
