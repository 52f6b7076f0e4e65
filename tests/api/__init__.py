"""Tests of the API over real HTTP."""
