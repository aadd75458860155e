"""Benchmark problems with known answers: test functions with known optima, and the
book's tabular learning-curve benchmark. Each is an objective over a ``Space``."""
