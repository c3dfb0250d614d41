"""The public Python API: the names ``deployready`` exports, pinned; each resolves to the
object its module defines; ``import deployready`` stays cheap; ``python -m deployready``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import deployready

REPO = Path(__file__).resolve().parent.parent

PUBLIC = [
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


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *(("-c", code) if code else ()), *args],
        capture_output=True, text=True, timeout=120, check=False, cwd=REPO,
    )


def test_the_public_api_is_pinned() -> None:
    assert deployready.__all__ == PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_resolves_to_its_definition(name: str) -> None:
    value = getattr(deployready, name)
    assert value.__module__.startswith("deployready.")
    assert getattr(sys.modules[value.__module__], name) is value
    assert name in dir(deployready)


def test_type_checkers_see_the_same_names() -> None:
    """The ``TYPE_CHECKING`` imports name every public name, from its defining module."""
    tree = ast.parse((REPO / "deployready" / "__init__.py").read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If)
                 and isinstance(n.test, ast.Name) and n.test.id == "TYPE_CHECKING")
    seen = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module is not None
        for alias in node.names:
            assert alias.asname == alias.name  # an explicit re-export
            seen[alias.name] = node.module
    assert sorted(seen) == PUBLIC
    assert {n: getattr(deployready, n).__module__ for n in PUBLIC} == seen


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no attribute 'quick_status'"):
        _ = deployready.quick_status


def test_star_import_gives_the_public_names() -> None:
    done = _python("from deployready import *; print(sorted(k for k in dir() if k[0] != '_'))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr(PUBLIC)


def test_import_deployready_stays_cheap() -> None:
    done = _python(
        "import sys, deployready; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('deployready', 'pandas', 'numpy', 'sklearn', 'plotly', 'streamlit')))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr(["deployready", "deployready.version"])


def test_python_m_deployready_help() -> None:
    done = _python("", "-m", "deployready", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: deployready")
    for command in ("score", "export", "loadtest", "ingest", "daily", "rollout", "gate",
                    "report"):
        assert f"    {command} " in done.stdout
