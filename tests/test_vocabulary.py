"""One check vocabulary: one Check record, one status enum, one formatting table; stored
daily records written by older versions load and serialize unchanged. (One owner per
store table is tests/test_architecture.py's.)"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rollout_support import add_daily, fake_scores, make_workspace, package_hash

from deployready.checks import (
    MISSING_VALUE,
    STATUS_STYLES,
    Category,
    Check,
    Evidence,
    Status,
    format_value,
    status_color,
    status_glyph,
    status_label,
    status_mark,
    status_text,
)
from deployready.errors import StoreError
from deployready.monitoring.daily import daily_status, list_daily
from deployready.rollout import events as rollout
from deployready.rollout.events import evaluate_gate, promote
from deployready.rollout.reviews import checklists, daily_reviews
from deployready.store import dumps
from deployready.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- the table


def test_every_status_has_one_glyph_and_one_label() -> None:
    assert set(STATUS_STYLES) == set(Status)
    glyphs = [s.glyph for s in STATUS_STYLES.values()]
    assert all(glyphs) and len(set(glyphs)) == len(glyphs)
    for status, style in STATUS_STYLES.items():
        assert style.label == status.value  # the word is the serialized status
        assert status_glyph(status) == status_glyph(status.value) == style.glyph
        assert status_label(status.value) == style.label
        assert status_text(status) == f"{style.glyph} {style.label}"
        assert status_mark(status) == style.label.upper()


def test_every_status_has_one_colour_from_the_table() -> None:
    colours = [status_color(s) for s in Status]
    assert all(c.startswith("#") for c in colours) and len(set(colours)) == len(colours)
    assert status_color("weird") == status_color(Status.MISSING)
    # the charts and pages take status colours from the table: none is spelled out there
    sources = [*sorted((REPO / "deployready" / "charts").glob("*.py")),
               *sorted((REPO / "pages").glob("*.py"))]
    spelled = [f"{p.relative_to(REPO)}: {c}" for p in sources
               for c in colours if c.lower() in p.read_text(encoding="utf-8").lower()]
    assert spelled == []


def test_text_that_is_not_a_status_shows_as_itself() -> None:
    assert status_glyph("weird") == "" and status_label("weird") == "weird"
    assert status_text("weird") == "weird"


@pytest.mark.parametrize(
    "value,shown",
    [(None, MISSING_VALUE), (True, "yes"), (False, "no"), (0.123456, "0.1235"), (3, "3"),
     ("v1.1", "v1.1"), ({"a": 1}, '{"a": 1}'), ([1, 2], "[1, 2]")],
)
def test_values_show_one_way(value: Any, shown: str) -> None:
    assert format_value(value) == shown
    assert MISSING_VALUE == "—"


GLYPHS = ("✅", "❌", "⏳", "🕰", "⬜", "✓", "✗", "✔", "✘")
STATUS_WORD = r"""(?:["'](?:pass|fail|pending|stale|missing)["']|Status\.[A-Z]+)"""
#: a status mapped to a literal string: {"pass": "ok", …} / {Status.PASS: "PASS", …}
STATUS_MAP = re.compile(STATUS_WORD + r"""\s*:\s*f?["']""")
#: a status word chosen by a condition: "pass" if ok else "fail"
STATUS_CHOICE = re.compile(r"""["'](?:pass|fail|pending)["']\s+if\b""")


def rendering_sources() -> list[Path]:
    files = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py")),
             *sorted((REPO / "dashboard").rglob("*.py")),
             *sorted((REPO / "deployready").rglob("*.py"))]
    return [f for f in files if f != REPO / "deployready" / "checks.py"]


def test_no_status_glyph_or_status_map_outside_the_table() -> None:
    found: list[str] = []
    for path in rendering_sources():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.relative_to(REPO)}:{n}: {line.strip()}"
            if any(g in line for g in GLYPHS):
                found.append(f"glyph {where}")
            if STATUS_MAP.search(line):
                found.append(f"status map {where}")
            if STATUS_CHOICE.search(line):
                found.append(f"status chosen in place {where}")
    assert found == [], "\n".join(found)


