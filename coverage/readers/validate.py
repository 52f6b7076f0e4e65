"""Validation of parsed measurements, cells and speed tiles: every rejected row or value gets a reason.

Pure, vectorised functions: a parsed frame in, the accepted canonical rows and the counts out. The
readers (:mod:`lomsong.readers`) parse a file into the canonical columns and mark what they could not
parse with boolean *issue* columns; this module applies the physical checks and decides.

Parsed-frame contract (what a reader hands over)
------------------------------------------------
The canonical measurement columns (missing values as NA/NaN/NaT), ``source_row`` (line number), and
optionally these boolean columns: ``!malformed_row`` (more fields than the header),
``!unparseable_coordinates``, ``!unparseable_time``, ``!unknown_operator``, ``!unknown_technology``,
``!not_a_number:<column>`` (a numeric field held text) and ``_key`` (a hash of the raw record, used
to find exact duplicates; without it the canonical values are compared).

Decisions
---------
* Each rejected row gets exactly one reason: the first in :data:`ROW_REASONS` that applies.
* A bad optional value (quality, SINR, throughput, latency) is removed (set missing) and counted in
  ``values_rejected``; the row keeps its good fields.
* A bad signal removes the signal. The row is kept when it still carries a measurement (throughput
  or latency); otherwise (the usual case: a signal sample whose signal is impossible) the row is
  rejected with the signal's reason. Quality and SINR alone do not make a row: they only qualify a
  signal.
* Swapped coordinates (latitude and longitude exchanged) are corrected and counted in ``corrected``
  when the exchange moves the point into the area of interest (the province's bounding box, else
  Vietnam's) or is the only way to make the coordinates valid.
* No-service samples are evidence: they need a position, a time and an operator, never a signal.
* Points outside the province (when communes are given) are counted as ``outside_province`` and
  kept out; they are not "rejected" (nothing is wrong with them).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from lomsong.tables.measurements import (
    MEASUREMENT_SCHEMA,
    conform_cells,
    conform_measurements,
    conform_speed_tiles,
    conform_table,
)

#: Row-level reasons, in the order they are checked: (code, meaning). The first that applies wins.
ROW_REASONS: list[tuple[str, str]] = [
    ("malformed_row", "the row has more fields than the header"),
    ("missing_coordinates", "latitude or longitude is empty"),
    ("unparseable_coordinates", "latitude or longitude is not a number"),
    ("coordinates_out_of_range", "latitude outside ±90° or longitude outside ±180° (and swapping does not help)"),
    ("null_island", "position (0, 0): a GPS without a fix"),
    ("missing_time", "no timestamp"),
    ("unparseable_time", "the timestamp is not a date/time the readers understand"),
    ("time_before_2000", "timestamp before 2000-01-01 (a phone clock that was never set)"),
    ("time_in_future", "timestamp more than one day after the ingest"),
    ("missing_operator", "no operator in the row, in the file, nor given with --operator"),
    ("unknown_operator", "an operator name or PLMN that is not understood"),
    ("unknown_technology", "a technology name that is not 2G/3G/4G/5G or an alias (GSM, UMTS, LTE, NR …)"),
    ("missing_technology", "a measurement without technology (the signal cannot be interpreted)"),
    ("signal_sentinel", "the signal is a 'no value' code (-200 without no-service, -999, 0, 2147483647 …)"),
    ("signal_out_of_range", "the signal is outside the physical range of its technology"),
    ("not_a_number", "the signal field holds text that is not a number"),
    ("no_measurement", "neither a signal, a throughput nor a latency, and not a no-service sample"),
    ("duplicate_row", "an exact copy of an earlier row of the same file"),
]
ROW_REASON_CODES = [code for code, _ in ROW_REASONS]

#: Value-level reasons: the value is removed, the row is kept. (code, meaning)
VALUE_REASONS: list[tuple[str, str]] = [
    ("signal_sentinel", "signal removed from a row that keeps its throughput/latency"),
    ("signal_out_of_range", "signal removed from a row that keeps its throughput/latency"),
    ("signal_on_no_service", "a no-service sample carried a signal value: removed"),
    (
        "quality_out_of_range",
        "RSRQ outside -20…-3 dB (4G), SS-RSRQ outside -43…20 dB (5G), Ec/No outside -24…0 dB (3G); 2G has none",
    ),
    ("sinr_out_of_range", "SINR outside -23…40 dB"),
    ("throughput_out_of_range", "download/upload negative or above 10 Gbit/s"),
    ("latency_out_of_range", "latency not in 0 < ms ≤ 60 000"),
    ("not_a_number", "a numeric (or yes/no) field held text that is not understood"),
]

#: Corrections: the row is kept, fixed. (code, meaning)
CORRECTIONS: list[tuple[str, str]] = [
    ("swapped_coordinates", "latitude and longitude were exchanged; swapped back"),
]

#: Physical signal ranges (dBm) per technology, from FORMATS.md.
SIGNAL_RANGES = {"2G": (-113.0, -51.0), "3G": (-120.0, -25.0), "4G": (-140.0, -44.0), "5G": (-156.0, -31.0)}
#: Quality ranges (dB): Ec/No (3G), RSRQ (4G, FORMATS.md), SS-RSRQ (5G, 3GPP TS 38.133). 2G: none in dB.
QUALITY_RANGES = {"3G": (-24.0, 0.0), "4G": (-20.0, -3.0), "5G": (-43.0, 20.0)}
SINR_RANGE = (-23.0, 40.0)
THROUGHPUT_MAX_KBPS = 10_000_000.0
LATENCY_MAX_MS = 60_000.0
#: Signal values that mean "no value" rather than a measurement.
SIGNAL_SENTINELS = [0.0, -1.0, -200.0, -999.0, -9999.0, 99.0, 255.0, 2147483647.0, -2147483648.0, 32767.0, -32768.0]
#: Earliest believable timestamp and how far after the ingest a timestamp may be (clock skew).
EARLIEST_TIME = pd.Timestamp("2000-01-01", tz="UTC")
FUTURE_TOLERANCE = pd.Timedelta(days=1)
#: Vietnam's bounding box (lon_min, lat_min, lon_max, lat_max), for swapped-coordinate checks without communes.
VIETNAM_BBOX = (102.1, 8.1, 109.5, 23.4)
#: Margin (degrees, ~33 km) around the province in which cells are kept: cells over the border serve it.
CELL_MARGIN_DEG = 0.3
#: How many example row numbers a report keeps per reason.
EXAMPLES_PER_REASON = 5


@dataclass
class ValidationOutcome:
    """What validation kept and why it dropped the rest.

    Attributes
    ----------
    accepted : pandas.DataFrame
        Canonical rows accepted (inside the province when communes were given).
    rows_read, no_service, outside_province : int
        Data rows parsed; accepted no-service samples; valid rows outside the province.
    rejected : dict
        Row-level reason → number of rows.
    values_rejected : dict
        Value-level reason → number of values removed from kept rows.
    corrected : dict
        Correction → number of rows fixed and kept.
    examples : dict
        Reason (row, value or correction, and ``outside_province``) → a few ``source_row`` numbers.
    """

    accepted: pd.DataFrame
    rows_read: int
    no_service: int = 0
    outside_province: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    values_rejected: dict[str, int] = field(default_factory=dict)
    corrected: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[int]] = field(default_factory=dict)


def _issue(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name in frame.columns:
        return frame[name].to_numpy(bool, na_value=False)
    return np.zeros(len(frame), bool)


def _isna(series: pd.Series) -> np.ndarray:
    return series.isna().to_numpy(bool)


def _float(series: pd.Series) -> np.ndarray:
    return series.to_numpy(float, na_value=np.nan)


def area_bbox(communes: gpd.GeoDataFrame | None) -> tuple[float, float, float, float]:
    """Return the bounding box of the communes (lon_min, lat_min, lon_max, lat_max), else Vietnam's."""
    if communes is None or len(communes) == 0:
        return VIETNAM_BBOX
    return tuple(float(v) for v in communes.to_crs("EPSG:4326").total_bounds)


