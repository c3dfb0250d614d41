"""A certification history validated a column at a time.

:func:`~deployready.certification.history_schema.cell_value` is the rule for one cell;
at 10,000 runs applying it to each of ~250,000 cells costs seconds. Here each column is
first tried in its common form (every cell text, or every cell a plain number; JSON text
that parses to plain lists, objects and numbers) with numpy and tight loops: a column
whose every cell is in that form and within bounds is accepted as the rule would accept
it, with the same values. Any other column — an unusual form, or a bad cell — is handed
to the rule cell by cell, so what is refused, and the message naming the file, row and
column, come from the rule alone. The fast forms only ever accept a subset of what the
rule accepts (tests/test_history_columns.py checks this on random cells).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deployready.certification.history_schema import (
    EVIDENCE_BOUNDS,
    FOLD_KEYS,
    INT_COLUMNS,
    JSON_COLUMNS,
    OPTIONAL_COLUMNS,
    bounds_of,
    cell_value,
    check_scores,
    loads_strict,
)
from deployready.certification.metrics import METRIC_NAMES, REGISTRY
from deployready.errors import HistoryError

Fast = Callable[[list[Any]], list[Any] | None]


@dataclass(frozen=True)
class BadCell:
    """The first refused cell in row order (1-based row, position of its column)."""

    row: int
    position: int
    error: HistoryError


def validated_columns(
    raw: pd.DataFrame, path: Path
) -> tuple[dict[str, list[Any]], BadCell | None]:
    """Each column's validated values, and the first bad cell in file order (row by row,
    left to right) or None. A column holds its values up to (not including) its first
    bad cell, so every row before the first bad cell's is complete."""
    values: dict[str, list[Any]] = {}
    first: BadCell | None = None
    for position, column in enumerate(str(c) for c in raw.columns):
        column_cells = _cells(raw, column)
        fast = _fast(column)
        try:
            accepted = fast(column_cells) if fast is not None else None
        except (ValueError, TypeError, KeyError, OverflowError, RecursionError):
            accepted = None
        if accepted is not None:
            values[column] = accepted
            continue
        stop = first.row if first is not None else len(column_cells)
        good: list[Any] = []
        for i, cell in enumerate(column_cells[:stop], start=1):
            try:
                good.append(cell_value(column, cell, path, f"row {i}, column {column}"))
            except HistoryError as exc:
                if first is None or (i, position) < (first.row, first.position):
                    first = BadCell(i, position, exc)
                break
        values[column] = good
    return values, first


def _cells(raw: pd.DataFrame, column: str) -> list[Any]:
    """A column's cells as ``to_dict("records")`` gives them (numpy scalars boxed)."""
    cells: list[Any] = raw[column].tolist()
    if _all_text(cells):
        return cells  # nothing to box
    boxed: list[Any] = raw[[column]].to_dict("list")[column]
    return boxed


def check_rows(values: dict[str, list[Any]], rows: int, path: Path) -> None:
    """The checks across a row's cells, for its first ``rows`` rows in order: fold scores
    in the run's ``cv_metric`` interval, then a ``run_id`` not used by an earlier row."""
    seen: dict[str, int] = {}
    duplicate: tuple[int, int] | None = None
    for i, run_id in enumerate(values["run_id"][:rows], start=1):
        if run_id in seen:
            duplicate = (i, seen[run_id])
            break
        seen[run_id] = i
    last = duplicate[0] if duplicate is not None else rows
    columns = ("cv_metric", "cv_fold_scores", "cv_folds")
    for i in _score_suspects(values, last):
        check_scores({c: values[c][i - 1] for c in columns}, path, f"row {i}")
    if duplicate is not None:
        i, earlier = duplicate
        raise HistoryError(
            f"duplicate run_id {values['run_id'][i - 1]!r} (also row {earlier})",
            source=path,
            location=f"row {i}, column run_id",
            expected="unique run ids",
        )


def _score_suspects(values: dict[str, list[Any]], rows: int) -> list[int]:
    """The rows (1-based, of the first ``rows``) whose fold scores may lie outside their
    ``cv_metric``'s interval: every row, unless all scores are plain numbers."""
    everyone = list(range(1, rows + 1))
    found: list[Any] = []
    owner: list[int] = []
    bounds: list[tuple[float, float]] = []
    for i in everyone:
        metric = values["cv_metric"][i - 1]
        spec = REGISTRY.get(metric) if isinstance(metric, str) else None
        bounds.append(spec.bounds if spec is not None else (-math.inf, math.inf))
        scores = list(values["cv_fold_scores"][i - 1] or [])
        scores += [f["score"] for f in values["cv_folds"][i - 1] or []
                   if isinstance(f, dict) and "score" in f]
        found += scores
        owner += [i] * len(scores)
    if not _plain_numbers(found):
        return everyone
    limits = np.array(bounds, dtype=np.float64).reshape(-1, 2)[np.array(owner, dtype=int) - 1]
    number = np.array(found, dtype=np.float64)
    inside = (number >= limits[:, 0]) & (number <= limits[:, 1])
    return sorted({owner[k] for k in np.flatnonzero(~inside)})


