"""Errors a user can act on: each names the file, the field (JSON path or line) and what was expected."""
from __future__ import annotations


class InputError(Exception):
    """Bad input. `file` is the source, `field` a JSON path ('properties.status.forms.0.href')
    or 'line N, column M', `message` what was wrong or expected."""

    def __init__(self, file: str | None, field: str | None, message: str, problems: list | None = None):
        self.file = file
        self.field = field
        self.message = message
        # Every problem found, when there is more than one: list of (field, message).
        self.problems = problems or [(field, message)]
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [p for p in (self.file, self.field) if p]
        where = ": ".join(parts)
        return f"{where}: {self.message}" if where else self.message


class StoreError(Exception):
    """A query or update the store could not run (syntax, I/O)."""


class StorageError(StoreError):
    """The storage itself failed (disk full, I/O error, SPARQL server unreachable): the request
    was fine and may succeed later. `disk_full` tells a full disk from other failures."""

    def __init__(self, message: str):
        super().__init__(message)
        self.disk_full = "no space left" in message.lower() or "enospc" in message.lower()


class StoreLocked(StoreError):
    """Another process (typically `arachne serve`) holds the embedded store's write lock."""
