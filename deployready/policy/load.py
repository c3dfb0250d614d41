"""Reading the policy: ``deployready.toml`` parsed strictly into :class:`Policy` — an
unknown key, a missing required value or a wrong type is a
:class:`~deployready.errors.PolicyError` naming ``deployready.toml: section.key`` and what
was expected; each value's range is then checked by :mod:`deployready.policy.rules`."""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal

from deployready.errors import PolicyError, read_file
from deployready.policy.rules import check_semantics
from deployready.policy.sections import Policy

POLICY_FILE = "deployready.toml"


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file. A missing file gives the defaults."""
    path = policy_file(path)
    try:
        data = read_file(path, PolicyError, expected="a TOML file")
    except FileNotFoundError:
        return Policy()
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"not valid TOML: {exc}", source=path) from exc
    except UnicodeDecodeError as exc:
        raise PolicyError("not UTF-8 text", source=path) from exc
    return parse_policy(raw, source=path)


def policy_file(path: str | Path) -> Path:
    """``path``, or the policy file in it when it is a workspace folder. A folder named
    like a policy file (``deployready.toml/``) is not a workspace: it is an error."""
    path = Path(path)
    if path.suffix.lower() != ".toml" and path.is_dir():
        return path / POLICY_FILE
    return path


def parse_policy(raw: dict[str, Any], *, source: str | Path = POLICY_FILE) -> Policy:
    policy: Policy = _build(Policy, raw, "", source)
    check_semantics(policy, source)
    return policy


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "a table"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, str(tp)
    )


def _convert(tp: Any, value: Any, key: str, source: str | Path) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise PolicyError("wrong type", source=source, location=key, expected="a table")
        return _build(tp, value, key, source)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise PolicyError(
                f"invalid value {value!r}", source=source, location=key, expected=_type_name(tp)
            )
        return value
    if origin is list:
        if not isinstance(value, list):
            raise PolicyError("wrong type", source=source, location=key, expected=_type_name(tp))
        (item_tp,) = typing.get_args(tp)
        return [_convert(item_tp, v, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise PolicyError("wrong type", source=source, location=key, expected="a table")
        _, val_tp = typing.get_args(tp)
        return {k: _convert(val_tp, v, f"{key}.{k}", source) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise PolicyError("wrong type", source=source, location=key, expected="true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyError("wrong type", source=source, location=key, expected="an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PolicyError("wrong type", source=source, location=key, expected="a number")
        if not math.isfinite(value):
            raise PolicyError("not finite", source=source, location=key, expected="a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise PolicyError("wrong type", source=source, location=key, expected="a string")
        return value
    raise TypeError(f"unsupported policy type {tp!r}")  # pragma: no cover


def _build(cls: Any, raw: dict[str, Any], prefix: str, source: str | Path) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else key
            allowed = ", ".join(sorted(names))
            raise PolicyError("unknown key", source=source, location=where, expected=allowed)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            has_default = (
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            )
            if not has_default:
                where = f"{prefix}.{f.name}" if prefix else f.name
                raise PolicyError(
                    "missing key", source=source, location=where, expected=_type_name(hints[f.name])
                )
            continue
        where = f"{prefix}.{f.name}" if prefix else f.name
        kwargs[f.name] = _convert(hints[f.name], raw[f.name], where, source)
    return cls(**kwargs)


# Allow `X | None` unions in future fields without surprising the converter.
_ = types.UnionType
