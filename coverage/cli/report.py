"""Commands over stored periods: ``periods`` (list them), ``compare`` (change) and ``report`` (monthly report)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from lomsong.cli._app import app, console, fail
from lomsong.errors import LomsongError

_RUNS_HELP = "Products folder holding periods/ (default: maps/ or $LOMSONG_OUT), as given to `lomsong run --out`."


def _people(value: float) -> str:
    return f"{value:,.0f}"


@app.command()
def periods(runs: Path = typer.Option(None, "--runs", help=_RUNS_HELP)) -> None:
    """List the stored periods (monthly runs) with their gaps and people in gaps."""
    import json

    from lomsong.tables.periods import list_periods, period_dir, periods_root

    names = list_periods(runs)
    if not names:
        console.print(f"no stored periods in {periods_root(runs)}; make one with `lomsong run --period YYYY-MM`")
        return
    table = Table(title="Stored periods (lõm sóng view: no operator covers)", title_justify="left")
    for column in ("period", "measurements", "gaps", "people in gaps", "data", "folder"):
        table.add_column(column, justify="right" if column in ("measurements", "gaps", "people in gaps") else "left")
    for name in names:  # one small run.json per stored month
        meta = json.loads((period_dir(name, runs) / "run.json").read_text(encoding="utf-8"))
        counts = meta.get("counts", {})
        table.add_row(
            name,
            _people(counts.get("measurements", 0)),
            str(counts.get("gaps_all", "–")),
            _people(counts.get("people_in_gaps_all", 0)),
            "[red]SYNTHETIC[/]" if meta.get("synthetic") else "real",
            str(period_dir(name, runs)),
        )
    console.print(table)


@app.command()
def compare(
    before: str = typer.Argument(..., help="Earlier period, YYYY-MM."),
    after: str = typer.Argument(..., help="Later period, YYYY-MM."),
    runs: Path = typer.Option(None, "--runs", help=_RUNS_HELP),
    out: Path = typer.Option(
        None, "--out", help="Folder for the CSV and GeoJSON (default: <runs>/compare/<before>_<after>/)."
    ),
) -> None:
    """Show what changed between two stored periods: gaps closed (measured covered), not remeasured, new, grew."""
    from lomsong.jobs.monthly import compare_periods, comparison_dir
    from lomsong.operators import display_name
    from lomsong.products.report.render import write_comparison
    from lomsong.products.words import bilingual
    from lomsong.tables.results import ALL_OPERATORS, ANY_TECHNOLOGY

    try:
        comparison = compare_periods(before, after, runs)
    except LomsongError as exc:
        fail(str(exc))
    label = " [bold red](SYNTHETIC data — dữ liệu mô phỏng)[/]" if comparison.synthetic else ""
    table = Table(title=f"Change {comparison.before} → {comparison.after}, per operator{label}", title_justify="left")
    columns = [
        "view",
        "gaps",
        "closed",
        "not remeasured",
        "new",
        "shrunk",
        "grew",
        "same",
        "people in gaps",
        "newly covered",
    ]
    for column in columns:
        table.add_column(column, justify="left" if column == "view" else "right")
    summary = comparison.summary[comparison.summary["technology"] == ANY_TECHNOLOGY]
    for row in summary.itertuples():  # one row per operator
        name = "all (lõm sóng)" if row.operator == ALL_OPERATORS else display_name(row.operator)
        table.add_row(
            name,
            f"{row.gaps_before} → {row.gaps_after}",
            str(row.closed),
            str(row.not_remeasured),
            str(row.new),
            str(row.shrunk),
            str(row.grew),
            str(row.persisting),
            f"{_people(row.people_in_gaps_before)} → {_people(row.people_in_gaps_after)}",
            _people(row.people_newly_covered),
        )
    console.print(table)
    for status, column, title in (
        ("closed", "population_before", "Gaps closed (their cells are measured covered now)"),
        ("not_remeasured", "population_before", "Gaps not measured again (unknown whether covered: measure them)"),
        ("new", "population_after", "New gaps"),
    ):
        rows = comparison.changes_of(status)
        if rows.empty:
            continue
        listing = Table(title=f"{title}: {len(rows)}", title_justify="left")
        for key in ("unit_2025", "commune", "population", "n_cells"):
            listing.add_column(bilingual(key), justify="right" if key in ("population", "n_cells") else "left")
        cells_column = "n_cells_after" if status == "new" else "n_cells_before"
        for change in rows.head(10).itertuples():
            unit = getattr(change, "unit_2025", None)
            listing.add_row(
                str(unit) if isinstance(unit, str) and unit else "–",
                str(change.commune),
                _people(getattr(change, column)),
                str(getattr(change, cells_column)),
            )
        if len(rows) > 10:
            listing.caption = f"… and {len(rows) - 10} more in changes.csv"
        console.print(listing)
    if len(comparison.villages):
        joined = int((comparison.villages["change"] == "joined").sum())
        left = int((comparison.villages["change"] == "left").sum())
        console.print(f"villages no operator covers: {left} left the list, {joined} joined it")
    folder = out if out is not None else comparison_dir(comparison.before, comparison.after, runs)
    written = write_comparison(comparison, folder)
    console.print(f"wrote {', '.join(written)} to {folder}")


@app.command()
def report(
    period: str = typer.Option(..., "--period", help="The month to report, YYYY-MM (its run must be stored)."),
    lang: str = typer.Option("vi", "--lang", help="vi (Vietnamese, default) or en."),
    units: str = typer.Option(
        "2025", "--units", help="2025 (default): the new Lâm Đồng units; 2019: the old communes and districts."
    ),
    runs: Path = typer.Option(None, "--runs", help=_RUNS_HELP),
    out: Path = typer.Option(None, "--out", help="Folder for the report files (default: <runs>/reports/<period>/)."),
    commitments: Path = typer.Option(
        None,
        "--commitments",
        help="Committed sites, CSV or XLSX (operator, site_id or lon/lat, technology, planned_month YYYY-MM[, note]): "
        "the report shows each site and whether the gaps around it closed.",
    ),
    plan: Path = typer.Option(None, "--plan", help="The remedy plan the commitments name (default: <runs>/plan/)."),
) -> None:
    """Write the monthly report (HTML, PDF, XLSX) of a stored period, compared with the previous one."""
    from lomsong.jobs.monthly import build_period_report

    if lang not in ("vi", "en"):
        fail(f"--lang {lang!r}: choose vi or en")
    if units not in ("2019", "2025"):
        fail(f"--units {units!r}: choose 2019 or 2025")
    with console.status(f"making the report of {period}"):
        try:
            files = build_period_report(
                period, out=runs, lang=lang, units=units, folder=out, commitments=commitments, plan_dir=plan
            )
        except LomsongError as exc:
            fail(str(exc))
    made = files.report
    if made.synthetic:
        console.print("[bold red]DỮ LIỆU MÔ PHỎNG — SYNTHETIC data: the report is marked as such on every page[/]")
    for headline in made.headlines:
        detail = f" ({headline.detail.strip().rstrip('.')})" if headline.detail and headline.detail.strip() else ""
        console.print(f"{headline.label}: [bold]{headline.text}[/]{detail}")
    console.print(f"previous period: {made.previous or 'none stored'}")
    if made.commitments is not None:
        from lomsong.products.report.commitments import status_counts

        console.print(status_counts(made.commitments))
    for kind, path in (("HTML", files.html), ("PDF", files.pdf), ("XLSX", files.xlsx)):
        console.print(f"{kind}: {path}")
