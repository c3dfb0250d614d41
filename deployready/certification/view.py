"""The certification history as a screen shows it: every run's evaluation in
``trained_at`` order, and the run a package was trained in.

The Certification page lays this out and decides nothing itself: which run the streak
is counted up to, each metric's values and verdicts across retrains, the window of
recent runs drawn one by one, and each run's parsed evidence and checks
(:class:`~deployready.certification.evaluation.RunEvaluation`) all come from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from deployready.certification.evaluation import RunEvaluation, streak
from deployready.certification.runs import RunEvaluations


@dataclass(frozen=True)
class CertificationView:
    """``runs`` of a history (``trained_at`` order, at least one) and ``package_run``,
    the ``run_id`` in the selected package's ``model_metadata.json`` (None: none)."""

    runs: Sequence[RunEvaluation]
    package_run: str | None = None

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError("a certification view needs at least one run")
        object.__setattr__(self, "runs", RunEvaluations.of(self.runs))

    @property
    def _runs(self) -> RunEvaluations:
        assert isinstance(self.runs, RunEvaluations)
        return self.runs

    @property
    def run_ids(self) -> list[str]:
        return self._runs.run_ids

    @cached_property
    def _index(self) -> dict[str, int]:
        index: dict[str, int] = {}
        for i, run_id in enumerate(self.run_ids):
            index.setdefault(run_id, i)
        return index

    @property
    def times(self) -> list[str]:
        return self._runs.trained_at

    @property
    def green(self) -> list[bool]:
        return self._runs.green

    @property
    def failing(self) -> list[list[str]]:
        """Each run's checks that do not pass, by name (no run's record is built)."""
        return self._runs.failing()

    @property
    def package_run_missing(self) -> bool:
        """The package names a run the history does not hold."""
        return bool(self.package_run) and self.package_run not in self._index

    @property
    def focus(self) -> str:
        """The run the streak is counted up to: the package's, else the newest."""
        if self.package_run and self.package_run in self._index:
            return self.package_run
        return self.run_ids[-1]

    @property
    def streak(self) -> int:
        """Consecutive green runs ending at :attr:`focus`."""
        return streak(self._runs, self.focus)

    def index(self, run_id: str) -> int:
        """Position of ``run_id`` (its first row); ValueError when it is not a run."""
        if run_id not in self._index:
            raise ValueError(f"no run {run_id!r} in the history")
        return self._index[run_id]

    def run(self, run_id: str) -> RunEvaluation:
        return self.runs[self.index(run_id)]

    def recent(self, count: int) -> slice:
        """The ``count`` runs up to :attr:`focus` (fewer at the start of the history)."""
        end = self.index(self.focus) + 1
        return slice(max(0, end - count), end)

    def metric_values(self, metric: str) -> list[float]:
        """``metric`` of every run (NaN for a run without it)."""
        return self._runs.metric_values(metric)

    def metric_passed(self, metric: str) -> list[bool]:
        """Whether every run's check of ``metric`` passes (False: fails, or no check)."""
        return self._runs.metric_passed(metric)
