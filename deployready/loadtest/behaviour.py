"""Evidence bound by behaviour: does a target serve the package?

Before a target run the load test sends **every holdout row** of the package (in
requests of :data:`BATCH_ROWS` rows, in the target's protocol) and compares each answer
with the package's own prediction for that row (``holdout_expected.json``) within the
policy's ``consistency_tolerance``. A target that reproduces the holdout counts as
evidence for the package whatever the server; one that does not is refused as evidence
for it, with the mismatching rows named (holdout row, expected, got — the first
:data:`SHOWN_ROWS`). ``/health``'s package hash stays a shortcut for deployready's own
server: a run against it is the package's evidence without this check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deployready.loadtest.protocols import column_kinds
from deployready.loadtest.targets import Target, TargetError

BATCH_ROWS = 100
SHOWN_ROWS = 10


@dataclass(frozen=True)
class Behaviour:
    """The holdout sent to a target and what came back."""

    protocol: str = ""
    rows: int = 0  # holdout rows answered
    tolerance: float | None = None
    mismatches: int = 0
    max_abs_diff: float = 0.0
    shown: tuple[dict[str, Any], ...] = ()  # {"row", "expected", "got"}, the first ones
    error: str | None = None  # the target could not be asked (nothing compared)
    checked: bool = field(default=False)

    @property
    def reproduces(self) -> bool:
        return self.checked and self.error is None and self.rows > 0 and self.mismatches == 0

    def finding(self) -> str:
        """One sentence for a check's finding."""
        if not self.checked:
            return "The target's behaviour was not checked against the holdout."
        if self.error is not None:
            return f"The holdout could not be sent to the target ({self.protocol}): {self.error}"
        if self.reproduces:
            return (f"The target ({self.protocol}) reproduces the package's predictions on "
                    f"all {self.rows} holdout rows (max |Δ| {self.max_abs_diff:.3g}).")
        rows = "; ".join(f"row {m['row']}: expected {_num(m['expected'])}, got "
                         f"{_num(m['got'])}" for m in self.shown)
        more = f" (first {len(self.shown)} shown)" if self.mismatches > len(self.shown) else ""
        return (f"The target ({self.protocol}) serves another model: {self.mismatches} of "
                f"{self.rows} holdout rows differ beyond {self.tolerance:g}{more} — {rows}.")

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "protocol": self.protocol, "rows": self.rows,
                "tolerance": self.tolerance, "mismatches": self.mismatches,
                "max_abs_diff": self.max_abs_diff, "shown": [dict(m) for m in self.shown],
                "error": self.error, "reproduces": self.reproduces}

    @classmethod
    def from_dict(cls, data: Any) -> Behaviour:
        d = data if isinstance(data, Mapping) else {}
        shown = d.get("shown")
        tol = d.get("tolerance")
        return cls(
            protocol=str(d.get("protocol") or ""), rows=_int(d.get("rows")),
            tolerance=float(tol) if isinstance(tol, int | float) else None,
            mismatches=_int(d.get("mismatches")),
            max_abs_diff=float(d.get("max_abs_diff") or 0.0),
            shown=tuple(dict(m) for m in shown if isinstance(m, Mapping))
            if isinstance(shown, list) else (),
            error=str(d["error"]) if d.get("error") is not None else None,
            checked=bool(d.get("checked")))


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else 0


def _num(value: Any) -> str:
    return "none" if value is None else f"{float(value):.6g}"


def check_behaviour(target: Target, records: list[dict[str, Any]], expected: np.ndarray,
                    tolerance: float) -> Behaviour:
    """Send the holdout ``records`` to ``target`` and compare with ``expected``."""
    n = min(len(records), len(expected))
    kinds = column_kinds(records)
    got = np.full(n, np.nan)
    try:
        for start in range(0, n, BATCH_ROWS):
            stop = min(n, start + BATCH_ROWS)
            got[start:stop] = target.predict(records[start:stop], kinds)
    except TargetError as exc:
        return Behaviour(target.protocol.name, 0, tolerance, error=str(exc), checked=True)
    want = np.asarray(expected[:n], dtype=np.float64)
    diff = np.abs(got - want)
    bad = np.flatnonzero(~(diff <= tolerance))  # NaN is a mismatch
    shown = tuple({"row": int(i), "expected": float(want[i]),
                   "got": float(got[i]) if math.isfinite(got[i]) else None}
                  for i in bad[:SHOWN_ROWS])
    finite = diff[np.isfinite(diff)]
    return Behaviour(target.protocol.name, n, tolerance, int(bad.size),
                     float(finite.max()) if finite.size else 0.0, shown, checked=True)
