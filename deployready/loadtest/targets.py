"""A prediction server as a load-test target: its URL and the protocol it speaks
(:mod:`~deployready.loadtest.protocols`), found by asking the server when not named.

``connect(url, protocol="auto", model=None)`` is all a caller needs; the
:class:`Target` it returns sends rows and reads back one positive-class probability per
row (:meth:`Target.predict`), says whether the server is ready (:meth:`Target.ready`) and
what it says it is (:meth:`Target.identity`).

**Auto-detection** (``protocol="auto"``) asks, in this order, and takes the first that
answers as the family does:

1. ``GET /health`` — a JSON object with ``package_sha256``: ``deployready``;
2. ``GET /v2`` — the Open Inference Protocol's server metadata, a JSON object with
   ``name`` and ``version`` (or ``extensions``): ``oip``. The model is the one named,
   else the only model of MLServer's repository index (``POST /v2/repository/index``);
3. ``GET /version`` and ``GET /ping`` both 200: MLflow's scoring server, ``mlflow``;
4. ``GET /readyz`` 200: a BentoML service, ``bentoml``.

Nothing answering so is a :class:`TargetError` listing what each probe got. Every
request has a timeout; nothing is retried here.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deployready.errors import JobError
from deployready.loadtest.protocols import (
    AUTO,
    Protocol,
    ResponseError,
    column_kinds,
    protocol_for,
)

#: Paths a target URL may be given with; the base URL is what remains.
KNOWN_SUFFIXES = ("/predict", "/health", "/invocations", "/v2")


class TargetError(JobError):
    """The target cannot be reached, cannot be identified or answered wrongly."""


def base_url(url: str) -> str:
    """``url`` without a trailing slash or a known endpoint path."""
    url = url.rstrip("/")
    for suffix in KNOWN_SUFFIXES:
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


def http(url: str, body: bytes | None = None, timeout_s: float = 5.0) -> tuple[int, bytes]:
    """(status, body) of a GET (or POST of ``body``); status 0 when nothing answered."""
    request = urllib.request.Request(url, data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return 0, f"{type(reason).__name__}: {reason}".encode()


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _said(status: int, raw: bytes) -> str:
    return raw.decode(errors="replace")[:80] if status == 0 else f"HTTP {status}"


@dataclass(frozen=True)
class Target:
    """A server at ``base_url`` speaking ``protocol``."""

    base_url: str
    protocol: Protocol
    timeout_s: float = 30.0

    @property
    def predict_url(self) -> str:
        return self.base_url + self.protocol.predict_path

    def ready(self) -> bool:
        """Every readiness path of the protocol answers 200."""
        return all(http(self.base_url + p, timeout_s=min(self.timeout_s, 5.0))[0] == 200
                   for p in self.protocol.ready_paths)

    def wait_ready(self, seconds: float, should_stop: Callable[[], bool]) -> None:
        """Return once :meth:`ready`; TargetError after ``seconds`` (asked every 0.1 s)."""
        deadline = time.monotonic() + seconds
        while not self.ready():
            if should_stop():
                return
            if time.monotonic() > deadline:
                paths = ", ".join(self.protocol.ready_paths)
                raise TargetError(f"{self.base_url} was not ready ({paths}) within "
                                  f"{seconds:g} s")
            time.sleep(0.1)

    def predict(self, rows: Sequence[Mapping[str, Any]],
                kinds: Mapping[str, str] | None = None) -> np.ndarray:
        """The positive-class probability of each row, in one request."""
        body = self.protocol.encode(rows, column_kinds(rows) if kinds is None else kinds)
        status, raw = http(self.predict_url, body, self.timeout_s)
        if status != 200:
            raise TargetError(f"{self.predict_url} answered {_said(status, raw)}: "
                              f"{raw.decode(errors='replace')[:300]}")
        try:
            return self.protocol.decode(raw, len(rows))
        except ResponseError as exc:
            raise TargetError(f"{self.predict_url}: {exc}") from None

    def identity(self) -> dict[str, Any]:
        """What the server says it is: our ``/health``, the OIP server and model
        metadata, MLflow's ``/version``; ``protocol`` and ``url`` always."""
        found: dict[str, Any] = {"protocol": self.protocol.name, "url": self.base_url}
        paths: dict[str, str] = {"deployready": "/health", "mlflow": "/version"}
        if self.protocol.name == "oip":
            found["server"] = _json(http(self.base_url + "/v2")[1])
            found["model"] = _json(http(self.base_url + self.protocol.predict_path
                                        .removesuffix("/infer"))[1])
        elif self.protocol.name in paths:
            status, raw = http(self.base_url + paths[self.protocol.name])
            if status == 200:
                parsed = _json(raw)
                if self.protocol.name == "deployready" and isinstance(parsed, dict):
                    found.update(parsed)
                else:
                    found["server"] = parsed if parsed is not None else raw.decode(
                        errors="replace")[:200]
        return found


def _oip_model(url: str, timeout_s: float) -> str:
    """The only model of an OIP server's repository index (MLServer's extension)."""
    status, raw = http(url + "/v2/repository/index", b"{}", timeout_s)
    models = _json(raw) if status == 200 else None
    names = sorted({str(m["name"]) for m in models if isinstance(m, dict) and "name" in m}
                   ) if isinstance(models, list) else []
    if len(names) == 1:
        return names[0]
    raise TargetError(f"{url} speaks the Open Inference Protocol but which model to call "
                      f"is unknown ({', '.join(names) if names else 'no repository index'}): "
                      "name it (--model)")


def detect(url: str, timeout_s: float = 5.0) -> str:
    """The protocol the server at ``url`` speaks (see the module's documentation)."""
    tried: list[str] = []
    status, raw = http(url + "/health", timeout_s=timeout_s)
    body = _json(raw) if status == 200 else None
    if isinstance(body, dict) and "package_sha256" in body:
        return "deployready"
    tried.append(f"/health {_said(status, raw)}")
    status, raw = http(url + "/v2", timeout_s=timeout_s)
    body = _json(raw) if status == 200 else None
    if isinstance(body, dict) and "name" in body and ("version" in body
                                                      or "extensions" in body):
        return "oip"
    tried.append(f"/v2 {_said(status, raw)}")
    status, raw = http(url + "/version", timeout_s=timeout_s)
    if status == 200 and http(url + "/ping", timeout_s=timeout_s)[0] == 200:
        return "mlflow"
    tried.append(f"/version {_said(status, raw)}")
    status, raw = http(url + "/readyz", timeout_s=timeout_s)
    if status == 200:
        return "bentoml"
    tried.append(f"/readyz {_said(status, raw)}")
    raise TargetError(f"cannot tell which protocol {url} speaks ({'; '.join(tried)}): "
                      "name it (--protocol deployready, oip, mlflow or bentoml)")


def connect(url: str, protocol: str = AUTO, *, model: str | None = None,
            model_version: str | None = None, endpoint: str | None = None,
            timeout_s: float = 30.0) -> Target:
    """The target at ``url`` speaking ``protocol`` (``"auto"``: asked, see
    :func:`detect`). ``model``/``model_version``: the Open Inference Protocol's model;
    ``endpoint``: a BentoML method's route (``predict``)."""
    root = base_url(url)
    name = detect(root, min(timeout_s, 5.0)) if protocol == AUTO else protocol
    if name == "oip" and not model:
        model = _oip_model(root, min(timeout_s, 5.0))
    return Target(root, protocol_for(name, model=model, model_version=model_version,
                                     endpoint=endpoint), timeout_s)
