"""The dry-deployment load test.

- :mod:`~deployready.loadtest.config` — the parameters of a run;
- :mod:`~deployready.loadtest.loadgen` — closed/open-loop HTTP load generator (aiohttp);
- :mod:`~deployready.loadtest.worker` — the worker process: serves the package with
  ``deployready serve`` on loopback, drives the load, records the result;
- :mod:`~deployready.loadtest.results` — the result type, as stored;
- :mod:`~deployready.loadtest.summary` — percentiles, in-flight and consistency from samples;
- :mod:`~deployready.loadtest.checks` — pass/fail, the load profile, the stored verdict;
- :mod:`~deployready.loadtest.runs` — the ``loadtest_runs`` store rows and sample files;
- :mod:`~deployready.loadtest.jobs` — one job per workspace: start, snapshot, cancel.
"""

from __future__ import annotations

from deployready.loadtest.checks import checks_from_result, loadtest_checks
from deployready.loadtest.config import LoadTestConfig
from deployready.loadtest.jobs import JobRegistry, JobSnapshot, LoadTestJob

__all__ = [
    "JobRegistry",
    "JobSnapshot",
    "LoadTestConfig",
    "LoadTestJob",
    "checks_from_result",
    "loadtest_checks",
]
