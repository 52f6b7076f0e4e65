"""The 2025 units: Đắk Nông's old communes in the 28 units of the new Lâm Đồng province.

Since 2025-07-01 Đắk Nông's communes belong to Lâm Đồng province and were merged into new
commune-level units (districts were abolished). The reference boundaries carry, for each old
commune, the new unit that absorbed it in the field ``unit_2025`` (``"24615 Phường Nam Gia
Nghĩa"``: the new unit's code, then its name), compiled from the dvhcvn 2025-07-01 split list.

**Old communes are mapped whole**: where a resolution split an old commune between two new units,
the whole old commune (its people, gaps and villages) is counted in the one unit the list names.
:data:`MAPPED_WHOLE_NOTE` says so in every output that uses the new units.
"""

from __future__ import annotations

import re

import pandas as pd

from lomsong._text import nfc
from lomsong.errors import UnitMappingError

UNIT_FIELD = "unit_2025"

#: The note every output in 2025 units carries (language → text).
MAPPED_WHOLE_NOTE = {
    "vi": (
        "Đơn vị hành chính mới (tỉnh Lâm Đồng, từ 01/07/2025): mỗi xã, phường, thị trấn cũ được gán "
        "trọn vẹn vào một đơn vị mới theo danh sách sắp xếp năm 2025; phần xã cũ được chia cho đơn vị "
        "khác (nếu có) không được tách riêng."
    ),
    "en": (
        "New administrative units (Lâm Đồng province, from 2025-07-01): each old commune is mapped whole "
        "to one new unit following the 2025 reorganisation list; parts of an old commune that went to "
        "another unit (if any) are not split off."
    ),
}

_UNIT_PATTERN = re.compile(r"^\s*(\d{5})\s+(\S.*?)\s*$")


def parse_unit(text: str) -> tuple[str, str]:
    """Split a ``unit_2025`` value into the new unit's code and name.

    Parameters
    ----------
    text : str
        E.g. ``"24717  Xã Đức An"`` (runs of spaces are collapsed, the name NFC-normalised).

    Returns
    -------
    tuple of str
        ``(code, name)``, e.g. ``("24717", "Xã Đức An")``.

    Raises
    ------
    UnitMappingError
        When the value is not a five-digit code followed by a name.
    """
    match = _UNIT_PATTERN.match(str(text)) if isinstance(text, str) else None
    if not match:
        raise UnitMappingError(f"unit_2025 value {text!r}: expected a 5-digit code and a name")
    return match.group(1), nfc(" ".join(match.group(2).split()))


def unit_mapping(communes: pd.DataFrame) -> pd.DataFrame:
    """Return the mapping of every old commune to its 2025 unit.

    Parameters
    ----------
    communes : pandas.DataFrame
        Canonical commune table with ``unit_2025`` (the bundled boundaries have it).

    Returns
    -------
    pandas.DataFrame
        One row per old commune: ``commune_code, commune, district_code, district, unit_code,
        unit`` (``unit`` is the new unit's name).

    Raises
    ------
    UnitMappingError
        When the field is missing, empty or malformed for a commune (named in the message), or a
        code is given two names.
    """
    if UNIT_FIELD not in communes:
        raise UnitMappingError(
            f"the commune table has no {UNIT_FIELD} field: the 2025 units need the bundled boundaries "
            "(or a layer with that field, e.g. '24615 Phường Nam Gia Nghĩa')"
        )
    table = pd.DataFrame(communes[["commune_code", "commune", "district_code", "district", UNIT_FIELD]]).copy()
    values = table[UNIT_FIELD].astype("string").str.strip()
    parts = values.str.extract(r"^(\d{5})\s+(\S.*)$")
    bad = parts[0].isna().to_numpy(bool, na_value=True)
    if bad.any():
        examples = [f"{code} ({value!r})" for code, value in zip(table["commune_code"][bad], values[bad], strict=True)]
        raise UnitMappingError(f"{UNIT_FIELD}: no '<code> <name>' value for commune(s) {', '.join(examples[:10])}")
    table["unit_code"] = parts[0].astype(str)
    table["unit"] = parts[1].str.split().str.join(" ").map(nfc).astype(str)
    names = table.groupby("unit_code")["unit"].nunique()
    if (names > 1).any():
        code = names.index[names > 1][0]
        raise UnitMappingError(
            f"{UNIT_FIELD}: unit {code} has several names: {sorted(set(table.loc[table.unit_code == code, 'unit']))}"
        )
    return table.drop(columns=UNIT_FIELD).reset_index(drop=True)


