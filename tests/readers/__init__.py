"""Tests of reading measurements and claims in every format, and validating them."""
