"""A verified package, written for a serving stack: an MLflow pyfunc model, an MLServer
model folder or a BentoML service — each over the package's certified bytes, copied byte
for byte (and hashed again after the copy), and the standalone loader
(:mod:`deployready.stacks.loader`, copied as ``deployready_loader.py``) that verifies the
manifest before unpickling and predicts as the package does.

The export is built in a staging folder beside ``out`` and renamed into place: a failed
export leaves nothing behind, and an existing ``out`` is never overwritten.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deployready.errors import InputError, PackageError
from deployready.package.manifest import MANIFEST_FILE, METADATA_FILE, SCHEMA_FILE, read_manifest
from deployready.package.validate import validate_package
from deployready.stacks import loader
from deployready.stacks.mlmodel import mlmodel_text, signature
from deployready.workspace import Workspace

FORMATS: tuple[str, ...] = ("mlflow", "mlserver", "bentoml")
LOADER_FILE = "deployready_loader.py"
PACKAGE_DIR = "package"


@dataclass(frozen=True)
class StackExport:
    path: Path
    format: str
    version: str
    sha256: str
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "version": self.version,
                "package_sha256": self.sha256, "files": list(self.files)}


def _verified_package(ws: Workspace, version: str) -> tuple[Path, str]:
    path = ws.models_dir / version
    if not path.is_dir():
        known = ", ".join(ws.versions()) or "none"
        raise PackageError(f"no package {version} (packages: {known})", source=path,
                           expected="a package folder vMAJOR.MINOR[.PATCH]")
    report = validate_package(path, deep=True)
    if not report.valid or report.sha256 is None:
        first = report.errors[0] if report.errors else None
        why = f"{first.file}: {first.message}" if first else "no manifest hash"
        raise PackageError(f"not a verified package, not exported ({why})", source=path,
                           expected="a package that 'deployready validate' accepts")
    return path, report.sha256


def _copy_package(source: Path, target: Path, sha256: str) -> list[str]:
    """Copy the manifest's files byte for byte, then verify the copy as the loader will."""
    target.mkdir(parents=True)
    names = [MANIFEST_FILE, *sorted(read_manifest(source).files)]
    for name in names:
        shutil.copyfile(source / name, target / name)
    try:
        copied, _ = loader._read_verified(target)
    except loader.PackageMismatch as exc:
        raise PackageError(f"the copy does not verify: {exc}", source=target) from exc
    if copied != sha256:
        raise PackageError("the copy's manifest hash differs from the package's", source=target)
    return names


def _metadata(source: Path, version: str, sha256: str) -> dict[str, Any]:
    meta = json.loads((source / METADATA_FILE).read_bytes())
    out = {"deployready_package_sha256": sha256, "deployready_version": version,
           "deployready_run_id": meta.get("run_id")}
    link = meta.get("mlflow") if isinstance(meta.get("mlflow"), dict) else {}
    if link.get("run_id"):
        out["mlflow_run_id"] = link["run_id"]
    if link.get("model_uri"):
        out["mlflow_model_uri"] = link["model_uri"]
    return out


def _requirements(source: Path) -> str:
    libs = json.loads((source / METADATA_FILE).read_bytes()).get("libraries", {})
    pins = [f"{name}=={libs[name]}" for name in ("scikit-learn", "numpy", "pandas", "joblib")
            if libs.get(name)]
    return "\n".join(pins) + "\n"


