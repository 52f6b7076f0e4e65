"""API configuration: defaults, then a TOML file, then environment variables.

A TOML file has one ``[api]`` table; an unknown key is an error naming it::

    [api]
    run_folder = "maps"             # finished run served by the read endpoints
    store_dir = "data/store"        # measurement store that uploads go into
    keys_db = "data/api_keys.sqlite"
    max_upload_mb = 50
    read_requires_key = false       # true: reads need a reader, operator or admin key

Environment variables override the file: ``LOMSONG_API_RUN_FOLDER``, ``LOMSONG_API_STORE_DIR``,
``LOMSONG_API_KEYS_DB``, ``LOMSONG_API_MAX_UPLOAD_MB``, ``LOMSONG_API_READ_REQUIRES_KEY``;
``LOMSONG_API_CONFIG`` names the TOML file when none is given. Relative paths in the file are
relative to the file's folder.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from lomsong import paths
from lomsong.errors import LomsongError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(LomsongError, ValueError):
    """The API configuration is invalid; the message names the key or variable and the reason."""


def _default_keys_db() -> Path:
    return paths.data_dir() / "api_keys.sqlite"


@dataclass(frozen=True)
class ApiSettings:
    """Validated API options.

    Attributes
    ----------
    run_folder : Path
        Folder of the finished run served by the read endpoints (default ``paths.out_dir()``).
    store_dir : Path
        Measurement store that uploads are ingested into (default ``paths.store_dir()``).
    keys_db : Path
        SQLite file holding the hashed API keys (default ``data/api_keys.sqlite``).
    max_upload_bytes : int
        Largest accepted upload; bigger requests get a 413.
    read_requires_key : bool
        When true, every read endpoint needs a reader, operator or admin key.
    boundaries : Path or None
        Commune boundaries giving the communes collection its geometry (default: the bundled file).
    """

    run_folder: Path = field(default_factory=paths.out_dir)
    store_dir: Path = field(default_factory=paths.store_dir)
    keys_db: Path = field(default_factory=_default_keys_db)
    max_upload_bytes: int = 50 * 1024 * 1024
    read_requires_key: bool = False
    boundaries: Path | None = None

    def __post_init__(self) -> None:
        for name in ("run_folder", "store_dir", "keys_db"):
            object.__setattr__(self, name, Path(getattr(self, name)))
        if self.boundaries is not None:
            object.__setattr__(self, "boundaries", Path(self.boundaries))
        if not isinstance(self.max_upload_bytes, int) or self.max_upload_bytes <= 0:
            raise SettingsError(f"max_upload_bytes must be a positive integer, got {self.max_upload_bytes!r}")
        if not isinstance(self.read_requires_key, bool):
            raise SettingsError(f"read_requires_key must be true or false, got {self.read_requires_key!r}")

    def with_options(self, **changes: Any) -> ApiSettings:
        """Return a copy with some options changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def load(cls, path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> ApiSettings:
        """Build settings from the defaults, a TOML file and the environment (in that order).

        Parameters
        ----------
        path : str or Path, optional
            TOML file with an ``[api]`` table; default ``$LOMSONG_API_CONFIG`` if set.
        environ : mapping, optional
            Environment to read (default ``os.environ``).

        Returns
        -------
        ApiSettings

        Raises
        ------
        SettingsError
            Unreadable file, unknown key, or a value of the wrong kind.
        """
        environ = os.environ if environ is None else environ
        options: dict[str, Any] = {}
        if path is None and environ.get("LOMSONG_API_CONFIG"):
            path = environ["LOMSONG_API_CONFIG"]
        if path is not None:
            options.update(_read_toml(Path(path)))
        options.update(_read_environ(environ))
        try:
            return cls(**options)
        except TypeError as exc:  # a value of the wrong type reaching Path() and the like
            raise SettingsError(f"invalid API settings: {exc}") from None


#: TOML key → (settings field, converter).
_FILE_KEYS = {
    "run_folder": "run_folder",
    "store_dir": "store_dir",
    "keys_db": "keys_db",
    "max_upload_mb": "max_upload_bytes",
    "read_requires_key": "read_requires_key",
    "boundaries": "boundaries",
}
_PATH_FIELDS = {"run_folder", "store_dir", "keys_db", "boundaries"}

#: Environment variable → settings field.
ENV_VARS = {
    "LOMSONG_API_RUN_FOLDER": "run_folder",
    "LOMSONG_API_STORE_DIR": "store_dir",
    "LOMSONG_API_KEYS_DB": "keys_db",
    "LOMSONG_API_MAX_UPLOAD_MB": "max_upload_bytes",
    "LOMSONG_API_READ_REQUIRES_KEY": "read_requires_key",
    "LOMSONG_API_BOUNDARIES": "boundaries",
}


def _megabytes(value: Any, source: str) -> int:
    try:
        megabytes = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{source}: max_upload_mb must be a number of megabytes, got {value!r}") from None
    if not megabytes > 0:
        raise SettingsError(f"{source}: max_upload_mb must be positive, got {value!r}")
    return int(megabytes * 1024 * 1024)


def _boolean(value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SettingsError(f"{source}: read_requires_key must be true or false, got {value!r}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{path}: configuration file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    unknown_sections = set(data) - {"api"}
    if unknown_sections:
        raise SettingsError(f"{path}: unknown section(s) {sorted(unknown_sections)}; the API reads only [api]")
    table = data.get("api", {})
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: [api] must be a table")
    options: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _FILE_KEYS:
            raise SettingsError(f"{path}: unknown key api.{key}; known: {sorted(_FILE_KEYS)}")
        target = _FILE_KEYS[key]
        source = f"{path}: api.{key}"
        if target in _PATH_FIELDS:
            if not isinstance(value, str):
                raise SettingsError(f"{source} must be a path string, got {value!r}")
            resolved = Path(value).expanduser()
            options[target] = resolved if resolved.is_absolute() else (path.parent / resolved).resolve()
        elif target == "max_upload_bytes":
            options[target] = _megabytes(value, source)
        else:
            options[target] = _boolean(value, source)
    return options


def _read_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for variable, target in ENV_VARS.items():
        value = environ.get(variable)
        if value is None or value == "":
            continue
        if target in _PATH_FIELDS:
            options[target] = Path(value).expanduser().resolve()
        elif target == "max_upload_bytes":
            options[target] = _megabytes(value, variable)
        else:
            options[target] = _boolean(value, variable)
    return options


SETTINGS_FIELDS = [f.name for f in fields(ApiSettings)]
