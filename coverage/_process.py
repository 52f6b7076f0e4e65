"""Whether a process still runs, whether a folder it left is stale (shared by the run folder, the
store's staging and the API's upload copies, which all name their temporary folders after the
process that made them), and how many cores it may use."""

from __future__ import annotations

import os
import time
from pathlib import Path


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def process_alive(pid: int) -> bool:
    """Return whether a process ``pid`` runs on this machine (one of another user counts as running)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(folder: Path, pid: str, *, legacy_seconds: float) -> bool | None:
    """Return whether a temporary folder named after process ``pid`` was left by a dead process.

    Parameters
    ----------
    folder : Path
        The folder.
    pid : str
        The process id part of its name; not digits for folders of the older form without one,
        which are stale once ``legacy_seconds`` old.
    legacy_seconds : float
        Age after which a folder without a process id is stale.

    Returns
    -------
    bool or None
        None when the folder is gone or cannot be inspected.
    """
    if pid.isdigit():
        return not process_alive(int(pid))
    try:
        return time.time() - folder.stat().st_mtime > legacy_seconds
    except OSError:
        return None
