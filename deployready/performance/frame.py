"""The joined frame: one row per joinable prediction, with its label when it has come.

Columns: ``request_id`` (str), ``timestamp`` (datetime64[ns, UTC]), ``day``
(datetime.date, UTC), ``prediction`` (float64 probability of class 1), ``label``
(float64 0.0 / 1.0, NaN while not labelled), ``labeled_at`` (datetime64[ns, UTC], NaT
while not labelled). Predictions that cannot be joined (no request id) are not rows:
they are counted per day beside the frame (``unjoinable``), and count in a day's
predictions (the denominator of label coverage).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deployready.errors import InputError

COLUMNS = ("request_id", "timestamp", "day", "prediction", "label", "labeled_at")


def check_joined(frame: pd.DataFrame) -> None:
    """An InputError naming the column (and the first bad row) when ``frame`` does not
    follow the contract above."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            f"joined predictions lack column(s) {', '.join(missing)}",
            location=missing[0],
            expected="columns " + ", ".join(COLUMNS),
        )
    p = pd.to_numeric(frame["prediction"], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    if bad.any():
        raise InputError(
            f"prediction {frame['prediction'].iloc[int(np.argmax(bad))]!r} is not a probability",
            location=f"prediction, row {int(np.argmax(bad))}",
            expected="a number in [0, 1]",
        )
    y = pd.to_numeric(frame["label"], errors="coerce").to_numpy(np.float64)
    bad = ~(np.isnan(y) | (y == 0) | (y == 1))
    bad |= np.isnan(y) & frame["label"].notna().to_numpy()
    if bad.any():
        raise InputError(
            f"label {frame['label'].iloc[int(np.argmax(bad))]!r} is not a class",
            location=f"label, row {int(np.argmax(bad))}",
            expected="0, 1, or empty while not labelled",
        )
