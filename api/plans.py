"""``POST /plans``: the remedy plan (phương án xử lý) over HTTP, for admin and operator keys.

The route parses and bounds the options of ``lomsong plan`` and calls :func:`lomsong.jobs.plan.run_plan`
on the served run; no analysis happens here. An operator key plans its own network only (another
operator's → 403); an admin key plans any, the vùng lõm sóng view (``all``) included. Each plan is
kept in ``<run folder>-plans/<id>/`` with who asked for it, so ``GET /plans/{id}`` and its
downloads (plan.csv, plan.xlsx, plan.geojson) answer its owner and the admins only.

Large work cannot hold the server: at most :data:`MAX_SITES` sites and :data:`MAX_CANDIDATES`
uploaded candidates of at most :data:`MAX_CANDIDATE_BYTES`; one plan is computed at a time (the
others wait up to :data:`WAIT_SECONDS`, then get a 503 with ``Retry-After``); the work runs in a
worker thread, so the other endpoints keep answering meanwhile.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response

from api.context import AppContext, context, error_responses, optional_key
from api.core import QueryError
from api.keys import HEADER, ApiKey
from api.responses import json_response
from api.uploads import upload_name
from lomsong.errors import LomsongError, SiteError

#: Most sites one request may ask for.
MAX_SITES = 50
#: Most rows and bytes of an uploaded candidates file.
MAX_CANDIDATES = 5000
MAX_CANDIDATE_BYTES = 2 * 1024 * 1024
#: How long a request waits for the plan being computed before it is told to come back.
WAIT_SECONDS = 20.0
#: The downloads of a plan, with their media types.
DOWNLOADS = {
    "plan.csv": "text/csv; charset=utf-8",
    "plan.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "plan.geojson": "application/geo+json",
}
_PLAN_ID = re.compile(r"^[0-9a-f]{12}$")
_RECORD = "plan_response.json"


def planner(key: ApiKey | None = Depends(optional_key)) -> ApiKey:
    """Dependency of the plan endpoints: an operator or admin key."""
    if key is None:
        raise QueryError(f"plans need an operator or admin key in {HEADER}", "missing_key", HEADER, 401)
    if key.role not in ("operator", "admin"):
        raise QueryError(f"a {key.role} key cannot make plans; use an operator or admin key", "forbidden", HEADER, 403)
    return key


def plans_folder(ctx: AppContext) -> Path:
    """Where plans are kept: beside the served run (never inside it: a new run replaces that folder)."""
    run = Path(ctx.settings.run_folder)
    return run.with_name(f"{run.name}-plans")


def _network(key: ApiKey, operator: str | None) -> str:
    """The network to plan: an operator key's own; an admin's choice (``all``: the vùng lõm sóng view)."""
    from lomsong.operators import OPERATOR_IDS, operator_from_name
    from lomsong.tables.results import ALL_OPERATORS

    wanted = (operator or "").strip()
    if wanted.lower() == ALL_OPERATORS:
        chosen = ALL_OPERATORS
    elif wanted:
        chosen = operator_from_name(wanted)
        if chosen is None:
            raise QueryError(
                f"operator {wanted!r} is not known; use one of {', '.join([*OPERATOR_IDS, ALL_OPERATORS])}",
                field="operator",
            )
    else:
        chosen = key.operator if key.role == "operator" else "viettel"  # the CLI's default
    if key.role == "operator" and chosen != key.operator:
        raise QueryError(
            f"operator {wanted!r}: a {key.operator} key plans only the {key.operator} network; "
            "ask the department (an admin key) for other networks",
            code="other_operator",
            field="operator",
            status=403,
        )
    return chosen


def _save_candidates(upload: UploadFile, folder: Path) -> tuple[Path, str]:
    """Copy an uploaded candidates file (bounded) into ``folder``; return its path and shown name."""
    name = upload_name(upload.filename)
    suffix = Path(name).suffix.lower()
    if suffix not in (".csv", ".txt", ".xlsx"):
        raise QueryError(f"{name}: candidates must be a .csv or .xlsx file", code="unreadable_file", field="candidates")
    path = folder / f"candidates{suffix}"  # never the client's name as a path
    size = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(256 * 1024):
            size += len(chunk)
            if size > MAX_CANDIDATE_BYTES:
                raise QueryError(
                    f"{name}: larger than {MAX_CANDIDATE_BYTES // 1024 // 1024} MB; a candidates file lists at most "
                    f"{MAX_CANDIDATES:,} positions",
                    code="too_large",
                    field="candidates",
                    status=413,
                )
            out.write(chunk)
    if size == 0:
        raise QueryError(f"{name}: the file is empty", code="empty_file", field="candidates")
    return path, name


def _plan_body(summary: Any, plan_id: str, base: str, options: dict[str, Any], synthetic: bool) -> dict[str, Any]:
    import orjson

    plan = summary.plan
    records = orjson.loads(plan.to_json(orient="records", force_ascii=False))
    links = [{"rel": "self", "type": "application/json", "href": f"{base}/plans/{plan_id}"}]
    links += [
        {"rel": "enclosure", "type": media.split(";")[0], "title": name, "href": f"{base}/plans/{plan_id}/{name}"}
        for name, media in DOWNLOADS.items()
    ]
    return {
        "id": plan_id,
        "operator": summary.operator,
        "technology": summary.technology,
        "options": options,
        "synthetic": synthetic,
        "prediction": True,
        "note": "a prediction from the radio map's fitted model, not a measurement",
        "people_in_scope_measured": round(summary.people_in_scope_measured, 1),
        "people_in_scope_predicted": round(summary.people_in_scope_predicted, 1),
        "people_newly_covered": round(float(plan["people_newly_covered"].sum()), 1) if len(plan) else 0.0,
        "people_newly_covered_measured": round(float(plan["people_newly_covered_measured"].sum()), 1)
        if len(plan)
        else 0.0,
        "people_newly_covered_predicted": round(float(plan["people_newly_covered_predicted"].sum()), 1)
        if len(plan)
        else 0.0,
        "sites": records,
        "links": links,
    }


def _owned_plan(ctx: AppContext, key: ApiKey, plan_id: str) -> Path:
    folder = plans_folder(ctx) / plan_id
    record = folder / _RECORD
    owner = None
    if _PLAN_ID.fullmatch(plan_id) and record.exists():
        owner = json.loads(record.read_text(encoding="utf-8")).get("owner")
    if owner is None or (key.role != "admin" and owner != key.owner):
        # the same answer whether the plan is someone else's or absent: nothing leaks
        raise QueryError(f"no plan {plan_id} among yours", code="not_found", field="plan_id", status=404)
    return folder


def add_plan_routes(app: FastAPI) -> None:
    """Register ``POST /plans``, ``GET /plans``, ``GET /plans/{id}`` and the downloads on ``app``."""
    app.state.plan_slot = threading.BoundedSemaphore(1)
    router = APIRouter(tags=["plans"])

    @router.post("/plans", status_code=201, responses=error_responses(400, 401, 403, 413, 422, 503))
    def create_plan(
        request: Request,
        operator: str | None = Form(
            None,
            max_length=40,
            description="network that builds (operator keys: their own, the default); admin: any, or 'all'",
        ),
        technology: str = Form("4G", max_length=4, description="technology of the new sites: 2G, 3G, 4G or 5G"),
        sites: int = Form(10, ge=1, le=MAX_SITES, description=f"sites to propose (1 to {MAX_SITES})"),
        antenna_m: float = Form(30.0, ge=5.0, le=150.0, description="antenna height of a new site (m)"),
        candidates: UploadFile | None = File(
            None,
            description=f"candidate positions, CSV or XLSX (id, lon, lat[, note, cost]; at most {MAX_CANDIDATES:,} "
            "rows); default: villages near gaps, commune centres and the other operators' sites",
        ),
        ctx: AppContext = Depends(context),
        key: ApiKey = Depends(planner),
    ) -> Response:
        """Propose new or shared sites for one network from the served run (greedy maximal coverage).

        The same options as ``lomsong plan``. Answers with the ordered sites (JSON, a prediction
        from the radio map, never evidence) and links to plan.csv, plan.xlsx and plan.geojson.
        """
        from lomsong.jobs.plan import run_plan
        from lomsong.settings import TECHNOLOGIES

        network = _network(key, operator)
        technology = technology.strip().upper()
        if technology not in TECHNOLOGIES:
            raise QueryError(f"technology {technology!r}: use one of {', '.join(TECHNOLOGIES)}", field="technology")
        prepared = ctx.results.require()  # 503 when nothing is served yet
        plan_id = uuid.uuid4().hex[:12]
        target = plans_folder(ctx) / plan_id
        scratch = Path(tempfile.mkdtemp(prefix="lomsong-plan-"))
        shown = "default"
        try:
            path = None
            if candidates is not None and (candidates.filename or candidates.size):
                path, shown = _save_candidates(candidates, scratch)
                rows = _count_rows(path)
                if rows > MAX_CANDIDATES:
                    raise QueryError(
                        f"{shown}: {rows:,} candidates; at most {MAX_CANDIDATES:,} per plan",
                        code="too_large",
                        field="candidates",
                        status=413,
                    )
            if not request.app.state.plan_slot.acquire(timeout=WAIT_SECONDS):
                raise _BusyError()
            try:
                summary = run_plan(
                    ctx.settings.run_folder,
                    scratch / "plan",
                    operator=network,
                    technology=technology,
                    n_sites=sites,
                    candidates=path,
                    antenna_m=antenna_m,
                    boundaries=ctx.settings.boundaries,
                )
            finally:
                request.app.state.plan_slot.release()
            options = {"sites": sites, "antenna_m": antenna_m, "candidates": shown}
            body = _plan_body(summary, plan_id, str(request.base_url).rstrip("/"), options, prepared.synthetic)
            record = {
                "owner": key.owner,
                "requested_by": key.name,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "body": body,
            }
            (scratch / "plan" / _RECORD).write_text(json.dumps(record, ensure_ascii=False, default=str), "utf-8")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(scratch / "plan"), target)  # whole, or not at all
        except _BusyError:
            raise QueryError(
                "another plan is being computed; try again in a minute", code="busy", status=503
            ) from None
        except QueryError:
            raise
        except SiteError as exc:
            message = str(exc).replace(str(path), shown) if path else str(exc)
            raise QueryError(message, code="unreadable_file", field="candidates") from None
        except LomsongError as exc:  # RunError: no radio-map model for the view, no such view
            message = str(exc).replace(str(ctx.settings.run_folder), "the served run").replace(str(scratch), "")
            raise QueryError(message, code="cannot_plan", field=None, status=422) from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return json_response(body, status=201, headers={"Location": f"/plans/{plan_id}"})

    @router.get("/plans", responses=error_responses(401, 403))
    def plans(
        request: Request, ctx: AppContext = Depends(context), key: ApiKey = Depends(planner)
    ) -> Response:
        """The plans made earlier, newest first (an operator key: its own; admin: all), at most 100."""
        base = str(request.base_url).rstrip("/")
        items = []
        folder = plans_folder(ctx)
        records = sorted(folder.glob(f"*/{_RECORD}"), key=lambda path: path.stat().st_mtime, reverse=True)
        for path in records:  # one small JSON per kept plan
            record = json.loads(path.read_text(encoding="utf-8"))
            if key.role != "admin" and record.get("owner") != key.owner:
                continue
            body = record["body"]
            items.append(
                {
                    "id": body["id"],
                    "operator": body["operator"],
                    "technology": body["technology"],
                    "created_at": record.get("created_at"),
                    "requested_by": record.get("requested_by"),
                    "sites": len(body["sites"]),
                    "people_newly_covered": body["people_newly_covered"],
                    "synthetic": body["synthetic"],
                    "links": [{"rel": "self", "type": "application/json", "href": f"{base}/plans/{body['id']}"}],
                }
            )
            if len(items) == 100:
                break
        return json_response({"items": items})

    @router.get("/plans/{plan_id}", responses=error_responses(401, 403, 404))
    def plan(
        plan_id: str = PathParam(..., max_length=12, description="the id POST /plans answered"),
        ctx: AppContext = Depends(context),
        key: ApiKey = Depends(planner),
    ) -> Response:
        """A plan made earlier (only your own; admin: any)."""
        folder = _owned_plan(ctx, key, plan_id)
        return json_response(json.loads((folder / _RECORD).read_text(encoding="utf-8"))["body"])

    @router.get(
        "/plans/{plan_id}/{name}",
        responses={200: {"description": "plan.csv, plan.xlsx or plan.geojson"}, **error_responses(401, 403, 404)},
        response_class=Response,
    )
    def plan_file(
        plan_id: str = PathParam(..., max_length=12),
        name: str = PathParam(..., max_length=20, description=", ".join(DOWNLOADS)),
        ctx: AppContext = Depends(context),
        key: ApiKey = Depends(planner),
    ) -> Response:
        """Download a plan's file (only your own; admin: any)."""
        folder = _owned_plan(ctx, key, plan_id)
        if name not in DOWNLOADS:
            files = ", ".join(DOWNLOADS)
            raise QueryError(f"no file {name!r}; a plan has {files}", code="not_found", field="name", status=404)
        return FileResponse(folder / name, media_type=DOWNLOADS[name], filename=f"{plan_id}-{name}")

    app.include_router(router)


class _BusyError(Exception):
    """The plan slot stayed taken."""


def _count_rows(path: Path) -> int:
    """Rows of a candidates file, without parsing it (CSV: lines; XLSX: the sheet's dimension)."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(path, read_only=True).worksheets[0]
            return max(int(sheet.max_row or 0) - 1, 0)
        except Exception:  # an unreadable workbook: the reader will say why, with the file's name
            return 0
    with path.open("rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


__all__ = ["MAX_CANDIDATES", "MAX_SITES", "add_plan_routes", "planner", "plans_folder"]
