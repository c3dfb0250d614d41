"""A workspace: a folder with ``deployready.toml``, ``data/`` and ``models/``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from deployready.memo import FileMemo
from deployready.policy import POLICY_FILE, Policy, load_policy
from deployready.store import STORE_FILE, Store

ENV_VAR = "DEPLOYREADY_WORKSPACE"

VERSION_RE = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?$")


def parse_version(name: str) -> tuple[int, int, int] | None:
    """``v1.2`` → (1, 2, 0); ``v1.2.3`` → (1, 2, 3); anything else → None."""
    match = VERSION_RE.match(name)
    if not match:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def format_version(major: int, minor: int, patch: int = 0) -> str:
    return f"v{major}.{minor}" if patch == 0 else f"v{major}.{minor}.{patch}"


#: Parsed policies by file signature, shared by every workspace handle of this process.
POLICIES: FileMemo[Policy] = FileMemo(32)


def default_workspace_path() -> Path:
    return Path(os.environ.get(ENV_VAR) or os.getcwd())


@dataclass(frozen=True)
class Workspace:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def open(cls, root: str | Path | None = None) -> Workspace:
        return cls(Path(root) if root is not None else default_workspace_path())

    @property
    def policy_path(self) -> Path:
        return self.root / POLICY_FILE

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def certification_dir(self) -> Path:
        return self.data_dir / "certification"

    @property
    def production_dir(self) -> Path:
        return self.data_dir / "production"

    @property
    def labels_dir(self) -> Path:
        """Ground-truth label files (``*.csv``, ``*.parquet``, ``*.jsonl``)."""
        return self.data_dir / "labels"

    @property
    def loadtest_dir(self) -> Path:
        """Raw latency samples of load-test runs."""
        return self.data_dir / "loadtests"

    @property
    def store_path(self) -> Path:
        return self.data_dir / STORE_FILE

    @cached_property
    def store(self) -> Store:
        return Store(self.store_path)

    def policy(self) -> Policy:
        """The policy, parsed once per file signature (path, size, mtime in ns, inode):
        the same object until the file changes. A file that does not parse is an error on
        every call; without a file, the defaults."""
        path = self.policy_path
        try:
            stat = path.stat()
        except OSError:
            return load_policy(path)
        key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        policy = POLICIES.get(key)
        if policy is None:
            policy = load_policy(path)
            POLICIES.put(key, policy)
        return policy

    def history_path(self) -> Path | None:
        """The certification history file, whichever format it is in.

        Anything at a history file's name counts — a folder or a broken link too, so that
        its loader says what is wrong instead of the history looking absent — and so does
        a certification folder that is a file.
        """
        if os.path.lexists(self.certification_dir) and not self.certification_dir.is_dir():
            return self.certification_dir / "history.csv"
        for suffix in ("csv", "parquet", "jsonl"):
            candidate = self.certification_dir / f"history.{suffix}"
            if os.path.lexists(candidate):
                return candidate
        return None

    def versions(self) -> list[str]:
        """Package folder names under ``models/``, oldest first (by version number)."""
        if not self.models_dir.is_dir():
            return []
        found = [
            (parsed, p.name)
            for p in self.models_dir.iterdir()
            if p.is_dir() and (parsed := parse_version(p.name)) is not None
        ]
        return [name for _, name in sorted(found)]

    def package_path(self, version: str) -> Path:
        return self.models_dir / version

    def latest_version(self) -> str | None:
        versions = self.versions()
        return versions[-1] if versions else None

    def is_empty(self) -> bool:
        return not self.versions() and self.history_path() is None
