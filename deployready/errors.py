"""The error hierarchy of deployready.

Every error a user can cause derives from :class:`DeployReadyError`. Errors about
input carry *where* (the file, and the row, column or key) and *what was expected*,
so the dashboard, the CLI and the report can show them without re-deciding anything.

- :class:`InputError` — a file or request the user supplied is wrong.
  - :class:`PolicyError` — ``deployready.toml``.
  - :class:`HistoryError` — the certification history.
  - :class:`PackageError` — a model package (missing file, bad JSON, bad layout).
    - :class:`IntegrityError` — a file does not match ``MANIFEST.json``; nothing was
      unpickled.
  - :class:`LogError` — production prediction logs.
- :class:`StoreError` — the SQLite store cannot be read or written.
- :class:`JobError` — a background job cannot be started or controlled.
"""

from __future__ import annotations

from pathlib import Path


class DeployReadyError(Exception):
    """Base of every error deployready raises on purpose."""


class InputError(DeployReadyError):
    """Bad input: names the file, the place in it and what was expected."""

    def __init__(
        self,
        message: str,
        *,
        source: str | Path | None = None,
        location: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.message = message
        self.source = str(source) if source is not None else None
        self.location = location
        self.expected = expected
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.source:
            where = self.source
        if self.location:
            where = f"{where}: {self.location}" if where else self.location
        text = f"{where}: {self.message}" if where else self.message
        if self.expected:
            text = f"{text} (expected {self.expected})"
        return text

    def as_dict(self) -> dict[str, str | None]:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "source": self.source,
            "location": self.location,
            "expected": self.expected,
        }


class PolicyError(InputError):
    """``deployready.toml`` is malformed, has an unknown key or a wrong type."""


class HistoryError(InputError):
    """The certification history is malformed."""


class PackageError(InputError):
    """A model package is malformed or incomplete."""


class IntegrityError(PackageError):
    """A package file does not match its manifest; it was not loaded."""


class LogError(InputError):
    """Production prediction logs are malformed."""


class StoreError(DeployReadyError):
    """The SQLite store cannot be read or written."""


class JobError(DeployReadyError):
    """A background job cannot be started or controlled."""
