"""Commands of the foundation: ``setup``, ``communes``, ``demo``."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from lomsong import paths
from lomsong.cli._app import app, console, fail
from lomsong.errors import BoundaryError, ReferenceDataError


class CommuneFormat(StrEnum):
    table = "table"
    csv = "csv"
    geojson = "geojson"


@app.command()
def setup(
    reference: Path = typer.Option(
        None,
        "--reference",
        help="Reference data directory (default: $LOMSONG_REFERENCE_DATA or ../shared/data).",
    ),
) -> None:
    """Copy the reference data into data/, check each sha256, build the population raster."""
    from lomsong.reference.boundaries import read_communes
    from lomsong.reference.install import install_reference_data
    from lomsong.reference.population import load_population

    try:
        installed = install_reference_data(reference)
    except ReferenceDataError as exc:
        fail(str(exc))
    communes = read_communes()
    surface = load_population(communes)
    console.print(
        f"reference data: {len(installed)} files checked in {paths.data_dir()}; "
        f"population raster {paths.population_raster_path().name}: "
        f"{surface.total:,.0f} people"
    )


@app.command()
def communes(
    search: str = typer.Option(None, "--search", "-s", help="Name to look for (diacritics optional)."),
    output_format: CommuneFormat = typer.Option(CommuneFormat.table, "--format", "-f", help="table, csv or geojson."),
    boundaries: Path = typer.Option(None, "--boundaries", help="Boundary file (default: bundled)."),
) -> None:
    """List the communes with their district and 2019 census population."""
    from lomsong.reference.boundaries import find_communes, read_communes

    try:
        frame = read_communes(boundaries)
    except BoundaryError as exc:
        fail(str(exc))
    if search:
        frame = find_communes(frame, search)
        if frame.empty:
            fail(f"no commune matches {search!r}", code=1)
    columns = ["commune_code", "commune", "commune_type", "district_code", "district", "population"]
    if output_format is CommuneFormat.csv:
        frame[columns].to_csv(sys.stdout, index=False, lineterminator="\n")
        return
    if output_format is CommuneFormat.geojson:
        sys.stdout.write(frame.to_json(drop_id=True, ensure_ascii=False))
        sys.stdout.write("\n")
        return
    table = Table(title=f"Communes of Đắk Nông ({len(frame)})")
    for column, justify in zip(
        ["Code", "Commune", "District", "Population 2019"], ["left", "left", "left", "right"], strict=True
    ):
        table.add_column(column, justify=justify)
    for row in frame.itertuples():
        table.add_row(row.commune_code, row.commune, row.district, f"{row.population:,}")
    table.add_section()
    table.add_row("", "total", f"{frame['district'].nunique()} districts", f"{int(frame['population'].sum()):,}")
    console.print(table)
