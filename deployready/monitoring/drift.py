"""Population Stability Index against a package's stored reference profile.

    PSI = Σ_bins (cur − ref) · ln(cur / ref)

over exactly the bins of ``reference_profile.json`` (see :mod:`deployready.package.profile`):
numeric features use the stored reference-quantile edges, bins closed on the right, the
outer ones open, NaN as the last bin; categorical features one bin per reference
category, then the bin of unseen categories, then NaN. Edges are never refitted on
current data, so a result is reproducible from what it stores: the edges (or
categories), the reference and the current proportions of every bin.

**Bin identity.** A bin is known by its position in the profile, never by a label:
:func:`bin_keys` spells it out (``{"kind": "range", "low", "high"}``,
``{"kind": "category", "value"}``, ``{"kind": "unseen"}``, ``{"kind": "missing"}``), and
:func:`bin_labels` names it for people, one to one: the two extra bins are
``(unseen)`` and ``(missing)``, a category is shown as itself unless it could be read as
another label (empty, padded with spaces, or starting with ``(`` or ``"``), then
JSON-quoted; range edges get as many significant digits as it takes to tell them apart.
A real category named ``other``, ``NaN`` or ``(unseen)`` keeps its own bin and label.

**Epsilon.** An empty bin would make the log infinite. Both proportions of every bin are
floored at ``policy.drift.epsilon`` (default 1e-4) — ``p → max(p, ε)`` — and *not*
renormalized. Each term keeps the sign of ``cur − ref`` in both factors, so PSI ≥ 0, and
identical distributions give exactly 0. A bin empty in one distribution and holding a
share ``q`` in the other contributes ``(q − ε)·ln(q/ε)``.

**Status** per feature: ``ok`` when PSI < ``psi_warn``, ``warn`` when
``psi_warn ≤ PSI < psi_alert``, ``alert`` when PSI ≥ ``psi_alert``; ``no_data`` when
the current period has no rows. The prediction distribution is scored the same way
against ``profile["prediction"]``.

Counting is vectorized, with the profile's own counters
(:func:`deployready.package.profile.numeric_counts_fast`: chunked compare-and-count, the
counts of :func:`~deployready.package.profile.numeric_counts` several times faster).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from deployready.package.profile import categorical_counts_fast, numeric_counts_fast
from deployready.policy import DriftPolicy

DriftStatus = Literal["ok", "warn", "alert", "no_data"]


# --------------------------------------------------------------------------- counting


def count_frame(
    profile: Mapping[str, Any], frame: pd.DataFrame, predictions: np.ndarray | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Counts of every profiled feature present in ``frame`` and of the predictions."""
    counts: dict[str, np.ndarray] = {}
    for name, spec in profile["features"].items():
        if name not in frame.columns:
            continue
        column = frame[name]
        if spec["kind"] == "numeric":
            numbers = pd.to_numeric(column, errors="coerce")
            values = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
            counts[name] = numeric_counts_fast(spec["edges"], values)
        else:
            counts[name] = categorical_counts_fast(spec["categories"], column)
    pred_spec = profile.get("prediction")
    if predictions is not None and pred_spec is not None:
        pred = numeric_counts_fast(pred_spec["edges"], np.asarray(predictions, dtype=np.float64))
    else:
        pred = np.zeros(len(pred_spec["proportions"]) if pred_spec else 0)
    return counts, pred


# --------------------------------------------------------------------------- PSI


def psi(
    reference: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray, epsilon: float
) -> float:
    """PSI of two proportion vectors over the same bins, each floored at ``epsilon``."""
    return float(psi_rows(reference, current, epsilon))


def psi_rows(
    reference: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray, epsilon: float
) -> np.ndarray:
    """:func:`psi` of each row of ``current`` (periods × bins, or one vector) against
    ``reference``: the one definition, for one period or many at once."""
    ref = np.maximum(np.asarray(reference, dtype=np.float64), epsilon)
    cur = np.maximum(np.asarray(current, dtype=np.float64), epsilon)
    out: np.ndarray = np.sum((cur - ref) * np.log(cur / ref), axis=-1)
    return out


def psi_level(value: float | None, warn: float, alert: float) -> DriftStatus:
    """The PSI decision: ``alert`` at or above ``alert``, else ``warn`` at or above
    ``warn``, else ``ok``; ``no_data`` without a value. Features, predictions, the daily
    check and the charts all ask this."""
    if value is None:
        return "no_data"
    if value >= alert:
        return "alert"
    if value >= warn:
        return "warn"
    return "ok"


