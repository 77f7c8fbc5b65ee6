"""Expected values for quiver-ml's scikit-learn-anchored feature stages.

Run: python3 -m venv .venv/ml && .venv/ml/bin/pip install scikit-learn numpy
     .venv/ml/bin/python ml/tests/reference/gen_feature_sklearn.py > ml/tests/reference/feature_sklearn.json
Inputs are small, fixed and written here; outputs are what scikit-learn computes.
"""
import json

import numpy as np
import sklearn
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import KBinsDiscretizer, MaxAbsScaler, OneHotEncoder

rng = np.random.default_rng(7)
X = np.round(rng.normal(size=(40, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -2.0], 4)
X[:, 2] = np.round(rng.exponential(size=40), 4)  # a skewed column for quantile bins
Xtest = np.round(rng.normal(size=(10, 3)) * [2.0, 15.0, 1.0] + [0.0, 5.0, 1.0], 4)

out = {"sklearn": sklearn.__version__, "X": X.tolist(), "Xtest": Xtest.tolist()}

for strategy in ["uniform", "quantile"]:
    kw = {"quantile_method": "linear"} if strategy == "quantile" else {}
    kb = KBinsDiscretizer(n_bins=4, encode="ordinal", strategy=strategy, **kw).fit(X)
    out[f"kbins_{strategy}"] = {
        "edges": [e.tolist() for e in kb.bin_edges_],
        "train": kb.transform(X).tolist(),
        "test": kb.transform(Xtest).tolist(),
    }

# Values a hair (1e-6) below and exactly at the uniform edges 2, 4, 6, 8 of [0, 10]:
# scikit-learn before 1.9 shifted each value up by 1e-8 + 1e-5 |x| before binning, 1.9 does not.
E = np.array([[0.0], [10.0]] + [[e - 1e-6] for e in (2.0, 4.0, 6.0, 8.0)] + [[e] for e in (2.0, 4.0, 6.0, 8.0)])
kb = KBinsDiscretizer(n_bins=5, encode="ordinal", strategy="uniform").fit(E)
out["kbins_near_edges"] = {
    "X": E.tolist(),
    "edges": [e.tolist() for e in kb.bin_edges_],
    "bins": kb.transform(E).tolist(),
}

# A column whose range (1e-9) is narrower than scikit-learn's smallest bin (1e-8): one edge left.
N = np.array([[0.0], [5e-10], [1e-9]])
# scikit-learn drops narrow bins only for the quantile strategy.
for strategy in ["uniform", "quantile"]:
    kw = {"quantile_method": "linear"} if strategy == "quantile" else {}
    kb = KBinsDiscretizer(n_bins=5, encode="ordinal", strategy=strategy, **kw).fit(N)
    out[f"kbins_narrow_{strategy}"] = {
        "X": N.tolist(),
        "edges": [e.tolist() for e in kb.bin_edges_],
        "bins": kb.transform(N).tolist(),
    }

ma = MaxAbsScaler().fit(X)
out["maxabs"] = {"scale": ma.scale_.tolist(), "test": ma.transform(Xtest).tolist()}

M = np.array(
    [[1.0, np.nan, 3.0], [np.nan, 2.0, 3.0], [7.0, 6.0, np.nan], [4.0, 2.0, 9.0], [4.0, np.nan, 1.0]]
)
out["impute_input"] = [[None if np.isnan(v) else v for v in row] for row in M]
for strategy in ["mean", "median", "most_frequent"]:
    out[f"impute_{strategy}"] = SimpleImputer(strategy=strategy).fit_transform(M).tolist()

colors = ["red", "green", "blue", "green", "red", "yellow"]
sizes = [3, 1, 2, 3, 3, 1]
train = np.array(list(zip(colors, sizes)), dtype=object)
test = np.array([["blue", 1], ["purple", 3], ["red", 7]], dtype=object)
enc = OneHotEncoder(handle_unknown="ignore").fit(train)
enc_drop = OneHotEncoder(drop="first").fit(train)
out["onehot"] = {
    "colors": colors,
    "sizes": sizes,
    "test_colors": ["blue", "purple", "red"],
    "test_sizes": [1, 3, 7],
    "categories": [[str(c) for c in cats] for cats in enc.categories_],
    "train": enc.transform(train).toarray().tolist(),
    "test_ignore": enc.transform(test).toarray().tolist(),
    "train_drop_first": enc_drop.transform(train).toarray().tolist(),
}
print(json.dumps(out, indent=1))
