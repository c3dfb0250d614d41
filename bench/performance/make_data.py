"""Data of the performance benchmark: one fitted model, its labelled holdout and 30 days
of labelled production predictions, written as Parquet for both sides to read.

    .venv/bin/python bench/performance/make_data.py --out /tmp/deployready-bench-perf \
        [--days 30] [--per-day 100000] [--holdout 5000] [--seed 0]

- 8 numeric features; the true P(y = 1 | x) is a fixed logistic function of them with an
  interaction and a non-linear term (the label of every row is drawn from it);
- the model: scikit-learn's HistGradientBoostingClassifier fitted on 20,000 training rows;
- ``reference.parquet``: the labelled holdout (``--holdout`` rows of the training
  distribution, scored by the model), with timestamps over the 5 days before production —
  what the package ships as ``calibration.parquet`` and what NannyML fits on;
- ``analysis.parquet``: ``--days`` × ``--per-day`` production predictions, every one
  labelled. Days 0–9 come from the training distribution; from day 10 the inputs shift
  (covariate shift: x0 and x1 move up to 1.2 standard deviations, x2's spread grows),
  ramping up to day 19 and held to the end, so the score distribution and the realized
  metrics move and the estimate has something to track. P(y | x) never changes.

Columns of both files: ``request_id`` (str), ``timestamp`` (UTC), ``score`` (probability
of class 1), ``y_pred`` (score >= 0.5), ``label`` (0/1). ``meta.json`` records the seed,
sizes and the model's versions.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier

FEATURES = 8
START = pd.Timestamp("2024-03-01", tz="UTC")


def true_probability(x: np.ndarray) -> np.ndarray:
    logit = (
        -1.0
        + 1.2 * x[:, 0]
        - 0.9 * x[:, 1]
        + 0.7 * x[:, 2] * x[:, 3]
        + 0.8 * np.sin(2.0 * x[:, 4])
        + 0.5 * x[:, 5] ** 2
        - 0.4 * x[:, 6]
    )
    return 1.0 / (1.0 + np.exp(-logit))


def features(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    """``n`` rows; ``shift`` in [0, 1] is how far the covariate shift has gone."""
    x = rng.normal(0.0, 1.0, size=(n, FEATURES))
    x[:, 0] += 1.2 * shift
    x[:, 1] += 0.8 * shift
    x[:, 2] *= 1.0 + 0.8 * shift
    return x


def labels(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    return (rng.random(len(x)) < true_probability(x)).astype(np.int8)


def shift_of(day: int) -> float:
    return 0.0 if day < 10 else min(1.0, (day - 9) / 10)


def scored(
    model: HistGradientBoostingClassifier, x: np.ndarray, y: np.ndarray,
    times: pd.DatetimeIndex, prefix: str,
) -> pd.DataFrame:
    score = model.predict_proba(x)[:, 1].astype(np.float64)
    return pd.DataFrame({
        "request_id": [f"{prefix}-{i:08d}" for i in range(len(x))],
        "timestamp": times,
        "score": score,
        "y_pred": (score >= 0.5).astype(np.int8),
        "label": y,
    })


def day_times(rng: np.random.Generator, day: pd.Timestamp, n: int) -> pd.DatetimeIndex:
    seconds = np.sort(rng.integers(0, 86_400_000_000, size=n))  # µs into the day
    return pd.DatetimeIndex(day + pd.to_timedelta(seconds, unit="us"))


def make(out: Path, days: int, per_day: int, holdout: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    x_train = features(rng, 20_000)
    model = HistGradientBoostingClassifier(max_iter=150, random_state=seed)
    model.fit(x_train, labels(rng, x_train))
    x_ref = features(rng, holdout)
    ref_times = pd.DatetimeIndex(np.sort(
        START - pd.Timedelta(days=5) + pd.to_timedelta(
            rng.integers(0, 5 * 86_400_000_000, size=holdout), unit="us")
    ))
    ref = scored(model, x_ref, labels(rng, x_ref), ref_times, "ref")
    ref.to_parquet(out / "reference.parquet", index=False)
    parts = []
    for d in range(days):
        x = features(rng, per_day, shift_of(d))
        times = day_times(rng, START + pd.Timedelta(days=d), per_day)
        part = scored(model, x, labels(rng, x), times, f"d{d:02d}")
        parts.append(part)
    analysis = pd.concat(parts, ignore_index=True)
    analysis.to_parquet(out / "analysis.parquet", index=False)
    meta: dict[str, object] = {
        "seed": seed, "days": days, "per_day": per_day, "holdout": holdout,
        "features": FEATURES, "model": "HistGradientBoostingClassifier(max_iter=150)",
        "training_rows": len(x_train), "sklearn": sklearn.__version__,
        "shift_by_day": [shift_of(d) for d in range(days)],
        "positive_rate_reference": float(ref["label"].mean()),
        "positive_rate_analysis": float(analysis["label"].mean()),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/deployready-bench-perf"))
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=100_000)
    parser.add_argument("--holdout", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    meta = make(args.out, args.days, args.per_day, args.holdout, args.seed)
    print(json.dumps(meta, indent=2))
    print(f"written to {args.out} in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
