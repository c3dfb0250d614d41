"""The engine's shape, read from its source with ``ast``: no import circle between modules,
sub-packages layered one way, no screen library inside the engine, no guard treating one
of the project's own modules as optional, and every store table queried only by the
module that owns it.

Every import counts — at module level, inside functions and under ``TYPE_CHECKING`` — as
each is a dependency of one module on another.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import itertools
import re
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINE = "deployready"

#: The engine's units (sub-packages and top-level modules), lowest layer first. A module
#: imports modules of its own unit and of units in lower layers only: units of one layer
#: never import each other, and nothing imports upwards.
LAYERS: list[set[str]] = [
    {"errors", "checks", "memo", "version"},
    {"times", "runtime", "store"},
    {"policy"},
    {"workspace"},
    {"access"},
    {"package"},
    {"certification"},
    {"stacks"},
    {"serving", "loadtest"},
    {"monitoring"},
    {"performance"},
    {"score"},
    {"rollout"},
    {"charts"},
    {"report", "demo"},
    {"cli"},
    {"__main__"},
]

#: Import circles that must go, each with the work that removes it. A listed circle that
#: is no longer there fails too, so the exception is deleted with the circle.
KNOWN_CYCLES: dict[frozenset[str], str] = {}

#: Each SQLite table and the module(s) that own it (globs relative to the repository):
#: no other module names the table after FROM, INTO, UPDATE or JOIN.
TABLE_OWNERS: dict[str, tuple[str, ...]] = {
    "loadtest_runs": ("deployready/loadtest/runs.py",),
    "daily_checks": ("deployready/monitoring/daily_store.py",),
    "alerts": ("deployready/monitoring/alerts.py",),
    "rollout_events": ("deployready/rollout/state.py",),
    "signoffs": ("deployready/rollout/signoffs.py",),
    "access_log": ("deployready/access/log.py",),
    "profile_sources": ("deployready/monitoring/profiles/store.py",),
    "profile_segments": ("deployready/monitoring/profiles/store.py",),
    "profile_hours": ("deployready/monitoring/profiles/store.py",),
    "profile_days": ("deployready/monitoring/profiles/store.py",),
    "profile_day_revisions": ("deployready/monitoring/profiles/store.py",),
    "profile_state": ("deployready/monitoring/profiles/store.py",),
}

#: SQL against a table outside its owner that must go, like :data:`KNOWN_CYCLES`.
KNOWN_FOREIGN_SQL: set[tuple[str, str]] = set()

#: Where the project's own Python code lives (SQL and optional-import scans).
PROJECT_SOURCES = ("deployready", "dashboard", "pages", "app.py")

SQL_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+([A-Za-z_]\w*)", re.IGNORECASE)
CREATE_TABLE = re.compile(r"\bCREATE TABLE\s+(?:IF NOT EXISTS\s+)?([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool

    @property
    def rel(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    @property
    def unit(self) -> str | None:
        """The sub-package or top-level module this module belongs to (None: the façade)."""
        parts = self.name.split(".")
        return parts[1] if len(parts) > 1 else None


def engine_modules() -> dict[str, Module]:
    out: dict[str, Module] = {}
    for path in sorted((ROOT / ENGINE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        name = ".".join(parts)
        out[name] = Module(name, path, is_package)
    return out


MODULES = engine_modules()


@functools.cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def imports_of(module: Module) -> Iterator[tuple[str, int]]:
    """(imported name, line) of every import statement of ``module``, relative ones
    resolved; ``from a import b`` yields ``a.b`` when that is a module, else ``a``."""
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    for node in ast.walk(parsed(module.path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                yield (full if full in MODULES else source), node.lineno


def _engine_target(name: str) -> str | None:
    """The engine module an imported name lives in (None: not the engine's)."""
    if name != ENGINE and not name.startswith(f"{ENGINE}."):
        return None
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def engine_graph() -> dict[str, dict[str, int]]:
    """module -> {engine module it imports: first line}."""
    graph: dict[str, dict[str, int]] = {}
    for name, module in MODULES.items():
        edges: dict[str, int] = {}
        for imported, line in imports_of(module):
            target = _engine_target(imported)
            if target is not None and target != name:
                edges.setdefault(target, line)
        graph[name] = edges
    return graph


GRAPH = engine_graph()


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[set[str]]:
    """The groups of modules that import each other, directly or not (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def a_cycle(graph: dict[str, dict[str, int]], group: set[str]) -> str:
    """One shortest circle through the group's first module, with the import lines."""
    start = min(group)
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                path.reverse()
                hops = [*path, start]
                return " -> ".join(
                    f"{a} (line {graph[a][b]})" for a, b in itertools.pairwise(hops)
                ) + f" -> {start}"
            if w in group and w not in previous and w != start:
                previous[w] = v
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover


def cycles_found() -> dict[frozenset[str], str]:
    return {frozenset(g): a_cycle(GRAPH, g) for g in strongly_connected(GRAPH)}


# --------------------------------------------------------------------------- the checker


def test_cycle_finder_reports_a_circle() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    groups = strongly_connected(graph)
    assert groups == [{"a", "b", "c"}]
    assert a_cycle(graph, groups[0]) == "a (line 1) -> b (line 2) -> c (line 3) -> a"
    assert strongly_connected({"a": {"b": 1}, "b": {}}) == []


def test_imports_inside_functions_are_seen() -> None:
    graph = GRAPH["deployready.monitoring.logs"]
    # ``bin_counts`` imports the drift counter inside the function
    assert "deployready.monitoring.drift" in graph
    assert "deployready.cli.core" in GRAPH["deployready.cli"]


# --------------------------------------------------------------------------- circles


def test_no_import_circle_between_engine_modules() -> None:
    found = cycles_found()
    new = {group: cycle for group, cycle in found.items() if group not in KNOWN_CYCLES}
    assert not new, "import circles:\n" + "\n".join(sorted(new.values()))


def test_known_circles_are_still_there() -> None:
    gone = [why for group, why in KNOWN_CYCLES.items() if group not in cycles_found()]
    assert not gone, f"circles removed, delete them from KNOWN_CYCLES: {gone}"


# --------------------------------------------------------------------------- layers


def _layer_of(unit: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if unit in layer)


def test_every_unit_has_one_layer() -> None:
    units = {m.unit for m in MODULES.values() if m.unit is not None}
    placed = [u for layer in LAYERS for u in layer]
    assert len(placed) == len(set(placed)), "a unit is in two layers"
    assert units == set(placed), (
        f"not in LAYERS: {sorted(units - set(placed))}; "
        f"no longer in the engine: {sorted(set(placed) - units)}"
    )


def test_units_import_only_lower_layers() -> None:
    wrong = []
    for name, edges in GRAPH.items():
        unit = MODULES[name].unit
        if unit is None:
            continue  # the façade: checked below
        for target, line in edges.items():
            other = MODULES[target].unit
            if other is None or other == unit:
                continue
            if _layer_of(other) >= _layer_of(unit):
                wrong.append(f"{MODULES[name].rel}:{line} imports {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_nothing_in_the_engine_imports_the_facade() -> None:
    importers = sorted(
        f"{MODULES[name].rel}:{line}"
        for name, edges in GRAPH.items()
        for target, line in edges.items()
        if target == ENGINE
    )
    assert not importers, f"the engine imports deployready/__init__.py: {importers}"


# --------------------------------------------------------------------------- screen


def _third_party(top: str) -> list[str]:
    return sorted(
        f"{m.rel}:{line}"
        for m in MODULES.values()
        for imported, line in imports_of(m)
        if imported.split(".")[0] == top and not (top == "plotly" and m.unit == "charts")
    )


def test_engine_never_imports_streamlit() -> None:
    assert _third_party("streamlit") == []


def test_engine_imports_plotly_only_in_charts() -> None:
    assert _third_party("plotly") == []


@pytest.mark.parametrize(
    ("path", "source", "banned"),
    [
        ("deployready/probe.py", "import streamlit as st\n\nst.write(1)\n", True),
        ("deployready/monitoring/probe.py", "def f() -> None:\n    from streamlit import write\n"
         "\n    write(1)\n", True),
        ("deployready/probe.py", "import plotly.graph_objects as go\n\nprint(go)\n", True),
        ("deployready/report/probe.py", "from plotly import io\n\nprint(io)\n", True),
        ("deployready/charts/probe.py", "import plotly.graph_objects as go\n\nprint(go)\n", False),
        ("app.py", "import streamlit as st\n\nst.write(1)\n", False),
        ("pages/9_Probe.py", "import streamlit as st\n\nst.write(1)\n", False),
        ("dashboard/probe.py", "import plotly\n\nprint(plotly)\n", False),
        ("tests/test_probe.py", "import streamlit as st\n\nst.write(1)\n", False),
        ("bench/probe.py", "import plotly\n\nprint(plotly)\n", False),
    ],
)
def test_lint_rule_bans_screen_libraries_outside_the_dashboard(
    path: str, source: str, banned: bool
) -> None:
    """The project's ruff configuration, on a file that would live at ``path``."""
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise",
         "--stdin-filename", path, "-"],
        input=source, capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )
    assert done.returncode == (1 if banned else 0), done.stdout + done.stderr
    assert ("TID251" in done.stdout) is banned, done.stdout


