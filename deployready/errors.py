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
  - :class:`LabelError` — ground-truth label files (``data/labels/``).
- :class:`StoreError` — the SQLite store cannot be read or written.
- :class:`JobError` — a background job cannot be started or controlled.
- :class:`AccessDenied` — the acting identity has no role allowing the action; the
  refusal was recorded before this was raised.

Every loader opens its files through :func:`require_file` or :func:`read_file`, so a
path that should be a file but is a folder, a broken symbolic link, a FIFO or device, or
unreadable is one rule with one message, raised as the loader's own error class.
"""

from __future__ import annotations

import os
import stat
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


class LabelError(InputError):
    """Ground-truth label files are malformed or contradict each other."""


class StoreError(DeployReadyError):
    """The SQLite store cannot be read or written."""


class JobError(DeployReadyError):
    """A background job cannot be started or controlled."""


class AccessDenied(DeployReadyError):
    """The acting identity may not take this action (``[access]`` in the policy).

    ``decision`` is the recorded :class:`deployready.access.AccessDecision`: who tried,
    what, and why it was refused."""

    def __init__(self, message: str, decision: object = None) -> None:
        super().__init__(message)
        self.decision = decision


# --------------------------------------------------------------------------- files


def file_problem(path: str | Path) -> str | None:
    """What is at ``path`` instead of a readable regular file, or None.

    None also when nothing is there at all: a missing file is each loader's own case (a
    missing policy means the defaults, a missing history means pending checks). A
    symbolic link counts as the file it points to. The path is opened (non-blocking, so
    a FIFO cannot hang) and closed again: what it is and whether it is readable are
    asked of the file itself.
    """
    try:
        fd = _open(Path(path))
    except FileNotFoundError:
        return _missing_problem(Path(path))
    except OSError as exc:
        return open_problem(Path(path), exc)
    try:
        return _kind_problem(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def _open(path: Path) -> int:
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))


def _missing_problem(path: Path) -> str | None:
    """A dangling symbolic link, in the words :func:`not_a_file` uses."""
    if path.is_symlink():
        return f"a broken symbolic link (to {os.readlink(path)}, which does not exist)"
    return None


def open_problem(path: Path, exc: OSError) -> str:
    """The words for a path that exists but could not be opened (``exc``)."""
    if isinstance(exc, NotADirectoryError):
        parent = next(
            (p for p in reversed(path.parents) if p.exists() and not p.is_dir()), path.parent
        )
        return f"not reachable: {parent} is a file, not a folder"
    if isinstance(exc, PermissionError):
        return "not readable (permission denied)"
    if isinstance(exc, IsADirectoryError):
        return "a folder, not a file"
    return f"not readable ({exc.strerror or exc})"  # a symbolic link loop, a name too long...


def file_kind(mode: int) -> str | None:
    """What a file of ``mode`` (from ``lstat``) is when it is not a regular file, None
    when it is — the one wording every loader's message uses."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    return "a socket" if stat.S_ISSOCK(mode) else "a device"


def not_a_file(kind: str) -> str:
    """The words for a path of ``kind`` (:func:`file_kind`) where a file was expected."""
    if kind == "a folder":
        return "a folder, not a file"
    return kind if kind.startswith("a broken symbolic link") else f"not a regular file ({kind})"


def _kind_problem(mode: int) -> str | None:
    kind = file_kind(mode)
    return None if kind is None else not_a_file(kind)


def require_file(
    path: str | Path,
    error: type[InputError] = InputError,
    *,
    expected: str = "a regular file",
    missing_ok: bool = False,
) -> bool:
    """Check ``path`` before a reader opens it by name (pandas, pyarrow, DuckDB).

    Raises ``error`` naming the path when something other than a readable regular file
    is there — a folder would be a traceback, a FIFO would block the reader forever.
    Returns True for a file; for nothing at all, False when ``missing_ok``, else
    ``error`` "file not found".
    """
    problem = file_problem(path)
    if problem is not None:
        raise error(f"is {problem}", source=path, expected=expected)
    if not os.path.lexists(path):
        if missing_ok:
            return False
        raise error("file not found", source=path, expected=expected)
    return True


def read_file(
    path: str | Path, error: type[InputError] = InputError, *, expected: str = "a regular file"
) -> bytes:
    """The bytes of the regular file at ``path``; ``error`` naming it otherwise.

    The kind is checked on the opened descriptor, so what was checked is what is read.
    A path with nothing at all there raises :class:`FileNotFoundError`, for callers that
    treat a missing file as their own case.
    """
    path = Path(path)
    try:
        fd = _open(path)
    except FileNotFoundError:
        problem = _missing_problem(path)
        if problem is not None:
            raise error(f"is {problem}", source=path, expected=expected) from None
        raise
    except OSError as exc:
        raise error(f"is {open_problem(path, exc)}", source=path, expected=expected) from None
    try:
        problem = _kind_problem(os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    if problem is not None:
        os.close(fd)
        raise error(f"is {problem}", source=path, expected=expected)
    with os.fdopen(fd, "rb") as handle:
        try:
            return handle.read()
        except OSError as exc:
            raise error(
                f"cannot be read ({exc.strerror or exc})", source=path, expected=expected
            ) from None
