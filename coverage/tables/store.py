"""The embedded measurement store: a Parquet dataset plus a SQLite ledger of ingested files.

Layout (default ``data/store/``, or ``$LOMSONG_DATA/store``)::

    store/
      ledger.sqlite                       one row per ingested file, keyed by sha256
      measurements/<sha256>.parquet       canonical measurements of that file (lomsong.tables.measurements)
      cells/<sha256>.parquet              canonical cells (OpenCelliD files)
      speed_tiles/<sha256>.parquet        canonical speed tiles (Ookla files)
      claims/<sha256>.parquet             claimed-coverage maps (lomsong.tables.claims, WKB geometry)
      staging/<pid>-<random>/             files being written (never read)

Each Parquet file holds one ingested file's accepted rows, so the measurements form a flat Parquet
dataset a Dask engine reads with ``dask.dataframe.read_parquet(store.parquet_files())`` (or the whole
``measurements/`` folder, which holds only committed files once the store has been opened).

Guarantees
----------
* Idempotent: a file whose sha256 is in the ledger adds nothing (its report has ``duplicate_file``).
* Atomic: the Parquet file is written aside in ``staging/``, then, inside one SQLite write
  transaction, renamed into place and recorded in the ledger; the commit of that transaction is the
  moment the file becomes part of the store. A crash before the commit leaves, at worst, an
  unrecorded Parquet file, which the next opening of the store deletes (under the same write lock,
  so it never races a live ingest). Readers list files from the ledger, never from the folder.
* Removal deletes the ledger row (the commit point), then the file.

Reading files is not the store's concern: :func:`lomsong.jobs.ingest.ingest_files` reads and
validates each file and hands the reading to :meth:`MeasurementStore.add`.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from lomsong import paths
from lomsong._process import process_alive
from lomsong.errors import StoreError
from lomsong.tables.claims import conform_claims, empty_claims, latest_claims
from lomsong.tables.measurements import (
    MEASUREMENT_COLUMNS,
    conform_cells,
    conform_measurements,
    conform_speed_tiles,
    empty_measurements,
)

#: Table kind → sub-folder.
TABLES = {"measurements": "measurements", "cells": "cells", "speed_tiles": "speed_tiles", "claims": "claims"}
_LEDGER_COLUMNS = [
    "sha256",
    "file",
    "path",
    "format",
    "kind",
    "owner",
    "ingested_at",
    "rows_read",
    "accepted",
    "no_service",
    "outside_province",
    "rejected",
    "synthetic",
    "report",
]
_INSERT_SQL = f"INSERT INTO files ({', '.join(_LEDGER_COLUMNS)}) VALUES ({', '.join('?' * len(_LEDGER_COLUMNS))})"
_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS files (
    sha256 TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    path TEXT NOT NULL,
    format TEXT NOT NULL,
    kind TEXT NOT NULL,
    owner TEXT,
    ingested_at TEXT NOT NULL,
    rows_read INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    no_service INTEGER NOT NULL,
    outside_province INTEGER NOT NULL,
    rejected TEXT NOT NULL,
    synthetic INTEGER NOT NULL,
    report TEXT NOT NULL
)
"""


#: Who uploaded each stored file: the first uploader and everyone who later sent the same bytes.
_OWNERS_SQL = """
CREATE TABLE IF NOT EXISTS file_owners (
    sha256 TEXT NOT NULL,
    owner TEXT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (sha256, owner)
)
"""




class StoredReading(Protocol):
    """What the store needs of a file being read: its path, its sha256, its canonical chunks and,
    once they are consumed, its report (with ``kind``, counts and ``to_dict()``)."""

    path: Path
    sha256: str
    report: Any

    def chunks(self) -> Iterator[pd.DataFrame]: ...


