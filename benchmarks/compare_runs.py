"""Are two run folders the same result? Every table file and every measurement file's report.

    .venv/bin/python benchmarks/compare_runs.py BEFORE AFTER

- CSV files: byte for byte.
- GeoJSON files and Parquet tables: the same rows and values; geometries compared in their
  normalised form (``shapely.normalize``) and areas/lengths to 1e-9 relative. Two runs of the
  same code on the same inputs already differ there: h3ronpy's outlines of the gaps start at
  another vertex from one run to the next (area_km2 then differs at 1e-13).
- ``run.json``: counts, headline figures, population, configuration, data period, the synthetic
  flag and every input's ingest report (rows, reasons, example line numbers). The creation time,
  the stage timings and the versions may differ.
- KML files: the same XML tree, apart from ``id`` attributes (simplekml numbered every element
  from a counter global to the process): a ``styleUrl`` is compared by the style it points to;
  rings by their coordinate texts (the same digits), each read from its smallest point on and the
  holes of a polygon (the polygons of a MultiGeometry) in any order, for the outlines above.
- XLSX workbooks: read back with openpyxl: sheet names and order, every cell's value, number format,
  font, fill and alignment, column widths, freeze panes, autofilter, print titles and page set-up.
- Map pages (``*.html``): with ``--pages``, compared apart from folium's random element ids (only
  meaningful for pages built from the same run folder, because of the outlines above).

Prints one line per difference and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

#: folium names every element with 32 random hex digits.
_ELEMENT_IDS = re.compile(r"[0-9a-f]{32}")
#: Relative tolerance of floating-point values in GeoJSON and Parquet (see the module docstring).
RELATIVE = 1e-9


def _same_value(left: object, right: object) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return (math.isnan(left) and math.isnan(right)) or math.isclose(left, right, rel_tol=RELATIVE, abs_tol=1e-12)
    return left == right


def _geojson_differs(left: Path, right: Path) -> str | None:
    features = [json.loads(path.read_text(encoding="utf-8"))["features"] for path in (left, right)]
    if len(features[0]) != len(features[1]):
        return f"{len(features[0])} features, then {len(features[1])}"
    for number, (a, b) in enumerate(zip(*features, strict=True)):
        if a["properties"].keys() != b["properties"].keys():
            return f"feature {number}: other properties"
        for key, value in a["properties"].items():
            if not _same_value(value, b["properties"][key]):
                return f"feature {number}: {key} {value!r} then {b['properties'][key]!r}"
        shapes = [shapely.normalize(shapely.geometry.shape(f["geometry"])) for f in (a, b)]
        if not shapes[0].equals_exact(shapes[1], tolerance=0):
            return f"feature {number}: another geometry"
    return None


def _parquet_differs(left: Path, right: Path) -> str | None:
    frames = []
    for path in (left, right):
        try:
            frame = gpd.read_parquet(path)
            frame = pd.DataFrame(frame).assign(
                **{frame.geometry.name: shapely.to_wkb(shapely.normalize(frame.geometry.values))}
            )
        except (ValueError, TypeError):  # no geometry column
            frame = pd.read_parquet(path)
        frames.append(frame)
    try:
        pd.testing.assert_frame_equal(*frames, check_exact=False, rtol=RELATIVE, atol=1e-12)
    except AssertionError as exc:
        return str(exc).splitlines()[0]
    return None


def _ring_key(text: str) -> tuple[str, ...]:
    """A closed ring's points as written, read from its smallest point on (where it starts is no result)."""
    points = text.split()
    if len(points) > 1 and points[0] == points[-1]:
        points = points[:-1]
    if not points:
        return ()
    start = min(range(len(points)), key=lambda i: tuple(float(v) for v in points[i].split(",")))
    return (*points[start:], *points[:start], points[start])


def _kml_node(element, styles: dict) -> tuple:
    """An element as a comparable tuple: tag, attributes but ``id``, text, children (see the docstring)."""
    tag = element.tag.rsplit("}", 1)[-1]
    attributes = tuple(sorted((k, v) for k, v in element.attrib.items() if k != "id"))
    text = (element.text or "").strip()
    if tag == "styleUrl":
        target = styles.get(text.removeprefix("#"))
        return (tag, attributes, _kml_node(target, styles) if target is not None else text, ())
    if tag == "coordinates":
        return (tag, attributes, _ring_key(text), ())
    children = [_kml_node(child, styles) for child in element]
    if tag in ("innerBoundaryIs", "MultiGeometry"):
        children.sort(key=repr)
    return (tag, attributes, text, tuple(children))


