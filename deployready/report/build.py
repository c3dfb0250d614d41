"""The readiness report's data: the whole verdict with its evidence, as one dictionary.

The dictionary is the score contract (``Readiness.as_dict()``: status, score, version,
package_sha256, categories with every check, blockers) plus the sections below;
:mod:`deployready.report.render` renders exactly that dictionary as JSON, Markdown or
HTML, so all three say the same thing.

Sections: readiness (score, categories, every check with status/value/threshold/
evidence, blockers), load test (the version's runs), monitoring (daily checks item by
item, recent alerts), performance (realized and estimated per prediction day, the
estimate's error, importance stability, the retrain decision: ``PerformanceReport.
as_dict()``), rollout (state, next gate, event log with refusals), reviews (current
periods with their performance figures, sign-offs, overdue periods).
"""

from __future__ import annotations

from typing import Any

from deployready.loadtest.runs import list_runs
from deployready.monitoring.alerts import list_alerts
from deployready.policy import Policy
from deployready.policy.sections import LoadTestPolicy
from deployready.rollout.events import ReadinessLike
from deployready.store import utcnow
from deployready.version import __version__
from deployready.workspace import Workspace

#: Load-test result lists longer than this are left out of the report (raw samples live
#: in files referenced from the run).
_MAX_LIST = 50


def _trim(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _trim(v) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) > _MAX_LIST:
            return f"[{len(value)} values omitted]"
        return [_trim(v) for v in value]
    return value


def _loadtest_runs(ws: Workspace, version: str, sha: str | None,
                   policy: LoadTestPolicy) -> list[dict[str, Any]]:
    """The version's last runs; each with its profile (mode, concurrency held against the
    policy's ``concurrency``, rate achieved, duration) beside its percentiles, and what it
    is under the current policy when that changed since the run (``reevaluation``: the
    record the Load Test page and ``loadtest --show`` give; the stored verdict stays)."""
    from deployready.loadtest.checks import profile_text, run_profile, run_verdict

    concurrency = policy.concurrency
    runs: list[dict[str, Any]] = []
    for r in list_runs(ws, version, limit=5):
        result = r.result
        verdict = run_verdict(r, policy)
        again = verdict.reevaluation if verdict is not None else None
        runs.append({
            "id": r.id, "mode": r.mode, "target": r.target, "status": r.status,
            "started_at": r.started_at, "finished_at": r.finished_at,
            "passed": r.passed,
            "package_sha256": r.package_sha256,
            "same_package": sha is not None and r.package_sha256 == sha,
            "error": r.error,
            "profile": run_profile(result, concurrency).as_dict() if result else None,
            "profile_text": profile_text(result, concurrency) if result else None,
            "result": _trim(result.as_dict()) if result else None,
            "reevaluation": again.as_dict() if again is not None else None,
        })
    return runs


def _alerts(ws: Workspace, version: str) -> list[dict[str, Any]]:
    keys = ("id", "created_at", "kind", "severity", "version", "message")
    alerts = list_alerts(ws, version=version, with_unversioned=True, limit=20)
    return [{k: getattr(a, k) for k in keys} for a in alerts]


def _performance(ws: Workspace, version: str) -> tuple[Any, dict[str, Any]]:
    """The version's production performance (the 30 days ending on the daily check's
    default day) and its report section; ``{"error": ...}`` when it cannot be read."""
    from deployready.errors import DeployReadyError
    from deployready.performance.api import performance_report

    try:
        report = performance_report(ws, version)
    except DeployReadyError as exc:
        return None, {"error": str(exc)}
    return report, report.as_dict()


def build_report(
    ws: Workspace,
    version: str | None = None,
    *,
    readiness: ReadinessLike | None = None,
    policy: Policy | None = None,
) -> dict[str, Any]:
    """Everything the report shows, as one JSON-ready dictionary.

    ``readiness`` is the version's score when the caller already has it (the Overview
    page); otherwise it is computed.
    """
    from deployready.rollout.events import evaluate_gate, load_events, readiness_of, rollout_state
    from deployready.rollout.reviews import checklists

    policy = policy or ws.policy()
    if readiness is None:
        readiness = readiness_of(ws, version, policy)
    data: dict[str, Any] = dict(readiness.as_dict())
    version = str(data["version"])
    state = rollout_state(ws, policy)
    gate = evaluate_gate(ws, version, policy=policy, readiness=readiness)
    performance, perf_section = _performance(ws, version)
    reviews = checklists(ws, version, policy=policy,
                         performance=performance if performance is not None else False)
    data.update({
        "report": {
            "generated_at": utcnow(),
            "workspace": str(ws.root),
            "deployready": __version__,
        },
        "load_test": {"runs": _loadtest_runs(ws, version, readiness.package_sha256,
                                             policy.load_test)},
        "monitoring": {
            "daily_checks": [d.as_dict() for d in reviews.daily],
            "alerts": _alerts(ws, version),
        },
        "performance": perf_section,
        "rollout": {
            "state": state.as_dict(),
            "stage": state.stage_of(version),
            "gate": gate.as_dict(),
            "events": [e.as_dict() for e in load_events(ws)],
        },
        "reviews": {
            "weekly": reviews.weekly.as_dict(),
            "monthly": reviews.monthly.as_dict(),
            "overdue": [o.as_dict() for o in reviews.overdue],
            "signoffs": [s.as_dict() for s in reviews.history],
        },
    })
    return data
