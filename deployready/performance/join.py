"""Logged predictions joined to their ground-truth labels, per version.

:func:`joined_predictions` takes the successful predictions of a version (in
``[start, end)``) that carry a ``request_id`` and gives each the label of that id, if
one has arrived (:mod:`deployready.performance.labels` for the label rules). Outcomes:

- a prediction without a label yet: ``label`` NaN, ``labeled_at`` NaT;
- a successful prediction without a request id (a log written before ids): not in the
  frame, counted per day in ``no_id`` — no performance for those rows, said so;
- a label whose id is on no successful logged prediction (of any version): counted in
  ``unmatched``, not an error (the prediction may be in logs not kept here);
- a request id on several predictions (a client reusing its ids): each gets the label;
- a label known more than :data:`CLOCK_SKEW` (5 min) *before* its prediction was made:
  an error naming the id, both times and the label's file and row — a label cannot
  precede what it labels, beyond the clocks of two machines disagreeing.

Two engines give the identical frame: ``pandas`` (the label files read whole, the
logs' narrow validated rows, kept across processes in the workspace's log index:
:mod:`deployready.monitoring.log_index`) and ``duckdb`` (label and log files scanned in
place, validated in SQL, only the joined rows of the version and range fetched).
``engine="auto"`` picks DuckDB when the label and log files together exceed the logs'
DuckDB threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from deployready.errors import LabelError
from deployready.monitoring.log_index import narrow_rows
from deployready.monitoring.logs import DEFAULT_DUCKDB_THRESHOLD, ProductionLogs
from deployready.monitoring.logs_pandas import id_counts
from deployready.performance.labels import label_files, load_labels
from deployready.times import TimeLike, to_utc

#: How far a label's ``labeled_at`` may lie before its prediction's timestamp.
CLOCK_SKEW = pd.Timedelta(minutes=5)
JOIN_COLUMNS = ["request_id", "timestamp", "day", "prediction", "label", "labeled_at"]


@dataclass(frozen=True)
class JoinedPredictions:
    """Predictions of one version with their labels (see the module's outcomes)."""

    version: str
    #: request_id, timestamp (UTC), day (UTC date), prediction (P(class 1)), label
    #: (0.0/1.0, NaN without one yet), labeled_at (NaT without); by timestamp, then id
    frame: pd.DataFrame
    #: per UTC day: successful predictions without a request id (index: datetime.date)
    no_id: pd.Series
    #: labels whose id is on no successful logged prediction
    unmatched: int
    #: the label files read
    files: list[Path]
    engine: str

    @property
    def labelled(self) -> int:
        return int(self.frame["label"].notna().sum())


#: ticks of a day in each unit of a timestamp column
_TICKS_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000,
                  "ns": 86_400_000_000_000}
_EPOCH = date(1970, 1, 1).toordinal()


def utc_days(timestamp: pd.Series) -> pd.Series:
    """The UTC date (``datetime.date``) of each timestamp (None for NaT), vectorised: the
    day number of each instant from its integer ticks, one date made per distinct day."""
    series = pd.Series(timestamp)
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.astype("datetime64[ns, UTC]")
    ticks = series.array.asi8  # UTC instants, whatever the zone shown
    per_day = _TICKS_PER_DAY[series.dtype.unit]
    known = ticks != np.iinfo(np.int64).min  # NaT's ticks
    every = bool(known.all())
    codes, days = _day_codes(ticks if every else ticks[known], per_day)
    dates = np.array([date.fromordinal(_EPOCH + int(d)) for d in days] + [None], dtype=object)
    if every:
        return pd.Series(dates[codes], index=series.index, dtype=object, copy=False)
    out = np.full(ticks.size, None, dtype=object)
    out[known] = dates[codes]
    return pd.Series(out, index=series.index, dtype=object, copy=False)


