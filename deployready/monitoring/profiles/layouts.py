"""The layouts a workspace's log rows are binned against: for each ``models/<version>/``,
its package hash and its ``reference_profile.json``.

A profile the manifest lists is read from the bytes it lists and verified against them
(nothing is unpickled), so a stored profile's ``package_sha256`` names exactly the bins
it was counted over (one it does not list, or under a manifest that does not parse,
is read as it is, as the daily check reads it). A package that cannot be
read so (no manifest, a profile that fails its hash or its checks) is *broken*: the
ingest leaves the profiles of its rows as they are and says why, until the package is
fixed or removed. A version without a package folder has no layout: its rows are
profiled without prediction and feature counts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployready.errors import PackageError
from deployready.monitoring.profiles.frame import Layout
from deployready.package.manifest import (
    MANIFEST_FILE,
    PROFILE_FILE,
    Manifest,
    parse_manifest,
    read_package_file,
    read_verified,
    sha256_bytes,
)
from deployready.package.profile import check_profile
from deployready.workspace import Workspace

__all__ = ["PackageLayouts", "layouts_of", "package_hashes", "package_layouts"]


@dataclass(frozen=True)
class PackageLayouts:
    """The readable packages' layouts and the broken packages' errors, by version."""

    layouts: dict[str, Layout] = field(default_factory=dict)
    broken: dict[str, PackageError] = field(default_factory=dict)

    def hash_of(self, version: str) -> str | None:
        """The package hash a version's rows are binned against now ("" without a
        package); None when its package is broken."""
        if version in self.broken:
            return None
        layout = self.layouts.get(version)
        return layout.package_sha256 if layout is not None else ""


def _manifest_bytes(ws: Workspace, version: str) -> bytes:
    return read_package_file(ws.package_path(version) / MANIFEST_FILE,
                             missing="no manifest", expected="a model package")


def _listed(data: bytes, source: Path) -> Manifest | None:
    """The manifest, or None when it does not parse (judged by the package checks; the
    monitoring reads the profile as the daily check does)."""
    try:
        return parse_manifest(data, source)
    except PackageError:
        return None


def _layout(ws: Workspace, version: str) -> Layout:
    path = ws.package_path(version)
    data = _manifest_bytes(ws, version)
    manifest = _listed(data, path / MANIFEST_FILE)
    if manifest is not None and PROFILE_FILE in manifest.files:
        raw = read_verified(path, manifest, PROFILE_FILE)
    elif os.path.lexists(path / PROFILE_FILE):  # not listed: read as it is
        raw = read_package_file(path / PROFILE_FILE, missing="missing file",
                                expected="a JSON file")
    else:  # a package without a reference profile: no bins
        return Layout(sha256_bytes(data), {"features": {}})
    try:
        profile: Any = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # bad JSON or not UTF-8
        raise PackageError(f"unreadable reference profile: {exc}", source=path / PROFILE_FILE,
                           expected="UTF-8 JSON") from exc
    return Layout(sha256_bytes(data), check_profile(profile, path / PROFILE_FILE))


def package_layouts(ws: Workspace) -> PackageLayouts:
    """Every package version's layout, or why it cannot be read."""
    out = PackageLayouts()
    for version in ws.versions():
        try:
            out.layouts[version] = _layout(ws, version)
        except PackageError as exc:
            out.broken[version] = exc
    return out


def layouts_of(ws: Workspace) -> dict[str, Layout]:
    """The layouts of the workspace's readable packages, by version."""
    return package_layouts(ws).layouts


def package_hashes(ws: Workspace) -> dict[str, str | None]:
    """Each package version's hash (None: no readable manifest) — the manifests only,
    for a cheap "did a package change" question."""
    out: dict[str, str | None] = {}
    for version in ws.versions():
        try:
            out[version] = sha256_bytes(_manifest_bytes(ws, version))
        except PackageError:
            out[version] = None
    return out
