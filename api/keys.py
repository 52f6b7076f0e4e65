"""API keys: created once, stored hashed in SQLite, compared in constant time.

A key looks like ``lsk_<id>_<secret>``. Only a salted SHA-256 of the whole key is stored, with
its role (``admin``, ``operator`` or ``reader``) and, for operator keys, the operator it belongs
to. Clients send it in the ``X-API-Key`` header. The id inside the key only selects the row to
compare against; the comparison itself is :func:`hmac.compare_digest`, so a wrong key takes as
long to refuse as a nearly right one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lomsong.errors import LomsongError
from lomsong.operators import OPERATOR_IDS, operator_from_name

ROLES = ("admin", "operator", "reader")
KEY_PREFIX = "lsk_"
HEADER = "X-API-Key"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    operator TEXT,
    salt BLOB NOT NULL,
    key_hash BLOB NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)
"""


class KeyRequestError(LomsongError, ValueError):
    """A key cannot be created as asked; the message names the option and the reason."""


@dataclass(frozen=True)
class ApiKey:
    """One stored key (never its secret).

    Attributes
    ----------
    id : int
        Key id (also inside the key text).
    name : str
        Who or what the key is for.
    role : str
        ``admin``, ``operator`` or ``reader``.
    operator : str or None
        Canonical operator id of an operator key.
    created_at : str
        ISO time of creation (UTC).
    revoked_at : str or None
        ISO time of revocation, None while active.
    """

    id: int
    name: str
    role: str
    operator: str | None
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        """True until revoked."""
        return self.revoked_at is None

    @property
    def owner(self) -> str:
        """The owner recorded on uploads: the operator id for operator keys, else ``admin``/``reader``."""
        return self.operator if self.role == "operator" and self.operator else self.role

    def to_dict(self) -> dict[str, Any]:
        """Return the key's public fields as plain data."""
        return {**asdict(self), "active": self.active}


def _hash(salt: bytes, key: str) -> bytes:
    return hmac.new(salt, key.encode("utf-8"), hashlib.sha256).digest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class KeyStore:
    """The SQLite file of API keys.

    Parameters
    ----------
    path : str or Path
        SQLite file; created with its folder on first use.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=10)
        connection.execute(_SCHEMA)
        return connection

    def add(self, role: str, operator: str | None = None, name: str | None = None) -> tuple[ApiKey, str]:
        """Create a key and return it with its secret text (shown once, never stored).

        Parameters
        ----------
        role : str
            ``admin``, ``operator`` or ``reader``.
        operator : str, optional
            Operator of an operator key (any spelling :func:`lomsong.operators.operator_from_name`
            understands, e.g. ``viettel``, ``VNPT``); required for, and only for, operator keys.
        name : str, optional
            Label (default: the role and operator).

        Returns
        -------
        tuple of (ApiKey, str)
            The stored key and the key text to hand to its user.

        Raises
        ------
        KeyRequestError
            Unknown role, missing or unknown operator.
        """
        if role not in ROLES:
            raise KeyRequestError(f"--role: unknown role {role!r}; use one of {list(ROLES)}")
        operator_id = None
        if role == "operator":
            if not operator:
                raise KeyRequestError("--operator: an operator key needs its operator, e.g. --operator viettel")
            operator_id = operator_from_name(operator)
            if operator_id not in OPERATOR_IDS:
                raise KeyRequestError(f"--operator: unknown operator {operator!r}; use one of {OPERATOR_IDS}")
        elif operator:
            raise KeyRequestError(f"--operator: only operator keys belong to an operator, not {role} keys")
        label = name or (f"{role} {operator_id}" if operator_id else role)
        salt = secrets.token_bytes(16)
        created = _now()
        with self._connect() as connection:
            cursor = connection.execute(
                "INSERT INTO api_keys (name, role, operator, salt, key_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (label, role, operator_id, salt, b"", created),
            )
            key_id = int(cursor.lastrowid)
            secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
            connection.execute("UPDATE api_keys SET key_hash = ? WHERE id = ?", (_hash(salt, secret), key_id))
        connection.close()
        return ApiKey(key_id, label, role, operator_id, created), secret

    def list(self) -> list[ApiKey]:
        """Return every key, active and revoked, by id."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT id, name, role, operator, created_at, revoked_at FROM api_keys ORDER BY id"
            ).fetchall()
        connection.close()
        return [ApiKey(*row) for row in rows]

    def revoke(self, key_id: int) -> bool:
        """Revoke a key; return False when no active key has that id."""
        with self._connect() as connection:
            cursor = connection.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (_now(), int(key_id))
            )
        connection.close()
        return cursor.rowcount > 0

    def authenticate(self, secret: str | None) -> ApiKey | None:
        """Return the active key matching ``secret``, or None.

        Parameters
        ----------
        secret : str or None
            Key text from the ``X-API-Key`` header.

        Returns
        -------
        ApiKey or None
        """
        if not secret or not secret.startswith(KEY_PREFIX):
            return None
        id_text = secret[len(KEY_PREFIX) :].split("_", 1)[0]
        if not id_text.isdigit() or len(id_text) > 18:
            return None
        if not self.path.exists():
            return None
        with self._connect() as connection:
            row = connection.execute(
                "SELECT id, name, role, operator, created_at, revoked_at, salt, key_hash FROM api_keys WHERE id = ?",
                (int(id_text),),
            ).fetchone()
        connection.close()
        if row is None:
            # Compare anyway so that an unknown id costs the same as a wrong secret.
            hmac.compare_digest(_hash(b"\0" * 16, secret), b"\0" * 32)
            return None
        *public, salt, key_hash = row
        if not hmac.compare_digest(_hash(salt, secret), key_hash):
            return None
        key = ApiKey(*public)
        return key if key.active else None
