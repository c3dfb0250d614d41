"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from deployready.access import AccessDecision, Identity, cli_identity, require
from deployready.errors import DeployReadyError, InputError
from deployready.policy import Policy
from deployready.workspace import Workspace


def add_workspace_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace",
        "-w",
        metavar="DIR",
        default=None,
        help="workspace folder (default: $DEPLOYREADY_WORKSPACE, then the current directory)",
    )


def add_version_arg(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--version", default=None, help=help_text)


def add_actor_arg(parser: argparse.ArgumentParser, flag: str = "--actor") -> None:
    parser.add_argument(
        flag, default=None, dest="actor", metavar="NAME",
        help="in CI: who is acting, recorded as ci:NAME (asserted, not authenticated); "
             "default: cli:$USER. Needs a role in the policy's [access] allowing the action")


def identity_of(args: argparse.Namespace) -> Identity:
    """``cli:<os user>``, or ``ci:<NAME>`` with ``--actor NAME``."""
    return cli_identity(getattr(args, "actor", None))


def authorized(ws: Workspace, args: argparse.Namespace, action: str, target: str = "",
               policy: Policy | None = None) -> AccessDecision:
    """The CLI's identity may take ``action`` (recorded in the access log); a refusal is
    recorded and raised (:class:`~deployready.errors.AccessDenied`, exit 1)."""
    return require(ws, identity_of(args), action, target, policy)


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")


def require_folder(path: Path, expected: str) -> None:
    """An InputError naming ``path`` when something other than a folder is there."""
    if path.exists() and not path.is_dir():
        raise InputError("is a file, not a folder", source=path, expected=expected)


def workspace_of(args: argparse.Namespace) -> Workspace:
    ws = Workspace.open(args.workspace)
    require_folder(ws.root, "a workspace folder")
    return ws


def resolve_version(ws: Workspace, version: str | None) -> str:
    """The requested version, or the newest package; an error if there is none."""
    versions = ws.versions()
    if version is None:
        if not versions:
            raise DeployReadyError(
                f"{ws.models_dir}: no model packages (expected folders like v1.0); "
                "run 'deployready demo DIR' or 'deployready export'"
            )
        return versions[-1]
    if version not in versions:
        known = ", ".join(versions) or "none"
        raise DeployReadyError(f"{ws.models_dir}: no package {version} (packages: {known})")
    return version


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def could_not_evaluate(errors: Iterable[str]) -> bool:
    """Print each unreadable piece of evidence on stderr; True when there was any.

    A command that could not read evidence its answer depends on exits 2 — after printing
    what it could evaluate — so that 1 always means "evaluated, and the answer is no".
    """
    found = False
    for message in errors:
        print(f"deployready: error: {message}", file=sys.stderr)
        found = True
    return found


def parse_now(text: str | None) -> datetime | None:
    """``--now`` as a UTC time (None when not given); an InputError naming it."""
    import pandas as pd

    from deployready.times import to_utc

    if text is None:
        return None
    try:
        ts = to_utc(text)
    except ValueError:
        ts = None
    if ts is None or pd.isna(ts):
        raise InputError(f"not a time: {text!r}", location="--now",
                         expected="ISO 8601, e.g. 2026-03-01T12:00:00Z")
    when: datetime = ts.to_pydatetime()
    return when
