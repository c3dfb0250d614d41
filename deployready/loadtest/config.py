"""The parameters of one load-test run, validated, and (de)serialized for the worker."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from deployready.errors import InputError
from deployready.loadtest.protocols import AUTO, PROTOCOLS
from deployready.loadtest.targets import base_url as target_base_url
from deployready.policy import LoadTestPolicy
from deployready.runtime import is_loopback

Mode = Literal["closed", "open"]
Arrival = Literal["constant", "poisson"]

MAX_REQUESTS = 1_000_000
SERVE_TARGET = "serve"


@dataclass(frozen=True)
class LoadTestConfig:
    """One run. ``target`` is ``"serve"`` (the package served by ``deployready serve`` on a
    loopback port, started and stopped by the run) or an ``http://`` URL of an endpoint
    speaking ``protocol`` (one of :data:`~deployready.loadtest.protocols.PROTOCOLS`, or
    ``"auto"``: asked; ``model_name``: the Open Inference Protocol's model)."""

    version: str
    mode: Mode = "closed"
    concurrency: int = 100  # closed loop: clients; open loop: connection pool size
    requests: int = 1000
    rate: float = 100.0  # open loop: requests per second
    arrival: Arrival = "constant"
    timeout_ms: float = 1000.0
    target: str = SERVE_TARGET
    protocol: str = AUTO
    model_name: str | None = None
    warmup_requests: int = 50
    noise_requests: int = 200  # no-op requests measuring the harness itself (0: skip)
    max_seconds: float = 300.0
    rows_per_request: int = 1
    seed: int = 0
    # server options (target "serve")
    batching: bool = True
    max_batch_size: int = 128  # 100 concurrent requests fit one predict call
    max_wait_ms: float = 2.0
    fixed_wait: bool = False  # the server's batches always wait max_wait_ms
    allow_remote: bool = False

    @classmethod
    def from_policy(cls, version: str, policy: LoadTestPolicy, **overrides: Any) -> LoadTestConfig:
        base: dict[str, Any] = {
            "version": version,
            "concurrency": policy.concurrency,
            "requests": policy.requests,
            "timeout_ms": policy.timeout_ms,
            "warmup_requests": policy.warmup_requests,
            "max_seconds": policy.max_seconds,
        }
        base.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(**base)
        config.check()
        return config

    @property
    def is_serve(self) -> bool:
        return self.target == SERVE_TARGET

    def check(self) -> None:
        def bad(key: str, message: str, expected: str) -> None:
            raise InputError(message, location=key, expected=expected)

        if self.mode not in ("closed", "open"):
            bad("mode", f"unknown mode {self.mode!r}", "'closed' or 'open'")
        if self.arrival not in ("constant", "poisson"):
            bad("arrival", f"unknown arrival {self.arrival!r}", "'constant' or 'poisson'")
        if not 1 <= self.concurrency <= 10_000:
            bad("concurrency", f"{self.concurrency} out of range", "an integer in 1..10000")
        if not 1 <= self.requests <= MAX_REQUESTS:
            bad("requests", f"{self.requests} out of range", f"an integer in 1..{MAX_REQUESTS}")
        if not (math.isfinite(self.rate) and 0 < self.rate <= 100_000):
            bad("rate", f"{self.rate} out of range", "requests per second in (0, 100000]")
        if not (math.isfinite(self.timeout_ms) and 1 <= self.timeout_ms <= 600_000):
            bad("timeout_ms", f"{self.timeout_ms} out of range", "milliseconds in 1..600000")
        if not (math.isfinite(self.max_seconds) and 0 < self.max_seconds <= 86_400):
            bad("max_seconds", f"{self.max_seconds} out of range", "seconds in (0, 86400]")
        if self.warmup_requests < 0 or self.noise_requests < 0:
            bad("warmup_requests", "negative", "an integer >= 0")
        if not 1 <= self.rows_per_request <= 1000:
            bad("rows_per_request", "out of range", "an integer in 1..1000")
        if self.max_batch_size < 1 or not 0 <= self.max_wait_ms <= 1000:
            bad("max_batch_size", "invalid batching options",
                "max_batch_size >= 1, max_wait_ms in 0..1000")
        if self.protocol not in (*PROTOCOLS, AUTO):
            bad("protocol", f"unknown protocol {self.protocol!r}",
                " or ".join(repr(p) for p in (*PROTOCOLS, AUTO)))
        if self.is_serve and self.protocol not in ("deployready", "oip", AUTO):
            bad("protocol", f"deployready serve does not speak {self.protocol!r}",
                "'deployready', 'oip' or 'auto' for the served package")
        if self.model_name is not None and not (0 < len(self.model_name) <= 200):
            bad("model_name", "empty or longer than 200 characters", "a model name")
        if not self.is_serve:
            parts = urlsplit(self.target)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                bad("target", f"not an HTTP URL: {self.target!r}",
                    "'serve' or a URL like http://127.0.0.1:8080")
            elif not self.allow_remote and not is_loopback(parts.hostname or ""):
                bad("target", f"{parts.hostname} is not a loopback address",
                    "an endpoint on 127.0.0.1, ::1 or localhost")

    def base_url(self, served_url: str | None = None) -> str:
        url = served_url if self.is_serve else self.target
        assert url is not None
        return target_base_url(url)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadTestConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
