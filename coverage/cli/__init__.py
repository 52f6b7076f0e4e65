"""The ``lomsong`` command line (also ``python -m lomsong``).

One module per group of commands; each registers its commands on :data:`app` when imported. The
commands are thin: they parse options, call the library and print.
"""

from __future__ import annotations

from importlib import import_module

from lomsong.cli._app import app, console, err_console, fail
from lomsong.errors import LomsongError

#: Command modules, in the order of the data flow (their commands appear in ``--help`` this way).
COMMAND_MODULES = ["foundation", "simulate", "ingest", "villages", "run", "plan", "maps", "report", "serve"]

for _name in COMMAND_MODULES:
    import_module(f"lomsong.cli.{_name}")


def main() -> None:
    """Run the command line (the console script's :func:`run_and_leave` calls it).

    A :class:`lomsong.errors.LomsongError` from any command is bad input or set-up: its message is
    printed as one line, without a traceback, and the exit code is 2.
    """
    try:
        app(standalone_mode=True)
    except LomsongError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise SystemExit(2) from None


def run_and_leave() -> None:
    """Entry point of the ``lomsong`` console script and ``python -m lomsong``: :func:`main`, then
    leave without the interpreter's teardown (:mod:`lomsong.cli._exit`, about 0.3 s after a run)."""
    from lomsong.cli._exit import leave

    try:
        main()
    except SystemExit as exc:
        leave(exc.code)
    leave(0)


__all__ = ["COMMAND_MODULES", "app", "console", "fail", "main", "run_and_leave"]
