"""Progress displays for long commands: the jobs report events, these render them with rich."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from lomsong.cli._app import err_console


@contextlib.contextmanager
def run_progress(show: bool = True) -> Iterator[Callable[[Any], None] | None]:
    """Yield a callback that renders :class:`lomsong.jobs.run.RunEvent` s: one line per stage.

    Each stage is a spinner line with its elapsed time and its current sub-step, ticked when done.
    With ``show=False`` yields None (the job stays silent).
    """
    if not show:
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console
    ) as bar:
        tasks: dict[str, Any] = {}

        def show_event(event: Any) -> None:
            if event.kind == "start":
                tasks[event.stage] = bar.add_task(event.label, total=1)
            elif event.kind == "note" and event.stage in tasks:
                bar.update(tasks[event.stage], description=f"{event.label}: {event.message}")
            elif event.kind == "done" and event.stage in tasks:
                bar.update(tasks.pop(event.stage), description=f"[green]✓[/] {event.label}", completed=1)

        yield show_event
