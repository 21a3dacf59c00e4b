"""Benchmarks for fastem: asv suites and the side-by-side script ``compare.py``."""