class MeasurementStore:
    """An embedded store of ingested files (see the module docstring for layout and guarantees).

    Parameters
    ----------
    path : str or Path, optional
        Store folder (created when missing). Default :func:`lomsong.paths.store_dir`.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else paths.store_dir()
        for folder in [*TABLES.values(), "staging"]:
            (self.path / folder).mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as connection:
            connection.execute(_SCHEMA_SQL)
            connection.execute(_OWNERS_SQL)
            # each uploader's own name for the file (stores made before it was kept: the first name)
            owner_columns = {row[1] for row in connection.execute("PRAGMA table_info(file_owners)")}
            if "file" not in owner_columns:
                connection.execute("ALTER TABLE file_owners ADD COLUMN file TEXT")
            # stores made before file_owners existed: their uploaders become the owners (only files
            # with no owner link at all; a withdrawn owner must not come back)
            connection.execute(
                "INSERT OR IGNORE INTO file_owners (sha256, owner, added_at, file) "
                "SELECT sha256, COALESCE(owner, ''), ingested_at, file FROM files "
                "WHERE sha256 NOT IN (SELECT sha256 FROM file_owners)"
            )
        self._recover()

    # -- internals -------------------------------------------------------------------------
    @property
    def ledger_path(self) -> Path:
        """The SQLite ledger file."""
        return self.path / "ledger.sqlite"

    @property
    def dataset_path(self) -> Path:
        """The folder of the measurement Parquet dataset (one file per ingested file)."""
        return self.path / TABLES["measurements"]

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.ledger_path, timeout=60, isolation_level=None)
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("PRAGMA synchronous=FULL")
        return connection

    def _recover(self) -> None:
        """Delete what a crashed ingest or removal left behind (under the write lock)."""
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            known = {row[0] for row in connection.execute("SELECT sha256 FROM files")}
            for folder in TABLES.values():
                for file in (self.path / folder).glob("*.parquet"):
                    if file.stem not in known:
                        file.unlink(missing_ok=True)
            for staging in (self.path / "staging").iterdir():
                pid = staging.name.split("-", 1)[0]
                if not pid.isdigit() or not process_alive(int(pid)):
                    shutil.rmtree(staging, ignore_errors=True)
            connection.execute("COMMIT")
        finally:
            connection.close()

    @staticmethod
    def _write_parquet(frame: pd.DataFrame, target: Path) -> None:
        frame.to_parquet(target, index=False, row_group_size=1_000_000)
        with open(target, "rb") as handle:
            os.fsync(handle.fileno())

    @staticmethod
    def _write_chunks(chunks, target: Path, on_chunk=None) -> None:
        """Write canonical frames to one Parquet file as they come (row groups), then fsync it.

        Only one chunk is in memory at a time, so a file of any size is stored in bounded memory.
        """
        writer, pending = None, None
        # the Parquet encoder runs in a thread (without the GIL) while the next chunk is validated
        with ThreadPoolExecutor(max_workers=1) as pool:
            try:
                for frame in chunks:
                    table = pa.Table.from_pandas(frame, preserve_index=False, schema=writer.schema if writer else None)
                    if writer is None:
                        writer = pq.ParquetWriter(target, table.schema)
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(writer.write_table, table, row_group_size=1_000_000)
                    if on_chunk is not None:
                        on_chunk(len(frame))
                if pending is not None:
                    pending.result()
            finally:
                if pending is not None:
                    pending.exception()  # wait for the last write before closing
                if writer is not None:
                    writer.close()
        with open(target, "rb") as handle:
            os.fsync(handle.fileno())

    # -- public API ------------------------------------------------------------------------
    def known_file(self, sha256: str, owner: str | None = None, *, file_name: str | None = None) -> dict | None:
        """Return the stored report of a file already in the store, recording ``owner`` (and the name
        this uploader gave it) as one of its uploaders (the same bytes from another uploader add
        nothing); None for a new file."""
        stored = self._ledger_report(sha256)
        if stored is not None:
            self._add_owner(sha256, owner, file_name)
        return stored

    def add(
        self,
        reading: StoredReading,
        *,
        owner: str | None = None,
        on_chunk: Callable[[int], None] | None = None,
        on_stage: Callable[[str], None] | None = None,
    ) -> dict:
        """Store one file's canonical rows and its report in one transaction.

        The rows are written aside (staged) chunk by chunk, then renamed into place and entered in
        the ledger together: a process killed at any point leaves the store as it was.

        Parameters
        ----------
        reading : StoredReading
            The file being read (:class:`lomsong.readers.FileReading` is one): ``chunks()`` yields
            canonical frames; ``report`` is complete once they are consumed.
        owner : str, optional
            Who uploaded (operator id or ``admin``), recorded in the ledger.
        on_chunk : callable, optional
            Called with the rows of each chunk as it is written.
        on_stage : callable, optional
            Called with ``staged`` (written aside) and ``renamed`` (in place, not yet committed).

        Returns
        -------
        dict
            The reading's report as stored; ``duplicate_file`` is true when another process stored
            the same file meanwhile.
        """
        say = on_stage or (lambda _stage: None)
        file = Path(reading.path)
        # the name the uploader gave (an API upload is read from a temporary copy)
        name = getattr(reading, "source_name", None) or file.name
        sha256 = reading.sha256
        staging = self.path / "staging" / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        try:
            staged = staging / f"{sha256}.parquet"
            self._write_chunks(reading.chunks(), staged, on_chunk)
            report = reading.report
            say("staged")
            target = self.path / TABLES[report.kind] / staged.name
            connection = self._connect()
            try:
                connection.execute("BEGIN IMMEDIATE")
                if connection.execute("SELECT 1 FROM files WHERE sha256 = ?", (report.sha256,)).fetchone():
                    # another process stored the same file meanwhile
                    self._link_owner(connection, report.sha256, owner, name)
                    connection.execute("COMMIT")
                    report.duplicate_file = True
                    return report.to_dict()
                connection.execute(
                    _INSERT_SQL,
                    (
                        report.sha256,
                        name,
                        str(file.resolve()),
                        report.format,
                        report.kind,
                        owner,
                        pd.Timestamp.now(tz="UTC").isoformat(),
                        report.rows_read,
                        report.accepted,
                        report.no_service,
                        report.outside_province,
                        json.dumps(report.rejected),
                        int(report.synthetic),
                        json.dumps(report.to_dict(), ensure_ascii=False),
                    ),
                )
                self._link_owner(connection, report.sha256, owner, name)
                os.replace(staged, target)
                say("renamed")
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                    target.unlink(missing_ok=True)
                raise
            finally:
                connection.close()
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return report.to_dict()

    @staticmethod
    def _link_owner(
        connection: sqlite3.Connection, sha256: str, owner: str | None, file_name: str | None = None
    ) -> None:
        # An upload with no named owner is linked as "": it keeps the rows when a named owner withdraws.
        connection.execute(
            "INSERT OR IGNORE INTO file_owners (sha256, owner, added_at, file) VALUES (?, ?, ?, ?)",
            (sha256, owner or "", pd.Timestamp.now(tz="UTC").isoformat(), file_name),
        )

    def _add_owner(self, sha256: str, owner: str | None, file_name: str | None = None) -> None:
        with closing(self._connect()) as connection:
            self._link_owner(connection, sha256, owner, file_name)

    def _ledger_report(self, sha256: str) -> dict | None:
        with closing(self._connect()) as connection:
            row = connection.execute("SELECT report FROM files WHERE sha256 = ?", (sha256,)).fetchone()
        return json.loads(row[0]) if row else None

    def files(self, owner: str | None = None) -> pd.DataFrame:
        """Return the ledger: one row per stored file, oldest first.

        With ``owner``: only the files that owner uploaded (first or again); the ``owner``, ``file``
        and ``ingested_at`` columns are that owner's (the name it gave, when it sent it), never
        who else sent the same bytes, under which name or when.
        """
        query = f"SELECT {', '.join(_LEDGER_COLUMNS[:-1])} FROM files"
        parameters: tuple = ()
        if owner is not None:
            own = {"file": "COALESCE(o.file, f.file)", "ingested_at": "o.added_at"}
            selected = ", ".join(f"{own[c]} AS {c}" if c in own else f"f.{c}" for c in _LEDGER_COLUMNS[:-1])
            query = (
                f"SELECT {selected} FROM files f JOIN file_owners o ON o.sha256 = f.sha256 AND o.owner = ?"
            )
            parameters = (owner,)
        with closing(self._connect()) as connection:
            order = " ORDER BY ingested_at, sha256" if owner is None else " ORDER BY o.added_at, f.sha256"
            frame = pd.read_sql_query(query + order, connection, params=parameters)
        frame["rejected"] = frame["rejected"].map(json.loads)
        frame["synthetic"] = frame["synthetic"].astype(bool)
        frame["ingested_at"] = pd.to_datetime(frame["ingested_at"], utc=True, format="ISO8601")
        if owner is not None:
            frame["owner"] = owner
        return frame

    @contextmanager
    def reading(self, kind: str = "measurements") -> Iterator[None]:
        """Turn a failure to read the stored Parquet files into a :class:`StoreError` naming the file.

        pyarrow's own errors (``ArrowInvalid``, ``Corrupt snappy compressed data``) name no file;
        on such an error each stored file of ``kind`` is read again, alone, to find the broken one.
        """
        try:
            yield
        except (pa.ArrowException, OSError) as exc:
            raise self.corrupt_file_error(kind, exc) from None

    def corrupt_file_error(self, kind: str, exc: BaseException) -> StoreError:
        """Return the :class:`StoreError` for a failed read: which stored file is broken and how to repair it."""
        ledger = self.files()
        broken = None
        for sha256, name in zip(ledger["sha256"], ledger["file"], strict=True):
            path = self.path / TABLES.get(str(kind), "measurements") / f"{sha256}.parquet"
            if str(ledger.loc[ledger["sha256"] == sha256, "kind"].iloc[0]) != kind:
                continue
            try:
                pq.ParquetFile(path).read()
            except (pa.ArrowException, OSError) as error:
                broken, exc = (path, sha256, name), error
                break
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if broken is None:
            return StoreError(f"{self.path}: the stored {kind} cannot be read ({reason}); re-ingest the files")
        path, sha256, name = broken
        return StoreError(
            f"{path}: the stored rows of {name} (sha256 {sha256[:12]}…) cannot be read ({reason}); repair: "
            f"remove that upload (`lomsong ingest --remove {sha256} --store {self.path}`, or DELETE "
            f"/measurements/{sha256} in the API), then ingest the original file again"
        )

    def parquet_files(self, kind: str = "measurements") -> list[Path]:
        """Return the committed Parquet files of a table (``measurements``, ``cells``, ``speed_tiles``)."""
        ledger = self.files()
        shas = ledger.loc[ledger["kind"] == kind, "sha256"]
        return [self.path / TABLES[kind] / f"{sha}.parquet" for sha in shas]

    @property
    def partitions(self) -> list[Path]:
        """The committed measurement Parquet files (one per ingested file)."""
        return self.parquet_files("measurements")

    def read(
        self,
        since: str | pd.Timestamp | None = None,
        until: str | pd.Timestamp | None = None,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """Return the stored canonical measurements, optionally within ``[since, until)`` (UTC).

        Parameters
        ----------
        since, until : str or pandas.Timestamp, optional
            Time window (naive values are UTC).
        columns : list of str, optional
            Subset of the canonical columns.

        Returns
        -------
        pandas.DataFrame
            Canonical measurement table (all columns unless ``columns`` is given).
        """
        files = self.partitions
        if not files:
            frame = empty_measurements()
            frame["time"] = frame["time"].astype("datetime64[ns, UTC]")
            return frame[columns] if columns else frame
        with self.reading("measurements"):
            dataset = pads.dataset([str(f) for f in files], format="parquet")
        condition = None
        for bound, op in [(since, "ge"), (until, "lt")]:
            if bound is not None:
                stamp = pd.Timestamp(bound)
                stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
                field = pads.field("time")
                term = field >= stamp.to_pydatetime() if op == "ge" else field < stamp.to_pydatetime()
                condition = term if condition is None else condition & term
        with self.reading("measurements"):
            table = dataset.to_table(filter=condition)
        frame = conform_measurements(table.to_pandas())
        frame["time"] = frame["time"].astype("datetime64[ns, UTC]")
        if columns:
            unknown = [c for c in columns if c not in MEASUREMENT_COLUMNS]
            if unknown:
                raise ValueError(f"unknown measurement column(s): {', '.join(unknown)}")
            return frame[columns]
        return frame

    def _read_kind(self, kind: str, conform) -> pd.DataFrame:
        files = self.parquet_files(kind)
        if not files:
            return conform(pd.DataFrame())
        with self.reading(kind):
            return conform(pd.concat([pd.read_parquet(f) for f in files], ignore_index=True))

    def read_cells(self) -> pd.DataFrame:
        """Return the stored cells (canonical cell table; empty when none)."""
        return self._read_kind("cells", conform_cells)

    def read_speed_tiles(self) -> pd.DataFrame:
        """Return the stored Ookla speed tiles (canonical table; empty when none)."""
        return self._read_kind("speed_tiles", conform_speed_tiles)

    def remove(self, sha256: str, owner: str | None = None, *, keep_owners: bool = False) -> bool:
        """Remove a stored file's rows.

        Parameters
        ----------
        sha256 : str
            The file's key.
        owner : str, optional
            When given, withdraw only this owner's upload: the rows stay while another uploader
            of the same file still has it. Without it (admin), remove the file for everyone.
        keep_owners : bool
            Keep the record of who uploaded the file (its rows are about to be read again).

        Returns
        -------
        bool
            True when something was removed (or withdrawn for ``owner``).
        """
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            row = connection.execute("SELECT kind FROM files WHERE sha256 = ?", (sha256,)).fetchone()
            if owner is not None:
                linked = connection.execute(
                    "DELETE FROM file_owners WHERE sha256 = ? AND owner = ?", (sha256, owner)
                ).rowcount
                others = connection.execute("SELECT 1 FROM file_owners WHERE sha256 = ?", (sha256,)).fetchone()
                if row is None or not linked or others:
                    connection.execute("COMMIT" if linked else "ROLLBACK")
                    return bool(row is not None and linked)
            elif row is None:
                connection.execute("ROLLBACK")
                return False
            if not keep_owners:
                connection.execute("DELETE FROM file_owners WHERE sha256 = ?", (sha256,))
            connection.execute("DELETE FROM files WHERE sha256 = ?", (sha256,))
            connection.execute("COMMIT")
        finally:
            connection.close()
        (self.path / TABLES[row[0]] / f"{sha256}.parquet").unlink(missing_ok=True)
        return True

    # -- claimed coverage --------------------------------------------------------------------
    def read_claims(self, *, latest: bool = True) -> gpd.GeoDataFrame:
        """Return the stored claimed-coverage maps (:data:`lomsong.tables.claims.CLAIM_SCHEMA`).

        Parameters
        ----------
        latest : bool
            Keep only the latest claim map per operator × technology (by claim date, then by
            when it was stored); False: every stored map.

        Returns
        -------
        geopandas.GeoDataFrame
            EPSG:4326; empty when no claim map was ingested.
        """
        files = self.parquet_files("claims")
        if not files:
            return empty_claims()
        claims = conform_claims(pd.concat([pd.read_parquet(f) for f in files], ignore_index=True))
        if not latest:
            return claims
        ledger = self.files()
        order = pd.Series(range(len(ledger)), index=ledger["sha256"].to_numpy())
        return latest_claims(claims, order)

