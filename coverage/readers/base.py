"""The reader contract: what a format module gives (:class:`Reader`, :class:`Parsed`) and what a
reading reports (:class:`IngestReport`, :class:`IngestResult`), apart from the registry so that
format modules import this and the registry imports them (no cycle)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from lomsong.errors import ReaderError as ReaderError  # the readers raise it; named here for them


@dataclass
class IngestReport:
    """What happened to one file.

    Invariant: ``rows_read == accepted + outside_province + sum(rejected.values())``.

    Attributes
    ----------
    file : str
        File name as given.
    format : str
        Reader used.
    sha256 : str
        Hash of the file's bytes (the store's key).
    rows_read : int
        Data rows found (blank lines and the header are not rows).
    accepted : int
        Rows kept.
    no_service : int
        Accepted rows that are no-service samples (evidence of a gap).
    outside_province : int
        Valid rows outside the province (counted, kept out).
    rejected : dict
        Row-level reason → rows.
    examples : dict
        Reason → a few line numbers (``value:<reason>`` for value-level reasons).
    values_rejected : dict
        Value-level reason → values removed from kept rows.
    corrected : dict
        Correction (``swapped_coordinates``) → rows fixed and kept.
    kind : str
        ``measurements``, ``cells`` or ``speed_tiles``.
    columns : dict
        Canonical column → source column (generic CSV header mapping).
    synthetic : bool
        The file is simulated data (its name or a header comment says ``synthetic``).
    duplicate_file : bool
        The store already held this file: nothing was added.
    error : str or None
        Why the file could not be read at all (then every count is 0).
    """

    file: str
    format: str
    sha256: str = ""
    rows_read: int = 0
    accepted: int = 0
    no_service: int = 0
    outside_province: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[int]] = field(default_factory=dict)
    values_rejected: dict[str, int] = field(default_factory=dict)
    corrected: dict[str, int] = field(default_factory=dict)
    kind: str = "measurements"
    columns: dict[str, str] = field(default_factory=dict)
    synthetic: bool = False
    duplicate_file: bool = False
    error: str | None = None

    def to_dict(self) -> dict:
        """Return the report as plain JSON-serialisable data."""
        return json.loads(json.dumps(asdict(self)))

    @property
    def rejected_total(self) -> int:
        """Rows rejected for any reason."""
        return sum(self.rejected.values())


@dataclass
class IngestResult:
    """A file read and validated.

    Attributes
    ----------
    measurements : pandas.DataFrame
        Accepted canonical measurements (empty for cell and tile files).
    report : IngestReport
        Counts and reasons.
    cells : pandas.DataFrame or None
        Canonical cell table (OpenCelliD files).
    speed_tiles : pandas.DataFrame or None
        Canonical speed-tile table (Ookla files).
    """

    measurements: pd.DataFrame
    report: IngestReport
    cells: pd.DataFrame | None = None
    speed_tiles: pd.DataFrame | None = None


@dataclass
class Parsed:
    """A reader's output before validation: a parsed frame (see :mod:`lomsong.readers.validate`) and metadata."""

    frame: pd.DataFrame
    kind: str = "measurements"
    columns: dict[str, str] = field(default_factory=dict)
    synthetic: bool = False


@dataclass(frozen=True)
class Reader:
    """A format in the registry.

    Attributes
    ----------
    name : str
        Format name (``--format``).
    description : str
        One line for people.
    kind : str
        ``measurements``, ``cells`` or ``speed_tiles``.
    sniff : callable
        ``sniff(path, head_bytes) -> bool``: does this file look like this format?
    parse : callable
        ``parse(path, operator=None, source_name=None, sha256=None) -> Parsed``.
    parse_chunks : callable, optional
        Same arguments plus ``chunk_bytes`` and ``engine``, yields :class:`Parsed` chunks whose
        concatenation is what ``parse`` gives (formats whose files can be large).
    """

    name: str
    description: str
    kind: str
    sniff: Callable[[Path, bytes], bool]
    parse: Callable[..., Parsed]
    parse_chunks: Callable[..., Iterator[Parsed]] | None = None
