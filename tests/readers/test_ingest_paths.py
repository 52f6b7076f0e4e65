"""The fast ingest path (pyarrow, chunks) and the careful path (pandas, whole file) give the same outcome.

Every tricky file is read three ways: careful engine in one chunk (the reference: the pandas parser on
the whole file, as the readers always did), the automatic engine in one chunk, and the automatic
engine in chunks of a few hundred bytes (so that duplicates, examples and line numbers must be carried
across chunk boundaries). Reports must be equal, key order included, and accepted rows identical.
"""

from __future__ import annotations

import gzip
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from lomsong.jobs.ingest import ingest_files
from lomsong.readers import FileReading, read_file
from lomsong.readers import _parse as parse_module
from lomsong.readers._parse import _general_times, parse_numbers, parse_times
from lomsong.readers.validate import ProvinceArea
from lomsong.tables.store import MeasurementStore
from tests.support import FIXTURES

NOW = pd.Timestamp("2026-11-01", tz="UTC")
HEADER = ",".join(
    ["time", "lon", "lat", "operator", "plmn", "technology", "signal_dbm", "quality_db", "sinr_db"]
    + ["dl_kbps", "ul_kbps", "latency_ms", "no_service", "device_id"]
)
GOOD = (
    "2026-06-01T08:{minute:02d}:00+07:00,107.{lon:02d},12.{lat:02d},"
    "viettel,45204,4G,-{signal},-10,5,,,,0,phone-{device}"
)
_TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"


def _good_rows(count: int) -> list[str]:
    return [
        GOOD.format(minute=i % 60, lon=60 + i % 30, lat=i % 90, signal=80 + i % 40, device=i % 7) for i in range(count)
    ]


def _tricky_lines() -> list[str]:
    """Plain rows mixed with every oddity a real file has, and copies of earlier rows far below them."""
    bad = (FIXTURES / "bad_rows.csv").read_text().splitlines()[1:]
    lines = []
    for i, row in enumerate(_good_rows(400)):
        lines.append(row)
        if i % 37 == 0:
            lines.append(bad[i % len(bad)])
        if i % 53 == 0:
            lines.append("")  # blank line: not a row, but it counts for line numbers
        if i % 71 == 0:
            lines.append(",,,,,,,,,,,,,")  # delimiter-only line: not a row either
        if i % 89 == 0:
            lines.append('2026-06-01T09:00:00+07:00,107.70,12.10,"viettel",45204,4G,-95,-10,5,,,,0,"phone, ""x"""')
        if i % 97 == 0:
            lines.append("2026-06-01T09:01:00+07:00,107.70")  # short row
        if i % 101 == 0:
            lines.append(GOOD.format(minute=1, lon=61, lat=1, signal=81, device=1) + ",,")  # empty extra fields
        if i % 103 == 0:
            lines.append(GOOD.format(minute=2, lon=62, lat=2, signal=82, device=2) + ",surplus")
    lines += [lines[0], lines[5], bad[0], "2026-02-30T10:00:00+07:00,107.70,12.10,viettel,45204,4G,-95,,,,,,0,p"]
    return lines


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


def _write_tricky_files(folder: Path) -> list[Path]:
    lines = _tricky_lines()
    body = "\n".join(lines)
    files = {
        "mixed.csv": (HEADER + "\n" + body + "\n").encode(),
        "mixed_crlf.csv": (HEADER + "\r\n" + "\r\n".join(lines) + "\r\n").encode(),
        "no_final_newline.csv": (HEADER + "\n" + body).encode(),
        "semicolon_bom_comments.csv": (
            "# synthetic test file\n# second comment\n"
            + "\n".join(
                line.replace(",", ";").replace("107.", "107,").replace("12.", "12,") for line in [HEADER, *lines]
            )
            + "\n"
        ).encode("utf-8-sig"),
        "tabs.tsv": ("\n".join(line.replace(",", "\t") for line in [HEADER, *lines]) + "\n").encode(),
        "lone_cr.csv": ("\r".join([HEADER, *lines]) + "\r").encode(),  # old Mac line ends
        "mixed.csv.gz": gzip.compress((HEADER + "\n" + body + "\n").encode()),
    }
    vietnamese = "Thời gian;Kinh độ;Vĩ độ;Nhà mạng;Công nghệ;RSRP (dBm);Thiết bị\r\n" + "".join(
        f"0{1 + i % 9}/06/2026 08:{i % 60:02d}:00;107,{60 + i % 30};12,{i % 90:02d};"
        f"{['Viettel', 'VinaPhone', 'Mobi', 'Vietnamobile', 'Gtel'][i % 5]};{['LTE', 'WCDMA', 'GSM', 'NR', ''][i % 5]};"
        f"-{80 + i % 40},{i % 10};máy-{i % 7}\r\n"
        for i in range(300)
    )
    files["vietnamese_cp1258.csv"] = _cp1258(vietnamese)
    files["vietnamese_utf8.csv"] = vietnamese.encode()
    times = [HEADER]
    for i, row in enumerate(_good_rows(300)):
        fields = row.split(",")
        stamp = fields[0]
        fields[0] = [
            stamp,
            stamp[:10] + " " + stamp[11:19],
            stamp[:19] + "Z",
            "1780275600",
            f"{stamp[8:10]}/{stamp[5:7]}/{stamp[:4]} {stamp[11:19]}",
            stamp[:19] + ".250+07:00",
            "2026-13-45T25:61:00+07:00",
            " " + stamp,
            "2026-06-01T08:00:00+07",
        ][i % 9]
        fields[6] = ["-95", "n/a", "1e2", "-9.5e1", "+-5", " -90 ", "0x10", "-95."][i % 8]
        times.append(",".join(fields))
    files["times_and_numbers.csv"] = ("\n".join(times) + "\n").encode()
    paths = []
    for name, content in files.items():
        path = folder / name
        path.write_bytes(content)
        paths.append(path)
    return paths


