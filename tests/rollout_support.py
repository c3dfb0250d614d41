"""Helpers for rollout, review, report and page tests: a small workspace whose evidence
the test controls (packages with a manifest, daily checks and events written directly)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from deployready.store import dumps
from deployready.workspace import Workspace

POLICY = """
[rollout]
stages = [5, 25, 100]
bake_days = 2
"""


#: ``[access]`` requiring sign-in, with one role: the release-managers group may do all.
SIGN_IN_ACCESS = """
[access]
mode = "sign-in"
group_claim = "groups"

[access.roles.release-manager]
members = ["group:release-managers"]
may = ["promote", "rollback", "signoff-weekly", "signoff-monthly", "loadtest", "daily"]
"""


def with_access(root: Path, access: str) -> None:
    """Set the ``[access]`` section (TOML text) of the workspace policy at ``root``,
    keeping the rest of the policy."""
    import tomllib

    from deployready.policy import parse_policy, write_policy

    path = root / "deployready.toml"
    raw = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    raw["access"] = tomllib.loads(access)["access"]
    write_policy(path, parse_policy(raw, source=path))


def page_texts(at: Any) -> str:
    """Every message an AppTest run shows: markdown, errors, warnings, captions, info,
    successes."""
    parts = [m.value for m in at.markdown] + [e.value for e in at.error]
    parts += [w.value for w in at.warning] + [c.value for c in at.caption]
    parts += [i.value for i in at.info] + [s.value for s in at.success]
    return "\n".join(parts)


def write_package(ws: Workspace, version: str, salt: str = "") -> str:
    """A package folder with a manifest; returns its package hash (sha256 of MANIFEST.json)."""
    folder = ws.package_path(version)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"format": 1, "version": version, "created_at": "2026-11-01T00:00:00+00:00",
                "files": {}, "salt": salt}
    data = json.dumps(manifest, sort_keys=True).encode()
    (folder / "MANIFEST.json").write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def make_workspace(root: Path, versions: tuple[str, ...] = ("v1.0", "v1.1")) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    (root / "deployready.toml").write_text(POLICY, encoding="utf-8")
    ws = Workspace.open(root)
    for v in versions:
        write_package(ws, v)
    return ws


def package_hash(ws: Workspace, version: str) -> str:
    return hashlib.sha256((ws.package_path(version) / "MANIFEST.json").read_bytes()).hexdigest()


@dataclass
class FakeReadiness:
    """Stands in for :class:`deployready.score.Readiness` with controlled evidence."""

    version: str
    package_sha256: str | None
    ready: bool
    blockers: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self, *, categories: bool = True) -> dict[str, Any]:
        checks: list[dict[str, Any]] = [
            {"name": "roc_auc >= 0.80", "category": "certification",
             "status": "pass" if self.ready else "fail", "value": 0.86 if self.ready else 0.71,
             "threshold": ">= 0.8", "message": "ROC AUC of the last runs",
             "evidence": {"source": "data/certification/history.csv#row=12",
                          "time": "2026-11-01T00:00:00+00:00",
                          "package_sha256": self.package_sha256, "detail": {}}},
            {"name": "manifest verified", "category": "artifacts", "status": "pass",
             "value": True, "threshold": "all hashes match", "message": "ok",
             "evidence": {"source": "models/MANIFEST.json", "time": None,
                          "package_sha256": self.package_sha256, "detail": {}}},
        ]
        blockers = self.blockers or [c for c in checks if c["status"] != "pass"]
        passed = sum(1 for c in checks if c["status"] == "pass")
        data: dict[str, Any] = {
            "status": "READY" if self.ready else "NOT READY",
            "score": 100.0 if self.ready else 50.0 + 50.0 * (passed - 1),
            "max_score": 100.0,
            "version": self.version,
            "package_sha256": self.package_sha256,
            "generated_at": "2026-11-20T08:00:00+00:00",
            "categories": [
                {"name": "certification", "label": "Certification", "weight": 50.0,
                 "score": 50.0 if self.ready else 0.0, "passed": int(self.ready), "total": 1,
                 "checks": checks[:1]},
                {"name": "artifacts", "label": "Artifacts", "weight": 50.0, "score": 50.0,
                 "passed": 1, "total": 1, "checks": checks[1:]},
            ],
            "blockers": blockers,
        }
        if not categories:
            del data["categories"]
        return data


def fake_scores(ws: Workspace, ready: dict[str, bool]) -> Any:
    """A replacement for ``deployready.rollout.events.readiness_of``."""

    def readiness_of(_ws: Workspace, version: str | None, _policy: Any) -> FakeReadiness:
        v = version or ws.latest_version() or ""
        return FakeReadiness(v, package_hash(ws, v), ready.get(v, False))

    return readiness_of


ITEMS = {"p99": ("P99 latency", 31.0, "< 50 ms"),
         "error_spike": ("error rate", 0.001, "<= 0.01"),
         "prediction_psi": ("prediction PSI", 0.02, "< 0.25"),
         "feature_psi": ("max feature PSI", 0.05, "< 0.25")}


def add_daily(ws: Workspace, version: str, day: date | str, *, status: str = "ok",
              sha: str | None = None, failing: tuple[str, ...] = ()) -> None:
    """Store a daily check record through the daily module (no alert delivery).

    ``status`` "alert" without ``failing`` turns the P99 item red.
    """
    from deployready.checks import Category, Check, Status
    from deployready.monitoring.daily import DailyRecord, store_record

    if status == "alert" and not failing:
        failing = ("p99",)
    sha = sha or package_hash(ws, version)
    day_text = day if isinstance(day, str) else day.isoformat()
    checks = [Check(key, Category.DAILY, Status.FAIL if key in failing else Status.PASS, value,
                    threshold, label)
              for key, (label, value, threshold) in ITEMS.items()]
    record = DailyRecord(
        date=day_text, version=version, package_sha256=sha, status=status,  # type: ignore[arg-type]
        created_at=datetime.now(UTC).isoformat(timespec="seconds"), rows=1000, errors=1,
        error_rate=0.001, trailing_error_rate=0.001, error_kinds={}, latency={"p99": 31.0},
        baseline={}, spikes=[], checks=checks, drift=None,
    )
    store_record(ws, record, deliver=False)


def backdate(ws: Workspace, days: int) -> None:
    """Move every rollout event ``days`` days into the past."""
    rows = ws.store.query("SELECT id, created_at FROM rollout_events")
    with ws.store.transaction() as conn:
        for r in rows:
            moved = datetime.fromisoformat(r["created_at"]) - timedelta(days=days)
            conn.execute("UPDATE rollout_events SET created_at = ? WHERE id = ?",
                         (moved.isoformat(timespec="seconds"), r["id"]))


def insert_event(ws: Workspace, version: str, action: str, from_pct: int, to_pct: int,
                 *, created_at: str, sha: str | None = None, allowed: bool = True) -> None:
    evidence = {"package_sha256": sha or package_hash(ws, version)}
    with ws.store.transaction() as conn:
        conn.execute(
            "INSERT INTO rollout_events (created_at, version, action, from_pct, to_pct, allowed, "
            "actor, reason, evidence_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (created_at, version, action, from_pct, to_pct, int(allowed), "tester", "setup",
             dumps(evidence)),
        )
