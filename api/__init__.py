"""The lomsong web API: gap lists, OGC API - Features, map pages, uploads with keys.

:func:`api.app.create_app` builds the FastAPI application; ``lomsong serve`` runs it with
uvicorn. The route functions are thin: filtering, paging and serialisation live in
:mod:`api.core` (no web framework there), keys in :mod:`api.keys`, configuration in
:mod:`api.settings`.
"""

from __future__ import annotations

from api.settings import ApiSettings, SettingsError

__all__ = ["ApiSettings", "SettingsError"]
