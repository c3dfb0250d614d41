"""deployready: can this model version go to production, and if not, what is missing?

The Python API, importable from here (``from deployready import compute_score``)::

    ws = Workspace.open("/srv/models")
    run = record_run(ws.certification_dir / "history.csv", model, data, ...)
    info = export_package(ws, model=run.model, scaler=run.scaler, ...)
    readiness = compute_score(ws, info.version)

Each name is imported from its module on first use, so ``import deployready`` stays
cheap: the command line and every worker process import it when they start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from deployready.version import __version__ as __version__

if TYPE_CHECKING:
    from deployready.access.identity import Identity as Identity
    from deployready.certification.training import RunResult as RunResult
    from deployready.certification.training import record_run as record_run
    from deployready.checks import Category as Category
    from deployready.checks import Check as Check
    from deployready.checks import Evidence as Evidence
    from deployready.checks import Status as Status
    from deployready.errors import AccessDenied as AccessDenied
    from deployready.errors import DeployReadyError as DeployReadyError
    from deployready.errors import HistoryError as HistoryError
    from deployready.errors import InputError as InputError
    from deployready.errors import IntegrityError as IntegrityError
    from deployready.errors import JobError as JobError
    from deployready.errors import LabelError as LabelError
    from deployready.errors import LogError as LogError
    from deployready.errors import PackageError as PackageError
    from deployready.errors import PolicyError as PolicyError
    from deployready.errors import StoreError as StoreError
    from deployready.monitoring.drift import compute_drift as compute_drift
    from deployready.monitoring.latency import latency_report as latency_report
    from deployready.monitoring.profiles.ingest import IngestResult as IngestResult
    from deployready.monitoring.profiles.ingest import ingest as ingest
    from deployready.package.export import PackageInfo as PackageInfo
    from deployready.package.export import export_package as export_package
    from deployready.package.load import LoadedPackage as LoadedPackage
    from deployready.package.load import load_package as load_package
    from deployready.package.validate import validate_package as validate_package
    from deployready.performance.api import PerformanceReport as PerformanceReport
    from deployready.performance.api import performance_report as performance_report
    from deployready.performance.daily import run_daily as run_daily
    from deployready.performance.join import JoinedPredictions as JoinedPredictions
    from deployready.performance.join import joined_predictions as joined_predictions
    from deployready.policy.load import load_policy as load_policy
    from deployready.policy.sections import Policy as Policy
    from deployready.report.build import build_report as build_report
    from deployready.report.render import render as render
    from deployready.rollout.events import evaluate_gate as evaluate_gate
    from deployready.rollout.events import promote as promote
    from deployready.rollout.events import rollback as rollback
    from deployready.score import Readiness as Readiness
    from deployready.score import compute_score as compute_score
    from deployready.workspace import Workspace as Workspace

#: Each public name and the module that defines it.
_API: dict[str, str] = {
    "AccessDenied": "deployready.errors",
    "Category": "deployready.checks",
    "Check": "deployready.checks",
    "DeployReadyError": "deployready.errors",
    "Evidence": "deployready.checks",
    "HistoryError": "deployready.errors",
    "Identity": "deployready.access.identity",
    "IngestResult": "deployready.monitoring.profiles.ingest",
    "InputError": "deployready.errors",
    "IntegrityError": "deployready.errors",
    "JobError": "deployready.errors",
    "JoinedPredictions": "deployready.performance.join",
    "LabelError": "deployready.errors",
    "LoadedPackage": "deployready.package.load",
    "LogError": "deployready.errors",
    "PackageError": "deployready.errors",
    "PackageInfo": "deployready.package.export",
    "PerformanceReport": "deployready.performance.api",
    "Policy": "deployready.policy.sections",
    "PolicyError": "deployready.errors",
    "Readiness": "deployready.score",
    "RunResult": "deployready.certification.training",
    "Status": "deployready.checks",
    "StoreError": "deployready.errors",
    "Workspace": "deployready.workspace",
    "build_report": "deployready.report.build",
    "compute_drift": "deployready.monitoring.drift",
    "compute_score": "deployready.score",
    "evaluate_gate": "deployready.rollout.events",
    "export_package": "deployready.package.export",
    "ingest": "deployready.monitoring.profiles.ingest",
    "joined_predictions": "deployready.performance.join",
    "latency_report": "deployready.monitoring.latency",
    "load_package": "deployready.package.load",
    "load_policy": "deployready.policy.load",
    "performance_report": "deployready.performance.api",
    "promote": "deployready.rollout.events",
    "record_run": "deployready.certification.training",
    "render": "deployready.report.render",
    "rollback": "deployready.rollout.events",
    "run_daily": "deployready.performance.daily",
    "validate_package": "deployready.package.validate",
}

__all__ = [
    "AccessDenied",
    "Category",
    "Check",
    "DeployReadyError",
    "Evidence",
    "HistoryError",
    "Identity",
    "IngestResult",
    "InputError",
    "IntegrityError",
    "JobError",
    "JoinedPredictions",
    "LabelError",
    "LoadedPackage",
    "LogError",
    "PackageError",
    "PackageInfo",
    "PerformanceReport",
    "Policy",
    "PolicyError",
    "Readiness",
    "RunResult",
    "Status",
    "StoreError",
    "Workspace",
    "build_report",
    "compute_drift",
    "compute_score",
    "evaluate_gate",
    "export_package",
    "ingest",
    "joined_predictions",
    "latency_report",
    "load_package",
    "load_policy",
    "performance_report",
    "promote",
    "record_run",
    "render",
    "rollback",
    "run_daily",
    "validate_package",
]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'deployready' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # imported once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
