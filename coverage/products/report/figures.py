"""The monthly report's images (matplotlib, imported only when drawn): the trend chart and the province map."""

from __future__ import annotations

import io

import geopandas as gpd

from lomsong.operators import OPERATOR_COLOURS, OPERATOR_IDS
from lomsong.products import words as i18n
from lomsong.products.report.model import SYNTHETIC_MARK, Report, operator_label
from lomsong.reference.boundaries import METRIC_CRS
from lomsong.reference.units import (
    dissolve_units,
)
from lomsong.tables.results import ALL_OPERATORS


def _figure_png(figure) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=150, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _stamp_synthetic(figure) -> None:
    figure.text(
        0.5, 0.5, SYNTHETIC_MARK, fontsize=34, color="#C00000", alpha=0.13, ha="center", va="center", rotation=24
    )


def trend_chart(report: Report) -> bytes:
    """Return a PNG with the people in gaps and the number of gaps per period and operator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trend = report.trend
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    periods = sorted(trend["period"].unique()) if len(trend) else [report.period]
    positions = {p: i for i, p in enumerate(periods)}
    for ax, column, title in (
        (axes[0], "people_in_gaps", report.label("trend_people")),
        (axes[1], "n_gaps", report.label("trend_gaps")),
    ):
        for operator in [ALL_OPERATORS, *[o for o in OPERATOR_IDS if o in set(trend["operator"])]]:
            rows = trend[trend["operator"] == operator].sort_values("period")
            if rows.empty:
                continue
            ax.plot(
                rows["period"].map(positions),
                rows[column],
                marker="o",
                linewidth=2.4 if operator == ALL_OPERATORS else 1.4,
                color=OPERATOR_COLOURS.get(operator, "#777777"),
                label=operator_label(operator, report.lang),
            )
        ax.set_title(title, fontsize=11)
        ax.set_xticks(range(len(periods)), periods)
        ax.set_xlabel(report.label("trend_period"))
        ax.grid(alpha=0.3)
        ax.yaxis.set_major_formatter(
            matplotlib.ticker.FuncFormatter(lambda value, _: i18n.format_number(value, report.lang))
        )
        ax.set_ylim(bottom=0)
        if len(periods) == 1:
            ax.set_xlim(-0.5, 0.5)
    axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    if report.synthetic:
        _stamp_synthetic(figure)
    figure.tight_layout()
    return _figure_png(figure)


def _short_unit_name(name: str) -> str:
    """A map label without the unit type: "Huyện Đắk Mil" → "Đắk Mil", "Phường Nam Gia Nghĩa" → "P. Nam Gia Nghĩa"."""
    for prefix, short in (("Huyện ", ""), ("Thành phố ", "TP "), ("Thị xã ", "TX "), ("Xã ", ""), ("Phường ", "P. ")):
        if name.startswith(prefix):
            return short + name[len(prefix) :]
    return name


def province_map(report: Report, communes: gpd.GeoDataFrame) -> bytes:
    """Return a PNG map of the province: communes, districts, gaps now, gaps closed since before."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from lomsong.reference.boundaries import districts

    metric = communes.to_crs(METRIC_CRS)
    figure, ax = plt.subplots(figsize=(8, 8.4))
    metric.plot(ax=ax, facecolor="#F4F1EA", edgecolor="#B9B2A6", linewidth=0.4)
    if report.units == "2025":
        # Today's units, dissolved from the old communes (mapped whole), over the old commune lines.
        outlines = dissolve_units(communes).to_crs(METRIC_CRS)
        outline_label, name_column = report.label("map_units"), "unit"
    else:
        outlines = districts(communes).to_crs(METRIC_CRS)
        outline_label, name_column = report.label("map_districts"), "district"
    outlines.plot(ax=ax, facecolor="none", edgecolor="#4A4A4A", linewidth=1.1)
    handles = [
        Line2D([], [], color="#B9B2A6", linewidth=0.8, label=report.label("map_communes")),
        Line2D([], [], color="#4A4A4A", linewidth=1.4, label=outline_label),
    ]
    if len(report.closed_gaps):
        report.closed_gaps.to_crs(METRIC_CRS).plot(
            ax=ax, facecolor="#009E73", edgecolor="#006B4E", linewidth=0.6, alpha=0.8
        )
        handles.append(Patch(facecolor="#009E73", edgecolor="#006B4E", label=report.label("map_closed")))
    if len(report.current_gaps):
        report.current_gaps.to_crs(METRIC_CRS).plot(ax=ax, facecolor="#D7191C", edgecolor="#8B0000", linewidth=0.6)
        handles.append(Patch(facecolor="#D7191C", edgecolor="#8B0000", label=report.label("map_gaps")))
    for point, name in zip(outlines.geometry.representative_point(), outlines[name_column], strict=True):
        ax.annotate(
            _short_unit_name(str(name)),
            (point.x, point.y),
            fontsize=6 if report.units == "2025" else 8,
            ha="center",
            color="#222222",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.6, "linewidth": 0},
        )
    ax.set_axis_off()
    ax.set_title(f"{report.label('map_title')} — {report.period}", fontsize=12)
    ax.legend(handles=handles, loc="lower left", fontsize=8, frameon=True)
    # A 20 km scale bar: the map is in UTM metres.
    minx, miny, maxx, _ = metric.total_bounds
    x0, y0 = maxx - 26000, miny + 4000
    ax.plot([x0, x0 + 20000], [y0, y0], color="black", linewidth=3)
    ax.text(x0 + 10000, y0 + 1500, "20 km", ha="center", fontsize=8)
    if report.synthetic:
        _stamp_synthetic(figure)
    return _figure_png(figure)