def kml_differs(left: Path, right: Path) -> str | None:
    """What differs between two KML files as XML trees (see the module docstring), or None."""
    import xml.etree.ElementTree as ET

    trees = []
    for path in (left, right):
        root = ET.parse(path).getroot()
        styles = {e.get("id"): e for e in root.iter() if e.tag.endswith("}Style") and e.get("id")}
        trees.append(_kml_node(root, styles))

    def first_difference(a: tuple, b: tuple, where: str) -> str | None:
        if a[:3] != b[:3]:
            return f"{where}/{a[0]}: {str(a[1:3])[:120]} then {str(b[1:3])[:120]}"
        if len(a[3]) != len(b[3]):
            return f"{where}/{a[0]}: {len(a[3])} elements, then {len(b[3])}"
        for number, (x, y) in enumerate(zip(a[3], b[3], strict=True)):
            found = first_difference(x, y, f"{where}/{a[0]}[{number}]")
            if found:
                return found
        return None

    return first_difference(*trees, "")


def _cell_look(cell) -> tuple:
    font, fill, align = cell.font, cell.fill, cell.alignment
    return (
        cell.value, cell.data_type, cell.number_format, font.b, font.color.rgb if font.color else None,
        fill.fgColor.rgb if fill and fill.fill_type else None, align.wrap_text, align.vertical,
    )  # fmt: skip


def xlsx_differs(left: Path, right: Path) -> str | None:
    """What differs between two workbooks read back with openpyxl (see the module docstring), or None."""
    from openpyxl import load_workbook

    books = [load_workbook(path) for path in (left, right)]
    if books[0].sheetnames != books[1].sheetnames:
        return f"sheets {books[0].sheetnames} then {books[1].sheetnames}"
    for name in books[0].sheetnames:
        a, b = books[0][name], books[1][name]
        setup = [
            (
                s.freeze_panes, s.auto_filter.ref, s.print_title_rows, s.page_setup.orientation,
                s.page_setup.paperSize, s.page_setup.fitToWidth, s.page_setup.fitToHeight,
                s.sheet_properties.pageSetUpPr.fitToPage if s.sheet_properties.pageSetUpPr else None,
                sorted((k, d.width) for k, d in s.column_dimensions.items()), s.max_row, s.max_column,
            )
            for s in (a, b)
        ]  # fmt: skip
        if setup[0] != setup[1]:
            return f"sheet {name!r}: set-up {setup[0]} then {setup[1]}"
        for row_a, row_b in zip(a.iter_rows(), b.iter_rows(), strict=True):
            for cell_a, cell_b in zip(row_a, row_b, strict=True):
                if _cell_look(cell_a) != _cell_look(cell_b):
                    return f"sheet {name!r} {cell_a.coordinate}: {_cell_look(cell_a)} then {_cell_look(cell_b)}"
    return None


def differences(before: Path, after: Path, *, pages: bool = False) -> list[str]:
    """What differs between two run folders (empty when they hold the same result)."""
    found = []
    names = sorted({p.relative_to(before).as_posix() for p in before.rglob("*") if p.is_file()})
    for name in names:
        left, right = before / name, after / name
        if not right.exists():
            compared = (".csv", ".geojson", ".parquet", ".json", ".kml", ".xlsx")
            if name.endswith(compared) or (pages and name.endswith(".html")):
                found.append(f"{name}: missing from {after}")
            continue
        if name.endswith(".csv"):
            why = None if left.read_bytes() == right.read_bytes() else "bytes differ"
        elif name.endswith(".geojson"):
            why = _geojson_differs(left, right)
        elif name.endswith(".parquet"):
            why = _parquet_differs(left, right)
        elif name.endswith(".kml"):
            why = kml_differs(left, right)
        elif name.endswith(".xlsx"):
            why = xlsx_differs(left, right)
        elif name.endswith(".html") and pages:
            same = _ELEMENT_IDS.sub("ID", left.read_text()) == _ELEMENT_IDS.sub("ID", right.read_text())
            why = None if same else "page differs (beyond element ids)"
        else:
            why = None
        if why:
            found.append(f"{name}: {why}")
    meta = [json.loads((folder / "run.json").read_text()) for folder in (before, after)]
    for key in ("counts", "headline", "population", "configuration", "data_period", "synthetic"):
        values = [m.get(key) for m in meta]
        if key == "counts":  # whether the province grid came from the cache is not a result
            values = [{k: v for k, v in (value or {}).items() if k != "grid_cached"} for value in values]
        if json.dumps(values[0], sort_keys=True) != json.dumps(values[1], sort_keys=True):
            found.append(f"run.json {key} differs")
    reports = [[(item.get("sha256"), item.get("ingest")) for item in m["inputs"]] for m in meta]
    if reports[0] != reports[1]:
        found.append("run.json inputs: the ingest reports differ")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--pages", action="store_true", help="compare the map pages too")
    args = parser.parse_args()
    found = differences(args.before, args.after, pages=args.pages)
    for line in found:
        print(line)
    files = sum(1 for p in args.before.rglob("*") if p.is_file())
    tables = sum(1 for p in args.before.rglob("*") if p.suffix in {".csv", ".geojson", ".parquet", ".kml", ".xlsx"})
    verdict = "the same result" if not found else f"{len(found)} differences"
    print(f"{files} files ({tables} tables) compared: {verdict}")
    raise SystemExit(1 if found else 0)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