def _day_codes(ticks: np.ndarray, per_day: int) -> tuple[np.ndarray, np.ndarray]:
    """(code of each instant's day, the distinct day numbers, ascending). Instants in
    time order (the join's): the days' first instants found by binary search; else each
    day number by division, coded by counting over their range (or hashing, when the
    range is much wider than the rows)."""
    if ticks.size == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.int64)
    if bool(np.all(ticks[1:] >= ticks[:-1])):
        first, last = int(ticks[0]) // per_day, int(ticks[-1]) // per_day
        edges = np.searchsorted(ticks, np.arange(first, last + 2) * per_day)
        counts = np.diff(edges)
        days = np.flatnonzero(counts)
        return np.repeat(np.arange(days.size), counts[days]), days + first
    day = np.floor_divide(ticks, per_day)
    if int(day.max()) - int(day.min()) <= 4 * day.size + 1024:
        offset = day - day.min()
        present = np.flatnonzero(np.bincount(offset))
        code = np.zeros(int(offset.max()) + 1, dtype=np.intp)
        code[present] = np.arange(present.size)
        return code[offset], present + day.min()
    uniques, codes = np.unique(day, return_inverse=True)
    return codes, uniques


def _frame(ids: Any, ts: Any, prediction: Any, label: Any, labeled_at: Any) -> pd.DataFrame:
    timestamp = pd.Series(ts).astype("datetime64[ns, UTC]").reset_index(drop=True)
    return pd.DataFrame({
        "request_id": pd.Series(ids, dtype=object).reset_index(drop=True),
        "timestamp": timestamp,
        "day": utc_days(timestamp),
        "prediction": np.asarray(prediction, dtype=np.float64),
        "label": np.asarray(label, dtype=np.float64),
        "labeled_at": pd.Series(labeled_at).astype("datetime64[ns, UTC]")
        .reset_index(drop=True),
    })[JOIN_COLUMNS]


def _early_error(rid: str, ts: Any, labeled_at: Any, file: str, row: int) -> LabelError:
    return LabelError(
        f"request id {rid!r} labeled at {pd.Timestamp(labeled_at).isoformat()}, before its "
        f"prediction at {pd.Timestamp(ts).isoformat()}", source=file,
        location=f"row {int(row)}, column labeled_at",
        expected=f"a labeled_at after the prediction's time (clock skew up to {CLOCK_SKEW})")


def _pandas_join(logs: ProductionLogs, directory: Path, version: str, start: TimeLike,
                 end: TimeLike, root: Any) -> tuple[pd.DataFrame, int, list[Path], pd.Series]:
    """The join from the logs' narrow rows (kept in ``root``'s log index, when given), and
    the per-day count of the period's successful rows without a request id."""
    labels = load_labels(directory)
    narrow = narrow_rows(logs.files, logs.states, root)
    logged_ok = narrow[narrow["ok"].to_numpy()]
    keep = (logged_ok["version"] == version).to_numpy().copy()
    lo, hi = to_utc(start), to_utc(end)
    if lo is not None:
        keep &= (logged_ok["timestamp"] >= lo).to_numpy()
    if hi is not None:
        keep &= (logged_ok["timestamp"] < hi).to_numpy()
    period = logged_ok[keep].sort_values("timestamp", kind="stable", ignore_index=True)
    no_id = id_counts(period.assign(error=""))["no_id"]
    ok = period[period["request_id"].notna()]
    ids = ok["request_id"].astype(object).reset_index(drop=True)
    lab = labels.frame.set_index("request_id")
    pos = lab.index.get_indexer(ids)  # unique ids (deduped); -1: no label
    found = pos >= 0
    take = lab.iloc[np.where(found, pos, 0)] if len(lab) else None
    label = np.where(found, take["label"].to_numpy(), np.nan) if take is not None else \
        np.full(len(ids), np.nan)
    labeled_at = pd.Series(pd.NaT, index=range(len(ids)), dtype="datetime64[ns, UTC]")
    if take is not None:
        labeled_at[found] = take["labeled_at"].to_numpy()[found]
        early = found & (labeled_at < ok["timestamp"].reset_index(drop=True)
                         - CLOCK_SKEW).to_numpy()
        if early.any():
            rows = take.reset_index().loc[early].assign(ts=ok["timestamp"].to_numpy()[early])
            first = rows.sort_values(["file", "row"], kind="stable").iloc[0]
            raise _early_error(first["request_id"], first["ts"], first["labeled_at"],
                               first["file"], first["row"])
    frame = _frame(ids, ok["timestamp"], ok["prediction"], label, labeled_at)
    logged = set(logged_ok["request_id"].dropna())
    unmatched = int((~labels.frame["request_id"].isin(logged)).sum())
    return _sorted(frame), unmatched, labels.files, no_id


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["timestamp", "request_id"], kind="stable",
                             ignore_index=True)


