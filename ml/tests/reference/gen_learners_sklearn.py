"""Expected values for quiver-ml's batch learners, computed by scikit-learn.

Run: python3 -m venv .venv/ml && .venv/ml/bin/pip install scikit-learn numpy
     .venv/ml/bin/python ml/tests/reference/gen_learners_sklearn.py > ml/tests/reference/learners_sklearn.json
The data sets are drawn here from a seeded generator (no third-party data set); the
outputs are what scikit-learn computes on them.
"""
import json

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression, Ridge

rng = np.random.default_rng(15)
out = {"sklearn": sklearn.__version__}

# L2-regularised least squares and logistic regression at their optimum. quiver-ml minimises
# mean(loss) + reg / 2 |w|^2 (intercept not penalised): Ridge's alpha is n * reg and
# LogisticRegression's C is 1 / (n * reg).
n, reg = 60, 0.1
X = np.round(rng.normal(size=(n, 3)), 4)
y = np.round(X @ [1.5, -2.0, 0.5] + 0.7 + rng.normal(scale=0.3, size=n), 4)
p = 1 / (1 + np.exp(-(X @ [2.0, -1.0, 1.0] + 0.5)))
c = (rng.uniform(size=n) < p).astype(float)
l2 = {"X": X.tolist(), "y": y.tolist(), "c": c.tolist(), "reg": reg}
for intercept in [False, True]:
    ridge = Ridge(alpha=n * reg, fit_intercept=intercept, tol=1e-14).fit(X, y)
    logit = LogisticRegression(C=1 / (n * reg), fit_intercept=intercept, tol=1e-14, max_iter=10000).fit(X, c)
    key = "intercept" if intercept else "no_intercept"
    l2[f"ridge_{key}"] = {"coef": ridge.coef_.tolist(), "intercept": float(ridge.intercept_)}
    l2[f"logistic_{key}"] = {"coef": logit.coef_[0].tolist(), "intercept": float(logit.intercept_[0])}
out["l2"] = l2

# A data set shaped like a flower-measurement one: 3 classes of 50 rows in class order,
# 4 positive features; class 2 against the rest, scikit-learn's LogisticRegression() defaults.
means = np.array([[5.0, 3.4, 1.5, 0.25], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.5, 2.0]])
sds = np.array([[0.35, 0.38, 0.17, 0.1], [0.5, 0.3, 0.47, 0.2], [0.63, 0.32, 0.55, 0.27]])
F = np.round(np.vstack([rng.normal(m, s, size=(50, 4)) for m, s in zip(means, sds)]), 1)
label = np.repeat([0.0, 1.0, 2.0], 50)
clf = LogisticRegression().fit(F, label == 2)
out["classes"] = {
    "X": F.tolist(),
    "label": label.tolist(),
    "logistic_accuracy_class2": float(clf.score(F, label == 2)),
    # The lowest k-means inertia for k = 3 (best of 100 k-means++ starts).
    "kmeans_k3_inertia": float(KMeans(n_clusters=3, n_init=100, random_state=0).fit(F).inertia_),
}
print(json.dumps(out, indent=1))
