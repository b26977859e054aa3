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
