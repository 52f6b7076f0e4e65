"""What the simulator returns (:class:`SimulationResult`) and what its files are called."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from lomsong.tables.measurements import conform_measurements


@dataclass
class SimulationResult:
    """What :func:`simulate` returns (all SYNTHETIC).

    Attributes
    ----------
    measurements : pandas.DataFrame
        The generic CSV exactly as :func:`write_generic_csv` writes it, junk included: columns
        :data:`GENERIC_CSV_COLUMNS`; ``time`` is ISO 8601 text with the +07:00 offset.
    truth : pandas.DataFrame
        Row-aligned with ``measurements``: ``junk`` (kind or ""), ``time_utc``, ``x``, ``y``
        (true position, EPSG:32648), ``commune_code`` of the true position ("" outside),
        ``place`` (home, commune, route), ``site_id`` of the serving site.
    gnettrack : pandas.DataFrame
        Drive-test rows of the G-NetTrack devices (one file each): ``device``, ``time_utc``,
        ``lon``, ``lat``, ``operator``, ``plmn``, ``technology``, ``level``, ``qual``, ``snr``,
        ``site_id``, ``sector``, ``junk``.
    sites : pandas.DataFrame
        One row per site: ``site_id``, ``operator``, ``lon``, ``lat``, ``x``, ``y``,
        ``commune_code``, ``has_2g`` … ``has_5g``, ``active_from``, ``active_until`` (UTC, NaT =
        always), ``note``.
    villages : geopandas.GeoDataFrame
        Synthetic village layer (see :func:`write_villages`).
    metadata : dict
        Seed, parameters, counts, scenario, licence; ``"synthetic": true``.
    """

    measurements: pd.DataFrame
    truth: pd.DataFrame
    gnettrack: pd.DataFrame
    sites: pd.DataFrame
    villages: gpd.GeoDataFrame
    metadata: dict[str, Any] = field(default_factory=dict)

    def canonical(self, source_file: str | None = None) -> pd.DataFrame:
        """Return the junk-free generic-CSV rows as the canonical measurement table.

        A shortcut for tests and benchmarks that need analysis input without the readers:
        rows with junk are left out, ``time`` is UTC, ``source`` is ``generic_csv`` and
        ``source_row`` the row's data-line number in the written file.

        Parameters
        ----------
        source_file : str, optional
            Name recorded in ``source_file`` (default: the file name :func:`write_outputs` uses).

        Returns
        -------
        pandas.DataFrame
            Canonical measurement table (:data:`lomsong.tables.measurements.MEASUREMENT_SCHEMA`).
        """
        clean = (self.truth["junk"] == "").to_numpy(bool, na_value=False)
        frame = self.measurements.loc[clean].copy()
        frame["time"] = pd.to_datetime(self.truth.loc[clean, "time_utc"].to_numpy(), utc=True)
        frame["source"] = "generic_csv"
        frame["source_file"] = source_file or generic_csv_name(self.metadata)
        frame["source_row"] = np.flatnonzero(clean) + 1
        return conform_measurements(frame)


def generic_csv_name(metadata: dict[str, Any]) -> str:
    """Return the generic CSV's file name, e.g. ``daknong_synthetic_measurements_2026-08_2026-10.csv``."""
    parameters = metadata.get("parameters", {})
    return f"daknong_synthetic_measurements_{parameters.get('start')}_{parameters.get('end')}.csv"


#: The first line of every simulated generic CSV: the mark that survives a rename or an upload
#: (the reader labels a file whose comment lines say ``synthetic`` as simulated).
SYNTHETIC_CSV_COMMENT = "# SYNTHETIC data made by lomsong simulate: no value was measured (dữ liệu mô phỏng)"
#: The ``Cellname`` of every row of a simulated G-NetTrack log (real logs leave it empty or name a
#: cell); the G-NetTrack reader labels such a file as simulated, whatever its name.
SYNTHETIC_CELLNAME = "SYNTHETIC"


def gnettrack_name(device: str) -> str:
    """Return the file name of one device's G-NetTrack log (``gnettrack_synthetic_<device>.txt``)."""
    return f"gnettrack_synthetic_{device}.txt"


def metadata_name(metadata: dict[str, Any]) -> str:
    """Return the sidecar metadata file name (``daknong_synthetic_measurements_…_metadata.json``)."""
    return generic_csv_name(metadata).removesuffix(".csv") + ".metadata.json"
