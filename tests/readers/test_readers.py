"""Readers: every format loads from a real-looking file; counts are derived independently of the reader."""

from __future__ import annotations

import csv
import gzip
import math
import shutil
import unicodedata
import zipfile
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from lomsong import paths
from lomsong.readers import REGISTRY, ReaderError, detect_format, read_file
from lomsong.readers.ookla import quadkey_to_tile
from lomsong.tables.measurements import CELL_COLUMNS, MEASUREMENT_COLUMNS, SPEED_TILE_COLUMNS
from tests.support import FIXTURES

NOW = pd.Timestamp("2026-11-01", tz="UTC")
# Physical ranges as FORMATS.md states them (deliberately not imported from lomsong.readers.validate).
LEVEL_RANGE = {"2G": (-113, -51), "3G": (-120, -25), "4G": (-140, -44)}
QUAL_RANGE = {"3G": (-24, 0), "4G": (-20, -3)}


def _invariant(report) -> None:
    assert report.rows_read == report.accepted + report.outside_province + sum(report.rejected.values())


# -- G-NetTrack -------------------------------------------------------------------------------


def _expected_gnettrack_counts(path: Path) -> dict:
    """Derive the expected outcome of a G-NetTrack log with the csv module and FORMATS.md's rules."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    header, data = rows[0], [r for r in rows[1:] if any(r)]
    col = {name: i for i, name in enumerate(header)}
    seen, technologies = set(), Counter()
    counts = Counter()
    for record in data:
        tech, level, qual = record[col["NetworkTech"]], record[col["Level"]], record[col["Qual"]]
        if tech == "--":
            reason = None
        elif float(level) in (-200, 0, -999):
            reason = "signal_sentinel"
        else:
            low, high = LEVEL_RANGE[tech]
            reason = None if low <= float(level) <= high else "signal_out_of_range"
        if reason is None:
            key = tuple(record)
            if key in seen:
                reason = "duplicate_row"
            seen.add(key)
        if reason:
            counts[reason] += 1
            continue
        counts["accepted"] += 1
        technologies["--" if tech == "--" else tech] += 1
        if tech in QUAL_RANGE and qual != "-":
            low, high = QUAL_RANGE[tech]
            counts["quality_removed"] += not (low <= float(qual) <= high)
    return {"rows": len(data), "counts": counts, "technologies": technologies}


def test_real_gnettrack_sample_loads_with_exact_counts(communes):
    path = paths.gnettrack_sample_path()
    expected = _expected_gnettrack_counts(path)
    assert expected["rows"] == 2719  # the README's figure
    assert detect_format(path) == "gnettrack"
    result = read_file(path, now=NOW)
    report = result.report
    _invariant(report)
    assert report.rows_read == expected["rows"]
    assert report.accepted == expected["counts"]["accepted"]
    assert report.no_service == expected["technologies"]["--"]
    for reason in ["signal_sentinel", "signal_out_of_range", "duplicate_row"]:
        assert report.rejected.get(reason, 0) == expected["counts"][reason]
    assert report.values_rejected.get("quality_out_of_range", 0) == expected["counts"]["quality_removed"]
    frame = result.measurements
    assert list(frame.columns) == MEASUREMENT_COLUMNS
    by_tech = frame["technology"].fillna("--").value_counts().to_dict()
    assert by_tech == dict(expected["technologies"])
    # one file = one phone; PLMN 60802 is not Vietnamese
    assert frame["device_id"].nunique() == 1 and frame["device_id"].iloc[0] == report.sha256[:16]
    assert set(frame["operator"]) == {"plmn:60802"} and set(frame["plmn"]) == {"60802"}
    # phone local time (Asia/Ho_Chi_Minh, UTC+7): first row 2025.07.18_22.11.08
    assert frame["time"].iloc[0] == pd.Timestamp("2025-07-18 15:11:08", tz="UTC")
    # Dakar is outside Đắk Nông: with the communes, every valid row counts as outside
    inside = read_file(path, communes=communes, now=NOW).report
    assert inside.accepted == 0 and inside.outside_province == expected["counts"]["accepted"]
    _invariant(inside)


def test_gnettrack_quirks_fixture():
    path = FIXTURES / "gnettrack_quirks.txt"
    expected = _expected_gnettrack_counts(path)
    result = read_file(path, now=NOW)
    report = result.report
    _invariant(report)
    assert report.rows_read == expected["rows"] == 10
    assert report.rejected == {
        "missing_coordinates": 1,  # line 10: '-' coordinates
        "signal_sentinel": 1,  # line 11: -200 on a 4G row
        "signal_out_of_range": 2,  # line 3: -340; line 4: 3G RSCP -24
        "duplicate_row": 1,  # line 8 repeats line 7
    }
    assert report.examples["signal_out_of_range"] == [3, 4]
    assert report.values_rejected == {"quality_out_of_range": 1}  # line 9: Ec/No -30
    frame = result.measurements.set_index("source_row")
    assert sorted(frame.index) == [2, 5, 6, 7, 9]
    # the no-service rows take the file's operator and keep no signal
    assert frame.loc[[5, 6], "no_service"].all()
    assert (frame.loc[[5, 6], "operator"] == "viettel").all()
    assert frame.loc[[5, 6], "signal_dbm"].isna().all()
    assert frame.loc[[5, 6], "technology"].isna().all()
    assert np.isnan(frame.loc[9, "quality_db"]) and frame.loc[9, "signal_dbm"] == -85


def test_gnettrack_only_no_service_takes_operator_option(tmp_path):
    source = (FIXTURES / "gnettrack_quirks.txt").read_bytes().split(b"\r\n")
    only_gaps = b"\r\n".join([source[0], source[4], source[5], b""])
    path = tmp_path / "gaps.txt"
    path.write_bytes(only_gaps)
    without = read_file(path, now=NOW).report
    assert without.rejected == {"missing_operator": 2}
    with_option = read_file(path, operator="MobiFone", now=NOW)
    assert with_option.report.accepted == 2
    assert set(with_option.measurements["operator"]) == {"mobifone"}
    assert set(with_option.measurements["plmn"]) == {"45201"}


# -- generic CSV ------------------------------------------------------------------------------

#: bad_rows.csv: line → expected row-level outcome (the fixture's specification).
BAD_ROWS_REJECTED = {
    5: "missing_coordinates",
    6: "unparseable_coordinates",
    7: "coordinates_out_of_range",
    8: "null_island",
    9: "missing_time",
    10: "unparseable_time",
    11: "time_before_2000",
    12: "time_in_future",
    13: "missing_operator",
    14: "unknown_operator",
    15: "unknown_technology",
    16: "missing_technology",
    17: "signal_sentinel",
    18: "signal_out_of_range",
    19: "not_a_number",
    20: "no_measurement",
    21: "duplicate_row",
    30: "malformed_row",
    32: "signal_sentinel",
}
#: Lines kept with one value removed (value-level reason).
BAD_ROWS_VALUES = {
    23: "quality_out_of_range",
    24: "sinr_out_of_range",
    25: "throughput_out_of_range",
    26: "latency_out_of_range",
    27: "not_a_number",
    28: "signal_on_no_service",
    29: "signal_out_of_range",
}
BAD_ROWS_ACCEPTED = [2, 3, 4, 22, 23, 24, 25, 26, 27, 28, 29, 33, 35, 36, 38, 39]


def test_generic_csv_every_bad_row_has_its_reason(communes):
    result = read_file(FIXTURES / "bad_rows.csv", communes=communes, now=NOW)
    report = result.report
    _invariant(report)
    # 36 data rows: the blank line and the delimiter-only line are not rows
    assert report.rows_read == 36
    assert report.rejected == dict(Counter(BAD_ROWS_REJECTED.values()))
    for line, reason in BAD_ROWS_REJECTED.items():
        assert line in report.examples[reason]
    assert report.values_rejected == dict(Counter(BAD_ROWS_VALUES.values()))
    for line, reason in BAD_ROWS_VALUES.items():
        assert report.examples[f"value:{reason}"] == [line]
    assert report.outside_province == 1 and report.examples["outside_province"] == [31]
    assert report.corrected == {"swapped_coordinates": 1} and report.examples["swapped_coordinates"] == [22]
    frame = result.measurements.set_index("source_row")
    assert sorted(frame.index) == BAD_ROWS_ACCEPTED
    assert report.no_service == 2 and sorted(frame.index[frame["no_service"]]) == [4, 28]
    # removed values are missing, the rest of their row is intact
    assert np.isnan(frame.loc[23, "quality_db"]) and frame.loc[23, "signal_dbm"] == -102
    assert np.isnan(frame.loc[24, "sinr_db"]) and frame.loc[24, "quality_db"] == -12
    assert np.isnan(frame.loc[25, "dl_kbps"]) and frame.loc[25, "ul_kbps"] == 800
    assert np.isnan(frame.loc[26, "latency_ms"])
    assert np.isnan(frame.loc[29, "signal_dbm"]) and frame.loc[29, "dl_kbps"] == 5000
    assert np.isnan(frame.loc[28, "signal_dbm"])
    # swapped back; operator from PLMN; alias names; local times
    assert (frame.loc[22, "lon"], frame.loc[22, "lat"]) == (107.74, 12.05)
    assert frame.loc[38, "operator"] == "viettel"
    assert (frame.loc[39, "operator"], frame.loc[39, "plmn"], frame.loc[39, "technology"]) == (
        "vinaphone",
        "45202",
        "4G",
    )
    assert (frame.loc[33, "operator"], frame.loc[33, "plmn"]) == ("vietnamobile", "45205")
    assert frame.loc[35, "time"] == pd.Timestamp("2026-06-01 01:27:00", tz="UTC")
    assert frame.loc[36, "time"] == pd.Timestamp("2026-06-15 07:30:00", tz="UTC")
    assert frame.loc[2, "time"] == pd.Timestamp("2026-06-01 01:00:00", tz="UTC")
    # device ids are pseudonymised, stable within a file
    assert frame.loc[2, "device_id"] == frame.loc[3, "device_id"] != "phone-a"
    assert frame["device_id"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert (frame["source"] == "generic_csv").all() and (frame["source_file"] == "bad_rows.csv").all()


def test_generic_csv_operator_option_fills_missing_operator():
    report = read_file(FIXTURES / "bad_rows.csv", operator="45204", now=NOW).report
    assert "missing_operator" not in report.rejected
    assert report.rejected["unknown_operator"] == 1  # a name nobody knows is not overwritten


_TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"


def _cp1258(text: str) -> bytes:
    """Encode as Windows-1258 does: precomposed where the code page has it, else base + tone mark."""
    out = bytearray()
    for char in text:
        try:
            out += char.encode("cp1258")
        except UnicodeEncodeError:
            decomposed = unicodedata.normalize("NFD", char)
            tones = "".join(mark for mark in decomposed if mark in _TONE_MARKS)
            base = unicodedata.normalize("NFC", "".join(mark for mark in decomposed if mark not in _TONE_MARKS))
            out += base.encode("cp1258") + tones.encode("cp1258")
    return bytes(out)


VIETNAMESE_CSV = (
    "Thời gian;Kinh độ;Vĩ độ;Nhà mạng;Công nghệ;RSRP (dBm);Tốc độ tải xuống;Mất sóng\r\n"
    "01/06/2026 08:00:00;107,69;12,00;Viettel;LTE;-95,5;12000;không\r\n"
    "01/06/2026 08:01:00;107,70;12,01;VinaPhone;WCDMA;-88;;không\r\n"
    "01/06/2026 08:02:00;107,71;12,02;MobiFone;;;;có\r\n"
)


@pytest.mark.parametrize("encoding", ["cp1258", "utf-8-sig", "utf-8"])
def test_generic_csv_vietnamese_headers_semicolon_decimal_comma(tmp_path, encoding):
    path = tmp_path / f"do_song_{encoding}.csv"
    path.write_bytes(_cp1258(VIETNAMESE_CSV) if encoding == "cp1258" else VIETNAMESE_CSV.encode(encoding))
    if encoding == "cp1258":
        with pytest.raises(UnicodeDecodeError):
            path.read_bytes().decode("utf-8")
    assert detect_format(path) == "generic_csv"
    result = read_file(path, now=NOW)
    report = result.report
    assert report.columns["lat"] == "Vĩ độ" and report.columns["dl_kbps"] == "Tốc độ tải xuống"
    assert (report.rows_read, report.accepted, report.no_service) == (3, 3, 1)
    frame = result.measurements
    assert frame["signal_dbm"].tolist()[:2] == [-95.5, -88.0]
    assert frame["lon"].tolist() == [107.69, 107.70, 107.71]
    assert frame["technology"].tolist()[:2] == ["4G", "3G"]
    assert frame["operator"].tolist() == ["viettel", "vinaphone", "mobifone"]
    assert frame["dl_kbps"].iloc[0] == 12000
    assert frame["time"].iloc[0] == pd.Timestamp("2026-06-01 01:00", tz="UTC")


def test_generic_csv_bom_tab_english_aliases_and_mbps(tmp_path):
    text = (
        "# synthetic test file\n"
        "Timestamp\tLatitude\tLongitude\tNetwork\tMCCMNC\tNetwork Type\tRSCP\tEcNo\tDownload_Mbps\tPing\tIMEI\n"
        "2026-06-01T01:00:00Z\t12.00\t107.69\t\t45202\tUMTS\t-90\t-7\t1.5\t45\t356938035643809\n"
        "1780275600\t12.01\t107.70\tMobi\t\tHSPA\t-92\t-30\t2\t50\t356938035643809\n"
    )
    path = tmp_path / "drive_test.tsv"
    path.write_bytes(text.encode("utf-8-sig"))
    result = read_file(path, now=NOW)
    report = result.report
    assert report.synthetic
    assert (report.rows_read, report.accepted) == (2, 2)
    assert report.values_rejected == {"quality_out_of_range": 1}
    frame = result.measurements
    assert frame["dl_kbps"].tolist() == [1500.0, 2000.0]
    assert frame["operator"].tolist() == ["vinaphone", "mobifone"]
    assert frame["time"].iloc[1] == pd.Timestamp(1780275600, unit="s", tz="UTC")
    assert frame["device_id"].nunique() == 1 and "356938035643809" not in frame["device_id"].iloc[0]


def test_generic_csv_infers_technology_from_signal_column(tmp_path):
    path = tmp_path / "rsrp_only.csv"
    path.write_text("time,lat,lon,operator,rsrp\n2026-06-01 08:00,12.0,107.69,viettel,-100\n")
    frame = read_file(path, now=NOW).measurements
    assert frame["technology"].tolist() == ["4G"]


def test_unreadable_files_name_file_line_and_expectation(tmp_path):
    no_lat = tmp_path / "no_lat.csv"
    no_lat.write_text("time,lon,rsrp\n2026-06-01,107.6,-90\n")
    with pytest.raises(ReaderError, match=r"no_lat\.csv: line 1: expected .*(lat|format)"):
        read_file(no_lat, format="generic_csv")
    no_time = tmp_path / "no_time.csv"
    no_time.write_text("lat,lon,rsrp\n12,107.6,-90\n")
    with pytest.raises(ReaderError, match=r"no_time\.csv: line 1: expected a time column"):
        read_file(no_time)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02 nothing useful here\n")
    with pytest.raises(ReaderError, match=r"junk\.bin: line 1: expected a G-NetTrack log"):
        detect_format(junk)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ReaderError, match=r"empty\.csv: line 1: expected data"):
        read_file(empty)
    with pytest.raises(ReaderError, match=r"missing\.csv.*does not exist"):
        read_file(tmp_path / "missing.csv")
    with pytest.raises(ReaderError, match="expected an operator"):
        read_file(FIXTURES / "bad_rows.csv", operator="Telco X")
    with pytest.raises(ReaderError, match="expected a format among"):
        read_file(FIXTURES / "bad_rows.csv", format="excel")


# -- OpenCelliD --------------------------------------------------------------------------------


def test_opencellid_without_header_and_gzipped_with_header(tmp_path, communes):
    plain = FIXTURES / "cells_vn_noheader.csv"
    with_header = tmp_path / "452.csv.gz"
    header = "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal\n"
    with gzip.open(with_header, "wt") as handle:
        handle.write(header + plain.read_text())
    for path, first_line in [(plain, 1), (with_header, 2)]:
        assert detect_format(path) == "opencellid"
        result = read_file(path, communes=communes)
        report = result.report
        _invariant(report)
        assert report.kind == "cells" and result.measurements.empty
        assert report.rows_read == 10
        assert report.rejected == {"unknown_radio": 1, "not_a_number": 1, "null_island": 1, "duplicate_row": 1}
        assert report.examples["unknown_radio"] == [6 + first_line]  # CDMA
        assert report.outside_province == 1  # Hà Nội
        cells = result.cells
        assert list(cells.columns) == CELL_COLUMNS
        assert cells["operator"].tolist() == ["viettel", "vinaphone", "mobifone", "vietnamobile", "viettel"]
        assert cells["technology"].tolist() == ["4G", "4G", "3G", "2G", "5G"]
        assert cells["average_signal_dbm"].isna().tolist() == [True, False, True, False, True]
        assert cells["unit"].isna().tolist() == [False, False, False, True, False]
        assert cells["created"].iloc[0] == pd.Timestamp(1459468800, unit="s", tz="UTC")


# -- Ookla ----------------------------------------------------------------------------------------


def _quadkey(lon: float, lat: float, zoom: int = 16) -> str:
    """The standard Bing-maps tile → quadkey algorithm, written independently of the reader."""
    n = 2**zoom
    x = int((lon + 180) / 360 * n)
    s = math.sin(math.radians(lat))
    y = int((0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * n)
    return "".join(str(((x >> i) & 1) | (((y >> i) & 1) << 1)) for i in range(zoom - 1, -1, -1))


def test_quadkey_decoding_matches_the_standard_algorithm():
    rng = np.random.default_rng(7)
    lons, lats = rng.uniform(102, 110, 200), rng.uniform(8, 23, 200)
    keys = [_quadkey(lon, lat) for lon, lat in zip(lons, lats, strict=True)]
    tiles = quadkey_to_tile(pd.Series(keys))
    assert ((tiles["lon_min"] <= lons) & (lons < tiles["lon_max"])).all()
    assert ((tiles["lat_min"] < lats) & (lats <= tiles["lat_max"])).all()
    assert [_quadkey(lon, lat) for lon, lat in zip(tiles["lon"], tiles["lat"], strict=True)] == keys
    # tiles are ~600 m wide at 12° N
    width_m = (tiles["lon_max"] - tiles["lon_min"]) * 111_320 * np.cos(np.radians(12))
    assert width_m.between(550, 650).all()
    assert quadkey_to_tile(pd.Series(["0123x"]))["lon"].isna().all()


def _ookla_frame() -> pd.DataFrame:
    table = gpd.read_file(FIXTURES / "ookla_tiles.geojson")
    return pd.DataFrame(table.drop(columns="geometry"))


def _check_ookla(path: Path, communes) -> None:
    assert detect_format(path) == "ookla"
    result = read_file(path, communes=communes)
    report = result.report
    _invariant(report)
    assert report.kind == "speed_tiles" and report.rows_read == 7
    assert report.rejected == {"invalid_quadkey": 1, "duplicate_row": 1, "value_out_of_range": 1}
    assert report.outside_province == 1
    tiles = result.speed_tiles
    assert list(tiles.columns) == SPEED_TILE_COLUMNS
    assert tiles["quadkey"].tolist() == ["1322132212210322", "1322132210310221", "1322132212000031"]
    assert tiles["avg_d_kbps"].tolist() == [45210, 8120, 20500]
    # the decoded centre lies in its tile: re-encoding gives the same quadkey
    assert [_quadkey(lon, lat) for lon, lat in zip(tiles["lon"], tiles["lat"], strict=True)] == tiles[
        "quadkey"
    ].tolist()


def test_ookla_geojson(communes):
    _check_ookla(FIXTURES / "ookla_tiles.geojson", communes)


@pytest.mark.parametrize("geometry_column", ["tile", "tiles", None])
def test_ookla_parquet_with_wkt_or_only_quadkey(tmp_path, communes, geometry_column):
    frame = _ookla_frame()
    if geometry_column:
        bounds = quadkey_to_tile(frame["quadkey"])
        boxes = shapely.box(bounds["lon_min"], bounds["lat_min"], bounds["lon_max"], bounds["lat_max"])
        frame[geometry_column] = shapely.to_wkt(boxes)
    path = tmp_path / "2025-01-01_performance_mobile_tiles.parquet"
    frame.to_parquet(path)
    _check_ookla(path, communes)


def test_ookla_zipped_shapefile(tmp_path, communes):
    table = gpd.read_file(FIXTURES / "ookla_tiles.geojson")
    bounds = quadkey_to_tile(table["quadkey"])
    table = table.set_geometry(
        shapely.box(bounds["lon_min"], bounds["lat_min"], bounds["lon_max"], bounds["lat_max"]), crs="EPSG:4326"
    )
    folder = tmp_path / "shp"
    folder.mkdir()
    table.to_file(folder / "gps_mobile_tiles.shp")
    archive = tmp_path / "2025-01-01_performance_mobile_tiles.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for file in folder.iterdir():
            handle.write(file, file.name)
    shutil.rmtree(folder)
    _check_ookla(archive, communes)


def test_registry_names():
    assert set(REGISTRY) == {"generic_csv", "gnettrack", "opencellid", "ookla"}
    for name, reader in REGISTRY.items():
        assert reader.name == name and reader.description
