"""Tests of orchestration: ``lomsong run`` end to end."""