def test_the_grep_sees_the_old_maps() -> None:
    # the patterns catch each shape the table replaced
    assert STATUS_MAP.search('MARK = {"pass": "✅", "fail": "❌"}')
    assert STATUS_MAP.search("STATUS_MARK = {Status.PASS: \"PASS\"}")
    assert STATUS_CHOICE.search('"status": "pass" if self.passed else "fail"')
    assert not STATUS_MAP.search('STATUS_COLORS = {"pass": PASS_COLOR}')


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_gate_and_state_do_not_import_the_actions() -> None:
    rollout_dir = REPO / "deployready" / "rollout"
    for name in ("gate.py", "state.py"):
        assert "deployready.rollout.events" not in imported_modules(rollout_dir / name), name
    assert "deployready.rollout.gate" not in imported_modules(rollout_dir / "state.py")
    # and importing the gate alone does not pull the actions in
    code = ("import sys, deployready.rollout.gate; "
            "print('deployready.rollout.events' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- stored records

#: A daily record as written by the code before the one-vocabulary change: items without
#: category or evidence, statuses as text.
OLD_RECORD: dict[str, Any] = {
    "date": "2026-11-20", "version": "v1.1", "package_sha256": "", "status": "alert",
    "green": False, "created_at": "2026-11-21T06:00:00+00:00", "rows": 1200, "errors": 3,
    "error_rate": 0.0025, "trailing_error_rate": 0.002, "error_kinds": {"timeout": 3},
    "latency": {"count": 1197, "errors": 3, "p50": 12.0, "p95": 30.5, "p99": 61.2,
                "requests": 1200},
    "baseline": {"kind": "none", "p50": None, "p95": None, "p99": None, "count": None,
                 "source": "", "time": None, "message": "no passing load test"},
    "spikes": [],
    "checks": [
        {"name": "p99", "status": "fail", "value": 61.2, "threshold": "< 50 ms",
         "message": "P99 61.2 ms over 1197 requests."},
        {"name": "error_spike", "status": "pass", "value": 0.0025,
         "threshold": "≤ 1.00% and ≤ 3× the 7-day median",
         "message": "3 errors in 1200 requests (0.25%); 7-day median 0.20%."},
        {"name": "feature_psi", "status": "pass", "value": 0.04,
         "threshold": "< 0.25 per feature", "message": "All 9 features below 0.1."},
        {"name": "latency_drift", "status": "pending", "value": None,
         "threshold": "≤ 20% slower", "message": "No latency baseline: none."},
    ],
    "drift": None, "alerts": [], "engine": "pandas",
}


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    workspace = make_workspace(tmp_path / "ws")
    monkeypatch.setattr(rollout, "readiness_of", fake_scores(workspace, {"v1.1": True}))
    return workspace


def store_old(ws: Workspace, record: dict[str, Any]) -> None:
    """Write a row the way the older code did (its SQL, its JSON)."""
    with ws.store.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO daily_checks (date, version, package_sha256, created_at, "
            "status, record_json) VALUES (?, ?, ?, ?, ?, ?)",
            (record["date"], record["version"], record["package_sha256"],
             record["created_at"], record["status"], dumps(record)),
        )


def test_an_old_stored_record_loads_and_serializes_unchanged(ws: Workspace) -> None:
    old = {**OLD_RECORD, "package_sha256": package_hash(ws, "v1.1")}
    store_old(ws, old)
    record = daily_status(ws, "v1.1", "2026-11-20")
    assert record is not None
    assert all(isinstance(c, Check) and c.category is Category.DAILY for c in record.checks)
    assert [c.status for c in record.checks] == [Status.FAIL, Status.PASS, Status.PASS,
                                                 Status.PENDING]
    assert record.as_dict() == old  # same keys, same values: the stored shape is unchanged
    assert json.loads(dumps(record.as_dict())) == json.loads(dumps(old))
    assert list_daily(ws, "v1.1")[0].as_dict() == old


def test_an_old_record_in_the_review_checklist(ws: Workspace) -> None:
    store_old(ws, {**OLD_RECORD, "package_sha256": package_hash(ws, "v1.1")})
    [review] = daily_reviews(ws, "v1.1")
    items = review.as_dict()["items"]
    assert [list(i) for i in items] == [
        ["key", "label", "status", "value", "threshold", "message"]] * 4
    assert {i["key"]: i["status"] for i in items} == {
        "p99": "fail", "error_spike": "pass", "prediction_psi": "missing", "feature_psi": "pass"}
    missing = next(i for i in review.items if i.name == "prediction_psi")
    assert missing.status is Status.MISSING and missing.message == "not in the daily record"
    assert not review.green and review.as_dict()["green"] is False


def test_an_unreadable_stored_record_names_its_row(ws: Workspace) -> None:
    bad = {**OLD_RECORD, "checks": [{**OLD_RECORD["checks"][0], "status": "maybe"}]}
    store_old(ws, bad)
    with pytest.raises(StoreError, match=r"daily_checks/2026-11-20/v1\.1.*maybe"):
        daily_status(ws, "v1.1", "2026-11-20")
    with ws.store.transaction() as conn:
        conn.execute("UPDATE daily_checks SET record_json = '{not json'")
    with pytest.raises(StoreError, match=r"daily_checks/2026-11-20/v1\.1"):
        list_daily(ws)


# --------------------------------------------------------------------------- one green


@pytest.mark.parametrize("status,failing", [
    ("ok", ()), ("alert", ("feature_psi",)), ("alert", ("p99",)), ("no_data", ()),
])
def test_record_review_and_gate_agree_on_green(ws: Workspace, status: str,
                                               failing: tuple[str, ...]) -> None:
    assert promote(ws, "v1.1", actor="ana", reason="canary").allowed
    day = datetime.now(UTC).date()
    with ws.store.transaction() as conn:  # entered the stage two days ago
        moved = (datetime.now(UTC) - timedelta(days=2)).isoformat(timespec="seconds")
        conn.execute("UPDATE rollout_events SET created_at = ?", (moved,))
    add_daily(ws, "v1.1", day, status=status, failing=failing)
    [record] = list_daily(ws, "v1.1")
    [review] = checklists(ws, "v1.1").daily
    gate = evaluate_gate(ws, "v1.1")
    bake = next(c for c in gate.checks if c.name == "bake time")
    [gate_day] = bake.evidence.detail["days"] if bake.evidence else []
    assert record.green == review.green == gate_day["green"] == (status == "ok")


# --------------------------------------------------------------------------- serialized shapes


def test_gate_json_keeps_its_shape(ws: Workspace) -> None:
    data = evaluate_gate(ws, "v1.1").as_dict()
    for check in data["checks"]:
        assert list(check) == ["name", "status", "value", "threshold", "message", "evidence"]
        assert check["status"] in ("pass", "fail") and isinstance(check["evidence"], dict)
    assert json.loads(json.dumps(data, default=str)) == json.loads(dumps(data))


def test_a_gate_check_is_a_check() -> None:
    check = rollout.gate_check("stage", False, 5, "< 100 %", "nothing to promote", {"a": 1})
    assert check.category is Category.GATE and check.status is Status.FAIL
    assert check.evidence == Evidence("rollout gate", detail={"a": 1})
    assert not rollout.gate_check("stage", True, 5, "", "").evidence
