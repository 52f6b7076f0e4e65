"""``python -m lomsong`` runs the ``lomsong`` command line."""

from lomsong.cli import main

main()
