"""``lomsong plan``: the remedy plan (phương án xử lý) from a finished run."""

from __future__ import annotations

from pathlib import Path

import typer

from lomsong.cli._app import app, console, fail
from lomsong.errors import LomsongError


@app.command("plan")
def plan_command(
    operator: str = typer.Option(
        "viettel", "--operator", help="Operator that builds (its model and its gaps); 'all': the vùng lõm sóng view."
    ),
    technology: str = typer.Option("4G", "--technology", help="Technology of the new sites (2G, 3G, 4G, 5G)."),
    sites: int = typer.Option(10, "--sites", help="Number of sites to propose."),
    candidates: Path = typer.Option(
        None,
        "--candidates",
        help="Candidate positions, CSV or XLSX (id, lon, lat[, note, cost]); default: "
        "villages near gaps, commune centres and other operators' sites.",
    ),
    antenna_m: float = typer.Option(30.0, "--antenna-m", help="Antenna height of a new site (m)."),
    run: Path = typer.Option(None, "--run", help="Folder of the finished run (default: maps/)."),
    out: Path = typer.Option(None, "--out", help="Where to write the plan (default: <run>/plan/)."),
) -> None:
    """Propose new or shared sites, one at a time, each bringing the most people in gaps into coverage."""
    from lomsong.jobs.plan import run_plan

    try:
        summary = run_plan(
            run,
            out,
            operator=operator,
            technology=technology,
            n_sites=sites,
            candidates=candidates,
            antenna_m=antenna_m,
            progress=lambda message: console.print(f"  {message}"),
        )
    except LomsongError as exc:
        fail(str(exc))
    plan = summary.plan
    console.print(
        f"[bold]{len(plan)} site(s)[/] for {summary.operator} {summary.technology}: "
        f"{plan['people_newly_covered'].sum():,.0f} people newly covered "
        f"(measured gaps {plan['people_newly_covered_measured'].sum():,.0f} "
        f"of {summary.people_in_scope_measured:,.0f}; "
        f"predicted weak {plan['people_newly_covered_predicted'].sum():,.0f} of "
        f"{summary.people_in_scope_predicted:,.0f}) — a prediction from the radio map"
    )
    for row in plan.head(10).itertuples():
        console.print(f"  {row.order:>2}. {row.candidate_id}  +{row.people_newly_covered:,.0f}  ({row.commune})")
    console.print(f"  files: {', '.join(str(summary.out / f) for f in summary.files)}")
