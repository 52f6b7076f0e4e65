"""The simulator's default parameters, apart from the simulator so that ``lomsong --help`` can show
them without importing it (numpy, pandas, geopandas)."""

from __future__ import annotations

DEFAULT_SEED = 2026
#: Default demo size: the generic CSV stays under 10 MB.
DEFAULT_POINTS = 70_000
DEFAULT_DEVICES = 300
DEFAULT_GNETTRACK_DEVICES = 6
DEFAULT_START = "2026-08"
DEFAULT_END = "2026-10"