def _read(path: Path, communes, engine: str, chunk_bytes: int | None):
    reading = FileReading(path, communes=communes, now=NOW, engine=engine, chunk_bytes=chunk_bytes)
    frames = list(reading.chunks())
    frame = pd.concat(frames, ignore_index=True)
    frame["time"] = frame["time"].astype("datetime64[ns, UTC]")
    return reading.report.to_dict(), frame, len(frames)


def _assert_same(reference, other) -> None:
    report, frame, _ = reference
    other_report, other_frame, _ = other
    assert other_report == report
    for key in ["rejected", "examples", "values_rejected", "corrected"]:
        assert list(other_report[key]) == list(report[key])
    pd.testing.assert_frame_equal(other_frame, frame, check_exact=True)


@pytest.mark.parametrize("with_communes", [True, False])
def test_fast_and_careful_paths_agree_on_tricky_files(tmp_path, communes, with_communes):
    area = communes if with_communes else None
    for path in _write_tricky_files(tmp_path):
        careful = _read(path, area, "careful", 1 << 30)
        assert careful[2] == 1
        _assert_same(careful, _read(path, area, "auto", None))
        chunked = _read(path, area, "auto", 3000)
        # chunks end at a \n: a file with only \r line ends is one chunk, read by pandas
        assert chunked[2] > 3 or path.name == "lone_cr.csv", path.name
        _assert_same(careful, chunked)
        _assert_same(careful, _read(path, area, "careful", 3000))
        report = careful[0]
        assert report["rows_read"] == report["accepted"] + report["outside_province"] + sum(report["rejected"].values())


def test_line_numbers_are_physical_lines_across_chunks(tmp_path):
    lines = _tricky_lines()
    path = tmp_path / "lines.csv"
    path.write_text("# comment\n" + HEADER + "\n" + "\n".join(lines) + "\n")
    report, frame, chunks = _read(path, None, "auto", 3000)
    assert chunks > 10
    accepted = set(frame["source_row"])
    # independently: the physical line of each row's text (1 comment + 1 header line first)
    line_of = {}
    for number, line in enumerate(lines, start=3):
        line_of.setdefault(line, number)
    good = _good_rows(400)
    for row_index in [0, 57, 200, 399]:
        assert line_of[good[row_index]] in accepted
    # good row 1 repeats the fields of the line with two empty extra fields just above it
    assert line_of[good[1]] == 11 and 11 not in accepted and 11 in report["examples"]["duplicate_row"]
    # the copies appended at the end are rejected on their own lines
    last = len(lines) + 2
    assert {last - 3, last - 1}.isdisjoint(accepted) and line_of[lines[0]] in accepted
    assert max(accepted) < last - 3


def test_duplicate_of_a_row_in_an_earlier_chunk_is_rejected(tmp_path):
    rows = _good_rows(200)
    path = tmp_path / "dups.csv"
    path.write_text(HEADER + "\n" + "\n".join([*rows, rows[3]]) + "\n")
    report, frame, chunks = _read(path, None, "auto", 1000)
    assert chunks > 5
    assert report["rejected"] == {"duplicate_row": 1}
    assert report["examples"]["duplicate_row"] == [len(rows) + 2]
    assert len(frame) == len(rows) and frame["source_row"].tolist() == list(range(2, len(rows) + 2))


