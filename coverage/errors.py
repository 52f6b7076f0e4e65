"""One tree of errors: everything a person can fix is a :class:`LomsongError`.

The message of each error is one line for a person: it names the file, row, field or key and
says what is wrong and how to fix it. The command line catches :class:`LomsongError` and prints
its message without a traceback; the API answers it as its JSON error. Anything else is a bug.

Each concern has its subclass, defined here so that no part of the library has to import
another part to name its errors. The subclasses keep the built-in base they always had
(``ValueError``, ``FileNotFoundError``, ``RuntimeError``), so ``except ValueError`` still works.

=========================== ===============================================================
``ConfigError``             a settings value or a settings file
``ReferenceDataError``      the reference data copied at set-up (missing, altered)
``BoundaryError``           a boundaries file
``PopulationError``         a population raster or surface
``UnitMappingError``        the 2019 commune → 2025 unit table
``VillageError``            a village list
``ReaderError``             a measurement file that cannot be read at all
``StoreError``              the measurement store (a corrupt or missing stored file)
``AttributionError``        an operator's upload naming another operator's network
``RunNotFoundError``        a run folder that is not there or is incomplete
``PeriodError``             a period name or a stored period
``RunError``                a run that cannot be made from the inputs given
``ReportError``             a report that cannot be made
``CommitmentError``         a commitments file (sites operators committed to build)
``AssetError``              the maps' vendored JavaScript and CSS
=========================== ===============================================================
"""

from __future__ import annotations


class LomsongError(Exception):
    """A problem with the inputs or the set-up that a person can fix; the message says which and how."""


class ConfigError(LomsongError, ValueError):
    """A settings value or file is not valid: the message names the file and the field."""


class ReferenceDataError(LomsongError, RuntimeError):
    """The reference data is missing or altered: the message names the file and where it looked."""


class BoundaryError(LomsongError, ValueError):
    """A boundaries file cannot be used: the message names the file and the codes or columns."""


class PopulationError(LomsongError, ValueError):
    """A population raster or surface cannot be used: the message names the file and why."""


class UnitMappingError(LomsongError, ValueError):
    """The 2019 commune → 2025 unit table does not fit the communes: the message names the codes."""


class VillageError(LomsongError, ValueError):
    """A village list cannot be used: the message names the file, the row and the column."""


class SiteError(LomsongError, ValueError):
    """An operators' site list cannot be used: the message names the file, the row and the column."""


class ReaderError(LomsongError, ValueError):
    """A file that cannot be read at all. The message names the file, the line and what was expected."""


class StoreError(LomsongError):
    """The measurement store cannot be read: the message names the stored file and how to repair it."""


class AttributionError(LomsongError, PermissionError):
    """An operator's upload holds rows about another network: the message names the file and the operators."""


class RunNotFoundError(LomsongError, FileNotFoundError):
    """A run folder is not there or lacks a file: the message names the folder and the file."""


class PeriodError(LomsongError, ValueError):
    """A period name is malformed, or the period has no stored run."""


class RunError(LomsongError, ValueError):
    """A run cannot be made from the inputs given (no usable measurements, a bad option)."""


class ReportError(LomsongError, ValueError):
    """A report cannot be made from the runs given."""


class CommitmentError(LomsongError, ValueError):
    """A commitments file cannot be used: the message names the file, the row and the field."""


class AssetError(LomsongError, RuntimeError):
    """The maps' JavaScript and CSS cannot be vendored or found."""


__all__ = [
    "AssetError",
    "AttributionError",
    "BoundaryError",
    "CommitmentError",
    "ConfigError",
    "LomsongError",
    "PeriodError",
    "PopulationError",
    "ReaderError",
    "ReferenceDataError",
    "ReportError",
    "RunError",
    "RunNotFoundError",
    "StoreError",
    "UnitMappingError",
    "VillageError",
]
