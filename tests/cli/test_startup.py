"""Fast start: ``lomsong --help`` and ``lomsong ingest`` import only what they use.

Checked by the modules a real ``lomsong`` process has loaded when it exits (no timing: the machine
may be busy), so a heavy import creeping back into a command module fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support import FIXTURES

#: Products and tools no command needs just to start: maps, report, simulator, cluster, API.
HEAVY = ["folium", "branca", "jinja2", "matplotlib", "reportlab", "dask", "distributed", "fastapi", "uvicorn"]
HEAVY += [
    "lomsong.simulate.demo",
    "lomsong.products.maps.build",
    "lomsong.products.maps.layers",
    "lomsong.products.maps.pages",
    "lomsong.products.report.model",
    "lomsong.products.report.render",
    "scipy",
]
#: What ``--help`` does not need at all: it only lists commands and options.
DATA_LIBRARIES = ["pandas", "numpy", "pyarrow", "geopandas", "shapely", "h3", "rasterio", "pyproj"]

_PROBE = """
import json, sys
sys.argv = ["lomsong", *json.loads(sys.argv[1])]
from lomsong.cli import main
try:
    main()
except SystemExit:
    pass
finally:
    sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""


def _modules_loaded(*arguments: str, cwd: Path | None = None) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(arguments))],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=os.environ.copy(),
    )
    line = next(line for line in done.stderr.splitlines() if line.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


def test_help_imports_no_data_library_and_no_product():
    loaded = _modules_loaded("--help")
    assert "lomsong.cli.run" in loaded  # the probe really ran the command line
    assert not loaded & set(HEAVY + DATA_LIBRARIES)


def test_every_command_help_is_as_light():
    for command in ["run", "ingest", "map", "simulate", "report", "serve", "communes"]:
        assert not _modules_loaded(command, "--help") & set(HEAVY + DATA_LIBRARIES), command


def test_ingest_imports_no_product(tmp_path):
    log = FIXTURES / "gnettrack_quirks.txt"
    loaded = _modules_loaded("ingest", str(log), "--store", str(tmp_path / "store"))
    assert "lomsong.readers.gnettrack" in loaded and "pandas" in loaded  # it did read the file
    assert not loaded & set(HEAVY)


def test_ingest_format_names_are_the_registry():
    from lomsong.cli.ingest import FORMAT_NAMES
    from lomsong.readers import REGISTRY

    assert list(FORMAT_NAMES) == list(REGISTRY)