def _in_bbox(lon: np.ndarray, lat: np.ndarray, bbox: tuple[float, float, float, float]) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (lon >= bbox[0]) & (lon <= bbox[2]) & (lat >= bbox[1]) & (lat <= bbox[3])


def fix_swapped_coordinates(
    lon: np.ndarray, lat: np.ndarray, bbox: tuple[float, float, float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Swap latitude and longitude back where they were evidently exchanged.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Coordinates as read.
    bbox : tuple
        Area of interest (lon_min, lat_min, lon_max, lat_max).

    Returns
    -------
    lon, lat : numpy.ndarray
        Corrected coordinates.
    swapped : numpy.ndarray
        bool, rows that were swapped.
    """
    with np.errstate(invalid="ignore"):
        valid = (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        valid_swapped = (np.abs(lon) <= 90) & (np.abs(lat) <= 180)
    into_area = ~_in_bbox(lon, lat, bbox) & _in_bbox(lat, lon, bbox)
    only_way = ~valid & valid_swapped
    swapped = into_area | only_way
    return np.where(swapped, lat, lon), np.where(swapped, lon, lat), swapped


def inside_area(lon: np.ndarray, lat: np.ndarray, communes: gpd.GeoDataFrame) -> np.ndarray:
    """Return True for points inside the union of the communes (vectorised point-in-polygon)."""
    outline = shapely.union_all(communes.to_crs("EPSG:4326").geometry.values)
    shapely.prepare(outline)
    candidates = _in_bbox(lon, lat, tuple(communes.to_crs("EPSG:4326").total_bounds))
    inside = np.zeros(len(lon), bool)
    inside[candidates] = shapely.contains_xy(outline, lon[candidates], lat[candidates])
    return inside


def _range_bad(
    values: np.ndarray, technology: dict[str, np.ndarray], ranges: dict[str, tuple[float, float]]
) -> np.ndarray:
    """True where a present value is outside its technology's range (or its technology has no range).

    ``technology`` maps each technology to the mask of its rows.
    """
    low = np.full(len(values), np.nan)
    high = np.full(len(values), np.nan)
    for tech, (lo, hi) in ranges.items():
        mask = technology[tech]
        low[mask], high[mask] = lo, hi
    with np.errstate(invalid="ignore"):
        outside = (values < low) | (values > high)
    no_range = np.isnan(low)
    return ~np.isnan(values) & (outside | no_range)


def _examples(rows: np.ndarray, mask: np.ndarray) -> list[int]:
    return [int(r) for r in rows[mask][:EXAMPLES_PER_REASON]]


def validate_measurements(
    parsed: pd.DataFrame,
    communes: gpd.GeoDataFrame | None = None,
    now: pd.Timestamp | None = None,
) -> ValidationOutcome:
    """Check parsed measurements and keep what is physically possible.

    Parameters
    ----------
    parsed : pandas.DataFrame
        A reader's output (see the module docstring for the contract).
    communes : geopandas.GeoDataFrame, optional
        When given, valid rows outside their union are counted as ``outside_province`` and dropped,
        and their bounding box is the area for swapped-coordinate detection.
    now : pandas.Timestamp, optional
        Reference for "in the future" (default: the current time).

    Returns
    -------
    ValidationOutcome
        Accepted canonical rows and every count.
    """
    return MeasurementValidator(communes=communes, now=now).validate(parsed)


_AREAS: dict[tuple, ProvinceArea] = {}
#: id of a geometry array → (weak reference to it, its key in :data:`_AREAS`).
_AREA_KEYS: dict[int, tuple[weakref.ref, tuple]] = {}


class ProvinceArea:
    """Point-in-province test for many points: a coarse grid answers most points, shapely the rest.

    Grid cells wholly inside the communes' union say "inside", cells that do not touch it say
    "outside"; only points in cells crossed by the border are tested exactly. The answer is the
    same as ``shapely.contains_xy`` on the union for every point.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        The area.
    cells : int
        Grid cells along each side of the bounding box.
    """

    def __init__(self, communes: gpd.GeoDataFrame, cells: int = 256):
        wgs84 = communes.to_crs("EPSG:4326")
        self.bbox = tuple(float(v) for v in wgs84.total_bounds)
        self.outline = shapely.union_all(wgs84.geometry.values)
        shapely.prepare(self.outline)
        self._lock = threading.Lock()
        lon0, lat0, lon1, lat1 = self.bbox
        self.cells = cells
        self.step = ((lon1 - lon0) / cells or 1.0, (lat1 - lat0) / cells or 1.0)
        self.state = self._cell_states()

    def _cell_states(self) -> np.ndarray:
        """Each grid cell's state, ``ix * cells + iy``: 1 inside, 0 outside, -1 crossed by the border.

        A cell is crossed when its box (a little larger than the cell, so that a point the floor
        division puts in a cell is in its box) touches the outline without lying in its interior.
        Only the cells near the border's line are tested so: the line is burnt into the grid
        (GDAL's rasteriser, every cell it touches) and widened by a cell on every side, so that
        rounding in the rasteriser cannot hide a crossed cell. Every other cell lies wholly on one
        side of the border, which its centre tells. The province's 65,536 cells: about 0.09 s,
        against 0.31 s for testing every box.
        """
        from affine import Affine
        from rasterio.features import rasterize

        lon0, lat0, _, _ = self.bbox
        cells, (step_x, step_y) = self.cells, self.step
        # a north-up raster: its row r is the grid's row cells - 1 - r
        burnt = rasterize(
            [shapely.boundary(self.outline)],
            out_shape=(cells, cells),
            transform=Affine(step_x, 0.0, lon0, 0.0, -step_y, lat0 + cells * step_y),
            all_touched=True,
            dtype="uint8",
        )[::-1].T.astype(bool)  # → [ix, iy]
        near = burnt.copy()
        near[1:] |= burnt[:-1]
        near[:-1] |= burnt[1:]
        widened = near.copy()
        widened[:, 1:] |= near[:, :-1]
        widened[:, :-1] |= near[:, 1:]
        near = widened.ravel()
        ix, iy = np.divmod(np.arange(cells * cells), cells)
        state = np.zeros(cells * cells, np.int8)
        away = ~near
        state[away] = shapely.contains_xy(
            self.outline, lon0 + (ix[away] + 0.5) * step_x, lat0 + (iy[away] + 0.5) * step_y
        )
        pad = 1e-9
        boxes = shapely.box(
            lon0 + ix[near] * step_x - pad,
            lat0 + iy[near] * step_y - pad,
            lon0 + (ix[near] + 1) * step_x + pad,
            lat0 + (iy[near] + 1) * step_y + pad,
        )
        inside = shapely.contains_properly(self.outline, boxes)
        touches = shapely.intersects(self.outline, boxes)
        state[near] = np.where(inside, 1, np.where(touches, -1, 0))
        return state

    @classmethod
    def of(cls, communes: gpd.GeoDataFrame) -> ProvinceArea:
        """Return the area of these communes, built once per distinct set of geometries (a few kept)."""
        # hashing the geometries costs a file 75 ms: the same table (the same geometry array, still
        # alive) found again is the same key without it
        array = communes.geometry.array
        known = _AREA_KEYS.get(id(array))
        if known is not None and known[0]() is array:
            key = known[1]
        else:
            key = (str(communes.crs), hash(tuple(shapely.to_wkb(communes.geometry.values))))
            if len(_AREA_KEYS) >= 16:
                _AREA_KEYS.pop(next(iter(_AREA_KEYS)))
            _AREA_KEYS[id(array)] = (weakref.ref(array), key)
        if key not in _AREAS:
            if len(_AREAS) >= 4:
                _AREAS.pop(next(iter(_AREAS)))
            _AREAS[key] = cls(communes)
        return _AREAS[key]

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Return True for points inside the union of the communes."""
        lon0, lat0, _, _ = self.bbox
        candidates = _in_bbox(lon, lat, self.bbox)
        inside = np.zeros(len(lon), bool)
        if not candidates.any():
            return inside
        x, y = lon[candidates], lat[candidates]
        ix = np.clip(((x - lon0) / self.step[0]).astype(np.int64), 0, self.cells - 1)
        iy = np.clip(((y - lat0) / self.step[1]).astype(np.int64), 0, self.cells - 1)
        state = self.state[ix * self.cells + iy]
        answer = state == 1
        border = state == -1
        if border.any():
            # GEOS builds a prepared polygon's point locator on its first query: one thread at a time
            with self._lock:
                answer[border] = shapely.contains_xy(self.outline, x[border], y[border])
        inside[candidates] = answer
        return inside


#: Value-level reasons in the order validation first counts them (the order of report keys).
_VALUE_ORDER = [
    "not_a_number",
    "signal_on_no_service",
    "quality_out_of_range",
    "sinr_out_of_range",
    "throughput_out_of_range",
    "latency_out_of_range",
    "signal_sentinel",
    "signal_out_of_range",
]


class MeasurementValidator:
    """Validation of one file's parsed measurements, possibly chunk by chunk.

    Duplicate detection is carried across chunks (a row that repeats a row of an earlier chunk is a
    ``duplicate_row``), and :meth:`merge` combines the chunks' outcomes into exactly what validating
    the whole file at once gives.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame, optional
        Province filter (see :func:`validate_measurements`).
    now : pandas.Timestamp, optional
        Reference for "in the future" (default: the current time).
    """

    def __init__(self, communes: gpd.GeoDataFrame | None = None, now: pd.Timestamp | None = None):
        self.now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now).tz_convert("UTC")
        self.area = ProvinceArea.of(communes) if communes is not None and len(communes) else None
        # the area already holds the communes' box in degrees (no reprojection per file)
        self.bbox = self.area.bbox if self.area is not None else area_bbox(communes)
        self.communes = communes
        self._seen = np.zeros(0, np.uint64)

    def _duplicated(self, keys: np.ndarray) -> np.ndarray:
        """True for keys seen earlier in this chunk or in an earlier chunk; remembers the chunk's keys.

        The keys seen so far are one sorted array; a chunk's distinct keys (sorted, so the search walks
        the array in order) are looked up in it, and the new ones inserted.
        """
        keys = np.asarray(keys, dtype=np.uint64)
        distinct, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        duplicated = np.ones(len(keys), bool)
        duplicated[first] = False
        position = np.searchsorted(self._seen, distinct)
        known = position < len(self._seen)
        known[known] = self._seen[position[known]] == distinct[known]
        duplicated |= known[inverse.ravel()]
        self._seen = np.insert(self._seen, position[~known], distinct[~known])
        return duplicated

    @staticmethod
    def merge(outcomes: list[ValidationOutcome]) -> ValidationOutcome:
        """Combine the outcomes of consecutive chunks (accepted rows are not concatenated: empty frame).

        Counts add up; examples keep the first :data:`EXAMPLES_PER_REASON` line numbers in file order.
        """
        rejected = {code: sum(o.rejected.get(code, 0) for o in outcomes) for code in ROW_REASON_CODES}
        values = {code: sum(o.values_rejected.get(code, 0) for o in outcomes) for code in _VALUE_ORDER}
        corrected = {code: sum(o.corrected.get(code, 0) for o in outcomes) for code, _ in CORRECTIONS}
        order = [
            *ROW_REASON_CODES,
            *(f"value:{code}" for code in _VALUE_ORDER),
            *(code for code, _ in CORRECTIONS),
            "outside_province",
        ]
        examples = {}
        for key in order:
            lines = [line for o in outcomes for line in o.examples.get(key, [])][:EXAMPLES_PER_REASON]
            if lines:
                examples[key] = lines
        return ValidationOutcome(
            accepted=pd.DataFrame(),
            rows_read=sum(o.rows_read for o in outcomes),
            no_service=sum(o.no_service for o in outcomes),
            outside_province=sum(o.outside_province for o in outcomes),
            rejected={code: count for code, count in rejected.items() if count},
            values_rejected={code: count for code, count in values.items() if count},
            corrected={code: count for code, count in corrected.items() if count},
            examples=examples,
        )

    def validate(self, parsed: pd.DataFrame) -> ValidationOutcome:
        """Validate one chunk (or a whole file); see :func:`validate_measurements`."""
        accepted, _, (outcome,) = self._validate(parsed, np.zeros(len(parsed), np.int64), 1, self._duplicated)
        outcome.accepted = accepted
        return outcome

    def validate_files(
        self, parsed: pd.DataFrame, files: np.ndarray, n_files: int, *, columns: Sequence[str] | None = None
    ) -> tuple[pd.DataFrame, np.ndarray, list[ValidationOutcome]]:
        """Validate the whole parsed rows of many files at once, each file as :meth:`validate` would.

        Parameters
        ----------
        parsed : pandas.DataFrame
            The files' parsed rows one after the other, each file's in its order.
        files : numpy.ndarray
            Each row's file, 0 … ``n_files - 1``, non-decreasing.
        n_files : int
            Number of files.
        columns : sequence of str, optional
            The canonical columns of ``accepted`` (in the canonical order); default: all. The
            validation and the outcomes are the same whatever is kept.

        Returns
        -------
        accepted : pandas.DataFrame
            The accepted canonical rows of every file, in the rows' order.
        accepted_files : numpy.ndarray
            The file of each accepted row.
        outcomes : list of ValidationOutcome
            One per file, without accepted rows: what validating that file alone reports.
        """
        files = np.asarray(files, np.int64)
        if len(files) > 1 and (np.diff(files) < 0).any():
            raise ValueError("validate_files: the rows must come file after file")
        return self._validate(parsed, files, n_files, lambda keys: _duplicated_in_file(keys, files), columns)

    def _validate(
        self,
        parsed: pd.DataFrame,
        files: np.ndarray,
        n_files: int,
        duplicated,
        columns: Sequence[str] | None = None,
    ) -> tuple[pd.DataFrame, np.ndarray, list[ValidationOutcome]]:
        now, communes = self.now, self.communes
        # a new frame whose columns are replaced, never written into: ``parsed`` stays as it was
        # without a copy of its 1.9 M rows (pandas copies on write)
        frame = parsed.reset_index(drop=True)
        for column in ["signal_dbm", "quality_db", "sinr_db", "dl_kbps", "ul_kbps", "latency_ms"]:
            if column not in frame.columns:
                frame[column] = np.nan
        for column in ["operator", "plmn", "technology", "device_id"]:
            if column not in frame.columns:
                frame[column] = pd.Series(pd.NA, index=frame.index, dtype="string")
        n = len(frame)
        rows = frame["source_row"].to_numpy(np.int64)
        value_masks: dict[str, np.ndarray] = {}

        def count_values(reason: str, mask: np.ndarray) -> None:
            value_masks[reason] = value_masks.get(reason, np.zeros(n, bool)) | mask

        no_service = frame["no_service"].to_numpy(bool, na_value=False) if "no_service" in frame else np.zeros(n, bool)
        technology = frame["technology"].astype("string")
        has_technology = ~technology.isna().to_numpy(bool)
        technology = {tech: (technology == tech).to_numpy(bool, na_value=False) for tech in SIGNAL_RANGES}

        # Coordinates: parse issues, swaps, ranges.
        lon, lat = _float(frame["lon"]), _float(frame["lat"])
        unparseable_coords = _issue(frame, "!unparseable_coordinates")
        missing_coords = (np.isnan(lon) | np.isnan(lat)) & ~unparseable_coords
        lon, lat, swapped = fix_swapped_coordinates(lon, lat, self.bbox)
        swapped &= ~np.isnan(lon) & ~np.isnan(lat)
        frame["lon"], frame["lat"] = lon, lat
        with np.errstate(invalid="ignore"):
            out_of_range = (np.abs(lat) > 90) | (np.abs(lon) > 180)
        null_island = (lon == 0) & (lat == 0)

        # Time.
        time = frame["time"]
        unparseable_time = _issue(frame, "!unparseable_time")
        missing_time = _isna(time) & ~unparseable_time
        time_values = time.to_numpy("datetime64[ns]") if len(time) else np.array([], "datetime64[ns]")
        before_2000 = ~_isna(time) & (time_values < EARLIEST_TIME.tz_localize(None).to_datetime64())
        in_future = ~_isna(time) & (time_values > (now + FUTURE_TOLERANCE).tz_localize(None).to_datetime64())

        # Operator and technology.
        unknown_operator = _issue(frame, "!unknown_operator")
        missing_operator = _isna(frame["operator"]) & ~unknown_operator
        unknown_technology = _issue(frame, "!unknown_technology") & ~no_service
        raw_signal = _float(frame["signal_dbm"])
        # A throughput/latency sample needs no technology; a signal cannot be read without one.
        missing_technology = ~has_technology & ~no_service & ~unknown_technology & ~np.isnan(raw_signal)

        # Values: not-a-number markers first (the reader already left them missing).
        for column in ["quality_db", "sinr_db", "dl_kbps", "ul_kbps", "latency_ms", "no_service"]:
            count_values("not_a_number", _issue(frame, f"!not_a_number:{column}"))
        signal_nan_text = _issue(frame, "!not_a_number:signal_dbm")

        signal = _float(frame["signal_dbm"])
        signal_on_no_service = no_service & ~np.isnan(signal)
        count_values("signal_on_no_service", signal_on_no_service)
        signal = np.where(no_service, np.nan, signal)
        sentinel = ~no_service & np.isin(signal, SIGNAL_SENTINELS)
        signal_range_bad = ~sentinel & ~no_service & has_technology & _range_bad(signal, technology, SIGNAL_RANGES)
        signal_bad = sentinel | signal_range_bad
        signal = np.where(signal_bad, np.nan, signal)

        quality = _float(frame["quality_db"])
        quality_bad = _range_bad(quality, technology, QUALITY_RANGES) & has_technology
        count_values("quality_out_of_range", quality_bad)
        quality = np.where(quality_bad, np.nan, quality)
        sinr = _float(frame["sinr_db"])
        with np.errstate(invalid="ignore"):
            sinr_bad = (sinr < SINR_RANGE[0]) | (sinr > SINR_RANGE[1])
        count_values("sinr_out_of_range", sinr_bad)
        sinr = np.where(sinr_bad, np.nan, sinr)
        throughput_bad = np.zeros(n, bool)
        for column in ["dl_kbps", "ul_kbps"]:
            values = _float(frame[column])
            with np.errstate(invalid="ignore"):
                bad = (values < 0) | (values > THROUGHPUT_MAX_KBPS)
            throughput_bad |= bad
            frame[column] = np.where(bad, np.nan, values)
        count_values("throughput_out_of_range", throughput_bad)
        latency = _float(frame["latency_ms"])
        with np.errstate(invalid="ignore"):
            latency_bad = (latency <= 0) | (latency > LATENCY_MAX_MS)
        count_values("latency_out_of_range", latency_bad)
        frame["latency_ms"] = np.where(latency_bad, np.nan, latency)
        frame["signal_dbm"], frame["quality_db"], frame["sinr_db"] = signal, quality, sinr

        other_measurement = ~(_isna(frame["dl_kbps"]) & _isna(frame["ul_kbps"]) & _isna(frame["latency_ms"]))
        has_signal = ~np.isnan(signal)
        useless = ~no_service & ~has_signal & ~other_measurement
        # A removed signal on a row that keeps throughput/latency is a value-level loss.
        count_values("signal_sentinel", sentinel & other_measurement)
        count_values("signal_out_of_range", signal_range_bad & other_measurement)
        count_values("not_a_number", signal_nan_text & other_measurement)

        checks = {
            "malformed_row": _issue(frame, "!malformed_row"),
            "missing_coordinates": missing_coords,
            "unparseable_coordinates": unparseable_coords,
            "coordinates_out_of_range": out_of_range,
            "null_island": null_island,
            "missing_time": missing_time,
            "unparseable_time": unparseable_time,
            "time_before_2000": before_2000,
            "time_in_future": in_future,
            "missing_operator": missing_operator,
            "unknown_operator": unknown_operator,
            "unknown_technology": unknown_technology,
            "missing_technology": missing_technology,
            "signal_sentinel": useless & sentinel,
            "signal_out_of_range": useless & signal_range_bad,
            "not_a_number": useless & signal_nan_text,
            "no_measurement": useless,
        }
        reason = _row_reasons(checks, n)
        valid = reason == 0
        if "_key" in frame.columns:
            keys = frame["_key"]
        else:
            keys = pd.util.hash_pandas_object(conform_measurements(frame).drop(columns="source_row"), index=False)
        duplicate = valid & duplicated(np.asarray(keys))
        reason[duplicate] = ROW_REASON_CODES.index("duplicate_row") + 1
        valid = reason == 0

        outside = np.zeros(n, bool)
        if communes is not None and valid.any():
            outside[valid] = ~self.area.contains(lon[valid], lat[valid])
        accepted_mask = valid & ~outside

        # only the canonical columns asked for are copied (the issue columns and keys stay behind)
        schema = [entry for entry in MEASUREMENT_SCHEMA if columns is None or entry[0] in columns]
        kept = [name for name, *_ in schema if name in frame.columns]
        # take by position: boolean .loc costs three times as much (0.40 s against 0.13 s on 1.9 M rows)
        accepted = conform_table(frame[kept].take(np.flatnonzero(accepted_mask)), schema)
        if "time" in accepted:
            accepted["time"] = accepted["time"].astype("datetime64[ns, UTC]")
        in_file = _PerFile(files, n_files, rows)
        counts = in_file.count_by(reason, len(ROW_REASON_CODES) + 1)
        reason_examples = {
            number: in_file.examples(reason == number)
            for number in range(1, len(ROW_REASON_CODES) + 1)
            if counts[:, number].any()
        }
        value_counts, value_examples = {}, {}
        for code, mask in value_masks.items():
            kept_mask = mask & accepted_mask
            value_counts[code] = in_file.count(kept_mask)
            if value_counts[code].any():
                value_examples[code] = in_file.examples(kept_mask)
        swapped_kept = swapped & accepted_mask
        swapped_counts, outside_counts = in_file.count(swapped_kept), in_file.count(outside)
        swapped_examples = in_file.examples(swapped_kept) if swapped_counts.any() else None
        outside_examples = in_file.examples(outside) if outside_counts.any() else None
        no_service_counts = in_file.count(accepted_mask & no_service)
        outcomes = []
        for file in range(n_files):  # per file, not per row: dictionaries in the order people read them
            rejected, examples, values_rejected, corrected = {}, {}, {}, {}
            for number, code in enumerate(ROW_REASON_CODES, start=1):
                if counts[file, number]:
                    rejected[code] = int(counts[file, number])
                    examples[code] = reason_examples[number][file]
            for code, per_file in value_counts.items():
                if per_file[file]:
                    values_rejected[code] = int(per_file[file])
                    examples.setdefault(f"value:{code}", value_examples[code][file])
            if swapped_counts[file]:
                corrected["swapped_coordinates"] = int(swapped_counts[file])
                examples["swapped_coordinates"] = swapped_examples[file]
            if outside_counts[file]:
                examples["outside_province"] = outside_examples[file]
            outcomes.append(
                ValidationOutcome(
                    accepted=None,
                    rows_read=int(in_file.rows[file]),
                    no_service=int(no_service_counts[file]),
                    outside_province=int(outside_counts[file]),
                    rejected=rejected,
                    values_rejected=values_rejected,
                    corrected=corrected,
                    examples=examples,
                )
            )
        return accepted, files[accepted_mask], outcomes


class _PerFile:
    """Counts and example line numbers per file of rows that come file after file."""

    def __init__(self, files: np.ndarray, n_files: int, lines: np.ndarray) -> None:
        self.files, self.n_files, self.lines = files, n_files, lines
        self.rows = np.bincount(files, minlength=n_files)

    def count(self, mask: np.ndarray) -> np.ndarray:
        """Rows of each file where ``mask`` holds."""
        return np.bincount(self.files[mask], minlength=self.n_files)

    def count_by(self, codes: np.ndarray, n_codes: int) -> np.ndarray:
        """``(files, codes)`` matrix of the rows of each file with each code."""
        flat = self.files * n_codes + codes.astype(np.int64)
        return np.bincount(flat, minlength=self.n_files * n_codes).reshape(self.n_files, n_codes)

    def examples(self, mask: np.ndarray) -> list[list[int]]:
        """The first :data:`EXAMPLES_PER_REASON` line numbers of each file where ``mask`` holds."""
        where = np.flatnonzero(mask)
        files = self.files[where]
        rank = np.arange(len(where)) - np.searchsorted(files, files)  # place among its file's rows
        keep = rank < EXAMPLES_PER_REASON
        lines, files = self.lines[where[keep]], files[keep]
        bounds = np.searchsorted(files, np.arange(self.n_files + 1))
        return [lines[bounds[i] : bounds[i + 1]].tolist() for i in range(self.n_files)]


def _duplicated_in_file(keys: np.ndarray, files: np.ndarray) -> np.ndarray:
    """True for a row whose key an earlier row of the same file has (rows come file after file)."""
    keys = np.asarray(keys, dtype=np.uint64)
    if len(keys) and int(keys.max()) < (1 << 40) and int(files.max()) < (1 << 23):
        # small keys (duplicate_keys'): file and key in one number, one hash table
        combined = (files.astype(np.uint64) << np.uint64(40)) | keys
        return pd.Series(combined).duplicated().to_numpy(bool)
    pairs = pd.DataFrame({"file": files, "key": keys})
    return pairs.duplicated().to_numpy(bool)  # the later copies: the first of a file stays


def _row_reasons(checks: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Return each row's first failing check as its 1-based position in ``checks`` (0: none failed)."""
    reason = np.zeros(n, np.int16)
    for number, mask in enumerate(checks.values(), start=1):
        reason[(reason == 0) & mask] = number
    return reason


def _outcome(
    frame: pd.DataFrame, checks: dict[str, np.ndarray], keep_area: np.ndarray | None, conform
) -> ValidationOutcome:
    n = len(frame)
    rows = frame["source_row"].to_numpy(np.int64)
    reason = _row_reasons(checks, n)
    valid = reason == 0
    outside = np.zeros(n, bool) if keep_area is None else valid & ~keep_area
    rejected, examples = {}, {}
    for number, code in enumerate(checks, start=1):
        mask = reason == number
        if mask.any():
            rejected[code] = int(mask.sum())
            examples[code] = _examples(rows, mask)
    if outside.any():
        examples["outside_province"] = _examples(rows, outside)
    return ValidationOutcome(
        accepted=conform(frame.loc[valid & ~outside]),
        rows_read=n,
        outside_province=int(outside.sum()),
        rejected=rejected,
        examples=examples,
    )


def validate_cells(parsed: pd.DataFrame, communes: gpd.GeoDataFrame | None = None) -> ValidationOutcome:
    """Check parsed OpenCelliD/MLS cells.

    Rows are rejected for ``malformed_row``, ``unknown_radio``, ``missing_coordinates``,
    ``coordinates_out_of_range``, ``null_island``, ``not_a_number`` (mcc/net/area/cell) and
    ``duplicate_row``. With communes, cells farther than :data:`CELL_MARGIN_DEG` outside the
    province's bounding box count as ``outside_province`` (cells over the border serve it).
    """
    lon, lat = _float(parsed["lon"]), _float(parsed["lat"])
    with np.errstate(invalid="ignore"):
        out_of_range = (np.abs(lat) > 90) | (np.abs(lon) > 180)
    checks = {
        "malformed_row": _issue(parsed, "!malformed_row"),
        "unknown_radio": _isna(parsed["technology"]),
        "missing_coordinates": np.isnan(lon) | np.isnan(lat),
        "coordinates_out_of_range": out_of_range,
        "null_island": (lon == 0) & (lat == 0),
        "not_a_number": _issue(parsed, "!not_a_number"),
    }
    if "_key" in parsed.columns:
        checks["duplicate_row"] = pd.Series(parsed["_key"]).duplicated().to_numpy(bool)
    keep_area = None
    if communes is not None:
        lo_lon, lo_lat, hi_lon, hi_lat = area_bbox(communes)
        margin = CELL_MARGIN_DEG
        keep_area = _in_bbox(lon, lat, (lo_lon - margin, lo_lat - margin, hi_lon + margin, hi_lat + margin))
    return _outcome(parsed, checks, keep_area, conform_cells)


def validate_speed_tiles(parsed: pd.DataFrame, communes: gpd.GeoDataFrame | None = None) -> ValidationOutcome:
    """Check parsed Ookla tiles.

    Rows are rejected for ``invalid_quadkey`` (not 16 digits 0–3), ``value_out_of_range`` (negative
    speed/latency/test counts) and ``duplicate_row`` (same quadkey twice). With communes, tiles whose
    centre is outside the province are counted as ``outside_province``.
    """
    numbers = parsed[["avg_d_kbps", "avg_u_kbps", "avg_lat_ms", "tests", "devices"]].apply(
        pd.to_numeric, errors="coerce"
    )
    negative = (numbers < 0).to_numpy(bool, na_value=False).any(axis=1)
    quadkey = parsed["quadkey"].astype("string")
    invalid = ~quadkey.str.fullmatch(r"[0-3]{16}").to_numpy(bool, na_value=False)
    checks = {
        "invalid_quadkey": invalid,
        "value_out_of_range": negative,
        "duplicate_row": quadkey.duplicated().to_numpy(bool) & ~invalid,
    }
    keep_area = None
    if communes is not None:
        keep_area = np.zeros(len(parsed), bool)
        ok = ~invalid
        keep_area[ok] = inside_area(_float(parsed["lon"])[ok], _float(parsed["lat"])[ok], communes)
    return _outcome(parsed, checks, keep_area, conform_speed_tiles)
