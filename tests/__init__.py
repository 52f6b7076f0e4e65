"""Lomsong's tests: one folder per part of the tree (``coverage/<part>/`` → ``tests/<part>/``)."""
