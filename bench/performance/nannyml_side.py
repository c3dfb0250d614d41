"""The NannyML side of the performance benchmark: run by ``bench_performance.py`` with the
bench venv's Python (NannyML lives only there, usage logging off):

    NML_DISABLE_USAGE_LOGGING=1 DO_NOT_TRACK=1 \
        bench/.venv-nannyml/bin/python bench/performance/nannyml_side.py DATA_DIR METRIC...

Reads ``reference.parquet`` and ``analysis.parquet`` of DATA_DIR (``make_data.py``),
then, timed apart:

- ``estimate``: ``nannyml.CBPE`` (binary classification, chunked by day on the
  timestamp, the default isotonic calibration) fitted on the reference, estimating the
  metrics on the analysis days;
- ``realized``: ``nannyml.PerformanceCalculator`` fitted on the reference, calculating
  the same metrics on the labelled analysis days.

Prints one JSON object: the seconds of each step (reading excluded, given apart) and
each day's estimated and realized value of every metric.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

import nannyml as nml
import pandas as pd

COLUMNS = dict(
    y_pred_proba="score",
    y_pred="y_pred",
    y_true="label",
    timestamp_column_name="timestamp",
    problem_type="classification_binary",
    chunk_period="D",
)


def per_day(result: object, metrics: list[str], column: str) -> dict[str, dict[str, float]]:
    """metric → {day (ISO) → value} of a NannyML result frame (analysis rows only)."""
    frame = result.filter(period="analysis").to_df()  # type: ignore[attr-defined]
    days = pd.to_datetime(frame[("chunk", "start_date")]).dt.strftime("%Y-%m-%d")
    return {
        m: dict(zip(days, frame[(m, column)].astype(float), strict=True)) for m in metrics
    }


def main() -> None:
    data, metrics = sys.argv[1], sys.argv[2:]
    t0 = time.perf_counter()
    reference = pd.read_parquet(os.path.join(data, "reference.parquet"))
    analysis = pd.read_parquet(os.path.join(data, "analysis.parquet"))
    t1 = time.perf_counter()
    estimator = nml.CBPE(metrics=metrics, **COLUMNS)
    estimator.fit(reference)
    estimated = estimator.estimate(analysis.drop(columns=["label"]))
    t2 = time.perf_counter()
    calculator = nml.PerformanceCalculator(metrics=metrics, **COLUMNS)
    calculator.fit(reference)
    realized = calculator.calculate(analysis)
    t3 = time.perf_counter()
    print(json.dumps({
        "version": nml.__version__,
        "pandas": pd.__version__,
        "read_s": t1 - t0,
        "estimate_s": t2 - t1,
        "realized_s": t3 - t2,
        "estimated": per_day(estimated, metrics, "value"),
        "realized": per_day(realized, metrics, "value"),
    }))


if __name__ == "__main__":
    main()
