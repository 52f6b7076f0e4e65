"""Commands of the gap engine: ``run`` (the main job) and ``demo`` (simulated data, then ``run``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from lomsong import paths
from lomsong.cli._app import app, console, fail
from lomsong.cli._progress import run_progress
from lomsong.errors import LomsongError

if TYPE_CHECKING:
    from lomsong.jobs.run import RunSummary


def _expand(measurements: list[Path] | None) -> list[Path] | None:
    """Expand folders given with --measurements into the measurement files they hold."""
    if not measurements:
        return None
    from lomsong.jobs.run import demo_measurement_files

    files: list[Path] = []
    for path in measurements:
        if path.is_dir():
            found = demo_measurement_files(path)
            if not found:
                fail(f"{path}: no measurement files in this folder")
            files.extend(found)
        else:
            files.append(path)
    return files


def _number(value: float) -> str:
    return f"{value:,.0f}"


def print_summary(summary: RunSummary) -> None:
    """Print the ten largest gaps of the lõm-sóng view and where the files are."""
    from lomsong.products import tables as export
    from lomsong.products.words import bilingual, header, term
    from lomsong.tables import results

    label = f" [bold red]({bilingual('synthetic')})[/]" if summary.synthetic else ""
    top = summary.largest_gaps
    counts = summary.counts
    title = f"{bilingual('cli_largest_gaps')}{label}"
    table = Table(title=title, title_justify="left")
    # Vietnamese headers, as in the gap lists (bilingual ones squeezed the place names in 80 columns)
    for column, justify in [
        ("#", "right"),
        (header("unit_2025"), "left"),
        (header("commune"), "left"),
        (header("population"), "right"),
        (header("area_km2"), "right"),
        (header("evidence"), "left"),
    ]:
        table.add_column(column, justify=justify)
    for row in top.itertuples(index=False):
        others = str(row.communes or "").count(";")
        commune = f"{row.commune}" + (f" (+{others})" if others else "")
        unit = getattr(row, "unit_2025", None)
        table.add_row(
            str(row.rank),
            str(unit) if isinstance(unit, str) and unit else "–",
            commune,
            _number(row.population),
            f"{row.area_km2:,.2f}",
            term(f"evidence_{row.evidence}"),
        )
    if top.empty:
        console.print("No vùng lõm sóng found in the all-operators view (no cell has enough evidence of weak signal).")
    else:
        console.print(table)
    people = counts.get("people_in_gaps_all")
    console.print(
        f"{counts.get('measurements', 0):,} measurements, {counts.get('cells', 0):,} cells, "
        f"{counts.get('gaps', 0):,} gaps over {counts.get('views', 0)} views; "
        f"{counts.get('gaps_all', 0):,} vùng lõm sóng"
        + (f" holding {_number(people)} people" if people is not None else "")
        + f". Finished in {summary.seconds:.1f} s."
    )
    print_headline(summary.meta.get("headline") or results.headline_figures(counts))
    out = summary.out
    console.print(f"Results in [bold]{out}[/]:")
    if summary.maps:
        console.print(f"  map:        {out / 'index.html'}")
    console.print(f"  gap lists:  {out / export.GAPS_XLSX}, {out / export.GAPS_CSV}")
    console.print(f"  GIS:        {out / export.GAPS_GPKG}, {out / export.GAPS_GEOJSON}, {out / export.GAPS_KML}")
    console.print(f"  plan:       {out / 'campaign.xlsx'}, {out / 'campaign.csv'} (where to measure next, per unit)")
    if (out / "predicted_gaps.geojson").exists():
        console.print(f"  predicted:  {out / 'predicted_gaps.geojson'} (radio map: predicted, not measured)")
    if export.VILLAGES_XLSX in summary.files:
        console.print(f"  villages:   {out / export.VILLAGES_XLSX}")
    if "claims.csv" in summary.files:
        challenges = summary.counts.get("challenges", 0)
        console.print(
            f"  claims:     {out / 'claims.csv'}, {out / 'challenges.geojson'} ({challenges} over-claimed areas)"
        )
    console.print(f"  run record: {out / 'run.json'}")
    if not summary.maps:
        console.print(f"  (no maps this time: build them with `lomsong map --run {out}`)")


def print_headline(headline: dict[str, float]) -> None:
    """Print the people in gaps, covered and without enough evidence, each of the same denominator."""

    def part(key: str, label: str) -> str:
        share = headline[key.replace("people_", "share_")]
        percent = f"{share:.1%}" if share == share else "–"
        return f"{_number(headline[key])} {label} ({percent})"

    console.print(
        f"Of {_number(headline['population'])} people: "
        + "; ".join(
            [
                part("people_in_gaps", "in vùng lõm sóng"),
                part("people_covered", "covered"),
                part("people_without_evidence", "[bold]without enough measurements to say[/]"),
            ]
        )
        + "."
    )


@app.command()
def run(
    measurements: list[Path] = typer.Option(
        None,
        "--measurements",
        "-m",
        help="Measurement files or folders: several after one -m (-m a.txt b.txt logs/), or -m repeated. "
        "Read and validated like `lomsong ingest`, not stored. Default: the bundled demo files in "
        "data/measurements/.",
    ),
    more_measurements: list[Path] = typer.Argument(
        None,
        hidden=True,
        metavar="-m PATH PATH …",
        help="The further paths after -m FILE (the shell gives -m a.txt b.txt as one flag and a list).",
    ),
    store: Path = typer.Option(None, "--store", help="Read the measurement store in DIR instead of files."),
    boundaries: Path = typer.Option(None, "--boundaries", help="Commune boundaries (default: bundled)."),
    population: Path = typer.Option(
        None, "--population", help="Population raster, e.g. WorldPop 100 m (default: the census surface)."
    ),
    calibrate: bool = typer.Option(
        False, "--calibrate", help="With --population: scale each commune's people to its 2019 census total."
    ),
    villages: Path = typer.Option(
        None,
        "--villages",
        help="Village layer, CSV, GeoJSON or XLSX, English or Vietnamese headers (default with the demo data: "
        "its synthetic list).",
    ),
    population_source: str = typer.Option(
        "auto",
        "--population-source",
        help="Where the people come from: villages (around the village centres), buildings (--buildings), "
        "raster (--population), even (census spread evenly). auto: --buildings or --population when given, "
        "else the villages when given (the demo's too), else even.",
    ),
    buildings: Path = typer.Option(
        None, "--buildings", help="Building footprints (GeoParquet, GPKG, GeoJSON, FlatGeobuf; polygons or points)."
    ),
    sites: Path = typer.Option(
        None,
        "--sites",
        help="Operators' site list, CSV or XLSX (operator, site_id, lon, lat, technologies) for the radio map "
        "(default with the demo data: its synthetic list).",
    ),
    dem: Path = typer.Option(
        None,
        "--dem",
        help="DEM GeoTIFF (SRTM, Copernicus): adds a terrain term (effective antenna height) to the radio map.",
    ),
    config: Path = typer.Option(None, "--config", help="Options in TOML (thresholds, evidence rule, resolution)."),
    resolution: int = typer.Option(None, "--resolution", help="H3 resolution, 7 to 10 (default 8)."),
    out: Path = typer.Option(None, "--out", help="Run folder (default: maps/)."),
    since: str = typer.Option(None, "--since", help="Only measurements from this date (Vietnam time)."),
    until: str = typer.Option(None, "--until", help="Only measurements before this date (Vietnam time)."),
    period: str = typer.Option(None, "--period", help="A month YYYY-MM: its data, written to <out>/periods/<month>/."),
    maps: bool = typer.Option(True, "--maps/--no-maps", help="Build the maps too."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    engine: str = typer.Option(
        "local", "--engine", help="local, or dask: index and aggregate the store on a Dask cluster (needs --store)."
    ),
    scheduler: str = typer.Option(
        None, "--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: a local cluster)."
    ),
    claims: list[Path] = typer.Option(
        None,
        "--claims",
        help="Claimed-coverage map to check against the measurements, read and not stored (repeat for several). "
        "Default: the latest stored claim per operator × technology (`lomsong ingest --claims`).",
    ),
    claims_operator: str = typer.Option(None, "--claims-operator", help="Operator of --claims files that do not say."),
    claims_technology: str = typer.Option(
        None, "--claims-technology", help="Technology of --claims files that do not say."
    ),
    claims_date: str = typer.Option(None, "--claims-date", help="Publication date of --claims files that do not say."),
) -> None:
    """Find the coverage gaps and write maps, gap lists (CSV, XLSX, GeoJSON, GPKG, KML) and run.json."""
    if more_measurements and not measurements:
        fail(f"{more_measurements[0]}: give measurement files after --measurements/-m (e.g. -m a.txt b.txt)")
    measurements = [*(measurements or []), *(more_measurements or [])]
    if measurements and store:
        fail("give either --measurements or --store, not both")
    if maps:
        from lomsong.jobs import start_maps_early

        start_maps_early()  # its imports overlap the run's, which follow
    from lomsong.jobs.run import run_analysis

    try:
        with run_progress(show=not quiet) as progress:
            summary = run_analysis(
                measurement_paths=_expand(measurements),
                store=store,
                boundaries=boundaries,
                population=population,
                calibrate_population=calibrate,
                villages=villages,
                config=config,
                resolution=resolution,
                out=out,
                since=since,
                until=until,
                period=period,
                progress=progress,
                maps=maps,
                engine=engine,
                scheduler=scheduler,
                claims=claims,
                claims_operator=claims_operator,
                claims_technology=claims_technology,
                claims_date=claims_date,
                population_source=population_source,
                buildings=buildings,
                sites=sites,
                dem=dem,
            )
    except LomsongError as exc:
        fail(str(exc))
    print_summary(summary)


@app.command()
def demo(
    out: Path = typer.Option(None, "--out", help="Run folder (default: maps/)."),
    force: bool = typer.Option(False, "--force", help="Simulate the demo measurements again."),
    maps: bool = typer.Option(True, "--maps/--no-maps", help="Build the maps too."),
    periods: bool = typer.Option(
        True, "--periods/--no-periods", help="Also run 2026-09 and 2026-10 alone, compare them and write the report."
    ),
) -> None:
    """Simulate the synthetic demo data (once), run the analysis, then two monthly runs, their change and report."""
    from lomsong.simulate.demo import ensure_demo_data

    written = ensure_demo_data(force=force)
    from lomsong.reference.boundaries import read_communes
    from lomsong.simulate.claims import ensure_demo_claims

    sites = paths.data_dir() / "villages" / "daknong_synthetic_sites.csv"
    if sites.exists():
        written += ensure_demo_claims(sites, read_communes(), force=force)
    console.print(
        f"demo data: {len(written)} synthetic file(s) in {paths.measurements_dir()} "
        "(simulated measurements, not real ones)"
    )
    from lomsong.jobs.run import run_analysis

    try:
        with run_progress() as progress:
            summary = run_analysis(out=out, maps=maps, progress=progress)
    except LomsongError as exc:
        fail(str(exc))
    print_summary(summary)
    if periods:
        from lomsong.jobs.monthly import demo_periods

        console.rule("Monthly runs, change and report (synthetic demo)")
        with run_progress() as progress:
            made = demo_periods(out=out, progress=progress)
        change = made.comparison.view()
        console.print(
            f"{made.periods[0]} → {made.periods[1]}, vùng lõm sóng (all operators): "
            f"{int(change['closed'])} closed, {int(change['not_remeasured'])} not measured again, "
            f"{int(change['new'])} new, {int(change['persisting'])} persisting, "
            f"{_number(change['people_newly_covered'])} people newly covered"
        )
        console.print(f"  monthly runs: {', '.join(str(f) for f in made.run_folders)}")
        console.print(f"  change:       {next(iter(made.comparison_files.values())).parent}")
        console.print(f"  report:       {made.report.pdf}")
        console.print(f"                {made.report.html}")
        section = made.report.report.commitments
        if section is not None:
            from lomsong.products.report.commitments import status_counts

            console.print(f"  {status_counts(section)}")