def status_of(value: float | None, policy: DriftPolicy) -> DriftStatus:
    """:func:`psi_level` at the policy's ``psi_warn`` and ``psi_alert``."""
    return psi_level(value, policy.psi_warn, policy.psi_alert)


@dataclass(frozen=True)
class FeatureDrift:
    """PSI of one column, with everything needed to recompute it."""

    name: str
    kind: str
    psi: float | None
    status: DriftStatus
    count: int
    bins: list[str]  # human-readable bin labels
    reference: list[float]  # reference proportions per bin
    current: list[float]  # current proportions per bin
    edges: list[float] | None = None  # numeric
    categories: list[str] | None = None  # categorical

    @property
    def bin_keys(self) -> list[dict[str, Any]]:
        """What each bin holds (see :func:`bin_keys`), in the order of ``bins``."""
        spec = self._spec()
        return bin_keys(spec) if spec is not None else []

    def _spec(self) -> dict[str, Any] | None:
        """The profile spec this result's bins come from, when it says it."""
        if self.kind == "numeric" and self.edges is not None:
            return {"kind": "numeric", "edges": self.edges}
        if self.kind == "categorical" and self.categories is not None:
            return {"kind": "categorical", "categories": self.categories}
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "psi": self.psi,
            "status": self.status,
            "count": self.count,
            "bins": self.bins,
            "reference": self.reference,
            "current": self.current,
            "edges": self.edges,
            "categories": self.categories,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureDrift:
        """The result :meth:`as_dict` wrote. Labels are named again from the edges or
        categories: results stored before labels were one to one (a category ``other``
        beside the ``other`` bin of unseen categories) read unambiguously."""
        out = cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            psi=data.get("psi"),
            status=data["status"],
            count=int(data["count"]),
            bins=list(data["bins"]),
            reference=list(data["reference"]),
            current=list(data["current"]),
            edges=data.get("edges"),
            categories=data.get("categories"),
        )
        spec = out._spec()
        if spec is not None:
            labels = bin_labels(spec)
            if len(labels) == len(out.reference) and labels != out.bins:
                out = dataclasses.replace(out, bins=labels)
        return out


