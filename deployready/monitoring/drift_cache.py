"""The per-day numbers of a drift history (:mod:`.drift_history`), kept on disk so a fresh
process does not recompute a year.

One file per version in the workspace's ``data/cache/`` (beside the other caches, never
in the evidence folders), ``drift-history-<hash of the version>.npz``: numpy arrays only,
read with ``allow_pickle=False`` (nothing is ever unpickled). It holds

- the key it was computed for (:data:`CACHE_VERSION`, the version, the package hash,
  the ``[drift]`` policy section, the features and the number of prediction bins), and
- per UTC day: the profile store's revision of the day the numbers were computed from,
  the successful rows, every feature's PSI, the prediction's PSI and current shares,

and a SHA-256 of all of it. A file that cannot be read, was made for another key, is
malformed in any way (a missing array, a dtype or shape, days out of order, a PSI that
is negative or infinite, a share outside [0, 1]) or does not match its digest is ignored:
the days are computed again and the file rewritten. A day is used only while its
revision is the store's (a re-profiled day has a new one). The file is written
atomically (:func:`deployready.memo.write_atomic`): a reader sees the old file or the
new one; a folder that cannot be written only means nothing is kept.

The numbers are a view for the dashboard, never evidence: the daily check and every
check compute PSI from the counts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deployready.memo import write_atomic
from deployready.policy import DriftPolicy

__all__ = [
    "CACHE_VERSION",
    "DayNumbers",
    "cache_file",
    "cache_key",
    "read_cache",
    "write_cache",
]

CACHE_VERSION = 1
_ARRAYS = ("days", "revisions", "rows", "psi", "prediction_psi", "prediction_shares")
_REVISION = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class DayNumbers:
    """Per UTC day (epoch day numbers, ascending): what the history shows of it."""

    days: np.ndarray  # int64
    revisions: np.ndarray  # the store's revision each day was computed from (str)
    rows: np.ndarray  # successful rows, int64
    psi: np.ndarray  # days × features, NaN: no counted row
    prediction_psi: np.ndarray  # NaN: no prediction counted
    prediction_shares: np.ndarray  # days × prediction bins

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in _ARRAYS}

    def take(self, index: np.ndarray) -> DayNumbers:
        """The days at ``index`` (positions or a mask)."""
        return DayNumbers(**{name: a[index] for name, a in self.arrays().items()})


def cache_key(version: str, package_sha256: str, drift: DriftPolicy, features: list[str],
              prediction_bins: int) -> dict[str, Any]:
    return {"format": CACHE_VERSION, "version": version, "package_sha256": package_sha256,
            "drift": dataclasses.asdict(drift), "features": features,
            "prediction_bins": prediction_bins}


def cache_file(data_dir: Path, version: str) -> Path:
    """Where the numbers of ``version`` are kept (any version name makes a file name)."""
    name = hashlib.sha256(version.encode("utf-8")).hexdigest()[:24]
    return data_dir / "cache" / f"drift-history-{name}.npz"


def _digest(meta: str, arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(meta.encode("utf-8"))
    for name in _ARRAYS:
        a = np.ascontiguousarray(arrays[name])
        h.update(f"|{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write_cache(target: Path, key: dict[str, Any], numbers: DayNumbers) -> bool:
    """Keep ``numbers`` for ``key`` (atomically); False when the folder cannot be written."""
    meta = json.dumps(key, sort_keys=True)
    arrays = numbers.arrays()
    payload: dict[str, Any] = {"meta": np.array(meta), "digest": np.array(_digest(meta, arrays)),
                               **arrays}
    return write_atomic(target, lambda handle: np.savez(handle, **payload))


def read_cache(target: Path, key: dict[str, Any]) -> DayNumbers | None:
    """The numbers kept for ``key``; None when there are none to trust (see the module)."""
    try:
        with np.load(target, allow_pickle=False) as data:
            found = {name: data[name] for name in ("meta", "digest", *_ARRAYS)}
    except Exception:  # missing, unreadable, not an npz, an array missing: no cache
        return None
    try:
        return _checked(found, key)
    except (ValueError, TypeError, KeyError):
        return None


def _text(a: np.ndarray) -> str:
    if a.dtype.kind != "U" or a.ndim != 0:
        raise ValueError("not a text")
    return str(a)


def _shaped(a: np.ndarray, kind: str, shape: tuple[int, ...]) -> np.ndarray:
    if a.dtype != np.dtype(kind) or a.shape != shape:
        raise ValueError(f"{a.dtype}{a.shape}: expected {kind}{shape}")
    return a


def _psi_like(a: np.ndarray) -> None:
    finite = a[~np.isnan(a)]
    if not np.isfinite(finite).all() or (finite < 0).any():
        raise ValueError("a PSI is negative or infinite")


def _checked(found: dict[str, np.ndarray], key: dict[str, Any]) -> DayNumbers:
    meta = json.dumps(key, sort_keys=True)
    if _text(found["meta"]) != meta or _text(found["digest"]) != _digest(meta, found):
        raise ValueError("another key, or not what was written")
    n = found["days"].shape[0] if found["days"].ndim == 1 else -1
    days = _shaped(found["days"], "int64", (n,))
    if n < 0 or (np.diff(days) <= 0).any():
        raise ValueError("days")
    revisions = found["revisions"]
    if revisions.dtype.kind != "U" or revisions.shape != (n,) or not all(
            _REVISION.fullmatch(str(r)) for r in revisions):
        raise ValueError("revisions")
    rows = _shaped(found["rows"], "int64", (n,))
    psi = _shaped(found["psi"], "float64", (n, len(key["features"])))
    prediction_psi = _shaped(found["prediction_psi"], "float64", (n,))
    shares = _shaped(found["prediction_shares"], "float64", (n, int(key["prediction_bins"])))
    _psi_like(psi)
    _psi_like(prediction_psi)
    if (rows < 0).any() or not ((shares >= 0) & (shares <= 1)).all():
        raise ValueError("rows or shares")
    return DayNumbers(days, revisions, rows, psi, prediction_psi, shares)
