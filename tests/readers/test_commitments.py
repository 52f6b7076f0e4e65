"""Commitments files: CSV and XLSX round-trip, Vietnamese headers, one-line errors naming file, row and field."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lomsong.errors import CommitmentError, LomsongError
from lomsong.readers.commitments import read_commitments, write_commitments
from lomsong.tables.commitments import COMMITMENT_COLUMNS


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_commitments_file_round_trips(tmp_path, suffix):
    table = pd.DataFrame(
        {
            "operator": ["viettel", "vinaphone", "mobifone"],
            "site_id": ["DNO-123", "", "village:Thôn 1@Xã Đắk Plao"],
            "lon": [107.7, 107.81, np.nan],
            "lat": [12.0, 12.1, np.nan],
            "technology": ["4G", "5G", "4G"],
            "planned_month": ["2026-10", "2026-11", "2027-01"],
            "note": ["trạm mới; cần kéo điện", "", "=HYPERLINK(\"x\")"],
        }
    )
    path = write_commitments(table, tmp_path / f"commitments{suffix}", comment="SYNTHETIC test file")
    back = read_commitments(path)
    assert list(back.columns) == COMMITMENT_COLUMNS
    for column in ("operator", "site_id", "technology", "planned_month"):
        assert back[column].tolist() == table[column].tolist()
    np.testing.assert_allclose(back[["lon", "lat"]].to_numpy(float), table[["lon", "lat"]].to_numpy(float))
    assert back["note"].tolist()[:2] == table["note"].tolist()[:2]
    assert back["commitment_id"].tolist()[:2] == ["viettel:DNO-123", "vinaphone@107.81000,12.10000"]
    # rows as the spreadsheet numbers them: the CSV's first line is the SYNTHETIC comment
    assert back["source_row"].tolist() == (["2", "3", "4"] if suffix == ".xlsx" else ["3", "4", "5"])


def test_vietnamese_headers_and_other_month_forms_are_read(tmp_path):
    path = tmp_path / "cam_ket.csv"
    rows = "Nhà mạng;Mã trạm;Công nghệ;Tháng dự kiến\nVNPT;VNP-1;4g;10/2026\nViettel;V-2;4G;2026-11-15\n"
    path.write_text(rows, "utf-8")
    back = read_commitments(path)
    assert back["operator"].tolist() == ["vinaphone", "viettel"]
    assert back["planned_month"].tolist() == ["2026-10", "2026-11"]
    assert back["lon"].isna().all()  # only site ids: the job places them from the plan or the site list


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("operator,site_id,technology,planned_month\nNokia,X,4G,2026-10\n", "row 2: operator 'Nokia'"),
        ("operator,site_id,technology,planned_month\nviettel,X,4G,2026-10\nviettel,Y,6G,2026-10\n", "row 3: techn"),
        ("operator,site_id,technology,planned_month\nviettel,X,4G,tháng 10\n", "row 2: planned_month"),
        ("operator,site_id,lon,lat,technology,planned_month\nviettel,,,,4G,2026-10\n", "row 2: site_id"),
        ("operator,site_id,lon,lat,technology,planned_month\nviettel,,12.0,107.7,4G,2026-10\n", "outside Vietnam"),
        ("operator,site_id,technology,planned_month\nviettel,X,4G,2026-10\nviettel,X,4G,2026-11\n", "twice"),
        ("operator,technology\nviettel,4G\n", "missing column(s) planned_month, site_id or lon and lat"),
        ("", "empty"),
    ],
)
def test_a_bad_row_is_one_line_naming_file_row_and_field(tmp_path, text, expected):
    path = tmp_path / "commitments.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CommitmentError) as caught:
        read_commitments(path)
    message = str(caught.value)
    assert isinstance(caught.value, LomsongError) and "\n" not in message
    assert str(path) in message and expected in message
