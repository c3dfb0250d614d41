"""Every retrain run's evaluation, as one record per run and as the columns a screen
draws across thousands of runs.

:class:`RunEvaluation` is one run's checks and parsed evidence. :class:`RunEvaluations`
is a history's runs in ``trained_at`` order: a sequence of those records that also holds
the run ids, times, verdicts and metric values as columns, so the streak, a chart of
every run or a table of verdicts is read without building 10,000 records; a run's record
is built when first asked for (from the on-disk cache,
:mod:`deployready.certification.history_cache`) or is already there (from
:func:`~deployready.certification.evaluation.evaluate_history`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from deployready.checks import Check


@dataclass(frozen=True)
class RunEvaluation:
    """One retrain run: its checks (policy metrics first, then CV, entropy, synthetic
    ratio and noise) and the evidence they were computed from, parsed."""

    run_id: str
    trained_at: str
    checks: list[Check]
    green: bool
    #: policy metric -> its value on the run's test split
    metrics: dict[str, float] = field(default_factory=dict)
    cv_metric: str = ""
    cv_fold_scores: list[float] = field(default_factory=list)
    #: one object per fold: train_start, train_end, test_start, test_end, ...
    cv_folds: list[dict[str, Any]] = field(default_factory=list)
    feature_entropy: dict[str, float] = field(default_factory=dict)
    synthetic_ratio: float = 1.0
    noise: float = 0.0

    def metric_check(self, metric: str) -> Check | None:
        """The check of policy metric ``metric`` (None: not a metric of this run)."""
        if metric not in self.metrics:
            return None
        return next((c for c in self.checks if c.name == metric), None)

    @property
    def failing(self) -> list[str]:
        """The names of the checks that do not pass, in check order."""
        return [c.name for c in self.checks if not c.passed]


class RunEvaluations(Sequence[RunEvaluation]):
    """Runs in ``trained_at`` order; ``record(i)`` builds run ``i`` when first asked for.

    ``metric_values`` and ``metric_passed`` hold, per policy metric, each run's value and
    whether its check passes (NaN and False for a run without it); ``failing`` each run's
    checks that do not pass (:attr:`RunEvaluation.failing`), in check order."""

    def __init__(
        self,
        record: Callable[[int], RunEvaluation],
        run_ids: list[str],
        trained_at: list[str],
        green: list[bool],
        metric_values: dict[str, list[float]],
        metric_passed: dict[str, list[bool]],
        failing: list[list[str]],
    ) -> None:
        if not len(run_ids) == len(trained_at) == len(green) == len(failing):
            raise ValueError("run columns of different lengths")
        self._record = record
        self._built: list[RunEvaluation | None] = [None] * len(run_ids)
        self.run_ids = run_ids
        self.trained_at = trained_at
        self.green = green
        self._values = metric_values
        self._passed = metric_passed
        self._failing = failing

    @classmethod
    def of(cls, runs: Sequence[RunEvaluation]) -> RunEvaluations:
        """The records ``runs`` (already built), with their columns."""
        if isinstance(runs, RunEvaluations):
            return runs
        built = list(runs)
        names = dict.fromkeys(m for e in built for m in e.metrics)
        values = {m: [e.metrics.get(m, float("nan")) for e in built] for m in names}
        passed: dict[str, list[bool]] = {}
        for m in names:
            checks = [e.metric_check(m) for e in built]
            passed[m] = [bool(c and c.passed) for c in checks]
        out = cls(built.__getitem__, [e.run_id for e in built], [e.trained_at for e in built],
                  [e.green for e in built], values, passed, [e.failing for e in built])
        out._built = list(built)
        return out

    def __len__(self) -> int:
        return len(self.run_ids)

    @overload
    def __getitem__(self, index: int) -> RunEvaluation: ...

    @overload
    def __getitem__(self, index: slice) -> list[RunEvaluation]: ...

    def __getitem__(self, index: int | slice) -> RunEvaluation | list[RunEvaluation]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = range(len(self))[index]  # IndexError, negative indices
        found = self._built[i]
        if found is None:
            found = self._built[i] = self._record(i)
        return found

    def __iter__(self) -> Iterator[RunEvaluation]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RunEvaluations({len(self)} runs)"

    def metric_values(self, metric: str) -> list[float]:
        """``metric`` of every run (NaN for a run without it)."""
        return self._values.get(metric) or [float("nan")] * len(self)

    def metric_passed(self, metric: str) -> list[bool]:
        """Whether every run's check of ``metric`` passes (False: fails, or no check)."""
        return self._passed.get(metric) or [False] * len(self)

    def failing(self) -> list[list[str]]:
        """Each run's checks that do not pass, by name in check order."""
        return self._failing
