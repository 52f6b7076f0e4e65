"""Upload size limit, enforced before the multipart body is parsed.

A request announcing a larger ``Content-Length`` is refused at once with a JSON 413; a body
that grows past the limit while being read (chunked uploads) is cut off the same way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lomsong._process import is_stale

#: Most bytes read and dropped after the limit before the connection is given up on.
DRAIN_CAP = 64 * 1024 * 1024


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


class BodyLimitMiddleware:
    """ASGI middleware refusing request bodies above ``limit`` bytes on the given path prefixes.

    Parameters
    ----------
    app : ASGI app
    limit : int
        Largest body in bytes.
    paths : sequence of str
        Path prefixes the limit applies to.
    """

    def __init__(self, app: ASGIApp, limit: int, paths: Sequence[str]) -> None:
        self.app = app
        self.limit = limit
        self.paths = tuple(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("POST", "PUT")
            or not scope["path"].startswith(self.paths)
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        announced = headers.get(b"content-length")
        if announced is not None and announced.isdigit() and int(announced) > self.limit:
            await self._drain(receive, more=True)
            await self._refuse(send, int(announced))
            return
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    too_large = True
                    await self._drain(receive, more=message.get("more_body", False))
                    # End the body here: whatever the app answers to the cut body is replaced below.
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        refused = False

        async def guarded_send(message: Message) -> None:
            nonlocal refused
            if not too_large:
                await send(message)
            elif not refused:
                refused = True
                await self._refuse(send, received)

        await self.app(scope, limited_receive, guarded_send)

    async def _drain(self, receive: Receive, more: bool) -> None:
        """Read and drop the rest of the body (bounded) so that the client reads our 413.

        Closing a socket with unread bytes makes the kernel reset the connection, and the client
        then sees a broken connection instead of the answer.
        """
        drained = 0
        cap = max(4 * self.limit, DRAIN_CAP)
        while more and drained < cap:
            message = await receive()
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            more = message.get("more_body", False)

    def _message(self, size: int) -> str:
        return (
            f"upload too large: {_megabytes(size)} or more, the limit is {_megabytes(self.limit)} "
            f"({self.limit} bytes); split the file or ask the department to raise max_upload_mb"
        )

    async def _refuse(self, send: Send, size: int) -> None:
        body = orjson.dumps({"code": "upload_too_large", "message": self._message(size), "field": "file"})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


# ----------------------------------------------------------------------------------------------
# Upload checks: what was stored per operator, rows naming another network, nothing usable


def stored_operator_counts(store: Any, sha256: str) -> dict[str, int]:
    """Return the stored rows of one file per operator (empty when nothing of it is stored)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = Path(store.dataset_path) / f"{sha256}.parquet"
    if not path.exists():
        return {}
    counts = pc.value_counts(pq.read_table(path, columns=["operator"]).column("operator")).to_pylist()
    return {str(item["values"]): int(item["counts"]) for item in counts if item["values"] is not None}


def labelled_reasons(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the report's reasons (rows rejected and outside the province) with Vietnamese and English labels."""
    from lomsong.products.words import reason_label

    counts = dict(report.get("rejected") or {})
    if report.get("outside_province"):
        counts["outside_province"] = int(report["outside_province"])
    return [
        {"code": code, "rows": int(rows), "label_vi": reason_label(code, "vi"), "label_en": reason_label(code, "en")}
        for code, rows in sorted(counts.items(), key=lambda item: -item[1])
        if rows
    ]


def rows_location(path: Path, format: str | None, operator: str | None) -> tuple[float, float] | None:  # noqa: A002
    """Return the median (lat, lon) of a file's valid rows, wherever they are (no province filter)."""
    from lomsong.readers import ReaderError, read_file

    try:
        rows = read_file(path, format=format, operator=operator, communes=None).measurements
    except (ReaderError, ValueError):
        return None
    if rows is None or not len(rows) or "lat" not in rows or "lon" not in rows:
        return None
    return float(rows["lat"].median()), float(rows["lon"].median())


def _degrees(lat: float, lon: float) -> str:
    return f"{abs(lat):.2f} {'N' if lat >= 0 else 'S'} {abs(lon):.2f} {'E' if lon >= 0 else 'W'}"


def nothing_usable_reason(name: str, report: dict[str, Any], location: tuple[float, float] | None) -> str:
    """Return the one-line reason a file gave no usable row, e.g. ``all 2,449 rows lie outside the province…``."""
    read = int(report.get("rows_read") or 0)
    outside = int(report.get("outside_province") or 0)
    if read == 0:
        return f"{name}: no data rows in the file; nothing was kept"
    if outside:
        where = f", around {_degrees(*location)}" if location else ""
        if outside == read:
            return f"{name}: all {read:,} rows lie outside the province{where}; nothing was kept"
        rest = [p for p in labelled_reasons(report) if p["code"] != "outside_province"]
        listing = "; ".join(f"{p['rows']:,} {p['label_en']} ({p['code']})" for p in rest[:4])
        return (
            f"{name}: all {outside:,} valid rows of {read:,} lie outside the province{where}; "
            f"the others: {listing}; nothing was kept"
        )
    parts = labelled_reasons(report)
    listing = "; ".join(f"{p['rows']:,} {p['label_en']} ({p['code']})" for p in parts[:4])
    return f"{name}: none of the {read:,} rows is usable: {listing}; nothing was kept"


# ----------------------------------------------------------------------------------------------
# Upload names and temporary copies

#: Longest upload name kept (the ledger and reports show it; the copy on disk never uses it).
MAX_NAME_CHARS = 120
#: Prefix of an upload's temporary folder; the server's process id follows, so that the next
#: start can tell the folders of a killed server from those of a live one.
TEMP_PREFIX = "lomsong-upload-"


def upload_name(filename: str | None) -> str:
    """Return a name to show for an uploaded file: its last part, no control characters, bounded.

    ``..``, ``a/../../..``, a NUL or 300 characters all give a plain, short name; the name is only
    ever shown (ledger, reports), never used as a path.

    Examples
    --------
    >>> upload_name("a/../../..")
    'upload'
    >>> upload_name("C:\\\\logs\\\\Yas_log.txt")
    'Yas_log.txt'
    """
    text = str(filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if ch.isprintable()).strip()
    if not text.strip("."):
        return "upload"
    if len(text) > MAX_NAME_CHARS:
        stem, dot, suffix = text.rpartition(".")
        keep = f".{suffix}" if dot and len(suffix) <= 10 else ""
        text = text[: MAX_NAME_CHARS - len(keep) - 1] + "…" + keep
    return text


def upload_temp_prefix() -> str:
    """Return the prefix of a new upload's temporary folder (``lomsong-upload-<pid>-``)."""
    return f"{TEMP_PREFIX}{os.getpid()}-"


def remove_stale_uploads(folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove the temporary upload copies a killed server left behind; return what was removed.

    A folder ``lomsong-upload-<pid>-…`` is stale when no process ``<pid>`` runs; a folder of the
    older form without a process id is stale when it is more than an hour old.
    """
    base = Path(folder or tempfile.gettempdir())
    removed = []
    for entry in base.glob(TEMP_PREFIX + "*"):
        rest = entry.name.removeprefix(TEMP_PREFIX)
        pid = rest.split("-", 1)[0]
        stale = is_stale(entry, pid, legacy_seconds=3600)
        if stale and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed

