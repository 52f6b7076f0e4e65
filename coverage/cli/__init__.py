"""The ``lomsong`` command line (also ``python -m coverage``).

One module per group of commands; each registers its commands on :data:`app`. The commands
are thin: they parse options, call the library and print.
"""

from __future__ import annotations

from coverage.cli._app import app, console, fail

# Each import registers its commands on `app`.
from coverage.cli import foundation  # noqa: E402,F401  isort: skip
from coverage.cli import maps  # noqa: E402,F401  isort: skip
from coverage.cli import ingest  # noqa: E402,F401  isort: skip
from coverage.cli import run  # noqa: E402,F401  isort: skip
from coverage.cli import simulate  # noqa: E402,F401  isort: skip
from coverage.cli import serve  # noqa: E402,F401  isort: skip
from coverage.cli import report  # noqa: E402,F401  isort: skip


def main() -> None:
    """Entry point of the ``lomsong`` console script."""
    app()


__all__ = ["app", "console", "fail", "main"]
