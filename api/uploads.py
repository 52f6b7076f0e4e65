"""Upload size limit, enforced before the multipart body is parsed.

A request announcing a larger ``Content-Length`` is refused at once with a JSON 413; a body
that grows past the limit while being read (chunked uploads) is cut off the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class UploadTooLargeError(Exception):
    """The request body is above the configured upload limit."""


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
            await self._refuse(send, int(announced))
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise UploadTooLargeError(self._message(received))
            return message

        await self.app(scope, limited_receive, send)

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
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