# --------------------------------------------------------------------------- single sources


def test_only_the_manifest_module_opens_the_manifest() -> None:
    """One place computes a package hash (``package.manifest.package_sha256``): no other
    engine module names ``MANIFEST.json`` to read it. The exception is the standalone
    loader shipped inside exports, which cannot import deployready; its file names and hash
    are pinned to the manifest module's by tests/test_stacks_export.py."""
    found = sorted(
        f"{m.rel}:{node.lineno}"
        for m in MODULES.values()
        if m.name not in ("deployready.package.manifest", "deployready.stacks.loader")
        for node in ast.walk(parsed(m.path))
        if isinstance(node, ast.Constant) and node.value == "MANIFEST.json"
    )
    assert found == []


# --------------------------------------------------------------------------- own modules


def _project_files() -> list[Path]:
    out: list[Path] = []
    for source in PROJECT_SOURCES:
        path = ROOT / source
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = {"ImportError", "ModuleNotFoundError"}
    caught = handler.type
    if caught is None:
        return True
    found = caught.elts if isinstance(caught, ast.Tuple) else [caught]
    return any(isinstance(e, ast.Name) and e.id in names for e in found)


def _own_imports(node: ast.AST) -> bool:
    """An import of a deployready module, or ``import_module`` (the name decided at run
    time, so it may be one)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import) and any(
            a.name.split(".")[0] == ENGINE for a in sub.names
        ):
            return True
        if isinstance(sub, ast.ImportFrom) and (sub.level or (sub.module or "").split(".")[0]
                                                == ENGINE):
            return True
        if isinstance(sub, ast.Call) and getattr(sub.func, "attr", None) == "import_module":
            return True
    return False


def test_no_own_module_is_an_optional_import() -> None:
    guards = []
    for path in _project_files():
        for node in ast.walk(parsed(path)):
            if (isinstance(node, ast.Try) and any(map(_catches_import_error, node.handlers))
                    and any(_own_imports(stmt) for stmt in node.body)):
                guards.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}")
    assert not guards, f"the project's own modules imported as optional: {guards}"


# --------------------------------------------------------------------------- tables


def _sql_uses() -> set[tuple[str, str]]:
    """(table, file) of every FROM/INTO/UPDATE/JOIN naming a store table."""
    uses = set()
    for path in _project_files():
        text = path.read_text(encoding="utf-8")
        for table in SQL_TABLE.findall(text):
            if table in TABLE_OWNERS:
                uses.add((table, path.relative_to(ROOT).as_posix()))
    return uses


def test_the_table_scan_sees_sql_in_any_case() -> None:
    assert SQL_TABLE.findall("select * from alerts join signoffs") == ["alerts", "signoffs"]
    assert SQL_TABLE.findall("INSERT INTO daily_checks; update rollout_events") == [
        "daily_checks", "rollout_events"]


def test_every_store_table_has_an_owner() -> None:
    from deployready.monitoring.profiles.store import SCHEMA
    from deployready.store import MIGRATIONS

    created = {t for sql in (*MIGRATIONS, SCHEMA) for t in CREATE_TABLE.findall(sql)}
    assert created == set(TABLE_OWNERS)


def test_only_the_owner_queries_a_table() -> None:
    foreign = sorted(
        f"{table} in {rel}"
        for table, rel in _sql_uses()
        if not any(fnmatch.fnmatch(rel, glob) for glob in TABLE_OWNERS[table])
        and (table, rel) not in KNOWN_FOREIGN_SQL
    )
    assert not foreign, f"SQL against a table outside its owner: {foreign}"


def test_known_foreign_sql_is_still_there() -> None:
    gone = sorted(KNOWN_FOREIGN_SQL - _sql_uses())
    assert not gone, f"fixed, delete from KNOWN_FOREIGN_SQL: {gone}"


@pytest.mark.parametrize("table", sorted(TABLE_OWNERS))
def test_the_owner_does_query_its_table(table: str) -> None:
    owners = {rel for t, rel in _sql_uses() if t == table}
    assert any(fnmatch.fnmatch(rel, g) for rel in owners for g in TABLE_OWNERS[table])


# --------------------------------------------------------------------------- sizes

#: A module past this many lines is two concepts; a function past MAX_FUNCTION_LINES is
#: two steps (``def`` to its last line, decorators and docstring included).
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

#: Modules and functions still over the limits, each with the work that splits it. A
#: listed one that is no longer too long fails too, so the exception goes with it.
KNOWN_LONG: dict[str, str] = {}


def _too_long() -> dict[str, int]:
    """``path`` or ``path:function`` -> its length in lines, for every one over a limit."""
    out: dict[str, int] = {}
    for module in MODULES.values():
        lines = len(module.path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            out[module.rel] = lines
        for node in ast.walk(parsed(module.path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    out[f"{module.rel}:{node.name}"] = length
    return out


def test_no_module_or_function_is_too_long() -> None:
    new = sorted(f"{where} ({n} lines)" for where, n in _too_long().items()
                 if where not in KNOWN_LONG)
    assert not new, (f"over {MAX_MODULE_LINES} lines a module, {MAX_FUNCTION_LINES} a "
                     "function:\n" + "\n".join(new))


def test_known_long_ones_are_still_long() -> None:
    gone = sorted(set(KNOWN_LONG) - set(_too_long()))
    assert not gone, f"no longer too long, delete from KNOWN_LONG: {gone}"
