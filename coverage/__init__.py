"""lomsong: find mobile-coverage gaps (vùng lõm sóng) where people live in Đắk Nông.

The folder is ``coverage/`` (the project's layout); the import name is ``lomsong``. The flow,
data in → canonical tables → analysis → products, is the tree:

- ``lomsong.reference``: the province — reference data install, communes, 2025 units, population.
- ``lomsong.readers``: measurement files → canonical rows, with validation.
- ``lomsong.tables``: canonical schemas, the measurement store, run results, periods.
- ``lomsong.analysis``: pure functions, tables in → tables out (grid, aggregate, evidence, gaps…).
- ``lomsong.products``: what people read (words, table files, maps, the monthly report).
- ``lomsong.jobs``: orchestration (run, ingest, monthly); ``lomsong.cli`` and ``api/`` drive them.
- ``lomsong.simulate``: the SYNTHETIC demo data.
"""

import sys as _sys

if __name__ != "lomsong":  # pragma: no cover - only when the checkout's root is on sys.path
    # ``import coverage`` from the project root finds this folder before coverage.py (``python -m
    # pytest`` puts the current folder first on sys.path). Hand the name back to coverage.py
    # when it is installed, so that pytest-cov and coverage.py work beside lomsong.
    from importlib.machinery import PathFinder as _PathFinder
    from importlib.util import module_from_spec as _module_from_spec
    from pathlib import Path as _Path

    _here = _Path(__file__).resolve().parent.parent
    _elsewhere = [p for p in _sys.path if _Path(p or ".").resolve() != _here]
    _spec = _PathFinder.find_spec(__name__, _elsewhere)
    if _spec is None or _spec.loader is None:
        raise ImportError(
            f"the folder {_Path(__file__).parent} is the lomsong library: import it as 'lomsong', not as {__name__!r}"
        )
    _module = _module_from_spec(_spec)
    _sys.modules[__name__] = _module
    _spec.loader.exec_module(_module)
else:
    from importlib.metadata import PackageNotFoundError, version

    try:
        __version__ = version("lomsong")
    except PackageNotFoundError:  # running from a source tree that is not installed
        __version__ = "0.0.0"

    __all__ = ["__version__"]
