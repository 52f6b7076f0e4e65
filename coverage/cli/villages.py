"""``lomsong villages``: read a village list as the run would, and say what it holds."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from lomsong.cli._app import app, console


@app.command()
def villages(
    path: Path = typer.Argument(..., help="Village list: CSV, GeoJSON or XLSX (English or Vietnamese headers)."),
    sheet: str = typer.Option(None, "--sheet", help="Workbook sheet (default: the first with a village header row)."),
    config: Path = typer.Option(None, "--config", help="Options in TOML ([villages] kernel_sigma_m, population_rule)."),
    boundaries: Path = typer.Option(None, "--boundaries", help="Commune boundaries (default: bundled)."),
    all_communes: bool = typer.Option(False, "--all", help="List every commune, not only those that disagree."),
) -> None:
    """Check a village list: its communes, its people against the 2019 census, what a run would use."""
    from lomsong._text import fold_series  # pandas: imported only when the command runs
    from lomsong.reference.boundaries import read_communes
    from lomsong.reference.population import village_surface
    from lomsong.reference.villages import locate_villages, read_villages
    from lomsong.settings import load_config

    settings = load_config(config)
    communes = read_communes(boundaries)
    table = locate_villages(read_villages(path, sheet=sheet), communes)
    surface = village_surface(
        communes, table, sigma_m=settings.village_kernel_sigma_m, rule=settings.village_population_rule
    )
    check = surface.check
    unlocated = int(table["commune_code"].isna().sum())
    named = communes.set_index("commune_code")["commune"].astype(str)
    located_name = table["commune_code"].map(named).fillna("")
    elsewhere = table[(fold_series(located_name) != fold_series(table["commune"])).to_numpy(bool)]
    console.print(
        f"{path}: {len(table):,} villages in {int((check['n_items'] > 0).sum())} of {len(communes)} communes, "
        f"{int(table['population'].fillna(0).sum()):,} people listed "
        f"({int(table['population'].isna().sum())} without a population); "
        f"{unlocated} in no commune of the boundaries"
    )
    if len(elsewhere):
        first = elsewhere.iloc[0]
        console.print(
            f"{len(elsewhere):,} {'village lies' if len(elsewhere) == 1 else 'villages lie'} outside the commune "
            "named for it (the polygon holding the centre wins), "
            f"e.g. row {first['source_row']}: {first['name']}, {first['commune']} → "
            f"{named.get(first['commune_code'], 'no commune')}"
        )
    differs = (check["source_people"] - check["census"]).abs()
    shown = check if all_communes else check[differs >= 0.5].assign(_d=differs).sort_values("_d", ascending=False)
    if shown.empty:
        console.print("every commune's villages add up to its census")
        return
    out = Table("Mã xã", "Xã", "Dân số 2019", "Số thôn", "Tổng dân các thôn", "Số dân dùng", "Rải đều",
                title=f"population rule: {settings.village_population_rule}")  # fmt: skip
    for row in shown.itertuples():  # one line per commune (71 at most)
        out.add_row(row.commune_code, row.commune, f"{row.census:,.0f}", f"{row.n_items:,}",
                    f"{row.source_people:,.0f}", f"{row.used:,.0f}", f"{row.spread_evenly:,.0f}")  # fmt: skip
    console.print(out)
