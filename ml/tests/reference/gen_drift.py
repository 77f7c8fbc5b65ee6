"""Expected drift indices from River's real detectors (ADWIN, PageHinkley, KSWIN).

Builds two seeded streams with a known change point at index 1000 and runs River's
detectors with their defaults (KSWIN seeded 42); writes the streams and every
index each detector flags to drift_expected.json beside this script.

    python3 -m venv .venv/ml2 && .venv/ml2/bin/pip install river numpy
    .venv/ml2/bin/python ml/tests/reference/gen_drift.py
"""

import json
import pathlib
import random

import river
from river import drift

CHANGE_AT = 1000


def streams():
    rng = random.Random(20261126)
    gaussian = [round(rng.gauss(0.0, 1.0), 4) for _ in range(CHANGE_AT)]
    gaussian += [round(rng.gauss(1.5, 1.0), 4) for _ in range(CHANGE_AT)]
    errors = [1.0 if rng.random() < 0.2 else 0.0 for _ in range(CHANGE_AT)]
    errors += [1.0 if rng.random() < 0.5 else 0.0 for _ in range(CHANGE_AT)]
    return {"gaussian_mean_shift": gaussian, "error_rate_shift": errors}


def flagged(detector, values):
    out = []
    for i, x in enumerate(values):
        detector.update(x)
        if detector.drift_detected:
            out.append(i)
    return out


def main():
    result = {"river_version": river.__version__, "change_at": CHANGE_AT, "streams": {}}
    for name, values in streams().items():
        result["streams"][name] = {
            "values": values,
            "adwin": flagged(drift.ADWIN(), values),
            "page_hinkley": flagged(drift.PageHinkley(), values),
            "kswin": flagged(drift.KSWIN(seed=42), values),
        }
    out = pathlib.Path(__file__).with_name("drift_expected.json")
    out.write_text(json.dumps(result, separators=(",", ":")) + "\n")
    for name, s in result["streams"].items():
        print(name, {k: v for k, v in s.items() if k != "values"})


if __name__ == "__main__":
    main()
