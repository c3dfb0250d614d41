"""The peer servers' virtualenvs: MLServer, MLflow and BentoML, each with the scikit-learn
the packages were pickled with, built once (in parallel) and cached in folders keyed on
the pins, so a change of pin builds a new venv and an unchanged one is reused.

Standard library only: ``scripts/peers.sh`` runs this file before anything is installed.
A venv counts as built only once its install finished and its marker file was written;
a half-built folder is removed and built again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

SKLEARN = "scikit-learn==1.9.1"  # what the packages were pickled with (requirements.txt)

#: name -> the pins installed into its venv (notes on each pin in the README's section
#: "Serving stacks: export and MLflow").
PINS: dict[str, tuple[str, ...]] = {
    # 1.7.1 crashes at start with a newer uvloop ("There is no current event loop")
    "mlserver": ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.21.0", SKLEARN),
    # 3.18.0 did not resolve (its mlflow-skinny was missing from the index)
    "mlflow": ("mlflow==3.17.2", SKLEARN),
    "bentoml": ("bentoml==1.4.40", "pandas", SKLEARN),
}

MARKER = "deployready-peer-ok"


@dataclass(frozen=True)
class Peer:
    name: str
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def built(self) -> bool:
        return (self.path / MARKER).is_file() and self.python.exists()

    @property
    def log(self) -> Path:
        return self.path.with_name(self.path.name + ".log")

    @property
    def failed(self) -> Path:
        """Written when the install failed: the tests do not try again (the script does)."""
        return self.path.with_name(self.path.name + ".failed")


def cache_root() -> Path:
    root = os.environ.get("DEPLOYREADY_PEERS")
    return Path(root) if root else Path.home() / ".cache" / "deployready-peers"


def peer(name: str) -> Peer:
    pins = PINS[name]
    key = hashlib.sha256(
        "\n".join((sys.version.split()[0], *pins)).encode()
    ).hexdigest()[:12]
    return Peer(name, cache_root() / f"{name}-{key}")


def _start(p: Peer) -> subprocess.Popen[bytes]:
    if p.path.exists():
        shutil.rmtree(p.path)  # a half-built venv from an interrupted run
    p.path.parent.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(p.path)
    log = p.log.open("wb")
    cmd = [str(p.python), "-m", "pip", "install", "--quiet", "--no-input", *PINS[p.name]]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def build(names: list[str], retry_failed: bool = True) -> dict[str, Peer | None]:
    """Build the venvs of ``names`` not built yet, in parallel; None for a failed one
    (and, unless ``retry_failed``, for one whose last build failed)."""
    peers = {n: peer(n) for n in names}
    out: dict[str, Peer | None] = {n: p for n, p in peers.items() if p.built}
    if not retry_failed:
        out |= {n: None for n, p in peers.items() if not p.built and p.failed.exists()}
    running = {n: _start(p) for n, p in peers.items() if n not in out}
    for n, proc in running.items():
        ok = proc.wait() == 0
        if ok:
            (peers[n].path / MARKER).write_text("\n".join(PINS[n]) + "\n")
            peers[n].failed.unlink(missing_ok=True)
        else:
            peers[n].failed.write_text(f"see {peers[n].log}\n")
        out[n] = peers[n] if ok else None
    return out


def main(argv: list[str]) -> int:
    only_print = "--print" in argv
    names = [a for a in argv if not a.startswith("--")] or list(PINS)
    unknown = [n for n in names if n not in PINS]
    if unknown:
        print(f"unknown peer(s) {unknown}; expected some of {list(PINS)}", file=sys.stderr)
        return 2
    if only_print:
        for n in names:
            p = peer(n)
            print(n, p.path, "built" if p.built else "missing")
        return 0
    status = 0
    for n, p in build(names).items():
        if p is None:
            print(n, "FAILED", peer(n).log)
            status = 1
        else:
            print(n, p.path)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
