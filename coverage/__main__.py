"""``python -m lomsong`` runs the ``lomsong`` command line."""

from lomsong.cli import run_and_leave

run_and_leave()