# --------------------------------------------------------------------------- fast forms


def _fast(column: str) -> Fast | None:
    if column in METRIC_NAMES or column in ("synthetic_ratio", "noise"):
        bounds = bounds_of(column)
        return lambda cells: _bounded_numbers(cells, bounds)
    if column in INT_COLUMNS:
        return _counts
    if column == "trained_at":
        return _times_text
    if column == "run_id":
        return _present_text
    if column == "cv_metric":
        return lambda cells: _present_text(cells, allowed=METRIC_NAMES)
    if column in OPTIONAL_COLUMNS:
        return _optional_text
    if column in JSON_COLUMNS:
        return {
            "cv_fold_scores": _fold_scores,
            "cv_folds": _folds,
            "feature_entropy": _entropy,
        }[column]
    return list  # a column the history does not define: kept as read


def _all_text(cells: Sequence[Any]) -> bool:
    return all(type(c) is str for c in cells)


def _plain_numbers(cells: Sequence[Any]) -> bool:
    """Every cell a Python int or float (not a boolean, not a numpy scalar)."""
    return all(type(c) is float or type(c) is int for c in cells)


def _bounded_numbers(cells: list[Any], bounds: tuple[float, float] | None) -> list[Any] | None:
    if _all_text(cells):
        numbers = [float(c.strip()) for c in cells]
    elif _plain_numbers(cells):
        numbers = [float(c) for c in cells]
    else:
        return None
    return numbers if _finite_within(numbers, bounds) else None


def _finite_within(numbers: Sequence[float], bounds: tuple[float, float] | None) -> bool:
    array = np.asarray(numbers, dtype=np.float64)
    if not np.isfinite(array).all():
        return False
    return bounds is None or bool(((array >= bounds[0]) & (array <= bounds[1])).all())


def _counts(cells: list[Any]) -> list[Any] | None:
    if _all_text(cells):
        stripped = [c.strip() for c in cells]
        numbers = [float(s) for s in stripped if s]
        counts: list[Any] = []
        if not _whole(numbers):
            return None
        found = iter(numbers)
        for s in stripped:
            counts.append(int(next(found)) if s else None)
        return counts
    if _plain_numbers(cells):
        numbers = [float(c) for c in cells]
        return [int(n) for n in numbers] if _whole(numbers) else None
    return None


def _whole(numbers: Sequence[float]) -> bool:
    array = np.asarray(numbers, dtype=np.float64)
    finite = np.isfinite(array).all()
    return bool(finite and (array >= 0).all() and (array == np.floor(array)).all())


def _times_text(cells: list[Any]) -> list[Any] | None:
    if not _all_text(cells):
        return None
    for c in cells:
        datetime.fromisoformat(c.strip())  # ValueError: the rule says why
    return cells


def _present_text(cells: list[Any], allowed: Sequence[str] | None = None) -> list[Any] | None:
    if not _all_text(cells) or not all(c.strip() for c in cells):
        return None
    if allowed is not None and not set(cells) <= set(allowed):
        return None
    return cells


def _optional_text(cells: list[Any]) -> list[Any] | None:
    return [c if c.strip() else "" for c in cells] if _all_text(cells) else None


def _parsed(cells: list[Any]) -> list[Any]:
    return [loads_strict(c) if type(c) is str else c for c in cells]


def _fold_scores(cells: list[Any]) -> list[Any] | None:
    parsed = _parsed(cells)
    if not all(type(p) is list for p in parsed):
        return None
    flat = [v for p in parsed for v in p]
    if not _plain_numbers(flat) or not _finite_within([float(v) for v in flat], None):
        return None
    return [[float(v) for v in p] for p in parsed]


def _folds(cells: list[Any]) -> list[Any] | None:
    parsed = _parsed(cells)
    if not all(type(p) is list and all(type(f) is dict for f in p) for p in parsed):
        return None
    folds = [f for p in parsed for f in p]
    times = [f[k] for f in folds for k in FOLD_KEYS]  # KeyError: not the fast form
    if not _all_text(times):
        return None
    for t in times:
        datetime.fromisoformat(t.strip())
    counts = [f[k] for f in folds for k in ("n_train", "n_test") if k in f]
    if not all(type(c) is int and c >= 0 for c in counts):
        return None
    scores = [f["score"] for f in folds if "score" in f]
    if not _plain_numbers(scores) or not _finite_within([float(s) for s in scores], None):
        return None
    return parsed


def _entropy(cells: list[Any]) -> list[Any] | None:
    parsed = _parsed(cells)
    if not all(type(p) is dict for p in parsed):
        return None
    flat = [v for p in parsed for v in p.values()]
    if not _plain_numbers(flat):
        return None
    if not _finite_within([float(v) for v in flat], EVIDENCE_BOUNDS["feature_entropy"]):
        return None
    return [{str(k): float(v) for k, v in p.items()} for p in parsed]

