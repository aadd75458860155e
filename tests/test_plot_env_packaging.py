import re
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from minilib import Float, Space, minimize
from minilib.book import source_of
from minilib.hpo import RandomSearch
from minilib.plot import anytime, best_so_far, trial_table, use_book_style

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent


def test_best_so_far_skips_failures():
    np.testing.assert_array_equal(best_so_far([np.nan, 3, 5, np.nan, 1, 2]), [np.nan, 3, 3, 3, 1, 1])
    np.testing.assert_array_equal(best_so_far([1, 3, np.nan, 2], maximize=True), [1, 3, 3, 3])


def test_anytime_draws_median_and_band_with_labels():
    use_book_style()
    fig, ax = plt.subplots()
    runs = np.array([[3, 2, 1], [5, 4, 3], [4, 3, 2]], dtype=float)
    anytime(ax, {"random": runs}, title="t", ylabel="regret", logy=True)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [4, 3, 2])
    assert len(ax.collections) == 1  # the inter-quartile band
    assert ax.get_xlabel() == "number of evaluations" and ax.get_ylabel() == "regret" and ax.get_title() == "t"
    plt.close(fig)


def test_anytime_counts_missing_results_as_worst():
    fig, ax = plt.subplots()
    nan = np.nan
    runs = np.array([[nan, nan, 2, 1], [nan, 5, 4, 3], [9, 3, 3, 3]])   # seeds that have no result yet
    anytime(ax, {"a": runs})
    # step 1: one seed of three has a result, no median; step 2: two of three, the median is the worse one
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [nan, 5, 3, 3])
    plt.close(fig)


def test_trial_table_lists_every_trial():
    study = minimize(lambda c: c["x"], Space({"x": Float(0, 1)}), n_trials=4, seed=0, progress=False)
    table = trial_table(study, sort=True)
    lines = table.splitlines()
    assert len(lines) == 2 + 4 and "value" in lines[0]
    assert lines[2].split()[0] == str(study.best_trial.number)


def test_source_of_returns_the_real_module_source():
    assert "class RandomSearch" in source_of(RandomSearch)


def test_check_env_reports_ok():
    out = subprocess.run([sys.executable, "-m", "minilib.check_env"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[OK]   torch" in out.stdout and "device:" in out.stdout


def _names(requirements):
    return {re.split(r"[<>=!~\[ ]", r.strip())[0].lower() for r in requirements}


def test_environment_yml_names_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = _names(project["dependencies"]) | _names(extras["dev"]) | _names(extras.get("book", []))
    listed = set()
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("dependencies:"):].splitlines():
        item = line.strip()
        if item.startswith("- ") and not item.startswith("- pip") and not item.startswith("- python"):
            listed |= _names([item[2:]])
        elif item.startswith("- pip") and ":" not in item:
            listed.add("pip")
    listed.discard("pip")
    assert wanted == listed


def test_constraints_pin_torch_and_every_dependency():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    assert pins["torch"] == "2.13.0"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    for name in _names(project["dependencies"]) | _names(extras["dev"]) | _names(extras.get("book", [])):
        assert name in pins, f"{name} is not pinned in constraints.txt"
