"""One sort per day: a day's labelled rows sorted once by score, and the figures of the
ranking metrics computed from that one order, equal to scikit-learn's (``==``).

:func:`sort_day` sorts the rows once — one NumPy sort of the integer keys
``(bits of the score) · 2 + label``: a non-negative float's bits order as its value, so
the keys sort by score, negatives before positives within a tie (``-0.0`` is taken as
``0.0`` first, as the two compare equal). The :class:`SortedDay` keeps the ascending
scores and labels and the *tie groups* (runs of equal scores) with their positives and
negatives.

**Why the figures are scikit-learn's, bit for bit.** scikit-learn
(``confusion_matrix_at_thresholds``) sorts the scores descending and reads, at the last
row of each run of equal scores, the cumulative positives ``tps`` and negatives ``fps``
— whole numbers held in float64, exact whatever the order of the rows inside a run.
:attr:`SortedDay.curve` gives the same two arrays from the tie groups (highest score
first; DeLong's components read them too), and :func:`roc_points`, :func:`roc_auc`,
:func:`average_precision` and :func:`ks` repeat scikit-learn's arithmetic on them
operation for operation: ``roc_curve`` (collinear points dropped, a 0 prepended,
divided by the totals), the trapezoid of ``auc``, ``precision_recall_curve`` (precision
``tps / (tps + fps)``, recall ``tps / tps[-1]``, both reversed with the end point
appended) and the step sum of ``average_precision_score``; the registry's KS is
``max |TPR − FPR|`` over ``roc_curve``'s points. Equal arrays through equal operations
give equal bits (NumPy's sums depend on the values and the length only).

The O(n) figures are computed on the rows in their own order, as the registry computes
them: :func:`brier` repeats ``brier_score_loss``'s arithmetic (two-column one-hot labels
and probabilities, the row sums of the squared differences, their mean, halved), the ECE
is the registry's own function. :func:`day_figures` gives every metric asked for: these
from the kernel, any other (log loss, the confusion-matrix metrics) from the registry.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from deployready.certification.metrics import (
    compute_metrics,
    evaluation_rows,
    expected_calibration_error,
)

#: the metrics computed here (any other metric: the registry)
KERNEL_METRICS = ("roc_auc", "average_precision", "ks", "brier", "ece")
_CURVE = ("roc_auc", "average_precision", "ks")


@dataclass(frozen=True)
class SortedDay:
    """A day's labelled rows in ascending score order and their tie groups."""

    scores: np.ndarray  # float64, ascending
    labels: np.ndarray  # int64 0 / 1, in the same order (negatives first within a tie)
    starts: np.ndarray  # first row of each tie group
    positives: np.ndarray  # positives of each tie group (int64)
    negatives: np.ndarray  # negatives of each tie group (int64)

    @property
    def group_scores(self) -> np.ndarray:
        """The score of each tie group, ascending."""
        return np.asarray(self.scores[self.starts])

    @functools.cached_property
    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """``(fps, tps)`` of scikit-learn's ``confusion_matrix_at_thresholds``: cumulative
        negatives and positives at each distinct score, highest first, as float64 (whole
        numbers: exact)."""
        return (np.cumsum(self.negatives[::-1], dtype=np.float64),
                np.cumsum(self.positives[::-1], dtype=np.float64))


def sort_day(y: np.ndarray, p: np.ndarray) -> SortedDay:
    """The rows (0/1 labels ``y``, scores ``p`` in [0, 1]) sorted once (see the module doc)."""
    keys = (np.asarray(p, dtype=np.float64) + 0.0).view(np.int64)  # -0.0 → 0.0: equal bits
    keys <<= 1
    keys |= np.asarray(y, dtype=np.int64)
    keys.sort()
    scores = (keys >> 1).view(np.float64)
    labels = keys & 1
    if scores.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return SortedDay(scores, labels, empty, empty, empty)
    change = scores[1:] != scores[:-1]
    if change.all():  # no two rows tie: a group per row
        return SortedDay(scores, labels, np.arange(scores.size), labels, 1 - labels)
    ends = np.append(np.flatnonzero(change), scores.size - 1)  # last row of each group
    positives = np.diff(np.cumsum(labels)[ends], prepend=0)
    negatives = np.diff(ends, prepend=-1) - positives
    return SortedDay(scores, labels, np.r_[0, ends[:-1] + 1], positives, negatives)


def roc_points(fps: np.ndarray, tps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(fpr, tpr)`` of ``roc_curve`` (``drop_intermediate=True``) from the curve."""
    if fps.shape[0] > 2:
        keep = np.where(np.concatenate([
            np.asarray([True]),
            np.logical_or(np.diff(fps, 2), np.diff(tps, 2)),
            np.asarray([True]),
        ]))[0]
        fps, tps = fps[keep], tps[keep]
    tps = np.concatenate([np.asarray([0.0]), tps])
    fps = np.concatenate([np.asarray([0.0]), fps])
    return fps / fps[-1], tps / tps[-1]


def roc_auc(fps: np.ndarray, tps: np.ndarray) -> float:
    """``roc_auc_score``: the trapezoid of ``auc`` under the ROC points."""
    fpr, tpr = roc_points(fps, tps)
    d = fpr[1:] - fpr[:-1]
    return float(1 * np.sum(d * (tpr[1:] + tpr[:-1]) / 2.0, axis=-1, dtype=np.float64))


def average_precision(fps: np.ndarray, tps: np.ndarray) -> float:
    """``average_precision_score``: Σ (R_k − R_{k−1}) · P_k over the reversed curve."""
    ps = tps + fps
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(ps != 0, np.divide(tps, ps), 0.0)
    recall = tps / tps[-1]
    precision = np.concatenate((np.flip(precision), np.asarray([1.0])))
    recall = np.concatenate((np.flip(recall), np.asarray([0.0])))
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def ks(fps: np.ndarray, tps: np.ndarray) -> float:
    """The registry's KS statistic: ``max |TPR − FPR|`` over ``roc_curve``'s points."""
    fpr, tpr = roc_points(fps, tps)
    return float(np.max(np.abs(tpr - fpr)))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """``brier_score_loss`` of 0/1 labels, its arithmetic step by step."""
    positive = np.asarray(y == 1, dtype=np.int64)
    labels = np.stack((1 - positive, positive), axis=1).astype(np.float64)
    proba = np.stack((1 - p, p), axis=1)
    score = np.average(np.sum((labels - proba) ** 2, axis=1))
    score *= 0.5
    return float(score)


def day_figures(
    y: np.ndarray, p: np.ndarray, names: Sequence[str], day: SortedDay | None = None
) -> dict[str, float]:
    """Every metric of ``names`` on the rows (``y``, ``p`` in their own order), equal to
    the registry's; ``day`` is their :func:`sort_day` when the caller has it. Refuses
    what :func:`~deployready.certification.metrics.compute_metrics` refuses."""
    y, p = evaluation_rows(y, p)
    if not np.all((y == 0) | (y == 1)):  # other class values: the registry's own rules
        return compute_metrics(y, p, names)
    out = compute_metrics(y, p, [n for n in names if n not in KERNEL_METRICS]) \
        if set(names) - set(KERNEL_METRICS) else {}
    if set(names) & set(_CURVE):
        fps, tps = (day if day is not None else sort_day(y, p)).curve
        rank = {"roc_auc": roc_auc, "average_precision": average_precision, "ks": ks}
        out.update({n: rank[n](fps, tps) for n in names if n in rank})
    if "brier" in names:
        out["brier"] = brier(y, p)
    if "ece" in names:
        out["ece"] = expected_calibration_error(y, p)
    return {name: out[name] for name in names}
