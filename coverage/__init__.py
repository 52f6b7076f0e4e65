"""lomsong: find mobile-coverage gaps (vùng lõm sóng) where people live in Đắk Nông.

Data in → canonical tables → analysis → products:

- ``coverage.referencedata``: bring the checked reference data into ``data/``.
- ``coverage.boundaries``: communes, districts and the province outline.
- ``coverage.population``: the population surface (100 m raster).
- ``coverage.readers`` / ``coverage.validate`` / ``coverage.store``: measurements in.
- ``coverage.grid`` / ``aggregate`` / ``evidence`` / ``gaps`` / ``villages``: the analysis.
- ``coverage.export`` / ``coverage.maps``: products; ``api/`` serves them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lomsong")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
