"""Writing the policy: :class:`Policy` rendered as TOML that
:func:`~deployready.policy.load.load_policy` reads back unchanged, written atomically."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from deployready.errors import PolicyError
from deployready.policy.load import policy_file
from deployready.policy.sections import Policy


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")  # pragma: no cover


def _emit(obj: Any, prefix: str, lines: list[str]) -> None:
    scalars: list[tuple[str, Any]] = []
    tables: list[tuple[str, Any]] = []
    items = obj.items() if isinstance(obj, dict) else dataclasses.asdict(obj).items()
    for key, value in items:
        (tables if isinstance(value, dict) else scalars).append((key, value))
    if scalars or not tables:
        if prefix:
            lines.append(f"[{prefix}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars)
        lines.append("")
    for key, value in tables:
        _emit(value, f"{prefix}.{key}" if prefix else key, lines)


def policy_to_toml(policy: Policy) -> str:
    """Render a policy as TOML that :func:`load_policy` reads back unchanged."""
    lines = ["# deployready readiness policy: every number of the deployability checklist.", ""]
    _emit(policy, "", lines)
    return "\n".join(lines).rstrip() + "\n"


def write_policy(path: str | Path, policy: Policy | None = None) -> Path:
    path = policy_file(path)
    if path.is_dir():
        raise PolicyError("is a folder, not a file", source=path, expected="a TOML file")
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(policy_to_toml(policy or Policy()), encoding="utf-8")
    tmp.replace(path)
    return path