def test_plain_chunks_use_pyarrow_and_odd_chunks_pandas(tmp_path, monkeypatch):
    plain = tmp_path / "plain.csv"
    plain.write_text(HEADER + "\n" + "\n".join(_good_rows(500)) + "\n")
    pandas_pieces = []
    original = parse_module._pandas_piece

    def counting(*args, **kwargs):
        pandas_pieces.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(parse_module, "_pandas_piece", counting)
    report, _, chunks = _read(plain, None, "auto", 4000)
    assert chunks > 5 and pandas_pieces == [] and report["accepted"] == 500
    odd = tmp_path / "odd.csv"
    rows = _good_rows(500)
    rows[250] = ""  # one blank line: only the chunk holding it goes to pandas
    odd.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    report, _, chunks = _read(odd, None, "auto", 4000)
    assert len(pandas_pieces) == 1 and b"\n\n" in pandas_pieces[0]
    assert report["rows_read"] == 499


def test_store_streams_chunks_into_the_same_rows_as_read_file(tmp_path, communes, monkeypatch):
    path = _write_tricky_files(tmp_path)[0]
    expected = read_file(path, communes=communes)
    monkeypatch.setattr(parse_module, "CHUNK_BYTES", 900)
    store = MeasurementStore(tmp_path / "store")
    [report] = ingest_files(store, [path], communes=communes)
    assert report.to_dict() == expected.report.to_dict()
    stored = store.read().sort_values("source_row", ignore_index=True)
    pd.testing.assert_frame_equal(stored, expected.measurements, check_exact=True)


def test_province_grid_answers_like_shapely(communes):
    area = ProvinceArea(communes, cells=64)
    lon0, lat0, lon1, lat1 = area.bbox
    rng = np.random.default_rng(7)
    lon = rng.uniform(lon0 - 0.1, lon1 + 0.1, 50_000)
    lat = rng.uniform(lat0 - 0.1, lat1 + 0.1, 50_000)
    # points on the border and on grid lines too
    border = shapely.get_coordinates(shapely.boundary(area.outline))[::50]
    lon = np.concatenate([lon, border[:, 0], lon0 + np.arange(65) * area.step[0]])
    lat = np.concatenate([lat, border[:, 1], np.full(65, (lat0 + lat1) / 2)])
    expected = shapely.contains_xy(area.outline, lon, lat)
    assert np.array_equal(area.contains(lon, lat), expected)
    assert 0 < expected.mean() < 1


ODD_TIMES = [
    "2026-08-01T00:04:17+07:00",
    "2026-08-01 00:04:17+07:00",
    "2026-08-01T00:04:17Z",
    "2026-08-01T00:04:17-03:30",
    "2026-08-01T00:04:17",
    "2026-08-01 00:04:17",
    "2024-02-29T10:00:00+07:00",
    "2026-02-29T10:00:00+07:00",
    "2026-02-30 10:00:00",
    "2026-13-45T25:61:00+07:00",
    "2026-08-01T24:00:00+07:00",
    "2026-08-01T23:59:60Z",
    "2026-8-01T00:04:17+07:00",
    "2026-08-01T00:04:17+07",
    "2026-08-01T00:04:17+0700",
    "2026-08-01T00:04:17.5+07:00",
    "0026-08-01T00:04:17+07:00",
    "9999-08-01T00:04:17+07:00",
    "2026-08-01T00:04:17+25:00",
    "2026-08-01T00:04:17+15:00",
    "2026-08-01T00:04:17-23:59",
    "2026-08-01T00:04:17+07:60",
    "1677-01-01T00:00:00+07:00",
    "2263-01-01T00:00:00Z",
    "1600-01-01 00:00:00",
    "20a6-08-01T00:04:17+07:00",
    "01/08/2026 00:04:17",
    "1780275600",
    "",
    "yesterday",
]


def test_fast_iso_times_match_the_general_parser():
    # all together (one impossible value sends the chunk through the plausibility filter) and one by
    # one (pyarrow alone decides)
    for values in [ODD_TIMES * 3, *([value] for value in ODD_TIMES)]:
        raw = pd.Series(values, dtype="str")
        fast, missing, unparseable = parse_times(raw)
        general, general_missing, general_unparseable = _general_times(raw, ())
        pd.testing.assert_series_equal(fast, general)
        assert np.array_equal(missing, general_missing) and np.array_equal(unparseable, general_unparseable)


def test_arrow_number_parsing_matches_pandas():
    texts = ["1e5", ".5", "5.", "+5", "-0", "inf", "-inf", "nan", "NaN", "0x10", "1_0", "1.5.5", "e1", "--5"]
    texts += ["1e400", "1e-400", " 12 ", "-95,5", "", "NA", "2147483647", "12345678901234567890", "١٢"]
    raw = pd.Series(texts, dtype="str")
    for decimal_comma in [False, True]:
        values, bad = parse_numbers(raw, decimal_comma)
        text = raw.astype("string").str.strip()
        missing = (text.isna() | text.isin(parse_module.MISSING_MARKERS)).to_numpy(bool, na_value=True)
        if decimal_comma:
            text = text.str.replace(",", ".", regex=False)
        expected = pd.to_numeric(text.where(~missing), errors="coerce").astype("float64")
        pd.testing.assert_series_equal(values, expected, check_names=False)
        assert np.array_equal(bad, ~missing & expected.isna().to_numpy(bool))


