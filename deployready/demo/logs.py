"""Production prediction logs for the demo workspace, made by the real model.

``write_demo_logs`` draws a time-ordered dataset with :func:`deployready.demo.data.make_dataset`
(drift in a few numeric features from ``drift_days`` before the end), scores every row
with the package's serving path (``LoadedPackage.predict``) and writes one CSV per UTC
day, ``data/production/predictions-YYYY-MM-DD.csv``, in the format ``deployready serve``
writes. Latency is lognormal around a few milliseconds and follows a diurnal load curve;
one *spike day* has a few hours with P99 well above 100 ms; a small share of requests
fail validation, with one *error-spike day*. Every request carries a ``request_id``
(``demo-<day>-<n>``), so ground truth can be joined to it; the drift week also carries a
*concept change* (``concept``, see :func:`deployready.demo.data.make_dataset`): the same
inputs stop meaning the same risk, which only the labels show. The rows' true labels are
returned (``DemoLogs.truth``) for :mod:`deployready.demo.labels`. Everything derives
from ``seed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from deployready.monitoring.logs import as_date, yesterday
from deployready.workspace import Workspace

BASE_ERROR_RATE = 0.003
SPIKE_ERROR_RATE = 0.06
SPIKE_HOURS = (14, 17)  # [start, end) UTC hours of the latency spike
CONCEPT = 0.6  # weight of the changed ground truth in the drift week


class Predictor(Protocol):
    version: str
    schema: dict[str, Any]

    def predict(self, frame: pd.DataFrame) -> np.ndarray: ...


@dataclass(frozen=True)
class DemoLogs:
    files: list[Path]
    rows: int
    version: str
    start: date
    end: date
    drift_start: date
    drift_features: dict[str, float]
    spike_day: date | None
    error_spike_day: date | None
    extra: dict[str, Any] = field(default_factory=dict)
    #: request_id, timestamp (UTC) and true label of every successful request
    truth: pd.DataFrame | None = None


def _day_of(end: date, value: date | str | int | None) -> date | None:
    if value is None:
        return None
    if isinstance(value, int):
        return end - timedelta(days=value)
    return as_date(value)


def _feature_specs(loaded: Predictor) -> list[dict[str, Any]]:
    return list(loaded.schema.get("features", []))


PREFERRED_DRIFT = {"amount": 0.15, "utilization": 0.45, "channel": 0.5}


def default_drift(loaded: Predictor) -> dict[str, float]:
    """Drift for the last week: a strong and a medium numeric shift (in std units) and a
    categorical one (share of rows moved to another category); else three numeric."""
    names = {f["name"] for f in _feature_specs(loaded)}
    if set(PREFERRED_DRIFT) <= names:
        return dict(PREFERRED_DRIFT)
    numeric = [f["name"] for f in _feature_specs(loaded) if f.get("kind") == "numeric"]
    shifts = (1.0, 0.6, 0.3)
    return {name: s for name, s in zip(numeric, shifts, strict=False)}


def _timestamps(rng: np.random.Generator, day: date, n: int) -> np.ndarray:
    """n sorted times in one UTC day, denser in the (UTC) afternoon."""
    minutes = np.arange(24 * 60)
    load = 1.0 + 0.7 * np.sin((minutes / (24 * 60) - 0.3) * 2 * np.pi)
    picks = rng.choice(minutes, size=n, p=load / load.sum())
    seconds = picks * 60 + rng.uniform(0, 60, size=n)
    base = pd.Timestamp(day, tz="UTC").value
    ns: np.ndarray = base + np.sort(seconds * 1e9).astype(np.int64)
    return ns


def _latency(rng: np.random.Generator, ts_ns: np.ndarray, spike: bool) -> np.ndarray:
    hours = ((ts_ns // 3_600_000_000_000) % 24).astype(np.int64)
    load = 1.0 + 0.7 * np.sin((hours / 24 - 0.3) * 2 * np.pi)  # 0.3 .. 1.7
    latency = rng.lognormal(mean=np.log(3.5), sigma=0.35, size=ts_ns.size) * (0.8 + 0.3 * load)
    if spike:
        hit = (hours >= SPIKE_HOURS[0]) & (hours < SPIKE_HOURS[1])
        latency[hit] = rng.lognormal(mean=np.log(70.0), sigma=0.45, size=int(hit.sum()))
    return np.round(latency, 3)


@dataclass(frozen=True)
class _Scored:
    """The production rows of the logged days, scored by the package."""

    data: pd.DataFrame
    event_day: np.ndarray
    predictions: np.ndarray
    names: list[str]
    nullable: dict[str, bool]
    version: str


def _loaded(package: Any) -> Predictor:
    if isinstance(package, str | Path):
        from deployready.package.load import load_package

        return load_package(Path(package))
    loaded: Predictor = package
    return loaded


def _scored(loaded: Predictor, n_rows: int, start: date, end: date, seed: int,
            drift: dict[str, float], drift_start: date, concept: float) -> _Scored:
    from deployready.demo.data import make_dataset

    names = [f["name"] for f in _feature_specs(loaded)]
    data = make_dataset(
        n_rows,
        start.isoformat(),
        (end + timedelta(days=1)).isoformat(),
        seed=seed,
        drift=drift or None,
        drift_start=drift_start.isoformat() if drift or concept else None,
        concept=concept,
    )
    data = data.sort_values("event_time", kind="stable", ignore_index=True)
    return _Scored(
        data=data,
        event_day=pd.to_datetime(data["event_time"], utc=True).dt.date.to_numpy(),
        predictions=np.asarray(loaded.predict(data[names]), dtype=np.float64),
        names=names,
        nullable={f["name"]: bool(f.get("nullable")) for f in _feature_specs(loaded)},
        version=loaded.version,
    )


def _day_log(rng: np.random.Generator, scored: _Scored, day: date, idx: np.ndarray,
             error_rate: float, spike: bool) -> pd.DataFrame:
    """One day's log: time, version, latency, prediction and error, then the request."""
    n = idx.size
    names = scored.names
    ts = _timestamps(rng, day, n)
    frame = scored.data.loc[idx, names].reset_index(drop=True)
    failed = rng.random(n) < error_rate
    pred = scored.predictions[idx].copy()
    pred[failed] = np.nan
    # a validation error: a required value was missing from the request
    required = [c for c in names if not scored.nullable.get(c)] or names
    for i in np.flatnonzero(failed):
        col = required[int(rng.integers(len(required)))]
        frame[col] = frame[col].astype(object)
        frame.loc[i, col] = None
    log = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(ts, utc=True).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "version": scored.version,
            "latency_ms": _latency(rng, ts, spike),
            "prediction": pred,
            "error": np.where(failed, "validation", ""),
            "request_id": [f"demo-{day.isoformat()}-{i:05d}" for i in range(n)],
        }
    )
    return pd.concat([log, frame], axis=1)


