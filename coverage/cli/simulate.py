"""Command ``simulate``: write SYNTHETIC crowd-sourced measurements for the demo, tests and benchmarks."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from lomsong import paths
from lomsong.cli._app import app, console, fail
from lomsong.errors import BoundaryError
from lomsong.simulate.defaults import (
    DEFAULT_DEVICES,
    DEFAULT_END,
    DEFAULT_GNETTRACK_DEVICES,
    DEFAULT_POINTS,
    DEFAULT_SEED,
    DEFAULT_START,
)


class SimulateFormat(StrEnum):
    generic_csv = "generic_csv"
    gnettrack = "gnettrack"
    both = "both"


@app.command()
def simulate(
    out: Path = typer.Option(None, "--out", help="Folder for the measurement files (default: data/measurements/)."),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help="Random seed: the same seed gives the same files."),
    points: int = typer.Option(DEFAULT_POINTS, "--points", min=0, help="Rows of the generic CSV (10,000,000 is fine)."),
    output_format: SimulateFormat = typer.Option(
        SimulateFormat.both, "--format", help="generic_csv, gnettrack or both."
    ),
    months: str = typer.Option(
        f"{DEFAULT_START}..{DEFAULT_END}", "--months", help="First..last month, local time, e.g. 2026-08..2026-10."
    ),
    new_sites_from: str = typer.Option(
        None, "--new-sites-from", help="Month (YYYY-MM) from which new sites close a known gap."
    ),
    outage_from: str = typer.Option(None, "--outage-from", help="Month (YYYY-MM) from which an outage opens a gap."),
    devices: int = typer.Option(DEFAULT_DEVICES, "--devices", min=1, help="Crowd-sourcing phones."),
    gnettrack_devices: int = typer.Option(
        DEFAULT_GNETTRACK_DEVICES, "--gnettrack-devices", min=0, help="Drive-test phones (one G-NetTrack log each)."
    ),
    villages_dir: Path = typer.Option(
        None, "--villages-dir", help="Folder for the synthetic village layer and sites (default: data/villages/)."
    ),
    gmobile: bool = typer.Option(
        False, "--gmobile", help="Also simulate Gmobile (a handful of sites and subscribers; off by default)."
    ),
    demo: bool = typer.Option(
        False, "--demo", help="(Re)generate the bundled demo set with its fixed seed and parameters, if missing."
    ),
    force: bool = typer.Option(False, "--force", help="With --demo: regenerate even if the set is complete."),
) -> None:
    """Write SYNTHETIC measurements (generic CSV, G-NetTrack logs), a village layer and metadata."""
    from lomsong.reference.boundaries import read_communes
    from lomsong.reference.population import load_population
    from lomsong.simulate.demo import ensure_demo_data, parse_months
    from lomsong.simulate.demo import simulate as run_simulation
    from lomsong.simulate.writers import write_outputs, write_sites, write_villages

    if demo:
        try:
            with console.status("simulating the synthetic demo set …") as status:
                files = ensure_demo_data(force=force, progress=lambda m: status.update(f"simulating: {m} …"))
                from lomsong.simulate.claims import demo_claims_dir, ensure_demo_claims

                status.update("writing the synthetic claimed-coverage maps …")
                sites = paths.data_dir() / "villages" / "daknong_synthetic_sites.csv"
                claims = ensure_demo_claims(sites, read_communes(), force=force) if sites.exists() else []
        except (BoundaryError, ValueError, OSError) as exc:
            fail(str(exc))
        console.print(f"synthetic demo set: {len(files)} files in {paths.measurements_dir()}")
        if claims:
            console.print(f"synthetic claimed-coverage maps: {len(claims)} files in {demo_claims_dir()}")
        return
    try:
        start, end = parse_months(months)
        communes = read_communes()
        surface = load_population(communes)
        with console.status("simulating …") as status:
            result = run_simulation(
                communes,
                surface,
                n_points=points,
                seed=seed,
                start=start,
                end=end,
                new_sites_from=new_sites_from,
                outage_from=outage_from,
                n_devices=devices,
                n_gnettrack_devices=gnettrack_devices,
                gmobile=gmobile,
                progress=lambda message: status.update(f"simulating: {message} …"),
            )
            status.update("writing …")
            formats = ["generic_csv", "gnettrack"] if output_format is SimulateFormat.both else [output_format.value]
            target = out or paths.measurements_dir()
            written = write_outputs(result, target, formats)
            place = villages_dir or (paths.data_dir() / "villages")
            written.append(write_villages(result.villages, place / "daknong_synthetic_villages.geojson"))
            written.append(write_villages(result.villages, place / "daknong_synthetic_villages.csv"))
            written.append(write_sites(result.sites, place / "daknong_synthetic_sites.csv"))
    except (BoundaryError, ValueError, OSError) as exc:
        fail(str(exc))
    counts = result.metadata["counts"]
    table = Table(title=f"SYNTHETIC measurements (seed {seed}, {start} … {end})")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("generic CSV rows", f"{counts['generic_csv_rows']:,}")
    table.add_row("  of which no service", f"{counts['no_service']:,}")
    table.add_row("  of which junk (on purpose)", f"{sum(counts['junk'].values()):,}")
    table.add_row("crowd-sourcing devices", f"{counts['devices']:,}")
    table.add_row("G-NetTrack rows / devices", f"{counts['gnettrack_rows']:,} / {counts['gnettrack_devices']}")
    for operator, number in counts["sites"].items():
        table.add_row(f"sites {operator}", f"{number:,}")
    table.add_row("villages (synthetic)", f"{counts['villages']:,}")
    console.print(table)
    for path in written:
        console.print(f"  {path}")
