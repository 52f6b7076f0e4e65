"""Tests of the SYNTHETIC data simulator."""
