"""The ``ingest`` command: read measurement files into the store and report what happened to every row."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from lomsong import paths
from lomsong.cli._app import app, console, err_console, fail

if TYPE_CHECKING:
    from lomsong.readers import IngestReport

#: The reader names of :data:`lomsong.readers.REGISTRY`, spelt out so that ``--help`` need not
#: import the readers (pandas, pyarrow, geopandas); ``tests/cli/test_startup.py`` keeps them equal.
FORMAT_NAMES = ("gnettrack", "opencellid", "ookla", "generic_csv")


def _reason(code: str) -> str:
    """A reason's words and its code (the code alone when the vocabulary has no words for it)."""
    from lomsong.products.words import bilingual

    label = bilingual(code)
    return code if label == code else f"{label} ({code})"


def report_table(report: IngestReport) -> Table:
    """Return a rich table of one file's ingest report (Vietnamese first, English after)."""
    title = f"{Path(report.file).name} — {report.format}"
    if report.synthetic:
        title += " (dữ liệu mô phỏng / synthetic)"
    if report.duplicate_file:
        title += " — đã có trong kho, không thêm gì / already stored, nothing added"
    table = Table(title=title, title_justify="left")
    table.add_column("Mục / item")
    table.add_column("Số dòng / rows", justify="right")
    table.add_column("Ví dụ dòng / example lines")
    table.add_row("Đã đọc / rows read", f"{report.rows_read:,}", "")
    table.add_row("Chấp nhận / accepted", f"{report.accepted:,}", "")
    table.add_row("  trong đó mất sóng / of which no service", f"{report.no_service:,}", "")
    table.add_row(
        "Ngoài tỉnh / outside province",
        f"{report.outside_province:,}",
        ", ".join(map(str, report.examples.get("outside_province", []))),
    )
    if report.rejected:
        table.add_section()
        for reason, count in report.rejected.items():
            examples = ", ".join(map(str, report.examples.get(reason, [])))
            table.add_row(f"Loại bỏ / rejected: {_reason(reason)}", f"{count:,}", examples)
    if report.values_rejected or report.corrected:
        table.add_section()
        for reason, count in report.values_rejected.items():
            examples = ", ".join(map(str, report.examples.get(f"value:{reason}", [])))
            table.add_row(f"Giá trị bỏ / value removed: {_reason(reason)}", f"{count:,}", examples)
        for reason, count in report.corrected.items():
            examples = ", ".join(map(str, report.examples.get(reason, [])))
            table.add_row(f"Đã sửa / corrected: {_reason(reason)}", f"{count:,}", examples)
    return table


def _list_store(store) -> None:
    ledger = store.files()
    if ledger.empty:
        console.print(f"kho trống / the store {store.path} is empty")
        return
    table = Table(title=f"Kho đo đạc / measurement store: {store.path}", title_justify="left")
    for column, justify in [
        ("sha256", "left"),
        ("file", "left"),
        ("format", "left"),
        ("owner", "left"),
        ("ingested (UTC)", "left"),
        ("rows read", "right"),
        ("accepted", "right"),
        ("no service", "right"),
        ("rejected", "right"),
    ]:
        table.add_column(column, justify=justify)
    for row in ledger.itertuples():
        name = row.file + (" (synthetic)" if row.synthetic else "")
        table.add_row(
            row.sha256[:12],
            name,
            row.format,
            row.owner or "",
            row.ingested_at.strftime("%Y-%m-%d %H:%M"),
            f"{row.rows_read:,}",
            f"{row.accepted:,}",
            f"{row.no_service:,}",
            f"{sum(row.rejected.values()):,}",
        )
    table.add_section()
    table.add_row(
        "",
        f"{len(ledger)} files",
        "",
        "",
        "",
        f"{ledger['rows_read'].sum():,}",
        f"{ledger['accepted'].sum():,}",
        f"{ledger['no_service'].sum():,}",
        f"{sum(sum(r.values()) for r in ledger['rejected']):,}",
    )
    console.print(table)


