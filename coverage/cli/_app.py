"""The Typer application and the helpers every command shares."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from lomsong import __version__

app = typer.Typer(
    name="lomsong",
    help="Find mobile-coverage gaps (vùng lõm sóng) where people live in Đắk Nông.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error for a person (no traceback) and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        console.print(f"lomsong {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Find mobile-coverage gaps (vùng lõm sóng) where people live in Đắk Nông."""