def _weighted(frame: pd.DataFrame, value: str, weight: str, by: list[str]) -> pd.Series:
    """Weighted mean of ``value`` per group (0 weight everywhere → plain mean)."""
    weights = frame[weight].astype(float).fillna(0.0)
    products = frame[value].astype(float) * weights
    totals = pd.DataFrame({"p": products, "w": weights, "v": frame[value].astype(float)}).join(frame[by])
    grouped = totals.groupby(by)
    sums = grouped[["p", "w"]].sum()
    return (sums["p"] / sums["w"]).where(sums["w"] > 0, grouped["v"].mean())


def summarise_units(
    commune_summary: pd.DataFrame,
    mapping: pd.DataFrame,
    gaps: pd.DataFrame | None = None,
    commune_area_km2: pd.Series | None = None,
) -> pd.DataFrame:
    """Aggregate a commune summary to the 2025 units (old communes mapped whole).

    Parameters
    ----------
    commune_summary : pandas.DataFrame
        :data:`lomsong.tables.results.COMMUNE_SUMMARY_SCHEMA` rows (any views).
    mapping : pandas.DataFrame
        :func:`unit_mapping`.
    gaps : pandas.DataFrame, optional
        Gap table; when given, ``n_gaps`` counts distinct gaps touching the unit (a gap over two
        old communes of one unit counts once) and the largest gap is recomputed per unit from each
        gap's ``commune_codes``/``commune_population``. Without it ``n_gaps`` is the sum over the
        old communes (an upper bound).
    commune_area_km2 : pandas.Series, optional
        Area of each old commune (index ``commune_code``), to weight ``share_area_with_data``;
        without it that share is weighted by population.

    Returns
    -------
    pandas.DataFrame
        One row per unit and view: ``unit_code, unit, operator, technology, n_old_communes,
        old_communes`` (names, ';'-joined), ``population, people_in_gaps, share_people_covered,
        share_people_no_data, share_area_with_data, n_gaps, largest_gap_id,
        largest_gap_population`` (and ``people_predicted_weak``, ``people_uncertain`` when the
        summary has the radio map's columns). Population is conserved: each unit's population is the sum of
        its old communes'.
    """
    view = ["operator", "technology"]
    unknown = set(commune_summary["commune_code"].astype(str)) - set(mapping["commune_code"].astype(str))
    if unknown:
        raise UnitMappingError(f"commune summary: commune(s) {sorted(unknown)[:10]} have no 2025 unit in the mapping")
    table = pd.DataFrame(commune_summary).copy()
    table["commune_code"] = table["commune_code"].astype(str)
    lookup = mapping.assign(commune_code=mapping["commune_code"].astype(str)).set_index("commune_code")
    table["unit_code"] = table["commune_code"].map(lookup["unit_code"])
    table["unit"] = table["commune_code"].map(lookup["unit"])
    if commune_area_km2 is not None:
        table["_area"] = table["commune_code"].map(commune_area_km2.rename(index=str)).astype(float)
    else:
        table["_area"] = table["population"].astype(float)
    by = ["unit_code", "unit", *view]
    grouped = table.groupby(by)
    units = grouped.agg(
        n_old_communes=("commune_code", "nunique"),
        old_communes=("commune", lambda names: ";".join(sorted(dict.fromkeys(map(str, names))))),
        population=("population", "sum"),
        people_in_gaps=("people_in_gaps", "sum"),
    )
    units["share_people_covered"] = _weighted(table, "share_people_covered", "population", by)
    units["share_people_no_data"] = _weighted(table, "share_people_no_data", "population", by)
    units["share_area_with_data"] = _weighted(table, "share_area_with_data", "_area", by)
    units["n_gaps"] = grouped["n_gaps"].sum()
    for predicted in ("people_predicted_weak", "people_uncertain"):  # radio map: people add up
        if predicted in table:
            units[predicted] = grouped[predicted].sum()
    units["largest_gap_id"] = pd.NA
    units["largest_gap_population"] = 0.0
    if gaps is not None and len(gaps):
        per_unit = gap_people_by_unit(gaps, mapping)
        counts = per_unit.groupby(["unit_code", *view])["gap_id"].nunique()
        largest = per_unit.sort_values("people", ascending=False).drop_duplicates(["unit_code", *view])
        largest = largest.set_index(["unit_code", *view])
        key = units.index.droplevel("unit")
        units["n_gaps"] = counts.reindex(key).fillna(0).astype(int).to_numpy()
        units["largest_gap_id"] = largest["gap_id"].reindex(key).to_numpy()
        units["largest_gap_population"] = largest["people"].reindex(key).fillna(0.0).to_numpy()
    return units.reset_index()


