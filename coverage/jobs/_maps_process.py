"""The run's maps, built in a second process while the first writes the downloads.

The maps are drawn from the run's tables as reading the run folder back would give them
(:func:`lomsong.products.run_results.run_results`, sent through the pipe as soon as the analysis
is done: the second process neither waits for the machine tables nor reads them back), or from
the folder (:func:`lomsong.tables.results.load_run`) when none are sent. The XLSX, KML, CSV and
GeoJSON downloads need none of the maps, so on a machine with an idle core the two halves take
the time of the longer one.

The second process is *spawned*, not forked: the first has pyarrow's and the progress display's
threads running, and a forked child of a threaded process can hang on a lock one of them held.
Spawning costs the child its imports (folium, geopandas; about a second of CPU). The run starts
the child before it imports its own analysis and reads anything, while it has only one core busy,
and gives it the communes once it has read them (:meth:`MapsProcess.prepare`).
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import queue as queue_module
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lomsong._process import usable_cores
from lomsong.errors import RunError

if TYPE_CHECKING:
    import geopandas as gpd

    from lomsong.tables.results import RunResults

#: Seconds between looks at the child while waiting for it (it may die without a word).
_POLL_SECONDS = 0.2

#: The process :func:`start_early` started, until a run takes it (:func:`take`).
_EARLY: list[MapsProcess] = []


def maps_in_parallel() -> bool:
    """Whether a run's maps get a second process while the downloads are written.

    Whenever there are two cores, whatever their load: the second process adds only its imports
    (about a second of CPU) and copies nothing back, unlike the readers' workers.
    """
    return usable_cores() >= 2 and importlib.util.find_spec("lomsong.products.maps.build") is not None


def start_early() -> None:
    """Start a maps' process for the next run of this process to take (:func:`take`).

    The command line calls it before it imports the run, so that the child's imports overlap the
    first process's (about half a second, on one core) instead of the reading (on both). Nothing
    happens when the maps would not get a process of their own. An early process no run takes
    ends with this process (it is a daemon).
    """
    if not _EARLY and maps_in_parallel():
        _EARLY.append(MapsProcess())


def take() -> MapsProcess:
    """Return the process :func:`start_early` started, or start one now."""
    return _EARLY.pop() if _EARLY else MapsProcess()


def _build(commands: Any, messages: Any) -> None:
    """The child: import the map builder, wait for the communes and then the run folder, build
    every page, say how it went and leave."""
    try:
        _build_pages(commands, messages)
    except BaseException as error:  # noqa: BLE001 - everything goes back to the parent, which raises it
        messages.put(("error", f"{type(error).__name__}: {error}", traceback.format_exc()))
    # Every page is written and closed, and the last word is sent once the queue's thread has
    # passed it on: the interpreter's teardown (0.2-0.3 s after folium and geopandas) would only
    # keep the parent waiting in finish().
    messages.close()
    messages.join_thread()
    os._exit(0)


def _build_pages(commands: Any, messages: Any) -> None:
    """What :func:`_build` does: the pages of the run folder the parent names, once it names one."""
    from lomsong.products.maps.assets import shared_assets_text
    from lomsong.products.maps.build import build_maps
    from lomsong.products.maps.layers import CommuneOutlines
    from lomsong.tables.results import ANY_TECHNOLOGY, load_run

    shared_assets_text()
    communes = commands.get()
    # what the pages draw of the communes alone, made while the first process reads and analyses
    outlines = CommuneOutlines(communes).prepare_all()
    folder, results = commands.get()  # a run that ends without its maps terminates the child (stop)
    started = time.perf_counter()
    pages = [0]

    def on_page(_page: Path) -> None:
        pages[0] += 1
        messages.put(("page", pages[0]))

    if results is None:  # the maps draw the cells' any-technology views only: the other views are not read
        results = load_run(folder, cell_technologies=[ANY_TECHNOLOGY])
    build_maps(results, folder, communes=communes, on_page=on_page, outlines=outlines)
    messages.put(("done", round(time.perf_counter() - started, 3)))


class MapsProcess:
    """A run's maps, built in a second process.

    The process starts at once, so that its imports overlap the first process's (one core busy);
    it prepares the communes' part of the pages once :meth:`prepare` gives them, and builds the
    pages once :meth:`begin` names the staging folder (and gives the tables).

    Parameters
    ----------
    communes : geopandas.GeoDataFrame, optional
        Canonical commune table (the pages' outlines), when known already: :meth:`prepare` at once.
    on_page : callable, optional
        Called with the number of pages built so far, in the first process (progress display).
    """

    def __init__(
        self, communes: gpd.GeoDataFrame | None = None, on_page: Callable[[int], None] | None = None
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._commands, self._messages = context.Queue(), context.Queue()
        self.on_page = on_page or (lambda _n: None)
        self._prepared = False
        self._started: float | None = None
        self._outcome: tuple[Any, ...] | None = None  # the child's last word, once read (by poll or finish)
        self._process = context.Process(target=_build, args=(self._commands, self._messages), daemon=True)
        self._process.start()
        if communes is not None:
            self.prepare(communes)

    def prepare(self, communes: gpd.GeoDataFrame) -> MapsProcess:
        """Give the child the run's communes (once, before :meth:`begin`)."""
        if self._prepared:
            raise RuntimeError("the maps process has its communes already")
        self._prepared = True
        self._commands.put(communes)
        return self

    def begin(self, folder: Path, results: RunResults | None = None) -> MapsProcess:
        """Build the pages of the run in ``folder``.

        Parameters
        ----------
        folder : Path
            The staging folder the pages go into.
        results : RunResults, optional
            What the pages are drawn from, as ``load_run(folder, cell_technologies=["any"])``
            gives it (:func:`lomsong.products.run_results.run_results`); default: read from
            ``folder``, whose machine tables and first ``run.json`` must be written then.
        """
        if not self._prepared:
            raise RuntimeError("give the maps process the communes (prepare) before the run folder")
        self._started = time.perf_counter()
        # pickled on the queue's own thread, while this process goes on writing the downloads
        self._commands.put((str(folder), results))
        return self

    def poll(self) -> None:
        """Pass on the pages built so far (call it between other work)."""
        self._drain(block=False)

    def finish(self) -> dict[str, Any]:
        """Wait for the maps; return what ``run.json`` records of them (the page, their wall seconds).

        ``timings.maps`` is the wall time until the maps were waited for (the downloads are written
        meanwhile), ``timings.maps_build`` the second process's own, from the tables to the last page.

        Raises
        ------
        RunError
            When building them failed (with the child's error) or the child died.
        """
        try:
            while True:
                outcome = self._drain(block=True)
                if outcome is not None:
                    break
                if not self._process.is_alive():
                    outcome = self._drain(block=False) or (
                        "error", f"the maps process ended with exit code {self._process.exitcode}", ""
                    )
                    break
        finally:
            self._process.join(timeout=30)
        if outcome[0] == "error":
            error = RunError(f"building the maps failed: {outcome[1]}")
            if outcome[2]:  # the child's traceback, for whoever debugs it (the command line prints one line)
                error.add_note(outcome[2].rstrip())
            raise error
        waited = round(time.perf_counter() - (self._started or 0.0), 3)
        # maps: until the run had them (at least the downloads' time); maps_build: the second process's
        # own time from the run's tables to the last page (what shows whether the maps were the longer half)
        return {"maps": "index.html", "timings": {"maps": waited, "maps_build": outcome[1]}}

    def stop(self) -> None:
        """End the child now (the run failed or ended): it must not write into a folder being removed.

        It is terminated, not asked to leave: it writes nothing but the pages, and a run that fails
        on its inputs would otherwise wait for the child's imports (about a second) to end.
        """
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(timeout=30)
        # What the child never read (the communes, sent before it was ready) stays in the pipe: the
        # queue's thread, blocked writing it, must not be waited for when this process exits.
        self._commands.cancel_join_thread()
        self._commands.close()

    def _drain(self, *, block: bool) -> tuple[Any, ...] | None:
        """Read the child's messages; return its outcome once it has sent one (kept: :meth:`poll`
        may be the one that reads it, when the maps end before the downloads)."""
        while self._outcome is None:
            try:
                message = self._messages.get(timeout=_POLL_SECONDS) if block else self._messages.get_nowait()
            except queue_module.Empty:
                return None
            if message[0] == "page":
                self.on_page(message[1])
                block = False  # more may be queued: read them all, then look again
                continue
            self._outcome = message
        return self._outcome
