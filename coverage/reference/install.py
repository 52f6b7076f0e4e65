"""Bring the reference data into ``data/`` and check it.

The reference files (commune boundaries, 2019 census, a real G-NetTrack log) may not be
committed (their sources' terms). Set-up copies each file named in the committed manifest
``data/reference.sha256`` from the reference data directory (``LOMSONG_REFERENCE_DATA``) into
``data/`` and checks its sha256. A missing or altered file stops the set-up with a message that
says which file, where it was looked for and how to provide it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lomsong import paths
from lomsong.errors import ReferenceDataError


@dataclass(frozen=True)
class ReferenceFile:
    """One entry of the manifest: a path relative to the data folder and its sha256."""

    relative_path: str
    sha256: str


def manifest_path() -> Path:
    """Return the committed manifest listing the expected reference files and hashes."""
    return paths.project_root() / "data" / "reference.sha256"


def read_manifest(path: Path | None = None) -> list[ReferenceFile]:
    """Read a ``sha256sum``-style manifest.

    Parameters
    ----------
    path : Path, optional
        Manifest file; default :func:`manifest_path`.

    Returns
    -------
    list of ReferenceFile
    """
    path = path or manifest_path()
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        digest, name = line.split(maxsplit=1)
        entries.append(ReferenceFile(name.strip().lstrip("*"), digest.lower()))
    return entries


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def install_reference_data(source_dir: Path | None = None, target_dir: Path | None = None) -> list[Path]:
    """Copy every manifest file from the reference directory into the data folder.

    Files already present with the right hash are left alone; a copy is written beside its
    target and renamed into place, so an interrupted set-up never leaves a half-written file.

    Parameters
    ----------
    source_dir : Path, optional
        Reference data directory; default ``LOMSONG_REFERENCE_DATA`` or ``../shared/data``.
    target_dir : Path, optional
        Data folder; default ``data/``.

    Returns
    -------
    list of Path
        The installed files, in manifest order.

    Raises
    ------
    ReferenceDataError
        When a file is missing from the reference directory or its hash does not match.
    """
    source_dir = Path(source_dir) if source_dir else paths.reference_data_dir()
    target_dir = Path(target_dir) if target_dir else paths.data_dir()
    installed = []
    for entry in read_manifest():
        target = target_dir / entry.relative_path
        if target.exists() and sha256_of(target) == entry.sha256:
            installed.append(target)
            continue
        source = source_dir / entry.relative_path
        if not source.exists():
            raise ReferenceDataError(
                f"reference file {entry.relative_path!r} not found: looked for {source}. "
                "Point LOMSONG_REFERENCE_DATA at the reference data directory "
                "(the folder holding boundaries/, population/ and samples/), "
                "e.g. `LOMSONG_REFERENCE_DATA=/path/to/shared/data make demo`."
            )
        actual = sha256_of(source)
        if actual != entry.sha256:
            raise ReferenceDataError(
                f"reference file {source} does not match the project's manifest "
                f"({manifest_path()}): sha256 is {actual}, expected {entry.sha256}. "
                "The file was altered or is another version; restore the original copy."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.close(fd)
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        installed.append(target)
    return installed


def check_reference_data(target_dir: Path | None = None) -> None:
    """Raise :class:`ReferenceDataError` unless every manifest file is in place and intact."""
    target_dir = Path(target_dir) if target_dir else paths.data_dir()
    for entry in read_manifest():
        target = target_dir / entry.relative_path
        if not target.exists():
            raise ReferenceDataError(
                f"{target} is missing: run `lomsong setup` (or `make demo`) to copy the "
                f"reference data from {paths.reference_data_dir()}"
            )
        if sha256_of(target) != entry.sha256:
            raise ReferenceDataError(f"{target} does not match its sha256 in {manifest_path()}")