def gap_people_by_unit(gaps: pd.DataFrame, mapping: pd.DataFrame) -> pd.DataFrame:
    """Return the people of each gap inside each 2025 unit it touches.

    Parameters
    ----------
    gaps : pandas.DataFrame
        Gap table with ``commune_codes`` and ``commune_population`` (';'-joined, same order).
    mapping : pandas.DataFrame
        :func:`unit_mapping`.

    Returns
    -------
    pandas.DataFrame
        ``gap_id, operator, technology, unit_code, unit, people``.
    """
    pieces = pd.DataFrame(
        {
            "gap_id": gaps["gap_id"].astype(str).to_numpy(),
            "operator": gaps["operator"].astype(str).to_numpy(),
            "technology": gaps["technology"].astype(str).to_numpy(),
            "commune_code": gaps["commune_codes"].astype(str).str.split(";").to_numpy(),
            "people": gaps["commune_population"].astype(str).str.split(";").to_numpy(),
        }
    )
    lengths_match = pieces["commune_code"].str.len() == pieces["people"].str.len()
    if not lengths_match.all():
        first = pieces.loc[~lengths_match, "gap_id"].iloc[0]
        raise ValueError(f"gap table: gap {first} has different numbers of commune_codes and commune_population")
    pieces = pieces.explode(["commune_code", "people"], ignore_index=True)
    pieces["people"] = pd.to_numeric(pieces["people"], errors="coerce").fillna(0.0)
    lookup = mapping.assign(commune_code=mapping["commune_code"].astype(str)).set_index("commune_code")
    pieces["unit_code"] = pieces["commune_code"].str.strip().map(lookup["unit_code"])
    pieces["unit"] = pieces["commune_code"].str.strip().map(lookup["unit"])
    pieces = pieces.dropna(subset=["unit_code"])
    return pieces.groupby(["gap_id", "operator", "technology", "unit_code", "unit"], as_index=False)["people"].sum()


def unit_of_communes(codes: pd.Series, mapping: pd.DataFrame) -> pd.DataFrame:
    """Return the 2025 unit (``unit_code``, ``unit``) of each old commune code (NA when unknown)."""
    lookup = mapping.assign(commune_code=mapping["commune_code"].astype(str)).set_index("commune_code")
    text = codes.astype("string")
    return pd.DataFrame(
        {"unit_code": text.map(lookup["unit_code"]).to_numpy(), "unit": text.map(lookup["unit"]).to_numpy()},
        index=codes.index,
    )


#: Columns every gap list and commune summary carries beside the 2019 commune.
UNIT_CODE_COLUMN = "unit_2025_code"
UNIT_NAME_COLUMN = "unit_2025"


def unit_lookup(communes: pd.DataFrame) -> pd.DataFrame:
    """Return ``unit_2025_code`` and ``unit_2025`` per old commune code (index ``commune_code``).

    Unlike :func:`unit_mapping` this never raises: a commune layer without the ``unit_2025``
    field (a user's own layer) or with a malformed value gives NA for those communes, so the
    analysis still runs and the outputs say the new unit is unknown.

    Parameters
    ----------
    communes : pandas.DataFrame
        Commune table with ``commune_code`` and, when known, ``unit_2025``.

    Returns
    -------
    pandas.DataFrame
        Index ``commune_code`` (str), columns ``unit_2025_code``, ``unit_2025`` (string dtype).
    """
    codes = communes["commune_code"].astype(str).to_numpy(object)
    if UNIT_FIELD in communes:
        parts = communes[UNIT_FIELD].astype("string").str.strip().str.extract(r"^(\d{5})\s+(\S.*)$")
        unit_code = parts[0].astype("string")
        unit = parts[1].str.split().str.join(" ").map(nfc, na_action="ignore").astype("string")
    else:
        unit_code = unit = pd.Series(pd.NA, index=communes.index, dtype="string")
    table = pd.DataFrame(
        {UNIT_CODE_COLUMN: unit_code.to_numpy(), UNIT_NAME_COLUMN: unit.to_numpy()},
        index=pd.Index(codes, name="commune_code"),
    ).astype("string")
    return table[~table.index.duplicated()]


