"""Expected per-step predictions of River's Baseline, BiasedMF and FunkMF.

A seeded stream of 80 ratings (8 users, 6 items, ratings 1-5) is run through each
River model with its defaults: before each learn_one, predict_one is recorded
(progressive validation). River draws latent factors from numpy when it first meets a
user or item; the script records those initial factors so the Rust test can start
from the same draw. Writes reco_expected.json beside this script.

    .venv/ml2/bin/python ml/tests/reference/gen_reco.py
"""

import json
import pathlib
import random

import river
from river import reco


def ratings():
    rng = random.Random(4242)
    out = []
    for _ in range(80):
        user, item = rng.randrange(8), rng.randrange(6)
        # a little structure: users like items with the same parity
        base = 4.0 if (user + item) % 2 == 0 else 2.0
        out.append([user, item, min(5.0, max(1.0, base + rng.choice([-1.0, 0.0, 0.0, 1.0])))])
    return out


def run(model, data, has_latents):
    predictions, user_init, item_init = [], {}, {}
    for user, item, y in data:
        predictions.append(model.predict_one(user, item))
        if has_latents:
            # predict_one created the factors of a new user / item: record the draw
            if user not in user_init:
                user_init[user] = model.u_latents[user].tolist()
            if item not in item_init:
                item_init[item] = model.i_latents[item].tolist()
        model.learn_one(user, item, y)
    out = {"predictions": predictions}
    if has_latents:
        out["user_factors"] = {str(k): v for k, v in user_init.items()}
        out["item_factors"] = {str(k): v for k, v in item_init.items()}
    return out


def main():
    data = ratings()
    result = {
        "river_version": river.__version__,
        "ratings": data,
        "baseline": run(reco.Baseline(), data, False),
        "biased_mf": run(reco.BiasedMF(seed=7), data, True),
        "funk_mf": run(reco.FunkMF(seed=7), data, True),
    }
    out = pathlib.Path(__file__).with_name("reco_expected.json")
    out.write_text(json.dumps(result, separators=(",", ":")) + "\n")
    for name in ("baseline", "biased_mf", "funk_mf"):
        print(name, result[name]["predictions"][-3:])


if __name__ == "__main__":
    main()