@dataclass(frozen=True)
class DriftResult:
    """PSI of every feature and of the prediction distribution for one period."""

    epsilon: float
    psi_warn: float
    psi_alert: float
    rows: int
    features: dict[str, FeatureDrift] = field(default_factory=dict)
    prediction: FeatureDrift | None = None

    @property
    def alerting(self) -> list[str]:
        return [n for n, f in self.features.items() if f.status == "alert"]

    @property
    def warning(self) -> list[str]:
        return [n for n, f in self.features.items() if f.status == "warn"]

    @property
    def max_psi(self) -> float | None:
        values = [f.psi for f in self.features.values() if f.psi is not None]
        return max(values) if values else None

    def psi_by_feature(self) -> dict[str, float | None]:
        return {n: f.psi for n, f in self.features.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon,
            "psi_warn": self.psi_warn,
            "psi_alert": self.psi_alert,
            "rows": self.rows,
            "features": {n: f.as_dict() for n, f in self.features.items()},
            "prediction": self.prediction.as_dict() if self.prediction else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftResult:
        pred = data.get("prediction")
        return cls(
            epsilon=data["epsilon"],
            psi_warn=data["psi_warn"],
            psi_alert=data["psi_alert"],
            rows=data["rows"],
            features={n: FeatureDrift.from_dict(f) for n, f in data["features"].items()},
            prediction=FeatureDrift.from_dict(pred) if pred else None,
        )


#: Labels of the bin of categories the reference never saw and of the missing values
#: (None, NaN). No category label starts with "(" (see :func:`category_label`).
UNSEEN_LABEL = "(unseen)"
MISSING_LABEL = "(missing)"


def category_label(value: str) -> str:
    """A reference category as a bin label: the category itself, or JSON-quoted when it
    could be read as another bin's label — empty, padded with spaces, or starting with
    ``(`` (the extra bins) or ``"`` (a quoted category). One to one."""
    if value and value[0] not in '("' and value == value.strip():
        return value
    return json.dumps(value, ensure_ascii=False)


@functools.lru_cache(maxsize=4096)
def _range_labels(edges: tuple[float, ...]) -> tuple[str, ...]:
    """Labels of the value bins of ``edges``: 4 significant digits, more when two edges
    would print alike (up to 17, which tells any two doubles apart)."""
    if not edges:
        return ("all values",)
    for digits in range(4, 18):
        shown = [f"{e:.{digits}g}" for e in edges]
        if len(set(shown)) == len(shown):
            break
    labels = [f"≤ {shown[0]}"]
    labels += [f"({a}, {b}]" for a, b in itertools.pairwise(shown)]
    labels.append(f"> {shown[-1]}")
    return tuple(labels)


def bin_labels(spec: Mapping[str, Any]) -> list[str]:
    """One distinct label per bin of ``spec``, in count order (see :func:`bin_keys`)."""
    if spec["kind"] == "numeric":
        edges = tuple(float(e) for e in spec["edges"])
        return [*_range_labels(edges), MISSING_LABEL]
    return [*map(category_label, map(str, spec["categories"])), UNSEEN_LABEL, MISSING_LABEL]


def bin_keys(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What each bin of ``spec`` holds, in count order: ``{"kind": "range", "low",
    "high"}`` (``low < x <= high``, None for an open end), ``{"kind": "category",
    "value"}``, ``{"kind": "unseen"}`` (a category the reference never saw) and
    ``{"kind": "missing"}`` (None or NaN)."""
    missing = {"kind": "missing"}
    if spec["kind"] == "numeric":
        bounds: list[float | None] = [None, *(float(e) for e in spec["edges"]), None]
        ranges = [{"kind": "range", "low": lo, "high": hi}
                  for lo, hi in itertools.pairwise(bounds)]
        return [*ranges, missing]
    categories = [{"kind": "category", "value": str(c)} for c in spec["categories"]]
    return [*categories, {"kind": "unseen"}, missing]


def feature_drift(
    name: str, spec: Mapping[str, Any], counts: np.ndarray, policy: DriftPolicy
) -> FeatureDrift:
    counts = np.asarray(counts, dtype=np.float64)
    total = float(counts.sum())
    reference = [float(p) for p in spec["proportions"]]
    if len(reference) != counts.size:
        raise ValueError(f"{name}: {counts.size} bins counted, profile has {len(reference)}")
    current = (counts / total).tolist() if total else [0.0] * counts.size
    value = psi(reference, current, policy.epsilon) if total else None
    return FeatureDrift(
        name=name,
        kind=spec["kind"],
        psi=value,
        status=status_of(value, policy),
        count=int(total),
        bins=bin_labels(spec),
        reference=reference,
        current=current,
        edges=[float(e) for e in spec["edges"]] if spec["kind"] == "numeric" else None,
        categories=list(spec["categories"]) if spec["kind"] == "categorical" else None,
    )


def psi_of_counts(
    reference: Sequence[float], counts: np.ndarray, epsilon: float
) -> tuple[np.ndarray, np.ndarray]:
    """PSI (NaN where a row has no count) and current proportions of each row of
    ``counts`` (periods × bins): the numbers :func:`feature_drift` gives one period, for
    many periods at once."""
    ref = [float(p) for p in reference]
    counts = np.ascontiguousarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[1] != len(ref):
        raise ValueError(f"{counts.shape[-1]} bins counted, profile has {len(ref)}")
    totals = counts.sum(axis=1)
    has = totals > 0
    shares = np.zeros_like(counts)
    np.divide(counts, totals[:, None], out=shares, where=has[:, None])
    values = np.full(len(counts), np.nan)
    if has.any():
        values[has] = psi_rows(ref, shares[has], epsilon)
    return values, shares


def drift_from_counts(
    profile: Mapping[str, Any],
    features: Mapping[str, np.ndarray],
    prediction: np.ndarray | None,
    rows: int,
    policy: DriftPolicy,
) -> DriftResult:
    """PSI of every counted feature (and the prediction) against the profile."""
    specs = profile["features"]
    out = {
        name: feature_drift(name, specs[name], features[name], policy)
        for name in specs
        if name in features
    }
    pred = None
    if prediction is not None and "prediction" in profile and len(prediction):
        pred = feature_drift("prediction", profile["prediction"], prediction, policy)
    return DriftResult(policy.epsilon, policy.psi_warn, policy.psi_alert, rows, out, pred)


def compute_drift(
    profile: Mapping[str, Any],
    frame: pd.DataFrame,
    predictions: np.ndarray | None = None,
    policy: DriftPolicy | None = None,
) -> DriftResult:
    """PSI of every profiled column of ``frame`` (and of ``predictions``)."""
    policy = policy or DriftPolicy()
    feats, pred = count_frame(profile, frame, predictions)
    return drift_from_counts(
        profile, feats, pred if predictions is not None else None, len(frame), policy
    )
