"""The one error root: every error the engine raises for a person to read derives from `WorkbenchError`.

An error carries its message (naming file, line and field where there are any), the exit code the CLI
returns for it, and an optional hint (what to do about it). The CLI and the app map errors by these types,
never by class name.
"""

from __future__ import annotations

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_STORE, EXIT_CANCELLED = 0, 1, 2, 3, 130


class WorkbenchError(Exception):
    """Root of the engine's user-facing errors: a message, an exit code and an optional hint."""

    exit_code: int = EXIT_INPUT
    hint: str | None = None

    def __init__(self, message: str = "", *args, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message, *args)
        if hint is not None:
            self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(WorkbenchError, ValueError):
    """Bad input: a file, a record, a setting or an argument the engine cannot use (exit 1). Also a
    ValueError, so code that guards a conversion with `except ValueError` keeps working."""


class StoreError(WorkbenchError):
    """The store cannot be opened or written (locked by another process, newer schema, ...): exit 3."""

    exit_code = EXIT_STORE


class Cancelled(WorkbenchError):
    """A job was cancelled by its token (exit 130)."""

    exit_code = EXIT_CANCELLED

    def __init__(self, message: str = "cancelled", *args, **kw):
        super().__init__(message, *args, **kw)
