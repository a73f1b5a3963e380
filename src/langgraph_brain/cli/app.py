"""The root `brain` app and the console entry point; commands register from their modules."""

from __future__ import annotations

import logging
import os
import sys

import typer
from rich.markup import escape

from .runner import FAILED, debug_enabled, describe, err_console

app = typer.Typer(
    name="brain",
    help=(
        "langgraph-brain: memory for LangGraph agents (memories, sessions, migrate, keys, reconcile,"
        " erase, retention, doctor, demo, chat). Add --debug to any command to see tracebacks."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: `brain ...`. `--debug` anywhere (or BRAIN_DEBUG=1) shows tracebacks."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in args:
        os.environ["BRAIN_DEBUG"] = "1"
        args = [a for a in args if a != "--debug"]
        logging.basicConfig(level=logging.INFO)
    try:
        app(args=args, prog_name="brain")
    except KeyboardInterrupt:
        err_console.print("interrupted.")
        raise SystemExit(130) from None
    except Exception as exc:
        if debug_enabled():
            raise
        err_console.print(f"[red]error:[/red] {escape(describe(exc))}")
        err_console.print("[dim](run again with --debug to see the traceback)[/dim]")
        raise SystemExit(FAILED) from None


def _register() -> None:
    # Each module adds its commands; they import only Typer and rich at load time.
    from . import demo, deploy, doctor, maintenance, memories, retention, sessions, upkeep, worker

    for module in (memories, sessions, maintenance, upkeep, retention, worker, deploy, demo, doctor):
        module.register(app)


_register()
