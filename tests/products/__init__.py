"""Tests of what people read: table files, maps, the monthly report."""
