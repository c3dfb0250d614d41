"""Rows fetched from the profile store (:mod:`.store`) as long-form frames, remembered
per store generation.

A page asks the same merged question more than once (the versions on every page, a
year of day-grain bins for drift and the daily checks) and the dashboard renders every
page again on each interaction: an answer is kept under the store file's identity, its
generation (moved on by every committed ingest) and the question's SQL and parameters,
so any ingest — or a store deleted and rebuilt — is a new key. Values are shared: each
caller gets its own shallow copy (copy-on-write keeps the remembered frame as it is).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from deployready.memo import FileMemo
from deployready.monitoring.profiles.frame import COLUMNS, KEYS

__all__ = ["FETCHED", "empty_counts", "remembered"]

#: Merged reads by (store identity, generation, SQL, parameters); 256 MiB at most.
FETCHED: FileMemo[pd.DataFrame] = FileMemo(
    256 * 2**20, lambda frame: int(frame.memory_usage(index=False, deep=False).sum()))


def empty_counts(grain: str) -> pd.DataFrame:
    """The long form with no rows (``day`` instead of ``hour`` for grain ``day``)."""
    out = pd.DataFrame({c: pd.Series([], dtype=object) for c in COLUMNS})
    for c in ("hour", "bucket", "value"):
        out[c] = out[c].astype(np.int64)
    if grain == "day":
        out = out.rename(columns={"hour": "day"})
        out["day"] = out["day"].astype(object)
    return out


def _column(name: str, values: tuple[Any, ...]) -> Any:
    """One column of fetched rows: integers as int64; texts (few distinct) coded once,
    as the same string dtype pandas infers; days as ``datetime.date``."""
    if name in ("hour", "bucket", "value"):
        return np.array(values, dtype=np.int64)
    distinct: dict[Any, int] = {}
    codes = np.fromiter((distinct.setdefault(v, len(distinct)) for v in values),
                        dtype=np.int64, count=len(values))
    if name == "day":
        days = np.empty(len(distinct), dtype=object)
        days[:] = [date.fromisoformat(str(t)) for t in distinct]
        return days[codes]
    return pd.array(list(distinct), dtype="str").take(codes)


def frame_of(rows: Sequence[tuple[Any, ...]], grain: str) -> pd.DataFrame:
    """Fetched rows (the long-form columns, ``day`` for grain ``day``) as a frame."""
    if not rows:
        return empty_counts(grain)
    names = [*KEYS, "value"] if grain == "hour" else [*KEYS[:2], "day", *KEYS[3:], "value"]
    return pd.DataFrame({name: _column(name, values)
                         for name, values in zip(names, zip(*rows, strict=True), strict=True)})


def remembered(key: Hashable, grain: str,
               fetch: Callable[[], Sequence[tuple[Any, ...]]]) -> pd.DataFrame:
    """The frame of ``fetch()`` remembered under ``key``; a copy of it for the caller."""
    frame = FETCHED.get(key)
    if frame is None:
        frame = frame_of(fetch(), grain)
        FETCHED.put(key, frame)
    return frame.copy(deep=False)
