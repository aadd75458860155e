"""The Gradescope autograder zip, unpacked into a fake ``/autograder`` and run end to end (offline).

``setup.sh`` (apt and pip) is not run here: ``run_autograder`` is pointed at this interpreter with
``AUTOGRADER_PYTHON`` and at a temporary root with ``AUTOGRADER_ROOT``. The switch to the unprivileged
user is tested on its own with a stand-in interpreter (a shell script that records who ran it), because
the real interpreter may sit where another user cannot run it (``/root/.pyenv``); the end-to-end runs use
it when that user can run this interpreter, and skip it (``AUTOGRADER_USER=``) otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from exercises.gradescope import build

REPO = Path(__file__).resolve().parent.parent
CHAPTER = "04_multi_fidelity"
SWITCH_USER = "nobody"


def _can_switch(python: str) -> bool:
    """Whether we are root and ``nobody`` can run ``python`` (then the end-to-end runs switch user too)."""
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return False
    proc = subprocess.run(["runuser", "-u", SWITCH_USER, "--", python, "-c", "import numpy, pytest"],
                          capture_output=True, timeout=60)
    return proc.returncode == 0


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory) -> Path:
    return build(CHAPTER, tmp_path_factory.mktemp("dist"), budget=120, timeout=20)


def fake_root(zip_path: Path) -> Path:
    """``/autograder`` as Gradescope lays it out: source/ (the zip), run_autograder, submission/, results/."""
    root = Path(tempfile.mkdtemp(prefix="autograder-"))
    root.chmod(0o755)                       # another user must be able to enter it
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
    shutil.copyfile(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    return root


def run_autograder(root: Path, python: str, user: str) -> tuple[dict, str, float]:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": python, "AUTOGRADER_USER": user}
    start = time.monotonic()
    proc = subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((root / "results" / "results.json").read_text()), proc.stdout, seconds


def test_zip_has_the_gradescope_layout(autograder_zip: Path):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    assert {"setup.sh", "run_autograder", "constraints.txt", "pyproject.toml", "exercises/grade.py",
            "exercises/excheck.py", f"exercises/{CHAPTER}/test_ex04_asha.py", "minilib/__init__.py"} <= names
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert not any("/wrong/" in n or "__pycache__" in n for n in names)    # wrong submissions stay home
    assert not any(n.startswith(("exercises/00_", "exercises/01_", "exercises/02_", "exercises/03_")) for n in names)
    setup = (REPO / "constraints.txt").read_text()
    assert "torch==" in setup
    with zipfile.ZipFile(autograder_zip) as archive:
        script = archive.read("setup.sh").decode()
    assert "download.pytorch.org/whl/cpu" in script and "-c /autograder/source/constraints.txt" in script
    with zipfile.ZipFile(autograder_zip) as archive:
        for name in ("setup.sh", "run_autograder"):        # both parse as bash scripts
            check = subprocess.run(["bash", "-n"], input=archive.read(name).decode(), capture_output=True, text=True)
            assert check.returncode == 0, (name, check.stderr)


@pytest.mark.slow
def test_end_to_end_solution_and_wrong_submission(autograder_zip: Path):
    """A solution gets every point, a NaN-unaware ``survivors`` loses the hidden NaN test; the visible output
    does not reveal the hidden score (the total sits in an ``after_published`` entry)."""
    python = sys.executable
    user = SWITCH_USER if _can_switch(python) else ""
    solution_dir = REPO / "exercises" / CHAPTER
    scores = {}
    for label, overrides in [("solution", {}), ("survivors_nan_unaware",
                                                {"ex04_asha.py": solution_dir / "wrong" / "survivors_nan_unaware"})]:
        root = fake_root(autograder_zip)
        try:
            for name in ("ex04_asha.py", "ex04_hyperband.py"):
                source = overrides.get(name, solution_dir) / name
                shutil.copyfile(source, root / "submission" / name)   # flat, as Gradescope stores an upload
            results, stdout, seconds = run_autograder(root, python, user)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print(f"{label}: {results['score']:g} in {seconds:.1f} s ({'user ' + user if user else 'no user switch'})")
        assert ("grading as the unprivileged user" in stdout) == bool(user), stdout
        graded = [t for t in results["tests"] if t["name"] != "Total and grader flags"]
        maximum = sum(t["max_score"] for t in graded)
        assert results["score"] == sum(t["score"] for t in graded)
        assert results["extra_data"]["max_score"] == maximum
        summary = [t for t in results["tests"] if t["name"] == "Total and grader flags"]
        assert len(summary) == 1 and summary[0]["visibility"] == "after_published"
        assert summary[0]["max_score"] == 0 and f"Total: {results['score']:g}/" in summary[0]["output"]
        assert "Total" not in results["output"] and "Visible tests:" in results["output"]
        assert {t["visibility"] for t in graded} == {"visible", "after_published"}
        scores[label] = (results["score"], maximum, {t["name"] for t in graded if t["score"] < t["max_score"]})
    assert scores["solution"][0] == scores["solution"][1] == 25
    assert scores["survivors_nan_unaware"][0] == 24
    assert scores["survivors_nan_unaware"][2] == {
        f"{CHAPTER}/test_ex04_asha.py::test_survivors_with_nan_and_infinities_at_random_places"}


def test_missing_grader_output_gives_a_zero_with_a_reason(autograder_zip: Path):
    """If the grader dies before writing results, run_autograder still writes a valid results.json."""
    root = fake_root(autograder_zip)
    try:
        results, stdout, _ = run_autograder(root, "/bin/false", "")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert results["score"] == 0 and "autograder failed" in results["output"]
    assert "no user switch" in stdout


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runuser") is None, reason="needs root and runuser")
def test_user_switch_as_root(autograder_zip: Path):
    """As root (Gradescope runs run_autograder as root) the grader runs as the unprivileged user: a stand-in
    interpreter records its user and the owner of the submission copy, and writes the results file."""
    root = fake_root(autograder_zip)
    bindir = Path(tempfile.mkdtemp(prefix="fakepy-"))
    try:
        bindir.chmod(0o755)
        fake = bindir / "python"
        fake.write_text('#!/bin/sh\n# stand-in for python -m exercises.grade ... --json PATH ...\n'
                        'while [ "$#" -gt 0 ]; do case "$1" in --json) out="$2";; --submission) sub="$2";; esac; '
                        'shift; done\n'
                        'printf \'{"score": 0, "output": "%s %s"}\' "$(id -un)" "$(stat -c %U "$sub")" > "$out"\n')
        fake.chmod(0o755)
        results, stdout, _ = run_autograder(root, str(fake), SWITCH_USER)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(bindir, ignore_errors=True)
    assert f"grading as the unprivileged user {SWITCH_USER}" in stdout
    assert results["output"] == f"{SWITCH_USER} {SWITCH_USER}"


def test_gradescope_command_line(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "exercises.gradescope", "04", "--out", str(tmp_path),
                           "--budget", "300", "--reveal-total"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(tmp_path / f"autograder_{CHAPTER}.zip") as archive:
        script = archive.read("run_autograder").decode()
    assert "--budget 300 " in script and "--reveal-total" in script and CHAPTER in script
    bad = subprocess.run([sys.executable, "-m", "exercises.gradescope", "0", "--out", str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "exactly one" in bad.stderr
