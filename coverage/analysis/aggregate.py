"""Per cell and view statistics of the measurements, computed with array operations only.

Measurements are indexed once (H3 cell position, integer operator, technology, device and day
codes); each sample then *belongs* to the views it is evidence for:

- its operator × technology view;
- a no-service sample whose technology is unknown belongs to every technology view of its
  operator (the phone found no network at all, so none of them served it there);
- its operator's ``any`` view;
- the ``all`` view, when the operator is Vietnamese (see :mod:`lomsong.analysis.evidence`).

Per view × cell: samples, weak samples, devices, days, first and last date, median and
10th-percentile signal, no-service share and median download speed (:func:`cell_statistics`
counts each sample once, in a base group every view is a union of; :func:`group_statistics` is the
same over explicit memberships, used for gaps and by the Dask engine). Days are local days
(Asia/Ho_Chi_Minh, UTC+7). Signals of different technologies (RSRP, RSCP, RSSI) are pooled in
the ``any`` and ``all`` views' medians: read those as indicative only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lomsong.analysis.evidence import sample_evidence
from lomsong.analysis.grid import Grid
from lomsong.operators import OPERATOR_IDS
from lomsong.settings import TECHNOLOGIES, Config
from lomsong.tables.measurements import MEASUREMENT_DTYPES, conform_measurements
from lomsong.tables.results import ALL_OPERATORS, ANY_TECHNOLOGY

_LOCAL_OFFSET_NS = 7 * 3600 * 10**9
_DAY_NS = 86400 * 10**9
_NO_DAY = np.iinfo("int64").min
#: Largest key space counted with a dense table instead of a sort.
_DENSE_LIMIT = 50_000_000

#: Statistic columns produced per group, in order.
STAT_COLUMNS = [
    "n_samples",
    "n_weak",
    "n_no_service",
    "n_devices",
    "n_days",
    "first_date",
    "last_date",
    "median_signal_dbm",
    "p10_signal_dbm",
    "no_service_share",
    "median_dl_kbps",
]


@dataclass(frozen=True)
class Samples:
    """The usable measurements inside the grid, as integer-coded arrays (one entry per sample).

    Attributes
    ----------
    cell : numpy.ndarray
        Position of the sample's cell in :attr:`lomsong.analysis.grid.Grid.cells`.
    operator : numpy.ndarray
        Index into :attr:`operators`.
    operators : list of str
        Operator ids present, Vietnamese ones first in their canonical order.
    technology : numpy.ndarray
        Index into :data:`lomsong.settings.TECHNOLOGIES`, -1 when unknown.
    weak, no_service : numpy.ndarray
        Booleans.
    signal_dbm, dl_kbps : numpy.ndarray
        float64, NaN when missing.
    device : numpy.ndarray
        Device code, -1 when missing.
    day : numpy.ndarray
        Local day number (days since 1970-01-01 in UTC+7), ``int64`` minimum when missing.
    counts : dict
        Input rows, rows used, and why the others were left out.
    rows : numpy.ndarray or None
        Position of each sample's row in the input table.
    """

    cell: np.ndarray
    operator: np.ndarray
    operators: list[str]
    technology: np.ndarray
    weak: np.ndarray
    no_service: np.ndarray
    signal_dbm: np.ndarray
    dl_kbps: np.ndarray
    device: np.ndarray
    day: np.ndarray
    counts: dict = field(default_factory=dict)
    rows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.cell)


#: The measurement columns the analysis reads (a store can be read for these only).
ANALYSIS_COLUMNS = ["time", "lon", "lat", "operator", "technology", "signal_dbm", "dl_kbps", "no_service", "device_id"]
#: Text columns that may come as pandas categoricals (e.g. Parquet dictionaries): their codes are used directly.
CATEGORY_COLUMNS = ["operator", "technology", "device_id"]


def _category_codes(column: pd.Series, categories: list[str]) -> np.ndarray:
    """Codes of ``column``'s values in ``categories`` (-1 when missing or not listed), as int64.

    A categorical column is recoded through its (few) categories, with no per-row string work.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        lookup = pd.Index(categories).get_indexer(column.cat.categories.astype(str))
        codes = column.cat.codes.to_numpy("int64")
        return np.where(codes >= 0, np.append(lookup, -1)[codes], -1)
    arrow = _arrow_strings(column)
    if arrow is not None:  # what the readers give: looked up by pyarrow, 15 times faster than a Categorical
        found = pc.index_in(arrow, value_set=pa.array(categories, pa.large_string()))
        return found.fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")
    return pd.Categorical(column, categories=categories).codes.astype("int64")