def add_unit_columns(table: pd.DataFrame, communes: pd.DataFrame, *, after: str = "commune") -> pd.DataFrame:
    """Return ``table`` with ``unit_2025_code`` and ``unit_2025`` of its ``commune_code``, after ``after``.

    Parameters
    ----------
    table : pandas.DataFrame
        Any table with a ``commune_code`` column (gap list, commune summary, village list).
    communes : pandas.DataFrame
        Commune table (see :func:`unit_lookup`).
    after : str
        Column after which the two columns go (kept beside the 2019 commune).

    Returns
    -------
    pandas.DataFrame
        A copy; existing unit columns are replaced.
    """
    lookup = unit_lookup(communes)
    out = table.drop(columns=[UNIT_CODE_COLUMN, UNIT_NAME_COLUMN], errors="ignore").copy()
    codes = out["commune_code"].astype("string")
    position = out.columns.get_loc(after) + 1 if after in out.columns else len(out.columns)
    out.insert(position, UNIT_CODE_COLUMN, codes.map(lookup[UNIT_CODE_COLUMN]).astype("string").to_numpy())
    out.insert(position + 1, UNIT_NAME_COLUMN, codes.map(lookup[UNIT_NAME_COLUMN]).astype("string").to_numpy())
    return out


def dissolve_units(communes: pd.DataFrame) -> pd.DataFrame:
    """Return the 2025 units as polygons dissolved from the old communes (mapped whole).

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        Commune polygons with ``unit_2025`` (the bundled boundaries).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per unit, in the communes' CRS: ``unit_code, unit, n_old_communes,
        old_communes`` (names, ';'-joined), ``old_commune_codes``, ``population`` (when the
        communes have it), ``geometry``; sorted by code.

    Raises
    ------
    UnitMappingError
        As :func:`unit_mapping`.
    """
    import geopandas as gpd

    mapping = unit_mapping(communes)
    shapes = gpd.GeoDataFrame(
        mapping[["unit_code", "unit", "commune_code", "commune"]],
        geometry=communes.geometry.to_numpy(),
        crs=communes.crs,
    )
    if "population" in communes:
        shapes["population"] = communes["population"].astype(float).to_numpy()
    aggregations: dict[str, tuple[str, object]] = {
        "n_old_communes": ("commune_code", "nunique"),
        "old_communes": ("commune", lambda names: ";".join(map(str, names))),
        "old_commune_codes": ("commune_code", lambda codes: ";".join(map(str, codes))),
    }
    if "population" in shapes:
        aggregations["population"] = ("population", "sum")
    attributes = pd.DataFrame(shapes.drop(columns="geometry")).groupby(["unit_code", "unit"]).agg(**aggregations)
    outlines = shapes[["unit_code", "unit", "geometry"]].dissolve(by=["unit_code", "unit"])
    units = gpd.GeoDataFrame(attributes.join(outlines), geometry="geometry", crs=communes.crs).reset_index()
    units["geometry"] = units.geometry.make_valid()
    return units.sort_values("unit_code").reset_index(drop=True)


__all__ = [
    "MAPPED_WHOLE_NOTE",
    "UNIT_CODE_COLUMN",
    "UNIT_FIELD",
    "UNIT_NAME_COLUMN",
    "add_unit_columns",
    "dissolve_units",
    "UnitMappingError",
    "gap_people_by_unit",
    "parse_unit",
    "summarise_units",
    "unit_lookup",
    "unit_mapping",
    "unit_of_communes",
]