@contextlib.contextmanager
def ingest_progress() -> Iterator[Callable[[Any], None]]:
    """Render ingest events (:class:`lomsong.jobs.ingest.IngestEvent`) as a transient rich progress line."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True, console=err_console
    ) as bar:
        task = bar.add_task("ingesting")

        def show(event: Any) -> None:
            where = f"{event.file.name} ({event.number}/{event.total})"
            bar.update(task, description=f"ingesting {where}: {event.rows:,} rows accepted so far")

        yield show


def _ingest_claims(store, claims, operator, technology, claim_date, class_table, owner, report_path) -> None:
    """Store claim maps and print one line per file (the CLI side of ``ingest --claims``)."""
    from lomsong.jobs.ingest import ingest_claims

    reports = ingest_claims(
        store, claims, operator=operator, technology=technology, claim_date=claim_date, class_table=class_table,
        owner=owner,
    )
    for report in reports:
        if report.error:
            err_console.print(f"[bold red]error:[/] {report.error}")
            continue
        label = " (dữ liệu mô phỏng / synthetic)" if report.synthetic else ""
        state = "đã có trong kho / already stored" if report.duplicate_file else "đã lưu / stored"
        console.print(
            f"vùng phủ khai báo / claimed coverage: {Path(report.file).name}{label} — {report.format}, "
            f"{report.accepted:,} vùng / areas, {state}"
        )
    if report_path is not None:
        report_path.write_text(json.dumps([r.to_dict() for r in reports], ensure_ascii=False, indent=2) + "\n")
    failed = [r for r in reports if r.error]
    if failed:
        fail(f"{len(failed)} claim file(s) could not be read: {', '.join(r.file for r in failed)}", code=1)


@app.command()
def ingest(
    files: list[Path] = typer.Argument(None, help="Measurement files (CSV, G-NetTrack, OpenCelliD, Ookla)."),
    format_name: str = typer.Option(
        None, "--format", help=f"Format of every file: {', '.join(FORMAT_NAMES)} (default: detected per file)."
    ),
    operator: str = typer.Option(
        None, "--operator", help="Operator of rows whose file does not say (id, name or PLMN)."
    ),
    store_dir: Path = typer.Option(None, "--store", help="Store folder (default data/store)."),
    report_path: Path = typer.Option(None, "--report", help="Write the reports as JSON (one object per file)."),
    owner: str = typer.Option("admin", "--owner", help="Who uploads (recorded in the ledger)."),
    list_only: bool = typer.Option(False, "--list", help="Show what is stored and exit."),
    remove: str = typer.Option(
        None, "--remove", metavar="SHA256", help="Remove one stored file (by its sha256) and its rows, then exit."
    ),
    everywhere: bool = typer.Option(False, "--no-province-filter", help="Keep rows outside Đắk Nông too."),
    claims: list[Path] = typer.Option(
        None,
        "--claims",
        help="A claimed-coverage map (GeoJSON, KML/KMZ, zipped shapefile, GPKG, classified GeoTIFF) to store, "
        "ledgered like measurements; repeat for several. Use with --operator, --technology, --claim-date.",
    ),
    technology: str = typer.Option(None, "--technology", help="With --claims: technology claimed (2G, 3G, 4G, 5G)."),
    claim_date: str = typer.Option(None, "--claim-date", help="With --claims: the map's publication date."),
    class_table: Path = typer.Option(None, "--classes", help="With a GeoTIFF claim: its class table (CSV)."),
) -> None:
    """Ingest measurement files into the store; print what was accepted and why the rest was not."""
    from lomsong.jobs.ingest import ingest_files
    from lomsong.operators import operator_from_name
    from lomsong.tables.store import MeasurementStore

    if format_name is not None and format_name not in FORMAT_NAMES:
        fail(f"unknown format {format_name!r}; choose one of {', '.join(FORMAT_NAMES)}")
    if operator is not None and operator_from_name(operator) is None:
        fail(f"unknown operator {operator!r}; use viettel, vinaphone, mobifone, vietnamobile, gmobile or a PLMN")
    if report_path is not None and (report_path.is_dir() or not report_path.parent.is_dir()):
        # said before anything is stored (or a store created), not after
        fail(f"{report_path}: --report needs a file name in an existing folder")
    if (list_only or remove) and not ((store_dir or paths.store_dir()) / "ledger.sqlite").is_file():
        # listing or removing must not create an empty store where there was none
        fail(f"{store_dir or paths.store_dir()}: no measurement store here; add files with `lomsong ingest FILE`")
    try:
        store = MeasurementStore(store_dir)
    except OSError as exc:
        fail(f"{store_dir}: cannot open the store: {exc}")
    if remove:
        if not store.remove(remove.strip().lower()):
            fail(f"{store.path}: no stored file with sha256 {remove}; see `lomsong ingest --list`")
        console.print(f"đã xoá / removed {remove} from {store.path}")
        return
    if list_only:
        _list_store(store)
        return
    if claims:
        _ingest_claims(store, claims, operator, technology, claim_date, class_table, owner, report_path)
        if not files:
            return
    if not files:
        fail("give at least one FILE (or --list)")
    with ingest_progress() as progress:
        reports = ingest_files(
            store,
            files,
            format=format_name,
            operator=operator,
            owner=owner,
            communes=False if everywhere else None,
            progress=progress,
        )
    failed = [r for r in reports if r.error]
    for report in reports:
        if report.error:
            err_console.print(f"[bold red]error:[/] {report.error}")
        else:
            console.print(report_table(report))
    good = [r for r in reports if not r.error]
    console.print(
        f"tổng / summary: {len(good)} of {len(reports)} files read"
        f" ({sum(r.duplicate_file for r in good)} already stored); "
        f"{sum(r.rows_read for r in good):,} rows read, {sum(r.accepted for r in good):,} accepted "
        f"({sum(r.no_service for r in good):,} no service), "
        f"{sum(r.outside_province for r in good):,} outside the province, "
        f"{sum(r.rejected_total for r in good):,} rejected; store: {store.path}"
    )
    if report_path is not None:
        try:
            report_path.write_text(json.dumps([r.to_dict() for r in reports], ensure_ascii=False, indent=2) + "\n")
        except OSError as exc:
            fail(f"{report_path}: cannot write the report: {exc.strerror or exc}")
    if failed:
        fail(f"{len(failed)} file(s) could not be read: {', '.join(r.file for r in failed)}", code=1)