def _arrow_strings(column: pd.Series) -> pa.ChunkedArray | None:
    """The pyarrow strings under a pandas column of Arrow-backed strings (no copy), else None."""
    array = column.array
    if isinstance(array, pd.arrays.ArrowStringArray | pd.arrays.ArrowExtensionArray):
        data = array._pa_array  # noqa: SLF001 - pandas keeps no public accessor for it
        if pa.types.is_string(data.type) or pa.types.is_large_string(data.type):
            return data.cast(pa.large_string()) if pa.types.is_string(data.type) else data
    return None


def _present_names(column: pd.Series, keep: np.ndarray) -> list[str]:
    """Distinct non-missing values of ``column`` on the ``keep`` rows."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy("int64")[keep]
        seen = np.bincount(codes[codes >= 0], minlength=len(column.cat.categories)) > 0
        return [str(name) for name in column.cat.categories[seen]]
    arrow = _arrow_strings(column)
    if arrow is not None:
        return [str(name) for name in pc.unique(arrow.filter(pa.array(keep))).drop_null().to_pylist()]
    return [str(name) for name in pd.unique(column[keep].dropna().astype(str))]


def prepare_samples(
    measurements: pd.DataFrame, grid: Grid, config: Config, *, cell_ids: np.ndarray | None = None
) -> Samples:
    """Index and code the measurements; keep those inside the grid that are evidence.

    Parameters
    ----------
    measurements : pandas.DataFrame
        Canonical measurement table, or at least its :data:`ANALYSIS_COLUMNS` (conformed here when
        some are missing). ``operator``, ``technology`` and ``device_id`` may be categoricals.
    grid : Grid
        Province grid.
    config : Config
        Thresholds.
    cell_ids : numpy.ndarray, optional
        Each measurement's H3 cell at the grid's resolution, when known already
        (:func:`lomsong.analysis.grid.index_points` of its ``lon``, ``lat``, e.g. computed while
        the files were read): only looked up in the grid.

    Returns
    -------
    Samples
    """
    if any(c not in measurements for c in ANALYSIS_COLUMNS):
        # conform_measurements cannot cast an absent (all-NA) column to float64 or int64: fill them first.
        fill = {"float64": np.nan, "int64": 0}
        absent = {c: fill[t] for c, t in MEASUREMENT_DTYPES.items() if c not in measurements and t in fill}
        measurements = conform_measurements(measurements.assign(**absent))
    elif measurements["time"].dtype != MEASUREMENT_DTYPES["time"]:
        measurements = measurements.assign(time=pd.to_datetime(measurements["time"], utc=True).dt.as_unit("ns"))
    n_rows = len(measurements)
    lon = measurements["lon"].to_numpy("float64", na_value=np.nan)
    lat = measurements["lat"].to_numpy("float64", na_value=np.nan)
    if cell_ids is None:
        cell = grid.locate(lon, lat)
    elif len(cell_ids) != n_rows:
        raise ValueError(f"prepare_samples: {len(cell_ids):,} cell ids for {n_rows:,} measurements")
    else:
        cell = grid.positions(cell_ids)  # the missing cell (0) is in no grid: -1, as locate gives
    inside = cell >= 0

    operator_names = measurements["operator"]
    has_operator = operator_names.notna().to_numpy(bool)
    technology = _category_codes(measurements["technology"], TECHNOLOGIES).astype("int8")
    signal = measurements["signal_dbm"].to_numpy("float64", na_value=np.nan)
    dl = measurements["dl_kbps"].to_numpy("float64", na_value=np.nan)
    no_service = measurements["no_service"].to_numpy(bool, na_value=False)
    weak, usable = sample_evidence(technology, signal, dl, no_service, config)

    keep = inside & has_operator & usable
    present = set(_present_names(operator_names, keep))
    operators = [o for o in OPERATOR_IDS if o in present] + sorted(present - set(OPERATOR_IDS))
    operator = _category_codes(operator_names, operators)[keep].astype("int16")
    device_ids = measurements["device_id"]
    if isinstance(device_ids.dtype, pd.CategoricalDtype):  # dictionary codes number the devices already
        device = device_ids.cat.codes.to_numpy("int64")[keep]
    elif (arrow := _arrow_strings(device_ids)) is not None:
        # numbered in order of first appearance, as pandas.factorize does (3 times faster on 1.9 M rows)
        kept = arrow.filter(pa.array(keep)).combine_chunks()
        device = kept.dictionary_encode().indices.fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")
    else:
        device = pd.factorize(device_ids[keep], use_na_sentinel=True)[0].astype("int64")
    time_ns = measurements["time"].to_numpy("datetime64[ns]").view("int64")[keep]
    missing_time = time_ns == np.iinfo("int64").min  # NaT
    day = np.where(missing_time, _NO_DAY, (time_ns + _LOCAL_OFFSET_NS) // _DAY_NS)
    counts = {
        "measurements": int(n_rows),
        "measurements_used": int(keep.sum()),
        "measurements_outside_grid": int((~inside).sum()),
        "measurements_without_operator": int((inside & ~has_operator).sum()),
        "measurements_without_evidence": int((inside & has_operator & ~usable).sum()),
    }
    return Samples(
        cell=cell[keep],
        operator=operator,
        operators=operators,
        technology=technology[keep],
        weak=weak[keep],
        no_service=no_service[keep],
        signal_dbm=signal[keep],
        dl_kbps=dl[keep],
        device=device,
        day=day,
        counts=counts,
        rows=np.flatnonzero(keep),
    )


def build_views(samples: Samples) -> pd.DataFrame:
    """Return the views present: ``view`` (code), ``operator``, ``technology``, ``kind``.

    Every (operator, technology) pair with samples of a known technology, one ``any`` view per
    operator, and the ``(all, any)`` view, in a stable order (operators canonical, technologies
    2G…5G, ``any`` last).
    """
    known = samples.technology >= 0
    codes = np.unique(samples.operator[known].astype("int64") * len(TECHNOLOGIES) + samples.technology[known])
    rows = []
    for index, name in enumerate(samples.operators):
        techs = codes[codes // len(TECHNOLOGIES) == index] % len(TECHNOLOGIES)
        rows += [(name, TECHNOLOGIES[t], "technology", index, int(t)) for t in techs]
        rows.append((name, ANY_TECHNOLOGY, "operator", index, -1))
    rows.append((ALL_OPERATORS, ANY_TECHNOLOGY, "all", -1, -1))
    views = pd.DataFrame(rows, columns=["operator", "technology", "kind", "operator_code", "technology_code"])
    views.insert(0, "view", np.arange(len(views), dtype="int64"))
    return views


def membership_parts(samples: Samples, views: pd.DataFrame) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(sample positions, view codes)`` pieces of the memberships (see :func:`memberships`).

    The pieces are: samples of a known technology in their technology view; no-service samples of
    unknown technology in every technology view of their operator; every sample in its operator's
    ``any`` view; samples of Vietnamese operators in the ``all`` view. A caller can filter each
    piece before anything of the size of all memberships exists.
    """
    n_tech = len(TECHNOLOGIES)
    index = np.arange(len(samples), dtype="int64")
    operator = samples.operator.astype("int64")
    technology = samples.technology.astype("int64")
    tech_views = views[views["kind"] == "technology"]
    lookup = np.full((len(samples.operators) + 1) * n_tech, -1, dtype="int64")
    lookup[tech_views["operator_code"].to_numpy() * n_tech + tech_views["technology_code"].to_numpy()] = tech_views[
        "view"
    ].to_numpy()
    known = technology >= 0
    yield index[known], lookup[operator[known] * n_tech + technology[known]]

    # A no-service sample of unknown technology is evidence against each technology of its operator.
    blind = ~known & samples.no_service
    if blind.any() and len(tech_views):
        # each such sample's row of its operator's technology views (-1 where none), in view order
        # (what a merge on the operator gives, without building two frames)
        views_of = np.sort(lookup.reshape(-1, n_tech)[operator[blind]], axis=1)
        kept = views_of >= 0
        yield np.repeat(index[blind], kept.sum(axis=1)), views_of[kept]

    any_views = views[views["kind"] == "operator"].set_index("operator_code")["view"]
    any_lookup = np.full(len(samples.operators), -1, dtype="int64")
    any_lookup[any_views.index.to_numpy()] = any_views.to_numpy()
    yield index, any_lookup[operator]

    national = np.isin(np.asarray(samples.operators, dtype=object), OPERATOR_IDS)
    in_all = national[operator] if len(samples.operators) else np.zeros(0, dtype=bool)
    all_view = int(views.loc[views["kind"] == "all", "view"].iloc[0])
    yield index[in_all], np.full(int(in_all.sum()), all_view, dtype="int64")


