"""What validating a package found: each problem a :class:`Finding` (a code, its
severity, the file), collected in one :class:`ValidationReport`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    file: str
    message: str


@dataclass
class ValidationReport:
    path: Path
    version: str
    sha256: str | None
    findings: list[Finding] = field(default_factory=list)
    #: files whose bytes matched the manifest
    verified: list[str] = field(default_factory=list)
    #: whether the pickles were loaded (deep validation after full verification)
    unpickled: bool = False

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def add(self, code: str, file: str, message: str, severity: Severity = "error") -> None:
        self.findings.append(Finding(code, severity, file, message))

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "version": self.version,
            "sha256": self.sha256,
            "valid": self.valid,
            "unpickled": self.unpickled,
            "verified": list(self.verified),
            "findings": [asdict(f) for f in self.findings],
        }
