"""Tests of hostile and careless input across every part."""