def _duck_join(logs: ProductionLogs, directory: Path, version: str, start: TimeLike,
               end: TimeLike) -> tuple[pd.DataFrame, int, list[Path]]:
    from deployready.performance.labels_sql import register_labels

    files = label_files(directory)
    duck = logs.duck()
    register_labels(duck.con, files)
    if not logs.files:
        n = duck.con.execute("SELECT count(*) FROM labels").fetchone()
        return _frame([], [], [], [], []), int(n[0]) if n else 0, files
    conds, params = ["g.version = ?", "g.error = ''", "g.request_id IS NOT NULL"], [version]
    for op, bound in ((">=", to_utc(start)), ("<", to_utc(end))):
        if bound is not None:
            conds.append(f"g.ts {op} ?")
            params.append(bound.to_pydatetime())
    where = " AND ".join(conds)
    skew = int(CLOCK_SKEW / pd.Timedelta(microseconds=1))
    early = duck.query(
        "SELECT g.request_id, g.ts, lab.labeled_at, lab.file, lab.rn FROM logs g JOIN labels "
        f"lab ON g.request_id = lab.request_id WHERE {where} AND lab.labeled_at < g.ts - "
        f"to_microseconds({skew}) ORDER BY lab.file, lab.rn LIMIT 1", params)
    if early:
        raise _early_error(*early[0])
    got = duck.con.execute(
        "SELECT g.request_id, g.ts, g.prediction, lab.label, lab.labeled_at FROM logs g "
        f"LEFT JOIN labels lab ON g.request_id = lab.request_id WHERE {where} "
        "ORDER BY g.ts, g.request_id", params).df()
    unmatched = duck.query(
        "SELECT count(*) FROM labels lab WHERE NOT EXISTS (SELECT 1 FROM logs g WHERE "
        "g.error = '' AND g.request_id = lab.request_id)")[0][0]
    frame = _frame(got["request_id"], got["ts"], got["prediction"], got["label"],
                   got["labeled_at"])
    return _sorted(frame), int(unmatched), files


def joined_predictions(ws: Any, version: str, start: TimeLike = None, end: TimeLike = None,
                       *, engine: Literal["auto", "pandas", "duckdb"] = "auto",
                       threshold_bytes: int | None = None) -> JoinedPredictions:
    """The successful predictions of ``version`` in [start, end) with their labels from
    ``ws.labels_dir`` (see the module's outcomes); :class:`LabelError` /
    :class:`~deployready.errors.LogError` naming a bad file, row and column."""
    directory = Path(ws.labels_dir)
    logs = ProductionLogs(ws.production_dir, {}, engine, threshold_bytes, version)
    try:
        chosen = engine
        if engine == "auto":
            limit = DEFAULT_DUCKDB_THRESHOLD if threshold_bytes is None else threshold_bytes
            size = logs.total_bytes + sum(p.stat().st_size for p in label_files(directory))
            chosen = "duckdb" if logs.chosen == "duckdb" or size > limit else "pandas"
        if chosen == "duckdb":
            frame, unmatched, files = _duck_join(logs, directory, version, start, end)
            no_id = logs.id_counts(version, start, end)["no_id"]
        else:
            frame, unmatched, files, no_id = _pandas_join(
                logs, directory, version, start, end, getattr(ws, "root", None))
    finally:
        logs.close()
    return JoinedPredictions(version, frame, no_id, unmatched, files, chosen)
