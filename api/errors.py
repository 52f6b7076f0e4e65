"""The API's query errors: what a request cannot get, with the HTTP status to answer.

Raised by the framework-free modules (:mod:`api.query`, :mod:`api.prepare`, …) and turned into the
JSON body ``{"code", "message", "field"}`` by the application's error handlers.
"""

from __future__ import annotations

from typing import Any

from lomsong.errors import LomsongError


class QueryError(LomsongError, ValueError):
    """A request cannot be answered as asked.

    Parameters
    ----------
    message : str
        What is wrong, for a person.
    code : str
        Machine code (``invalid_parameter``, ``not_found``, …).
    field : str or None
        The offending parameter or field.
    status : int
        HTTP status the web layer should answer with.
    """

    def __init__(self, message: str, code: str = "invalid_parameter", field: str | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.status = status

    def to_dict(self) -> dict[str, Any]:
        """Return the error body: ``{"code", "message", "field"}``."""
        return {"code": self.code, "message": self.message, "field": self.field}

class NotFoundError(QueryError):
    """The named item does not exist (HTTP 404)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message, code="not_found", field=field, status=404)
