"""Helpers for the monitoring tests (logs, latency, drift, daily, alerts): a package folder
with a reference profile and manifest, a stand-in predictor, and crafted log files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from chart_support import chart_specs
from streamlit.testing.v1 import AppTest

from deployready.demo.data import CATEGORICAL_FEATURES, NUMERIC_FEATURES, make_dataset
from deployready.package.profile import fit_profile
from deployready.workspace import Workspace

FEATURES = [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]


@dataclass
class StubPackage:
    """Stands in for a loaded package: version, schema and a deterministic predict."""

    version: str
    schema: dict[str, Any] = field(default_factory=dict)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        z = (
            0.8 * np.log1p(np.nan_to_num(frame["amount"].to_numpy(dtype=float)))
            - 0.004 * np.nan_to_num(frame["credit_score"].to_numpy(dtype=float) - 650)
            + 1.2 * frame["utilization"].to_numpy(dtype=float)
            + 0.5 * (frame["channel"].astype(str).to_numpy() == "web")
            - 3.0
        )
        return 1.0 / (1.0 + np.exp(-z))


def schema() -> dict[str, Any]:
    feats = [{"name": n, "kind": "numeric", "dtype": "float", "nullable": n == "distance_km"}
             for n in NUMERIC_FEATURES]
    feats += [{"name": n, "kind": "categorical", "dtype": "string", "nullable": False,
               "categories": []} for n in CATEGORICAL_FEATURES]
    return {"format": 1, "features": feats, "target": "target",
            "prediction": {"kind": "probability", "positive_class": 1}}


def make_package(ws: Workspace, version: str = "v1.0", *, n: int = 6000,
                 seed: int = 3) -> StubPackage:
    """A package folder with reference_profile.json, feature_schema.json and MANIFEST.json."""
    data = make_dataset(n, "2026-01-01", "2026-02-01", seed=seed)
    pkg = StubPackage(version, schema())
    profile = fit_profile(data[FEATURES], pkg.predict(data[FEATURES]), bins=10)
    folder = ws.package_path(version)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reference_profile.json").write_text(json.dumps(profile), encoding="utf-8")
    (folder / "feature_schema.json").write_text(json.dumps(pkg.schema), encoding="utf-8")
    manifest = {"format": 1, "version": version, "created_at": "2026-01-01T00:00:00+00:00",
                "files": {}}
    (folder / "MANIFEST.json").write_text(json.dumps(manifest, sort_keys=True), encoding="utf-8")
    return pkg


def package_hash(ws: Workspace, version: str) -> str:
    return hashlib.sha256((ws.package_path(version) / "MANIFEST.json").read_bytes()).hexdigest()


def new_workspace(root: Path, policy: str = "") -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    if policy:
        (root / "deployready.toml").write_text(policy, encoding="utf-8")
    return Workspace.open(root)


def crafted_logs(
    day: str, latencies: list[float] | np.ndarray, *, version: str = "v1.0",
    errors: list[str] | None = None, start_hour: int = 0, spacing_s: float = 1.0,
    features: pd.DataFrame | None = None, predictions: np.ndarray | None = None,
) -> pd.DataFrame:
    """Log rows for one day, one request every ``spacing_s`` seconds from ``start_hour``."""
    n = len(latencies)
    t0 = pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=start_hour)
    ts = t0 + pd.to_timedelta(np.arange(n) * spacing_s, unit="s")
    errs = errors if errors is not None else [""] * n
    pred = predictions if predictions is not None else np.full(n, 0.25)
    pred = np.where(np.array(errs) == "", pred, np.nan)
    frame = pd.DataFrame({
        "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "version": version,
        "latency_ms": np.asarray(latencies, dtype=float),
        "prediction": pred,
        "error": errs,
    })
    if features is not None:
        frame = pd.concat([frame, features.reset_index(drop=True)], axis=1)
    return frame


def write_csv(ws: Workspace, name: str, frame: pd.DataFrame) -> Path:
    ws.production_dir.mkdir(parents=True, exist_ok=True)
    path = ws.production_dir / name
    frame.to_csv(path, index=False)
    return path


def record_loadtest(ws: Workspace, version: str, sha: str, *, p50: float, p95: float,
                    p99: float, passed: bool = True, status: str = "completed") -> int:
    result = {"latency_ms": {"p50": p50, "p95": p95, "p99": p99, "count": 1000}}
    with ws.store.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO loadtest_runs (version, package_sha256, mode, target, status, "
            "started_at, finished_at, config_json, result_json, passed) "
            "VALUES (?, ?, 'closed', 'worker', ?, '2026-01-01T00:00:00+00:00', "
            "'2026-01-01T00:05:00+00:00', '{}', ?, ?)",
            (version, sha, status, json.dumps(result), int(passed)),
        )
        return int(cur.lastrowid or 0)


def texts(at: AppTest) -> str:
    """Every text element of a rendered page, one per line."""
    parts = [m.value for m in at.markdown] + [e.value for e in at.error]
    parts += [s.value for s in at.success] + [i.value for i in at.info]
    parts += [w.value for w in at.warning] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def charts(at: AppTest) -> list[dict[str, Any]]:
    """The plotly figure specs of a rendered page."""
    return chart_specs(at)
