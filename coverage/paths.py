"""Where the project keeps its data and outputs.

Every path can be moved with an environment variable so that a deployment, a test or CI can
point the tool elsewhere without touching the code.

========================== =====================================================
``LOMSONG_HOME``           project root (default: the checkout this package is in,
                           else the current directory)
``LOMSONG_DATA``           data folder (default ``$LOMSONG_HOME/data``)
``LOMSONG_REFERENCE_DATA`` the reference data directory to copy from at set-up
                           (default ``$LOMSONG_HOME/../shared/data``)
``LOMSONG_OUT``            products folder (default ``$LOMSONG_HOME/maps``)
========================== =====================================================
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """Return the project root folder.

    Returns
    -------
    Path
        ``$LOMSONG_HOME`` if set; the checkout holding this package when it has a
        ``pyproject.toml``; else the current working directory.
    """
    if env := os.environ.get("LOMSONG_HOME"):
        return Path(env).resolve()
    checkout = _PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").exists():
        return checkout
    return Path.cwd()


def data_dir() -> Path:
    """Return the data folder (``$LOMSONG_DATA`` or ``<root>/data``)."""
    if env := os.environ.get("LOMSONG_DATA"):
        return Path(env).resolve()
    return project_root() / "data"


def reference_data_dir() -> Path:
    """Return the reference data directory that set-up copies from."""
    if env := os.environ.get("LOMSONG_REFERENCE_DATA"):
        return Path(env).resolve()
    return (project_root() / ".." / "shared" / "data").resolve()


def out_dir() -> Path:
    """Return the default products folder (``$LOMSONG_OUT`` or ``<root>/maps``)."""
    if env := os.environ.get("LOMSONG_OUT"):
        return Path(env).resolve()
    return project_root() / "maps"


def boundaries_path() -> Path:
    """Return the path of the bundled commune boundaries (after set-up)."""
    return data_dir() / "boundaries" / "daknong_communes_2019.geojson"


def census_path() -> Path:
    """Return the path of the 2019 census table by commune (after set-up)."""
    return data_dir() / "population" / "daknong_population_census2019_by_commune.csv"


def population_raster_path() -> Path:
    """Return the path of the default 100 m population raster (built on first use)."""
    return data_dir() / "population" / "daknong_population_census2019_100m.tif"


def store_dir() -> Path:
    """Return the default measurement store folder."""
    return data_dir() / "store"


def measurements_dir() -> Path:
    """Return the folder of the bundled (synthetic) demo measurements."""
    return data_dir() / "measurements"


def gnettrack_sample_path() -> Path:
    """Return the path of the real G-NetTrack sample log (after set-up)."""
    return data_dir() / "samples" / "gnettrack" / "Yas_log.txt"
