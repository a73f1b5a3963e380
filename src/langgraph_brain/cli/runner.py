"""Running a command body: the consoles, and the one map from errors to exit codes.

Exit codes: 0 success; 2 bad input (a usage error, an invalid slug or content, an empty id,
an unknown memory); 1 anything else (storage outage, a database that is not migrated, a check
that failed). Messages are one readable line, with markup escaped; `--debug` shows tracebacks.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

#: Exit code for input the user can correct.
BAD_INPUT = 2
#: Exit code for everything else.
FAILED = 1


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an error a command raised (see the module docstring)."""
    from ..errors import BrainConfigurationError, MemoryNotFoundError, MemoryValidationError

    bad_input = (MemoryValidationError, BrainConfigurationError, MemoryNotFoundError, ValueError)
    return BAD_INPUT if isinstance(exc, bad_input) else FAILED


def describe(exc: BaseException) -> str:
    """One line for a person: our errors speak for themselves, others get their type."""
    from ..db.migrator import DatabaseNotMigratedError
    from ..errors import BrainError

    text = str(exc).strip()
    if isinstance(exc, BrainError | DatabaseNotMigratedError | OSError | ValueError):
        return text or type(exc).__name__
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _quiet_libraries() -> None:
    # pgserver and httpx log every start-up step. Keep the terminal for the command's output.
    for name in ("pgserver", "httpx", "langgraph_brain.demo.models"):
        logging.getLogger(name).setLevel(logging.ERROR)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command body; print its error as one line and exit with the mapped code."""
    _quiet_libraries()
    try:
        return asyncio.run(coro)
    except typer.Exit:
        raise
    except Exception as exc:
        if debug_enabled():
            raise
        label = "configuration error" if type(exc).__name__ == "BrainConfigurationError" else "error"
        err_console.print(f"[red]{label}:[/red] {escape(describe(exc))}")
        raise typer.Exit(exit_code_for(exc)) from None


def debug_enabled() -> bool:
    return os.environ.get("BRAIN_DEBUG", "") not in ("", "0", "false")
