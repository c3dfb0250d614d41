"""The layouts a workspace's log rows are binned against: for each ``models/<version>/``,
its package hash and its ``reference_profile.json``.

The profile is read from the bytes its manifest lists and verified against them (nothing
is unpickled), so a stored profile's ``package_sha256`` names exactly the bins it was
counted over. A package that cannot be read so (no manifest, a profile that fails its
hash or its checks) is *broken*: the ingest leaves the profiles of its rows as they are
and says why, until the package is fixed or removed. A version without a package folder
has no layout: its rows are profiled without prediction and feature counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from deployready.errors import PackageError
from deployready.monitoring.profiles.frame import Layout
from deployready.package.manifest import (
    MANIFEST_FILE,
    PROFILE_FILE,
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


def _layout(ws: Workspace, version: str) -> Layout:
    path = ws.package_path(version)
    data = _manifest_bytes(ws, version)
    manifest = parse_manifest(data, path / MANIFEST_FILE)
    if PROFILE_FILE not in manifest.files:  # a package exported without one: no bins
        return Layout(sha256_bytes(data), {"features": {}})
    raw = read_verified(path, manifest, PROFILE_FILE)
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
