"""Tests of canonical tables: the store and the monthly periods."""
