"""The joined frame: one row per joinable prediction, with its label when it has come.

Columns: ``request_id`` (str), ``timestamp`` (datetime64[ns, UTC]), ``day``
(datetime.date, UTC), ``prediction`` (float64 probability of class 1), ``label``
(float64 0.0 / 1.0, NaN while not labelled), ``labeled_at`` (datetime64[ns, UTC], NaT
while not labelled). Predictions that cannot be joined (no request id) are not rows:
they are counted per day beside the frame (``unjoinable``), and count in a day's
predictions (the denominator of label coverage).

:func:`day_groups` gives the rows of each day, as ``groupby("day")`` would, without
hashing every row's date: the join's frames are ordered by timestamp, so each day is one
run of rows, found by comparing neighbours; a frame in any other order is grouped by its
runs. :func:`joined_days` checks a frame and groups its days once, for every computation
that reads it (:class:`JoinedDays`: the report hands it to realized and estimated
performance).

:func:`labels_known_by` is the frame as it was known at a given time: the one place that
decides which labels a report or a daily check "as of" ``now`` counts, whichever engine
joined them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from deployready.errors import InputError
from deployready.times import to_utc

COLUMNS = ("request_id", "timestamp", "day", "prediction", "label", "labeled_at")


def as_numbers(column: pd.Series) -> np.ndarray:
    """A numeric column as float64 (what is not a number: NaN), without a copy when it
    already is float64."""
    if column.dtype == np.float64:
        return np.asarray(column.to_numpy())
    return np.asarray(pd.to_numeric(column, errors="coerce").to_numpy(np.float64))


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
    p = as_numbers(frame["prediction"])
    bad = ~((p >= 0) & (p <= 1))  # NaN and ±inf fail both comparisons' conjunction
    if bad.any():
        raise InputError(
            f"prediction {frame['prediction'].iloc[int(np.argmax(bad))]!r} is not a probability",
            location=f"prediction, row {int(np.argmax(bad))}",
            expected="a number in [0, 1]",
        )
    y = as_numbers(frame["label"])
    bad = ~((y == 0) | (y == 1) | np.isnan(y))
    if frame["label"].dtype != np.float64:  # a value that is not a number at all
        bad |= np.isnan(y) & frame["label"].notna().to_numpy()
    if bad.any():
        raise InputError(
            f"label {frame['label'].iloc[int(np.argmax(bad))]!r} is not a class",
            location=f"label, row {int(np.argmax(bad))}",
            expected="0, 1, or empty while not labelled",
        )


def day_groups(frame: pd.DataFrame) -> dict[date, slice | np.ndarray]:
    """Each day of ``frame`` (its ``day`` column), oldest first → its rows' positions, in
    frame order: a slice when the day's rows are one run, else an index array. Rows
    without a day belong to none, as in ``groupby``."""
    days = frame["day"].to_numpy()
    if days.size == 0:
        return {}
    cut = np.flatnonzero(days[1:] != days[:-1]) + 1
    starts, stops = np.r_[0, cut], np.r_[cut, days.size]
    keys = days[starts]
    if len(set(keys)) == keys.size:  # one run per day (the join's frames)
        runs = {k: slice(int(a), int(b)) for k, a, b in zip(keys, starts, stops, strict=True)}
        return {k: runs[k] for k in sorted(k for k in runs if not pd.isna(k))}
    codes, uniques = pd.factorize(keys)  # runs of the same day, wherever they are
    row_code = np.repeat(codes, stops - starts)
    order = np.argsort(row_code, kind="stable")
    bounds = np.searchsorted(row_code[order], np.arange(uniques.size + 1))
    groups = {uniques[i]: order[bounds[i]:bounds[i + 1]] for i in range(uniques.size)}
    return {k: groups[k] for k in sorted(groups)}


@dataclass(frozen=True)
class JoinedDays:
    """A joined frame that passed :func:`check_joined`, and the rows of each of its days
    (:func:`day_groups`)."""

    frame: pd.DataFrame
    rows: dict[date, slice | np.ndarray]


def joined_days(joined: pd.DataFrame | JoinedDays) -> JoinedDays:
    """The frame checked and its days grouped (a :class:`JoinedDays` is returned as is)."""
    if isinstance(joined, JoinedDays):
        return joined
    check_joined(joined)
    return JoinedDays(joined, day_groups(joined))


def labels_known_by(frame: pd.DataFrame, now: datetime | None) -> pd.DataFrame:
    """``frame`` as known at ``now``: a label whose ``labeled_at`` is later than ``now``
    had not come yet (``label`` NaN, ``labeled_at`` NaT), so only labels with
    ``labeled_at <= now`` count; a label without a ``labeled_at`` counts. ``frame`` itself
    when ``now`` is None (every label in the files) or every label was known by then."""
    if now is None or not {"label", "labeled_at"} <= set(frame.columns) or not len(frame):
        return frame
    at = pd.to_datetime(frame["labeled_at"], utc=True, errors="coerce")
    later = (at > to_utc(now)).to_numpy()
    if not later.any():
        return frame
    return frame.assign(label=frame["label"].mask(later), labeled_at=at.mask(later))
