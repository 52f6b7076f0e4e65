"""SYNTHETIC commitments for the demo: sites the operators "committed" to, some built, some not.

- **Built**: every new site the simulator switches on (``active_from`` in the site file) is a
  commitment for its month: the gaps around it should close in that month's measurements.
- **Not built**: the most populous village of each under-served commune that gets no new site
  (:data:`lomsong.simulate.parameters.UNDERSERVED_COMMUNES`) is a Viettel 4G commitment for the same
  month, which the simulator never builds: its gaps should stay open (or not be measured again).
- **Due later**: one VinaPhone commitment the month after the demo's last month.

The file says SYNTHETIC in its first line and in every row's note.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lomsong import paths
from lomsong.simulate.parameters import DEMO_NEW_SITES_FROM, NEW_SITE_COMMUNES, UNDERSERVED_COMMUNES

SYNTHETIC_NOTE = "SYNTHETIC (dữ liệu mô phỏng)"
COMMITMENTS_FILE = "daknong_synthetic_commitments.csv"


def make_commitments(sites: pd.DataFrame, villages: pd.DataFrame, *, month: str = DEMO_NEW_SITES_FROM) -> pd.DataFrame:
    """Return the synthetic commitment rows (``operator, site_id, lon, lat, technology, planned_month, note``).

    Parameters
    ----------
    sites : pandas.DataFrame
        The simulated site file (``site_id``, ``operator``, ``lon``, ``lat``, ``has_4g``, ``active_from``).
    villages : pandas.DataFrame
        The synthetic village list (``commune_code``, ``name``, ``lon``, ``lat``, ``population``).
    month : str
        The month the new sites switch on (``YYYY-MM``).
    """
    active_from = pd.to_datetime(sites["active_from"], utc=True).dt.tz_convert("Asia/Ho_Chi_Minh")
    built = sites[active_from.notna().to_numpy()]
    rows = pd.DataFrame(
        {
            "operator": built["operator"].astype(str),
            "site_id": built["site_id"].astype(str),
            "lon": built["lon"].astype(float),
            "lat": built["lat"].astype(float),
            "technology": "4G",
            "planned_month": active_from[active_from.notna()].dt.strftime("%Y-%m").to_numpy(),
            "note": f"{SYNTHETIC_NOTE}: " + built["note"].astype(str) + " (built as committed)",
        }
    )
    wanted = [code for code in UNDERSERVED_COMMUNES if code not in NEW_SITE_COMMUNES]
    frame = villages[villages["commune_code"].astype(str).isin(wanted)]
    largest = frame.sort_values("population", ascending=False).drop_duplicates("commune_code")
    unbuilt = pd.DataFrame(
        {
            "operator": "viettel",
            "site_id": "",
            "lon": largest["lon"].astype(float),
            "lat": largest["lat"].astype(float),
            "technology": "4G",
            "planned_month": month,
            "note": f"{SYNTHETIC_NOTE}: committed at " + largest["name"].astype(str) + ", not built in the simulation",
        }
    )
    later = str(pd.Period(month, freq="M") + 1)
    due_later = unbuilt.head(1).assign(
        operator="vinaphone",
        planned_month=later,
        note=f"{SYNTHETIC_NOTE}: due after the last demo month",
    )
    return pd.concat([rows, unbuilt, due_later], ignore_index=True)


def demo_commitments_path() -> Path:
    """Where the demo's commitments file lives (``data/villages/daknong_synthetic_commitments.csv``)."""
    return paths.data_dir() / "villages" / COMMITMENTS_FILE


def ensure_demo_commitments(*, force: bool = False) -> Path | None:
    """Write the synthetic commitments file from the demo's sites and villages, unless it is there.

    Returns
    -------
    Path or None
        The file, or None when the demo's site or village file is missing.
    """
    from lomsong.readers.commitments import write_commitments

    path = demo_commitments_path()
    if path.exists() and not force:
        return path
    sites_file, villages_file = path.with_name("daknong_synthetic_sites.csv"), path.with_name(
        "daknong_synthetic_villages.csv"
    )
    if not (sites_file.exists() and villages_file.exists()):
        return None
    commitments = make_commitments(pd.read_csv(sites_file), pd.read_csv(villages_file, dtype={"commune_code": str}))
    return write_commitments(
        commitments,
        path,
        comment=f"{SYNTHETIC_NOTE}: commitments made up by the lomsong simulator for the demo, not real ones",
    )


__all__ = ["make_commitments", "ensure_demo_commitments", "demo_commitments_path"]
