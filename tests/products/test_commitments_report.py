"""``lomsong report --commitments``: the monthly report shows each committed site (CLI as a subprocess).

Two hand-made SYNTHETIC months (:func:`lomsong.testing.make_example_run`): in 2026-10 the Viettel gap
of Thị trấn Đắk Mil is measured covered, the one of Xã Đắk R'La is still weak.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
from openpyxl import load_workbook

from lomsong.testing import make_example_run, reference_communes

CLOSING, STAYING = "24664", "24670"


@pytest.fixture(scope="module")
def months(tmp_path_factory) -> Path:
    communes = reference_communes()
    root = tmp_path_factory.mktemp("commitment-report")
    for month in ("2026-09", "2026-10"):
        make_example_run(communes, root / "periods" / month)
    later = root / "periods" / "2026-10"
    cells = gpd.read_parquet(later / "cells.parquet")
    closing = cells["gap_id"].astype(str) == f"viettel-any-{CLOSING}"
    assert closing.sum() > 3
    cells.loc[closing, "state"], cells.loc[closing, "gap_id"] = "covered", ""
    cells.to_parquet(later / "cells.parquet", index=False)
    gaps = gpd.read_parquet(later / "gaps.parquet")
    gaps[gaps["gap_id"] != f"viettel-any-{CLOSING}"].to_parquet(later / "gaps.parquet", index=False)
    centres = communes.set_index("commune_code").loc[[CLOSING, STAYING]].geometry
    points = centres.to_crs("EPSG:32648").representative_point().to_crs("EPSG:4326")
    rows = [
        "# SYNTHETIC test commitments",
        "nha_mang,ma_tram,kinh_do,vi_do,cong_nghe,thang_du_kien,ghi_chu",
        f"Viettel,<img src=x onerror=alert(1)>,{points.iloc[0].x:.6f},{points.iloc[0].y:.6f},4G,2026-10,=1+1",
        f"Viettel,,{points.iloc[1].x:.6f},{points.iloc[1].y:.6f},4G,10/2026,",
    ]
    (root / "commitments.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def _lomsong(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "lomsong", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=os.environ.copy())


def test_the_report_shows_which_committed_sites_closed_their_gaps(months):
    done = _lomsong(
        "report", "--period", "2026-10", "--runs", str(months), "--commitments", str(months / "commitments.csv")
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Trạm cam kết / Committed sites: 2" in done.stdout
    html = next((months / "reports" / "2026-10").glob("*.html")).read_text(encoding="utf-8")
    section = html[html.index('<section id="commitments">') :]
    section = section[: section.index("</section>")]
    assert section.count('data-status="closed"') == 1 and section.count('data-status="still_open"') == 1
    assert "Đã hết lõm" in section and "Còn lõm" in section
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in section
    assert "Thị trấn Đắk Mil" in section  # the 2019 commune holding the site
    workbook = load_workbook(next((months / "reports" / "2026-10").glob("*.xlsx")))
    sheet = next(s for s in workbook.worksheets if s.title.startswith("Trạm cam kết"))
    values = [cell.value for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert "Đã hết lõm (đo thấy có sóng)" in values and "Còn lõm" in values
    assert not any(isinstance(v, str) and v.startswith("=") for v in values)  # the note =1+1 stays text


def test_a_bad_commitments_file_is_one_line_naming_the_row(months, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("operator,site_id,technology,planned_month\nviettel,X,4G,next month\n", encoding="utf-8")
    done = _lomsong("report", "--period", "2026-10", "--runs", str(months), "--commitments", str(bad))
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "row 2: planned_month 'next month'" in output and "Traceback" not in output
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("operator,site_id,technology,planned_month\nviettel,NOPE-1,4G,2026-10\n", encoding="utf-8")
    done = _lomsong("report", "--period", "2026-10", "--runs", str(months), "--commitments", str(unknown))
    assert done.returncode != 0 and "row 2: site_id 'NOPE-1'" in done.stdout + done.stderr


def test_the_simulated_new_sites_close_their_gaps_and_the_unbuilt_ones_do_not(tmp_path):
    """The demo's SYNTHETIC commitments over the simulated months (new sites switch on in 2026-10)."""
    from lomsong.jobs.commitments import commitments_followup
    from lomsong.readers.commitments import read_commitments, write_commitments
    from lomsong.simulate.commitments import make_commitments
    from lomsong.testing import simulated_period_pair

    products, simulation = simulated_period_pair()
    table = make_commitments(simulation.sites, simulation.villages, month="2026-10")
    path = write_commitments(table, tmp_path / "synthetic_commitments.csv", comment="SYNTHETIC")
    assert path.read_text(encoding="utf-8").startswith("# SYNTHETIC")
    assert read_commitments(path)["note"].str.startswith("SYNTHETIC").all()
    followup = commitments_followup(path, "2026-10", out=products, communes=reference_communes())
    built = followup[followup["note"].str.contains("built as committed")]
    unbuilt = followup[followup["note"].str.contains("not built")]
    assert len(built) and len(unbuilt)
    assert (built["status"] == "closed").any(), built[["commitment_id", "status"]]
    assert not (unbuilt["status"] == "closed").any(), unbuilt[["commitment_id", "status"]]
    with_gaps = followup[followup["gap_cells_before"] > 0]
    checked = with_gaps["cells_measured_covered"] + with_gaps["cells_still_weak"] + with_gaps["cells_not_remeasured"]
    assert (checked == with_gaps["gap_cells_before"]).all()
    assert followup["unit"].notna().all()
