"""Commands of the maps: ``map`` (rebuild the maps of the last run) and ``assets`` (vendor Leaflet)."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from lomsong import paths
from lomsong.cli._app import app, console, fail
from lomsong.errors import AssetError, BoundaryError, RunNotFoundError
from lomsong.products.words import LANGUAGES


@app.command("map")
def map_command(
    view: str = typer.Option("all", "--view", help="View to draw: all, or an operator id (viettel, vinaphone, ...)."),
    lang: str = typer.Option("vi", "--lang", help="Language of the maps: vi (default) or en."),
    run: Path = typer.Option(None, "--run", help="Folder of the finished run (default: the products folder, maps/)."),
    out: Path = typer.Option(None, "--out", help="Where to write index.html and communes/ (default: the run folder)."),
    boundaries: Path = typer.Option(None, "--boundaries", help="Commune boundary file (default: bundled)."),
    province_only: bool = typer.Option(
        False, "--province-only", help="Write index.html only, no commune or unit pages."
    ),
    self_contained: bool = typer.Option(
        False,
        "--self-contained",
        help="Put Leaflet into every page (heavier), so that one page can be sent alone by Zalo or e-mail. "
        "Default: the pages share assets/lomsong-maps.js and .css.",
    ),
) -> None:
    """Rebuild the interactive maps from the last run's outputs (no analysis is re-run)."""
    from lomsong.products.maps.assets import ensure_assets
    from lomsong.products.maps.build import build_maps
    from lomsong.products.maps.layers import available_views
    from lomsong.reference.boundaries import read_communes
    from lomsong.tables.results import load_run

    if lang not in LANGUAGES:
        fail(f"--lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    run_dir = Path(run) if run else paths.out_dir()
    try:
        results = load_run(run_dir)
    except RunNotFoundError as exc:
        fail(str(exc))
    views = available_views(results)
    if view not in views:
        fail(f"view {view!r} is not in the run at {run_dir}; available: {', '.join(views)}")
    try:
        communes = read_communes(boundaries)
        ensure_assets()
    except (BoundaryError, AssetError) as exc:
        fail(str(exc))
    out_dir = Path(out) if out else run_dir
    codes = [] if province_only else communes["commune_code"].astype(str).tolist()
    unit_codes = [] if province_only or "unit_2025" not in communes else None  # None: every 2025 unit
    n_units = 0 if unit_codes == [] or "unit_2025" not in communes else communes["unit_2025"].nunique()
    started = time.perf_counter()
    with Progress(
        TextColumn("maps"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"), console=console
    ) as progress:
        task = progress.add_task("", total=1 + len(codes) + n_units)
        written = build_maps(
            results,
            out_dir,
            communes,
            lang=lang,
            view_operator=view,
            commune_codes=codes,
            asset_mode="inline" if self_contained else "shared",
            unit_codes=unit_codes,
            on_page=lambda path: progress.update(task, advance=1, description=path.name),
        )
    index = written[0]
    console.print(
        f"maps: {index} ({index.stat().st_size / 1e6:.1f} MB), {len(codes)} commune pages in "
        f"{out_dir / 'communes'} and {len(written) - 1 - len(codes)} unit pages (2025) in {out_dir / 'units'}"
        f" — view {view}, language {lang}, {time.perf_counter() - started:.1f} s"
    )


@app.command("assets")
def assets_command() -> None:
    """Fetch Leaflet and its plugins from the npm registry into vendor/ (once; quick when present)."""
    from lomsong.products.maps.assets import ensure_assets

    try:
        root = ensure_assets(
            on_fetch=lambda package, version, target: console.print(
                f"vendored {package}@{version} from the npm registry into {target}"
            )
        )
    except AssetError as exc:
        fail(str(exc))
    console.print(f"map assets ready in {root}")
