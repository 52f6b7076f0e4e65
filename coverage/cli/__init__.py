"""The ``lomsong`` command line (also ``python -m lomsong``).

One module per group of commands; each registers its commands on :data:`app` when imported. The
commands are thin: they parse options, call the library and print.
"""

from __future__ import annotations

from importlib import import_module

from lomsong.cli._app import app, console, fail

#: Command modules, in the order of the data flow (their commands appear in ``--help`` this way).
COMMAND_MODULES = ["foundation", "simulate", "ingest", "run", "maps", "report", "serve"]

for _name in COMMAND_MODULES:
    import_module(f"lomsong.cli.{_name}")


def main() -> None:
    """Entry point of the ``lomsong`` console script."""
    app()


__all__ = ["COMMAND_MODULES", "app", "console", "fail", "main"]