def write_demo_logs(
    ws: Workspace,
    package: Any,
    *,
    days: int = 30,
    end_date: date | str | None = None,
    rows_per_day: int = 2000,
    seed: int = 7,
    drift_features: Mapping[str, float] | None = None,
    drift_days: int = 7,
    spike_day: date | str | int | None = 12,
    error_spike_day: date | str | int | None = 20,
    directory: Path | None = None,
    concept: float = CONCEPT,
) -> DemoLogs:
    """Write ``days`` daily log files ending ``end_date`` (default: yesterday UTC).

    ``package``: a package folder (loaded with :func:`deployready.package.load.load_package`)
    or an already loaded package. ``spike_day`` / ``error_spike_day``: a date, or a
    number of days before ``end_date``; None for none.
    """
    loaded = _loaded(package)
    end = as_date(end_date) if end_date is not None else yesterday()
    start = end - timedelta(days=days - 1)
    drift_start = end - timedelta(days=drift_days - 1)
    drift = dict(drift_features) if drift_features is not None else default_drift(loaded)
    spike = _day_of(end, spike_day)
    err_spike = _day_of(end, error_spike_day)
    scored = _scored(loaded, days * rows_per_day, start, end, seed, drift, drift_start, concept)

    rng = np.random.default_rng(seed + 1)
    out_dir = directory or ws.production_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    truth: list[pd.DataFrame] = []
    total = 0
    day = start
    while day <= end:
        idx = np.flatnonzero(scored.event_day == day)
        if idx.size:
            rate = SPIKE_ERROR_RATE if day == err_spike else BASE_ERROR_RATE
            path = out_dir / f"predictions-{day.isoformat()}.csv"
            log = _day_log(rng, scored, day, idx, rate, day == spike)
            log.to_csv(path, index=False)
            ok = (log["error"] == "").to_numpy()
            truth.append(pd.DataFrame({
                "request_id": log["request_id"][ok],
                "timestamp": pd.to_datetime(log["timestamp"][ok], utc=True),
                "label": scored.data["target"].to_numpy()[idx][ok],
            }))
            files.append(path)
            total += idx.size
        day += timedelta(days=1)
    return DemoLogs(files, total, loaded.version, start, end, drift_start, drift, spike, err_spike,
                    {"concept": concept},
                    pd.concat(truth, ignore_index=True) if truth else None)
