"""Every malformed file of the corpus (``cases.py``) through the Python API and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deployready.errors import DeployReadyError
from deployready.workspace import Workspace
from tests.hostile.cases import (
    FILE_CASES,
    LOG_CASES,
    MARKER_ENV,
    Case,
    header_only,
    log_text,
)
from tests.hostile.conftest import assert_untouched, run_cli, snapshot

ENGINES = ("pandas", "duckdb")


def _params() -> list[object]:
    params: list[object] = []
    for case in FILE_CASES:
        both = case in LOG_CASES or case.category == "labels"
        engines = ENGINES if both else ("pandas",)
        for engine in engines:
            marks = []
            reason = case.xfail or case.engine_xfail.get(engine)
            if reason:
                marks.append(pytest.mark.xfail(reason=reason, strict=False))
            name = f"{case.name}[{engine}]" if both else case.name
            params.append(pytest.param(case, engine, id=name, marks=marks))
    return params


def _cli_params() -> list[object]:
    out: list[object] = []
    for case in FILE_CASES:
        if case.cli is None:
            continue
        marks = [pytest.mark.xfail(reason=case.xfail, strict=False)] if case.xfail else []
        out.append(pytest.param(case, id=case.name, marks=marks))
    return out


def _prepare(case: Case, ws: Workspace, marker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MARKER_ENV, str(marker))
    case.mutate(ws.root)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "markers" / "unpickled"


@pytest.mark.parametrize(("case", "engine"), _params())
def test_api_refuses(
    case: Case,
    engine: str,
    hws: Workspace,
    marker: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEPLOYREADY_LOG_ENGINE", engine)
    marker.parent.mkdir(parents=True, exist_ok=True)
    _prepare(case, hws, marker, monkeypatch)
    before = snapshot(hws)

    with pytest.raises(DeployReadyError) as info:
        case.action(hws)

    assert isinstance(info.value, case.error), f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    for fragment in case.fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert_untouched(before, hws)
    assert not marker.exists(), "a hostile pickle was unpickled"


@pytest.mark.parametrize(
    "case", [c for c in FILE_CASES if c.finding_file is not None], ids=lambda c: c.name
)
def test_validation_names_the_file(
    case: Case, hws: Workspace, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deployready.package.validate import validate_package

    marker.parent.mkdir(parents=True, exist_ok=True)
    _prepare(case, hws, marker, monkeypatch)
    folder = hws.models_dir / ("latest" if case.finding_file == "latest" else "v1.0")
    before = snapshot(hws)

    report = validate_package(folder, deep=True)

    assert not report.valid
    assert case.finding_file in {f.file for f in report.errors}, report.findings
    assert_untouched(before, hws)
    assert not marker.exists(), "a hostile pickle was unpickled"


@pytest.mark.parametrize("case", _cli_params())
def test_cli_refuses(
    case: Case, hws: Workspace, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert case.cli is not None
    marker.parent.mkdir(parents=True, exist_ok=True)
    _prepare(case, hws, marker, monkeypatch)
    before = snapshot(hws)
    args = [a.format(ws=hws.root, pkg=hws.package_path("v1.0")) for a in case.cli]

    proc = run_cli(args, cwd=hws.root.parent, env={MARKER_ENV: str(marker)})

    assert proc.returncode == case.cli_code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    shown = proc.stderr if case.cli_code == 2 else proc.stdout + proc.stderr
    if case.cli_code == 2:
        assert shown.startswith("deployready: error: "), shown
        wanted = case.fragments
    else:  # exit 1 prints a report: the file and what is wrong must be in it
        wanted = case.fragments[:2]
    for fragment in wanted:
        assert fragment in shown, f"{fragment!r} not in {shown!r}"
    assert_untouched(before, hws)
    assert not marker.exists(), "a hostile pickle was unpickled"


def test_hostile_pickle_would_leave_its_marker(tmp_path: Path) -> None:
    """The marker check above is not vacuous: loading the hostile bytes does create it."""
    import io

    import joblib

    from tests.hostile.cases import Hostile

    marker = tmp_path / "unpickled"
    buffer = io.BytesIO()
    joblib.dump(Hostile(str(marker)), buffer)
    joblib.load(io.BytesIO(buffer.getvalue()))
    assert marker.exists()


def test_corpus_covers_every_input() -> None:
    from tests.hostile.test_http import HTTP_CASES

    categories = {c.category for c in FILE_CASES}
    assert categories == {"history", "policy", "package", "logs", "labels"}
    assert len(FILE_CASES) + len(HTTP_CASES) >= 30
    assert len({c.name for c in FILE_CASES}) == len(FILE_CASES)


def _live_half_line(root: Path) -> Any:
    """The day's file held by a writer (serve's lock) that is halfway through row 5."""
    from deployready.serving.predlog import try_lock
    from tests.hostile.cases import LOG_FILE, half_written_last_line

    half_written_last_line(root)
    handle = (root / LOG_FILE).open("a", encoding="utf-8")
    assert try_lock(handle)
    return handle


NO_ROWS_YET = {
    "zero-bytes": (lambda root: log_text("")(root), 0),
    "header-only": (header_only, 0),
    "live-writer-half-line": (_live_half_line, 4),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("state", sorted(NO_ROWS_YET))
def test_a_file_a_writer_is_writing_is_not_an_error(
    state: str, engine: str, hws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0 bytes, only a header, or a live writer's unfinished line: no rows (yet), and the
    daily check of that day runs on what is finished, for every version."""
    from deployready.monitoring.daily import run_daily
    from tests.hostile.cases import LOG_DAY, VERSION

    monkeypatch.setenv("DEPLOYREADY_LOG_ENGINE", engine)
    make, rows = NO_ROWS_YET[state]
    handle = make(hws.root)
    try:
        record = run_daily(hws, VERSION, LOG_DAY, deliver=False)
    finally:
        if hasattr(handle, "close"):
            handle.close()
    assert record.rows == rows
    assert (record.status == "no_data") is (rows == 0)
