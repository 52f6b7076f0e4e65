"""``python -m coverage`` runs the ``lomsong`` command line."""

from coverage.cli import main

main()