def _write_mlflow(root: Path, source: Path, version: str, sha256: str) -> None:
    (root / "code").mkdir()
    shutil.copyfile(loader.__file__, root / "code" / LOADER_FILE)
    schema = json.loads((source / SCHEMA_FILE).read_bytes())
    libs = json.loads((source / METADATA_FILE).read_bytes()).get("libraries", {})
    text = mlmodel_text(
        loader_module=LOADER_FILE.removesuffix(".py"), data=PACKAGE_DIR, code="code",
        python_version=str(libs.get("python", "")), signature=signature(schema),
        metadata=_metadata(source, version, sha256),
        created=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"), uuid=uuid.uuid4().hex)
    (root / "MLmodel").write_text(text, encoding="utf-8")
    (root / "requirements.txt").write_text(_requirements(source), encoding="utf-8")
    python = libs.get("python", "3")
    (root / "python_env.yaml").write_text(
        f"python: {python}\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n",
        encoding="utf-8")


def _write_mlserver(root: Path, source: Path, version: str, sha256: str) -> None:
    shutil.copyfile(loader.__file__, root / LOADER_FILE)
    settings = {
        "name": "deployready",
        "implementation": "deployready_loader.MLServerModel",
        # MLServer's adaptive batching, as `deployready serve` batches: up to 128 rows,
        # waiting at most 2 ms (edit for your stack; 0 turns it off)
        "max_batch_size": 128,
        "max_batch_time": 0.002,
        "parameters": {"uri": f"./{PACKAGE_DIR}", "version": version,
                       "extra": _metadata(source, version, sha256)
                       | {"package_sha256": sha256}},
    }
    (root / "model-settings.json").write_text(json.dumps(settings, indent=2) + "\n",
                                              encoding="utf-8")
    (root / "settings.json").write_text(
        json.dumps({"debug": False, "parallel_workers": 0}, indent=2) + "\n", encoding="utf-8")
    (root / "requirements.txt").write_text(_requirements(source), encoding="utf-8")


SERVICE = '''"""BentoML service over a deployready package (exported by deployready package-export).

POST /predict {{"rows": [{{feature: value, ...}}, ...]}} -> [probability, ...]: the
positive-class probability per row, as the package predicts it. The package's files are
verified against MANIFEST.json before anything is unpickled.
"""

from pathlib import Path
from typing import Any

import bentoml

from deployready_loader import PackageModel

PACKAGE_SHA256 = {sha256!r}
VERSION = {version!r}


@bentoml.service(name="deployready", workers=2)
class DeployreadyModel:
    def __init__(self) -> None:
        self.package = PackageModel(Path(__file__).resolve().parent / {package!r})
        if self.package.sha256 != PACKAGE_SHA256:
            raise RuntimeError(f"package hash {{self.package.sha256}} is not {{PACKAGE_SHA256}}")

    @bentoml.api(batchable=True, batch_dim=0)
    def predict(self, rows: list[dict[str, Any]]) -> list[float]:
        return self.package.predict_records(rows).tolist()
'''


def _write_bentoml(root: Path, source: Path, version: str, sha256: str) -> None:
    shutil.copyfile(loader.__file__, root / LOADER_FILE)
    (root / "service.py").write_text(
        SERVICE.format(sha256=sha256, version=version, package=PACKAGE_DIR), encoding="utf-8")
    (root / "deployready_export.json").write_text(
        json.dumps(_metadata(source, version, sha256), indent=2) + "\n", encoding="utf-8")
    (root / "requirements.txt").write_text(_requirements(source), encoding="utf-8")


_WRITERS: dict[str, Callable[[Path, Path, str, str], None]] = {
    "mlflow": _write_mlflow, "mlserver": _write_mlserver, "bentoml": _write_bentoml,
}


def export_to_stack(ws: Workspace | str | Path, version: str, fmt: str,
                    out: str | Path) -> StackExport:
    """Write package ``version`` of ``ws`` as ``fmt`` (one of FORMATS) into the new folder
    ``out``. PackageError when the package does not verify; InputError for a wrong format
    or an ``out`` that exists."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}", location="--format",
                         expected=" or ".join(FORMATS))
    ws = ws if isinstance(ws, Workspace) else Workspace.open(ws)
    out = Path(out)
    if out.exists() or out.is_symlink():
        raise InputError("already exists; an export is never written over", source=out,
                         expected="a path where nothing is yet")
    source, sha256 = _verified_package(ws, version)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        staging.mkdir()
        _copy_package(source, staging / PACKAGE_DIR, sha256)
        _WRITERS[fmt](staging, source, version, sha256)
        files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return StackExport(out, fmt, version, sha256, files)
