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


def differences(before: Path, after: Path, *, pages: bool = False) -> list[str]:
    """What differs between two run folders (empty when they hold the same result)."""
    found = []
    names = sorted({p.relative_to(before).as_posix() for p in before.rglob("*") if p.is_file()})
    for name in names:
        left, right = before / name, after / name
        if not right.exists():
            if name.endswith((".csv", ".geojson", ".parquet", ".json")) or (pages and name.endswith(".html")):
                found.append(f"{name}: missing from {after}")
            continue
        if name.endswith(".csv"):
            why = None if left.read_bytes() == right.read_bytes() else "bytes differ"
        elif name.endswith(".geojson"):
            why = _geojson_differs(left, right)
        elif name.endswith(".parquet"):
            why = _parquet_differs(left, right)
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
    tables = sum(1 for p in args.before.rglob("*") if p.suffix in {".csv", ".geojson", ".parquet"})
    verdict = "the same result" if not found else f"{len(found)} differences"
    print(f"{files} files ({tables} tables) compared: {verdict}")
    raise SystemExit(1 if found else 0)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
