"""Tests of reference data: boundaries, population surfaces, villages, 2025 units."""
