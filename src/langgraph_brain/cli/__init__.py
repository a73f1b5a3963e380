"""`brain`: the command line for langgraph-brain (Typer + rich).

Layout: `app.py` holds the root app, the one error-to-exit-code map (`run`) and `main`; each
sub-app or command group lives in its own module (`memories`, `sessions`, `maintenance`,
`deploy`, `demo`, `doctor`) and opens what it needs through `stores.open_stores`. Modules import
only Typer and rich at load time, so `brain --help` stays fast; everything heavy is imported
inside the command that needs it.
"""

from .app import app, main

__all__ = ["app", "main"]
