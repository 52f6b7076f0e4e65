"""Helpers shared by the tests (no tests here): servers, browsers, hand-made scenes, paths."""

from __future__ import annotations

from pathlib import Path

#: The project's root (the checkout).
ROOT = Path(__file__).resolve().parents[2]
#: Small measurement files in every format, for the readers' tests.
FIXTURES = ROOT / "tests" / "fixtures" / "measurements"
