"""Tests of the pure analysis: grid, aggregates, evidence, gaps, villages, comparison, claims, radio map, plan."""
