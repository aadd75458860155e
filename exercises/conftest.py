"""Pytest setup for running the exercises' tests directly: ``pytest exercises/NN_slug``.

Registers the two markers of the exercise format, makes ``import excheck`` work, and prints the points
of the passed tests.
The grader (``python -m exercises.grade``) does not use this file: it runs each test in a sandbox.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# the tests' helper ``excheck.py`` sits next to this file (in the repository and in the release)
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(n): the number of points a graded exercise test is worth")
    config.addinivalue_line("markers", "hidden: a graded test left out of the student release")


_POINTS: dict[str, list[float]] = {"earned": [], "possible": []}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.when == "setup" and not report.passed):
        return
    points = dict(report.user_properties).get("points")
    if points is None:
        return
    _POINTS["possible"].append(points)
    if report.passed and report.when == "call":
        _POINTS["earned"].append(points)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("points")
    if marker is not None and marker.args:
        item.user_properties.append(("points", marker.args[0]))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _POINTS["possible"]:
        earned, possible = sum(_POINTS["earned"]), sum(_POINTS["possible"])
        terminalreporter.write_line(f"exercise points (tests run here; the grader also runs hidden tests): "
                                    f"{earned:g}/{possible:g}")