def _write_tricky_gnettrack(folder: Path) -> list[Path]:
    """G-NetTrack logs as phones write them (trailing tab, CRLF) and with every oddity mixed in."""
    lines = (FIXTURES / "gnettrack_quirks.txt").read_bytes().decode().split("\r\n")
    header, rows = lines[0], [line for line in lines[1:] if line]
    many = []
    for i in range(600):
        row = rows[i % len(rows)].split("\t")
        row[0] = f"2026.06.{1 + i // 300:02d}_{8 + i // 60 % 5:02d}.{i % 60:02d}.{i * 7 % 60:02d}"
        many.append("\t".join(row))
    odd = list(many)
    odd[10] = odd[10].removesuffix("\t")  # a row without the trailing tab
    odd[20] = odd[20] + "surplus\t"  # a row with a filled extra field
    odd[30] = ""  # a blank line
    odd[40] = "\t" * header.count("\t")  # a line of tabs only
    stamps = ["2026.6.01_08.00.00", " 2026.06.01_08.00.00", "2026.02.30_08.00.00", "2026.06.01_24.00.00"]
    stamps += ["2026-06-01T08:00:00+07:00", "1945.03.14_23.00.00", "-", "2026.06.01_08.00.0x"]
    for j, stamp in enumerate(stamps):
        fields = odd[50 + j].split("\t")
        fields[0] = stamp
        odd[50 + j] = "\t".join(fields)
    files = {
        "plain.txt": "\r\n".join([header, *many]) + "\r\n",
        "odd.txt": "\r\n".join([header, *odd]) + "\r\n",
        "no_trailing_tabs.txt": "\n".join([header, *(row.removesuffix("\t") for row in many)]),
        "repeated.txt": "\r\n".join([header, *many, many[5], many[7]]) + "\r\n",
    }
    written = []
    for name, text in files.items():
        (folder / name).write_bytes(text.encode())
        written.append(folder / name)
    written.append(FIXTURES / "gnettrack_quirks.txt")
    return written


def test_gnettrack_fast_path_gives_the_careful_outcome(tmp_path, communes):
    for path in _write_tricky_gnettrack(tmp_path):
        careful = _read(path, communes, "careful", None)
        _assert_same(careful, _read(path, communes, "auto", None))
        report = careful[0]
        assert report["rows_read"] == report["accepted"] + report["outside_province"] + sum(report["rejected"].values())


def test_gnettrack_logs_take_pyarrow_trailing_tab_and_all(tmp_path, monkeypatch):
    pandas_pieces = []
    original = parse_module._pandas_piece

    def counting(*args, **kwargs):
        pandas_pieces.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(parse_module, "_pandas_piece", counting)
    plain, odd, no_tabs, *_ = _write_tricky_gnettrack(tmp_path)
    for path in [plain, no_tabs]:
        report, frame, _ = _read(path, None, "auto", None)
        assert report["rows_read"] == 600 and not report["rejected"].get("malformed_row")
    assert pandas_pieces == []
    report, _, _ = _read(odd, None, "auto", None)
    assert len(pandas_pieces) == 1  # rows of several widths: the careful parser
    assert report["rows_read"] == 598  # the blank line and the line of tabs are not rows


def test_fixed_layout_times_match_the_general_parser():
    layout = "%Y.%m.%d_%H.%M.%S"
    values = ["2025.07.18_22.11.08", "2024.02.29_23.59.59", "2025.02.29_10.00.00", "2025.13.01_00.00.00"]
    values += ["2025.7.18_22.11.08", " 2025.07.18_22.11.08", "2025.07.18_24.00.00", "-", "", None, "abc"]
    values += ["2025-07-18T22:11:08+07:00", "1975.06.13_00.00.00", "1700.01.01_00.00.00", "1699.12.31_23.59.59"]
    values += ["2200.12.31_23.59.59", "2025.07.18_22.11.0x", "2025/07/18_22.11.08", "1906.06.30_23.59.59"]
    values += ["1945.03.14_23.00.00", "1959.12.31_23.30.00", "2025.07.18 22.11.08", "١٢٣٤.07.18_22.11.08"]
    for chosen in [values * 2, *([value] for value in values)]:
        raw = pd.Series(chosen, dtype="str")
        fast, missing, unparseable = parse_times(raw, extra_formats=(layout,))
        general, general_missing, general_unparseable = _general_times(raw, (layout,))
        pd.testing.assert_series_equal(fast, general)
        assert np.array_equal(missing, general_missing) and np.array_equal(unparseable, general_unparseable)
