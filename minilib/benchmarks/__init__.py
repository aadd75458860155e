"""Benchmark problems with known answers: test functions with known optima, and the
book's tabular learning-curve benchmark. Each is an objective over a ``Space``."""

from minilib.benchmarks.functions import FUNCTIONS, TestFunction, get_function  # noqa: F401
from minilib.benchmarks.nas import NASBenchmark, load_tabular_nas  # noqa: F401
from minilib.benchmarks.tabular import TabularBenchmark, load_tabular_mnist1d  # noqa: F401
