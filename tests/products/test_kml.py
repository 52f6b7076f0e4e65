"""gaps.kml written as text is the KML simplekml wrote: the same tree of folders, placemarks and styles.

The reference below is the former writer (simplekml, an object per element); the comparison is
benchmarks/compare_runs.py's: the XML trees apart from simplekml's counter ids, a ``styleUrl``
by the style it points to, coordinates by their digits.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import shapely

from benchmarks.compare_runs import kml_differs
from lomsong._text import safe_cell
from lomsong.operators import OPERATOR_COLOURS
from lomsong.products import tables as export
from tests.support.scenes import make_fake_analysis

KML = "{http://www.opengis.net/kml/2.2}"


def _simplekml_writer(gaps, path: Path, synthetic: bool = False) -> Path:
    """The former ``write_gaps_kml``, one simplekml object per element."""
    import simplekml

    frame = export._gap_frame(gaps)
    frame["geometry"] = shapely.orient_polygons(frame.geometry.values)
    kml = simplekml.Kml()
    label = " (DỮ LIỆU MÔ PHỎNG)" if synthetic else ""
    kml.document.name = f"Vùng lõm sóng tỉnh Đắk Nông{label}"
    kml.document.description = export.SYNTHETIC_NOTE_VI if synthetic else "Kết quả phân tích vùng lõm sóng (lomsong)."
    styles = {}
    for operator in frame["operator"].astype(str).unique():
        style = simplekml.Style()
        colour = OPERATOR_COLOURS.get(operator, "#555555")
        style.polystyle.color = export._kml_colour(colour, 0x80)
        style.linestyle.color = export._kml_colour(colour, 0xFF)
        style.linestyle.width = 2
        styles[operator] = style
    records = frame.drop(columns="geometry").astype(object).where(frame.drop(columns="geometry").notna(), None)
    geometries = frame.geometry.values
    for operator, technology in export.view_order(frame):
        folder = kml.newfolder(name=export.view_title(operator, technology) + label)
        mask = ((frame["operator"] == operator) & (frame["technology"] == technology)).to_numpy(bool)
        for index in np.flatnonzero(mask):
            row = records.iloc[index].to_dict()
            name = safe_cell(
                f"#{row['rank']} {row['commune'] or ''}: {export._number_vi(row['population'])} người{label}"
            )
            geometry = geometries[index]
            polygons = list(shapely.get_parts(geometry)) if geometry is not None else []
            container = folder.newmultigeometry(name=name) if len(polygons) != 1 else folder
            for polygon in polygons:
                target = container.newpolygon() if len(polygons) != 1 else folder.newpolygon(name=name)
                target.outerboundaryis = [tuple(c) for c in np.round(polygon.exterior.coords, 6)]
                target.innerboundaryis = [[tuple(c) for c in np.round(r.coords, 6)] for r in polygon.interiors]
                if len(polygons) == 1:
                    target.description = export._gap_description_vi(row)
                    target.style = styles[operator]
            if len(polygons) != 1:
                container.description = export._gap_description_vi(row)
                container.style = styles[operator]
    kml.save(str(path))
    return path


@pytest.fixture(scope="module")
def gaps(communes):
    """The fake run's gaps (a gap with a hole, a two-part gap), hostile names, one gap without geometry."""
    table = make_fake_analysis(communes).gaps.copy()
    table.loc[table.index[0], "commune"] = '=HYPERLINK("http://x") <b>Đắk</b> & "N\'Drót"'
    table.loc[table.index[1], "district"] = "-1+1 ]]> </description>"
    table.loc[table.index[2], "geometry"] = None
    return table


@pytest.mark.parametrize("synthetic", [True, False])
def test_kml_is_the_tree_simplekml_wrote(gaps, tmp_path, synthetic):
    expected = _simplekml_writer(gaps, tmp_path / "simplekml.kml", synthetic)
    got = export.write_gaps_kml(gaps, tmp_path / "gaps.kml", synthetic)
    assert kml_differs(expected, got) is None
    root = ET.parse(got).getroot()
    placemarks = root.findall(f".//{KML}Placemark")
    assert len(placemarks) == len(gaps)
    # every placemark's style resolves, and the hostile name reads back as text, with its apostrophe
    ids = {style.get("id") for style in root.iter(f"{KML}Style")}
    assert {p.find(f"{KML}styleUrl").text.removeprefix("#") for p in placemarks} <= ids
    names = [p.find(f"{KML}name").text for p in placemarks]
    assert any(name.startswith("#1 =HYPERLINK") for name in names) or any("'=HYPERLINK" in n for n in names)
    assert not any(name.startswith("=") for name in names)


def test_the_comparison_sees_a_changed_name_digit_or_hole(gaps, tmp_path):
    path = export.write_gaps_kml(gaps, tmp_path / "gaps.kml", True)
    text = path.read_text(encoding="utf-8")
    changed = {
        "name": text.replace("<name>#1 ", "<name>#9 ", 1),
        "digit": text.replace("<coordinates>", "<coordinates>1", 1),
        "hole": text.replace("<innerBoundaryIs>", "<innerBoundaryIs><LinearRing><coordinates>0,0,0.0</coordinates>"
                             "</LinearRing>", 1),
    }  # fmt: skip
    for what, variant in changed.items():
        assert variant != text, what
        other = tmp_path / f"{what}.kml"
        other.write_text(variant, encoding="utf-8")
        assert kml_differs(path, other), what


def test_a_name_that_looks_like_cdata_reads_back_as_given(gaps, tmp_path):
    # simplekml passed a CDATA section through raw (and pretty-printed it apart); here it is text
    table = gaps.copy()
    table.loc[table.index[0], "commune"] = "Xã <![CDATA[<b>x</b>]]> ]]>"
    root = ET.parse(export.write_gaps_kml(table, tmp_path / "gaps.kml")).getroot()
    names = [p.find(f"{KML}name").text for p in root.iter(f"{KML}Placemark")]
    assert any("Xã <![CDATA[<b>x</b>]]> ]]>:" in name for name in names)
