"""Commitments files (CSV or XLSX): the sites operators committed to build, and by which month.

Columns (header names are matched without case or accents; Vietnamese headers too):

============== ================================== ==========================================
column         also accepted                      value
============== ================================== ==========================================
operator       nha_mang                           Viettel, VinaPhone/VNPT, MobiFone, …
site_id        ma_tram, candidate_id, id          the operator's site id or a plan's candidate_id
lon, lat       kinh_do, vi_do, longitude, …       position (EPSG:4326); optional with a site_id
technology     cong_nghe                          2G, 3G, 4G or 5G
planned_month  thang, thang_du_kien, month        YYYY-MM (also MM/YYYY or a date: its month)
note           ghi_chu                            optional free text
============== ================================== ==========================================

Each row needs a ``site_id`` or a position (both may be given). A commitments file is small and
hand-made, so a bad row stops the read with a one-line :class:`lomsong.errors.CommitmentError`
naming the file, the row (as the spreadsheet numbers it, header = 1) and the field. Lines of a CSV
starting with ``#`` are comments (the demo file says SYNTHETIC there).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from lomsong._text import fold
from lomsong.errors import CommitmentError
from lomsong.operators import operator_from_name
from lomsong.settings import TECHNOLOGIES
from lomsong.tables.commitments import COMMITMENT_COLUMNS, commitment_ids, conform_commitments

#: Canonical column → accepted header names (folded: lower case, no accents, ``_`` for spaces).
ALIASES: dict[str, tuple[str, ...]] = {
    "operator": ("operator", "nha_mang", "nhamang", "network"),
    "site_id": ("site_id", "ma_tram", "candidate_id", "id", "site"),
    "lon": ("lon", "longitude", "lng", "kinh_do", "x"),
    "lat": ("lat", "latitude", "vi_do", "y"),
    "technology": ("technology", "cong_nghe", "tech"),
    "planned_month": ("planned_month", "thang_du_kien", "thang", "month", "planned", "ke_hoach"),
    "note": ("note", "ghi_chu", "notes", "remark"),
}
REQUIRED = ("operator", "technology", "planned_month")
#: Vietnam's bounding box with a margin, as for site lists.
VIETNAM_BOX = (101.0, 7.0, 110.5, 24.0)
#: More rows than this is not a list of commitments but something else.
MAX_ROWS = 10_000


def _table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            text = path.read_text(encoding="utf-8-sig")
            # keep comment lines as blank lines, so the spreadsheet's row numbers stay right
            lines = ["" if line.lstrip().startswith("#") else line for line in text.splitlines()]
            first = next((i for i, line in enumerate(lines) if line.strip()), None)
            if first is None:
                raise CommitmentError(f"{path}: the commitments file is empty")
            table = pd.read_csv(
                io.StringIO("\n".join(lines[first:])),
                dtype=str,
                keep_default_na=False,
                sep=None,
                engine="python",
                skip_blank_lines=False,
            )
            table.index = table.index + first  # rows above the header were comments
            return table[~(table == "").all(axis=1)]
        if suffix in (".xlsx", ".xlsm"):
            return pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
    except CommitmentError:
        raise
    except (ValueError, OSError, UnicodeDecodeError, KeyError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CommitmentError(f"{path}: not a readable {suffix[1:].upper()} commitments file ({reason})") from None
    raise CommitmentError(f"{path}: a commitments file must be .csv or .xlsx, got '{path.suffix}'")


def _month(text: pd.Series) -> pd.Series:
    """``YYYY-MM``, ``YYYY/MM``, ``MM/YYYY`` or a date (``2026-10-15``, ``15/10/2026``) → ``YYYY-MM``; else NA."""
    value = text.str.strip()
    out = pd.Series(pd.NA, index=text.index, dtype="string")
    year_first = value.str.extract(r"^(\d{4})[-/.](\d{1,2})(?:[-/.]\d{1,2})?(?:[ T].*)?$")
    month_first = value.str.extract(r"^(?:\d{1,2}[-/.])?(\d{1,2})[-/.](\d{4})$")
    for year, month in ((year_first[0], year_first[1]), (month_first[1], month_first[0])):
        number = pd.to_numeric(month, errors="coerce")
        good = year.notna() & number.between(1, 12) & out.isna()
        out[good] = year[good] + "-" + number[good].astype(int).astype(str).str.zfill(2)
    return out


def read_commitments(path: str | Path) -> pd.DataFrame:
    """Read and validate a commitments file.

    Parameters
    ----------
    path : str or Path
        CSV (UTF-8, header row; comma, semicolon or tab) or XLSX (first sheet).

    Returns
    -------
    pandas.DataFrame
        :data:`lomsong.tables.commitments.COMMITMENT_COLUMNS`; ``lon``/``lat`` are NaN on rows that
        give only a site id (resolve them with the plan or the site list).

    Raises
    ------
    CommitmentError
        Missing file or column, or a bad value (named by row and field).
    """
    path = Path(path)
    if not path.is_file():
        raise CommitmentError(f"{path}: commitments file not found")
    raw = _table(path)
    folded = {fold(str(c)).strip().replace(" ", "_"): c for c in raw.columns}
    columns = {}
    for name, aliases in ALIASES.items():
        found = next((folded[a] for a in aliases if a in folded), None)
        if found is not None:
            columns[name] = found
    missing = [c for c in REQUIRED if c not in columns]
    if "site_id" not in columns and not ("lon" in columns and "lat" in columns):
        missing.append("site_id or lon and lat")
    if missing:
        raise CommitmentError(
            f"{path}: missing column(s) {', '.join(missing)}; a commitments file needs operator, site_id or "
            "lon/lat, technology, planned_month (YYYY-MM)"
        )
    if len(raw) == 0:
        raise CommitmentError(f"{path}: the commitments file has no rows")
    if len(raw) > MAX_ROWS:
        raise CommitmentError(f"{path}: {len(raw):,} rows; a commitments file holds at most {MAX_ROWS:,}")
    text = pd.DataFrame({name: raw[source].astype(str).str.strip() for name, source in columns.items()})
    for name in ALIASES:
        if name not in text:
            text[name] = ""
    row_number = np.asarray(raw.index, dtype="int64") + 2  # header is row 1

    def fail(bad: np.ndarray, field: str, why: str) -> None:
        first = int(np.flatnonzero(bad)[0])
        value = str(text[field].iloc[first])[:40]
        more = f" (and {int(bad.sum()) - 1} more rows)" if bad.sum() > 1 else ""
        header = columns.get(field, field)
        raise CommitmentError(f"{path}: row {row_number[first]}: {header} {value!r} {why}{more}")

    operator = text["operator"].map(operator_from_name)
    if operator.isna().any():
        fail(operator.isna().to_numpy(), "operator", "is not a known operator (Viettel, VinaPhone/VNPT, MobiFone, …)")
    technology = text["technology"].str.upper()
    bad = ~technology.isin(TECHNOLOGIES)
    if bad.any():
        fail(bad.to_numpy(), "technology", f"must be one of {', '.join(TECHNOLOGIES)}")
    month = _month(text["planned_month"])
    if month.isna().any():
        fail(month.isna().to_numpy(), "planned_month", "is not a month YYYY-MM")
    coordinates = {}
    given = (text["lon"] != "") | (text["lat"] != "")
    for field in ("lon", "lat"):
        values = pd.to_numeric(text[field].str.replace(",", ".", regex=False), errors="coerce").to_numpy("float64")
        bad = given.to_numpy() & ~np.isfinite(values)
        if bad.any():
            fail(bad, field, "is not a number")
        coordinates[field] = values
    lon, lat = coordinates["lon"], coordinates["lat"]
    located = np.isfinite(lon) & np.isfinite(lat)
    west, south, east, north = VIETNAM_BOX
    outside = located & ((lon < west) | (lon > east) | (lat < south) | (lat > north))
    if outside.any():
        fail(outside, "lon", "with its lat is outside Vietnam (are lon and lat swapped?)")
    site_id = text["site_id"]
    nowhere = (site_id == "").to_numpy() & ~located
    if nowhere.any():
        fail(nowhere, "site_id", "is empty and the row gives no lon/lat: say which site or where")
    frame = pd.DataFrame(
        {
            "operator": operator.astype("string"),
            "site_id": site_id.astype("string"),
            "lon": np.round(lon, 6),
            "lat": np.round(lat, 6),
            "technology": technology.astype("string"),
            "planned_month": month,
            "note": text["note"].astype("string"),
            "source_row": pd.array(row_number.astype(str), dtype="string"),
        },
        index=text.index,
    )
    frame["commitment_id"] = commitment_ids(frame["operator"], frame["site_id"], lon, lat)
    repeated = frame.duplicated(["commitment_id", "technology"]).to_numpy()
    if repeated.any():
        fail(repeated, "site_id", "is committed twice for the same operator and technology")
    return conform_commitments(frame[COMMITMENT_COLUMNS])


def write_commitments(commitments: pd.DataFrame, path: str | Path, *, comment: str = "") -> Path:
    """Write a commitment table as a file :func:`read_commitments` reads back (CSV or XLSX by suffix).

    Parameters
    ----------
    commitments : pandas.DataFrame
        :data:`COMMITMENT_COLUMNS` (``commitment_id`` and ``source_row`` are not written: the
        reader makes them).
    path : str or Path
        ``.csv`` or ``.xlsx``.
    comment : str
        A first line ``# comment`` (CSV) or a note cell in the last column (XLSX), e.g. SYNTHETIC.
    """
    from lomsong._text import safe_cells

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["operator", "site_id", "lon", "lat", "technology", "planned_month", "note"]
    frame = safe_cells(pd.DataFrame(commitments)[columns])
    if path.suffix.lower() == ".xlsx":
        frame.to_excel(path, index=False, engine="openpyxl")
        return path
    with path.open("w", encoding="utf-8", newline="") as out:
        if comment:
            out.write(f"# {comment}\n")
        frame.to_csv(out, index=False)
    return path