def memberships(samples: Samples, views: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(sample, view)`` pairs: which views each sample is evidence for.

    Parameters
    ----------
    samples : Samples
        Coded samples.
    views : pandas.DataFrame
        From :func:`build_views`.

    Returns
    -------
    tuple of numpy.ndarray
        Sample positions and view codes (``int64``), one entry per membership.
    """
    parts = list(membership_parts(samples, views))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _presence(group: np.ndarray, code: np.ndarray, n_groups: int, n_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the sorted distinct ``group * n_codes + code`` pairs, with a dense table when small."""
    pair = group * n_codes + code
    if n_groups * n_codes <= _DENSE_LIMIT:  # a presence table is O(n), cheaper than sorting
        return np.flatnonzero(np.bincount(pair, minlength=n_groups * n_codes)), pair
    return np.unique(pair), pair


def _distinct_per_group(group: np.ndarray, value: np.ndarray, valid: np.ndarray, n_groups: int) -> np.ndarray:
    """Count distinct valid values per group without a Python loop."""
    group = group[valid]
    value = value[valid]
    if len(group) == 0:
        return np.zeros(n_groups, dtype="int64")
    low = int(value.min())
    if int(value.max()) - low < 1_000_000:  # small integer codes (devices, days): no factorize needed
        value_codes = value.astype("int64", copy=False) - low
    else:
        value_codes = pd.factorize(value)[0].astype("int64")
    n_values = int(value_codes.max()) + 1
    present, _ = _presence(group.astype("int64", copy=False), value_codes, n_groups, n_values)
    return np.bincount(present // n_values, minlength=n_groups).astype("int64")


def _day_range(group: np.ndarray, day: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last known day of each group (``_NO_DAY`` where none), from the distinct pairs."""
    known = day != _NO_DAY
    first = np.full(n_groups, _NO_DAY, dtype="int64")
    last = np.full(n_groups, _NO_DAY, dtype="int64")
    if not known.any():
        return first, last
    days = day[known]
    low = int(days.min())
    n_days = int(days.max()) - low + 1
    present, _ = _presence(group[known].astype("int64"), days - low, n_groups, n_days)
    owner = present // n_days
    # pairs are sorted by group then day: a group's first and last pair hold its first and last day
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    ends = np.r_[starts[1:], len(owner)] - 1
    first[owner[starts]] = present[starts] % n_days + low
    last[owner[ends]] = present[ends] % n_days + low
    return first, last


def group_quantiles(group: np.ndarray, values: np.ndarray, n_groups: int, quantiles: list[float]) -> list[np.ndarray]:
    """Quantiles of the finite values of each group (linear interpolation, as pandas and numpy).

    One counting pass (values coded by rank; a dense per-group histogram when it is small, else
    one integer sort) replaces a group-by: every group's sorted values are then read by position.

    Parameters
    ----------
    group : numpy.ndarray
        Group code (0 … n_groups-1) per value.
    values : numpy.ndarray
        float64 values (NaN ignored).
    n_groups : int
        Number of groups.
    quantiles : list of float
        Quantiles in [0, 1].

    Returns
    -------
    list of numpy.ndarray
        One ``(n_groups,)`` float64 array per quantile, NaN for groups without values.
    """
    finite = np.isfinite(values)
    group = group[finite].astype("int64")
    values = values[finite]
    out = [np.full(n_groups, np.nan) for _ in quantiles]
    if len(values) == 0:
        return out
    low, high = values.min(), values.max()
    if high - low < 1_000_000 and np.array_equal(values, np.round(values)):  # whole numbers (dBm, kbit/s)
        code = (values - low).astype("int64")
        n_codes = int(high - low) + 1
        decode = None
    else:
        decode, code = np.unique(values, return_inverse=True)
        code = code.ravel().astype("int64")
        n_codes = len(decode)
    counts = np.bincount(group, minlength=n_groups)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    if n_groups * n_codes <= _DENSE_LIMIT:
        cumulative = np.cumsum(np.bincount(group * n_codes + code, minlength=n_groups * n_codes))

        def at(rank: np.ndarray, owners: np.ndarray) -> np.ndarray:
            return np.searchsorted(cumulative, offsets[owners] + rank, side="right") - owners * n_codes

    else:
        ordered = np.sort(group * n_codes + code)

        def at(rank: np.ndarray, owners: np.ndarray) -> np.ndarray:
            return ordered[offsets[owners] + rank] - owners * n_codes

    owners = np.flatnonzero(counts)
    n = counts[owners]
    for slot, quantile in enumerate(quantiles):
        position = (n - 1) * quantile
        below = np.floor(position).astype("int64")
        above = np.minimum(below + 1, n - 1)
        value_below, value_above = at(below, owners), at(above, owners)
        if decode is None:
            value_below, value_above = value_below + low, value_above + low
        else:
            value_below, value_above = decode[value_below], decode[value_above]
        fraction = position - below
        out[slot][owners] = value_below + (value_above - value_below) * fraction
    return out


def _day_to_date(days: np.ndarray) -> pd.Series:
    """Local day numbers → ``YYYY-MM-DD`` strings (missing where unknown)."""
    known = days != _NO_DAY
    dates = pd.Series(pd.NA, index=range(len(days)), dtype="string")
    if known.any():
        text = np.datetime_as_string(days[known].astype("datetime64[D]"), unit="D")
        dates[known] = text
    return dates


def group_statistics(group: np.ndarray, sample: np.ndarray, samples: Samples, n_groups: int) -> pd.DataFrame:
    """Statistics of the samples of each group.

    Parameters
    ----------
    group : numpy.ndarray
        Group code (0 … n_groups-1) of each membership.
    sample : numpy.ndarray
        Sample position of each membership (same length as ``group``).
    samples : Samples
        Coded samples.
    n_groups : int
        Number of groups.

    Returns
    -------
    pandas.DataFrame
        One row per group (index = group code) with :data:`STAT_COLUMNS`; groups without samples
        have zero counts and missing values.
    """
    group = np.asarray(group, dtype="int64")
    n_samples = np.bincount(group, minlength=n_groups).astype("int64")
    n_weak = np.bincount(group, weights=samples.weak[sample], minlength=n_groups).round().astype("int64")
    n_no_service = np.bincount(group, weights=samples.no_service[sample], minlength=n_groups).round().astype("int64")
    device = samples.device[sample]
    day = samples.day[sample]
    n_devices = _distinct_per_group(group, device, device >= 0, n_groups)
    n_days = _distinct_per_group(group, day, day != _NO_DAY, n_groups)
    first_day, last_day = _day_range(group, day, n_groups)
    median_signal, p10_signal = group_quantiles(group, samples.signal_dbm[sample], n_groups, [0.5, 0.1])
    (median_dl,) = group_quantiles(group, samples.dl_kbps[sample], n_groups, [0.5])
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_samples > 0, n_no_service / np.maximum(n_samples, 1), np.nan)
    return pd.DataFrame(
        {
            "n_samples": n_samples,
            "n_weak": n_weak,
            "n_no_service": n_no_service,
            "n_devices": n_devices,
            "n_days": n_days,
            "first_date": _day_to_date(first_day).to_numpy(),
            "last_date": _day_to_date(last_day).to_numpy(),
            "median_signal_dbm": median_signal,
            "p10_signal_dbm": p10_signal,
            "no_service_share": share,
            "median_dl_kbps": median_dl,
        }
    )


@dataclass(frozen=True)
class CellStatistics:
    """Statistics per view × cell that has samples.

    Attributes
    ----------
    views : pandas.DataFrame
        From :func:`build_views`.
    key : numpy.ndarray
        ``view * n_cells + cell`` of each row of :attr:`table` (sorted).
    table : pandas.DataFrame
        ``view``, ``cell`` and :data:`STAT_COLUMNS`.
    member_sample, member_key : numpy.ndarray or None
        Memberships behind the table when an engine kept them (the Dask engine keeps those of the
        weak cells); the gap step recomputes what it needs from the samples otherwise.
    """

    views: pd.DataFrame
    key: np.ndarray
    table: pd.DataFrame
    member_sample: np.ndarray | None = None
    member_key: np.ndarray | None = None


#: Largest dense base-view × cell × value tables (entries) :func:`cell_statistics` builds: presence
#: tables (booleans, devices and days) and value histograms (counts). A statistic whose table would
#: be larger is computed over the memberships of its samples instead.
_PRESENCE_LIMIT = 250_000_000
_HISTOGRAM_LIMIT = 40_000_000


def _base_groups(samples: Samples, views: pd.DataFrame) -> tuple[np.ndarray, int, list[tuple[int, int]]]:
    """Split the samples into base groups that every view is a union of.

    Each sample is in exactly one *base view*: its technology view (known technology), its
    operator's "no service, technology unknown" view, or its operator's "other, technology unknown"
    view (codes ``n_views + operator`` and ``n_views + n_operators + operator``). A view is the
    union of base views (same cell): a technology view = itself + its operator's no-service
    unknowns; an ``any`` view = all its operator's base views; the ``all`` view = those of every
    Vietnamese operator (:func:`membership_parts` says the same per sample).

    Returns
    -------
    tuple
        Base view per sample, number of base views, and the ``(base view, view)`` edges.
    """
    n_tech = len(TECHNOLOGIES)
    n_views = len(views)
    n_operators = len(samples.operators)
    kind = views["kind"].to_numpy(object)
    operator_code = views["operator_code"].to_numpy("int64")
    tech = views[kind == "technology"]
    lookup = np.full(max(n_operators, 1) * n_tech, -1, dtype="int64")
    lookup[tech["operator_code"].to_numpy() * n_tech + tech["technology_code"].to_numpy()] = tech["view"].to_numpy()
    operator = samples.operator.astype("int64")
    technology = samples.technology.astype("int64")
    known = technology >= 0
    unknown_base = np.where(samples.no_service, n_views, n_views + n_operators) + operator
    base = np.where(known, lookup[operator * n_tech + np.maximum(technology, 0)], unknown_base)
    all_view = int(np.flatnonzero(kind == "all")[0])
    edges: list[tuple[int, int]] = []
    for code, name in enumerate(samples.operators):  # a loop over operators and their views
        own = np.flatnonzero((kind == "technology") & (operator_code == code))
        blind, other = n_views + code, n_views + n_operators + code
        for view in own:
            edges += [(int(view), int(view)), (blind, int(view))]
        sources = [*map(int, own), blind, other]
        any_view = int(np.flatnonzero((kind == "operator") & (operator_code == code))[0])
        edges += [(source, any_view) for source in sources]
        if name in OPERATOR_IDS:
            edges += [(source, all_view) for source in sources]
    return base, n_views + 2 * n_operators, edges


def _lift(base: np.ndarray, plan: list[tuple[slice, np.ndarray]], n_rows: int) -> np.ndarray:
    """Add (or, for booleans, OR) the base groups' table rows into the view × cell rows.

    ``plan`` holds, per (base view, view) edge, the base rows of that base view and the view × cell
    rows they go to (distinct within an edge); a loop over edges, not over cells.
    """
    out = np.zeros((n_rows, *base.shape[1:]), dtype=base.dtype)
    for rows, targets in plan:
        if base.dtype == bool:
            out[targets] |= base[rows]
        else:
            out[targets] += base[rows]
    return out


def _whole_codes(values: np.ndarray) -> tuple[np.ndarray, int, float] | None:
    """Integer codes ``values - min`` when the finite values are whole numbers in a small range."""
    if len(values) == 0:
        return np.zeros(0, dtype="int64"), 1, 0.0
    low, high = float(values.min()), float(values.max())
    if high - low >= 1_000_000 or not np.array_equal(values, np.round(values)):
        return None
    return (values - low).astype("int64"), int(high - low) + 1, low


def _histogram_quantiles(histogram: np.ndarray, low: float, quantiles: list[float]) -> list[np.ndarray]:
    """Quantiles (linear interpolation) of each row of a ``(groups, codes)`` value histogram."""
    cumulative = np.cumsum(histogram, axis=1, dtype="int64")
    n = cumulative[:, -1] if cumulative.shape[1] else np.zeros(len(histogram), dtype="int64")
    out = [np.full(len(histogram), np.nan) for _ in quantiles]
    rows = np.flatnonzero(n > 0)
    cumulative, n = cumulative[rows], n[rows]

    def value_at(rank: np.ndarray) -> np.ndarray:
        return (cumulative <= rank[:, None]).sum(axis=1) + low  # codes holding fewer than rank+1 values

    for slot, quantile in enumerate(quantiles):
        position = (n - 1) * quantile
        below = np.floor(position).astype("int64")
        above = np.minimum(below + 1, n - 1)
        value_below, value_above = value_at(below), value_at(above)
        out[slot][rows] = value_below + (value_above - value_below) * (position - below)
    return out


def _members_of(
    samples: Samples, views: pd.DataFrame, n_cells: int, subset: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(view * n_cells + cell, sample position)`` of the memberships of the samples in ``subset``."""
    keys, positions = [np.zeros(0, "int64")], [np.zeros(0, "int64")]
    for sample, view in membership_parts(samples, views):
        keep = subset[sample]
        keys.append(view[keep] * n_cells + samples.cell[sample[keep]])
        positions.append(sample[keep])
    return np.concatenate(keys), np.concatenate(positions)


def cell_statistics(samples: Samples, n_cells: int) -> CellStatistics:
    """Aggregate the samples per view × cell.

    Every sample is counted once, in its base group (:func:`_base_groups`): per base view × cell
    counts, device and day presence tables and value histograms are built in one pass over the
    samples, and each view's are the sum (or union) of its base views'. The result equals
    :func:`group_statistics` over the :func:`memberships`, without the three memberships per
    sample. A statistic whose dense table would be too large (many devices, continuous values)
    is computed over the memberships of the samples it needs.

    Parameters
    ----------
    samples : Samples
        Coded samples.
    n_cells : int
        Number of grid cells.

    Returns
    -------
    CellStatistics
    """
    views = build_views(samples)
    n_views = len(views)
    size = n_views * n_cells
    base_view, n_base, edges = _base_groups(samples, views)
    base_key = base_view * n_cells + samples.cell
    # Number the occupied base view × cells and the occupied view × cells: the tables below have
    # one row per occupied group, not per grid cell.
    occupied = np.bincount(base_key, minlength=n_base * n_cells) > 0
    base_keys = np.flatnonzero(occupied)
    base_row = (np.cumsum(occupied) - 1)[base_key]
    n_base_rows = len(base_keys)
    target = np.zeros(size, dtype=bool)
    starts = np.searchsorted(base_keys, np.arange(n_base + 1) * n_cells)
    for source, view in edges:
        target[view * n_cells + base_keys[starts[source] : starts[source + 1]] - source * n_cells] = True
    keys = np.flatnonzero(target).astype("int64")
    row_of_key = np.full(size, -1, dtype="int64")
    row_of_key[keys] = np.arange(len(keys))
    plan = [
        (
            slice(starts[source], starts[source + 1]),
            row_of_key[view * n_cells + base_keys[starts[source] : starts[source + 1]] - source * n_cells],
        )
        for source, view in edges
    ]

    def counted(mask: np.ndarray | None) -> np.ndarray:
        rows = base_row if mask is None else base_row[mask]
        return _lift(np.bincount(rows, minlength=n_base_rows), plan, len(keys))

    n = counted(None)
    n_weak = counted(samples.weak)
    n_no_service = counted(samples.no_service)

    def presence(codes: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, int, int] | None:
        """``(occupied view × cells, span)`` table: was code c (minus the lowest) seen there?"""
        if not valid.any():
            return np.zeros((len(keys), 1), dtype=bool), 1, 0
        low = int(codes[valid].min())
        span = int(codes[valid].max()) - low + 1
        if n_base_rows * span > _PRESENCE_LIMIT:
            return None
        seen = np.zeros(n_base_rows * span, dtype=bool)
        seen[base_row[valid] * span + (codes[valid] - low)] = True
        return _lift(seen.reshape(n_base_rows, span), plan, len(keys)), span, low

    def distinct(codes: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, tuple | None]:
        table = presence(codes, valid)
        if table is not None:
            return table[0].sum(axis=1, dtype="int64"), table
        member_key, sample = _members_of(samples, views, n_cells, valid)
        return _distinct_per_group(member_key, codes[sample], valid[sample], size)[keys], None

    n_devices, _ = distinct(samples.device, samples.device >= 0)
    n_days, day_table = distinct(samples.day, samples.day != _NO_DAY)
    if day_table is not None:
        seen, span, low = day_table
        any_day = seen.any(axis=1)
        first_day = np.where(any_day, seen.argmax(axis=1) + low, _NO_DAY)
        last_day = np.where(any_day, span - 1 - seen[:, ::-1].argmax(axis=1) + low, _NO_DAY)
    else:
        known_day = samples.day != _NO_DAY
        member_key, sample = _members_of(samples, views, n_cells, known_day)
        first_day, last_day = (day[keys] for day in _day_range(member_key, samples.day[sample], size))

    def quantiles(values: np.ndarray, wanted: list[float]) -> list[np.ndarray]:
        finite = np.isfinite(values)
        coded = _whole_codes(values[finite])
        if coded is not None and n_base_rows * coded[1] <= _HISTOGRAM_LIMIT:
            code, n_codes, low = coded
            counts = np.bincount(base_row[finite] * n_codes + code, minlength=n_base_rows * n_codes)
            return _histogram_quantiles(
                _lift(counts.astype("int32").reshape(n_base_rows, n_codes), plan, len(keys)), low, wanted
            )
        member_key, sample = _members_of(samples, views, n_cells, finite)
        return [column[keys] for column in group_quantiles(member_key, values[sample], size, wanted)]

    median_signal, p10_signal = quantiles(samples.signal_dbm, [0.5, 0.1])
    (median_dl,) = quantiles(samples.dl_kbps, [0.5])
    with np.errstate(invalid="ignore", divide="ignore"):
        share = n_no_service / np.maximum(n, 1)
    table = pd.DataFrame(
        {
            "view": (keys // n_cells).astype("int64"),
            "cell": (keys % n_cells).astype("int64"),
            "n_samples": n.astype("int64"),
            "n_weak": n_weak.astype("int64"),
            "n_no_service": n_no_service.astype("int64"),
            "n_devices": n_devices.astype("int64"),
            "n_days": n_days.astype("int64"),
            "first_date": _day_to_date(first_day).to_numpy(),
            "last_date": _day_to_date(last_day).to_numpy(),
            "median_signal_dbm": median_signal,
            "p10_signal_dbm": p10_signal,
            "no_service_share": share,
            "median_dl_kbps": median_dl,
        }
    )
    return CellStatistics(views, keys, table)
