"""Tests of the exercise tools: release, grade (against hostile submissions) and the format checks.

Each hostile case is a small fake submission of a fake exercise ``99_fake`` built in ``tmp_path``,
graded by ``python -m exercises.grade`` in a subprocess with a short deadline. The fake exercise has
three tests worth 1, 2 and 3 points; the hostile behaviours trigger only in the 2-point test
(``double(-3)``), so a correct grader gives exactly 1 + 3 = 4 points to those submissions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from exercises._layout import remove_hidden_tests, stub_solutions

REPO = Path(__file__).resolve().parent.parent

SOLUTION = '''\
"""A fake exercise."""


def double(x: int) -> int:
    """Return 2 * x."""
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION
'''

TESTS = '''\
import ex99_fake as ex
import pytest

FORBIDDEN_IMPORTS = ["minilib.plot"]


@pytest.mark.points(1)
def test_small():
    out = ex.double(2)
    assert type(out) is int
    assert out == 4


@pytest.mark.points(2)
def test_negative():
    out = ex.double(-3)
    assert type(out) is int
    assert out == -6


@pytest.mark.points(3)
@pytest.mark.hidden
def test_large():
    out = ex.double(10**6)
    assert type(out) is int
    assert out == 2 * 10**6
'''


def hostile(body: str, header: str = "") -> str:
    """A module whose ``double`` is right except for x == -3, where it runs ``body``."""
    body = textwrap.indent(textwrap.dedent(body), " " * 8)
    return f"{textwrap.dedent(header)}\n\ndef double(x):\n    if x == -3:\n{body}\n    return 2 * x\n"


@pytest.fixture()
def fake(tmp_path: Path) -> Path:
    exercises = tmp_path / "exercises"
    (exercises / "99_fake").mkdir(parents=True)
    (exercises / "99_fake" / "ex99_fake.py").write_text(SOLUTION)
    (exercises / "99_fake" / "test_ex99_fake.py").write_text(TESTS)
    (exercises / "99_fake" / "README.md").write_text("# fake\n")
    return tmp_path


def grade(root: Path, source: str | None, *extra: str, timeout: float = 2.0) -> tuple[dict, str, float]:
    """Grade a submission whose ex99_fake.py is ``source`` (None: no file); return (results.json, stdout, seconds)."""
    submission = root / "submission"
    submission.mkdir(exist_ok=True)
    if source is not None:
        (submission / "ex99_fake.py").write_text(source)
    results = root / "out" / "results.json"
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "exercises.grade", "--exercises-dir", str(root / "exercises"), "--submission",
         str(submission), "--json", str(results), "--timeout", str(timeout), "--jobs", "2", *extra],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not survivors(root), "a process started by the submission outlived the grader"
    return json.loads(results.read_text()), proc.stdout, seconds


def survivors(root: Path) -> list[int]:
    """Processes whose command line mentions ``root`` (the grader's children are forks of it)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if str(root).encode() in cmdline:
                found.append(int(entry))
    return found


def scores(results: dict) -> dict[str, float]:
    return {t["name"].split("::")[-1]: t["score"] for t in results["tests"]}


# --- release -------------------------------------------------------------------------------------

def test_stub_keeps_signature_and_docstring():
    out = stub_solutions(SOLUTION)
    assert "def double(x: int) -> int:" in out and '"""Return 2 * x."""' in out
    assert "    raise NotImplementedError\n" in out and "return 2 * x" not in out and "SOLUTION" not in out


def test_stub_rejects_broken_markers():
    from exercises._layout import ExerciseError

    with pytest.raises(ExerciseError, match="never closed"):
        stub_solutions("def f():\n    ### BEGIN SOLUTION\n    return 1\n")
    with pytest.raises(ExerciseError, match="without BEGIN"):
        stub_solutions("def f():\n    return 1\n    ### END SOLUTION\n")


def test_remove_hidden_tests_drops_whole_functions():
    out = remove_hidden_tests(TESTS)
    assert "def test_small" in out and "def test_negative" in out
    assert "test_large" not in out and "hidden" not in out and "10**6" not in out


def test_release_command(fake: Path):
    out = fake / "release"
    proc = subprocess.run([sys.executable, "-m", "exercises.release", "--out", str(out), "00", "01"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    released = sorted(p.name for p in (out / "00_introduction").iterdir())
    assert "README.md" in released and "ex00_data.py" in released
    assert (out / "conftest.py").exists()
    for path in out.rglob("*.py"):
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "mark.hidden" not in text


# --- grading: honest submissions -------------------------------------------------------------------

def test_correct_submission_scores_everything(fake: Path):
    results, stdout, _ = grade(fake, SOLUTION)
    assert results["score"] == 6 and scores(results) == {"test_small": 1, "test_negative": 2, "test_large": 3}
    assert {t["visibility"] for t in results["tests"]} == {"visible", "after_published"}
    assert all({"name", "score", "max_score", "output", "visibility"} <= set(t) for t in results["tests"])
    assert "execution_time" in results and "TOTAL: 6/6" in stdout


def test_stub_scores_zero(fake: Path):
    results, _, _ = grade(fake, stub_solutions(SOLUTION))
    assert results["score"] == 0
    assert all("NotImplementedError" in t["output"] for t in results["tests"])


def test_wrong_answer_scores_only_the_right_tests(fake: Path):
    results, stdout, _ = grade(fake, hostile("return 6"))
    assert scores(results) == {"test_small": 1, "test_negative": 0, "test_large": 3}
    assert "assert 6 == -6" in stdout or "AssertionError" in stdout


# --- grading: hostile submissions (each must score exactly 4 = 1 + 3, or 0 when the module is broken) ----

CASES = {
    "keyboard_interrupt": hostile("raise KeyboardInterrupt"),
    "system_exit": hostile("import sys\nsys.exit(0)"),
    "os_exit": hostile("import os\nos._exit(0)"),
    "pytest_exit": hostile("import pytest\npytest.exit('bye', returncode=0)"),
    "pytest_skip": hostile("import pytest\npytest.skip('later')"),
    "pytest_xfail": hostile("import pytest\npytest.xfail('later')"),
    "atexit_forges_a_pass": hostile("""
        import atexit, os
        atexit.register(lambda: [os.write(fd, b"\\nPASS " + b"0" * 64 + b"\\n") for fd in range(3, 20)])
        return 0
    """),
    "writes_to_every_fd": hostile("""
        import os
        for fd in range(0, 64):
            try:
                os.write(fd, b"\\nPASS deadbeef\\n")
            except OSError:
                pass
        return 0
    """),
    "steals_the_key": hostile("""
        import os
        for fd in range(3, 64):
            try:
                os.set_blocking(fd, False)
                os.read(fd, 64)
            except OSError:
                pass
        return -6
    """),
    "always_equal": hostile("""
        class Liar(int):
            def __eq__(self, other):
                return True
            __hash__ = int.__hash__
        return Liar(0)
    """),
    "memory_hog": hostile("""
        import numpy as np
        return int(np.ones(2**31).sum())          # 16 GiB
    """),
    "memory_hog_slowly": hostile("""
        blocks = []
        while True:
            blocks.append(bytearray(256 * 2**20))
    """),
    "background_process_in_the_group": hostile("""
        import os, time
        if os.fork() == 0:                        # same process group; its child starts a new session
            if os.fork() == 0:
                os.setsid()
                time.sleep(60)
            time.sleep(60)
        return 0
    """),
    "patches_pytest_reporting": hostile("""
        import _pytest.python, _pytest.reports, _pytest.runner
        orig = _pytest.reports.TestReport.from_item_and_call.__func__
        def passed(cls, item, call):
            report = orig(cls, item, call)
            report.outcome, report.longrepr = "passed", None
            return report
        _pytest.reports.TestReport.from_item_and_call = classmethod(passed)
        _pytest.python.Function.runtest = lambda self: None
        _pytest.runner.check_interactive_exception = lambda call, report: False
        return 0
    """),
    "patches_pytest_and_answers_right": hostile("""
        import _pytest.reports
        _pytest.reports.TestReport.from_item_and_call = classmethod(lambda cls, item, call: None)
        return -6
    """),
    "shadows_type_in_the_test_module_to_hide_a_liar": hostile("""
        import sys
        class Liar(int):
            def __eq__(self, other):
                return True
            __hash__ = int.__hash__
        sys.modules["test_ex99_fake"].type = lambda value: int
        return Liar(0)
    """),
    "infinite_loop_catching_everything": hostile("""
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
    """),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_case_scores_exactly(fake: Path, case: str):
    results, stdout, seconds = grade(fake, CASES[case], timeout=2.0)
    reason = [t["output"] for t in results["tests"] if t["name"].endswith("test_negative")][0].splitlines()[0]
    print(f"{case}: score {results['score']:g}/6 in {seconds:.1f} s; {reason[:150]}")
    assert scores(results) == {"test_small": 1, "test_negative": 0, "test_large": 3}, stdout
    assert results["score"] == 4


def test_prints_megabytes_but_is_right(fake: Path):
    source = "import sys\n\ndef double(x):\n    sys.stdout.write('x' * 5_000_000)\n    print('y' * 3_000_000)\n" \
             "    return 2 * x\n"
    results, _, seconds = grade(fake, source)
    assert results["score"] == 6
    assert all(len(t["output"]) < 10_000 for t in results["tests"])


def test_overwriting_results_json_and_background_writer(fake: Path):
    """The submission finds --json in its parent's command line, writes it now, and leaves a process
    in a new session that writes it again later (and a marker file): neither may survive."""
    marker = fake / "background-was-alive"
    source = hostile(f"""
        import os, json, time
        def forge():
            for pid in {{os.getppid(), os.getpid()}}:
                args = open(f"/proc/{{pid}}/cmdline", "rb").read().split(b"\\0")
                if b"--json" in args:
                    path = args[args.index(b"--json") + 1].decode()
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "w") as f:
                        json.dump({{"score": 1000, "tests": []}}, f)
        forge()
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(1.5)
                forge()
                open({str(marker)!r}, "w").write("alive")
            os._exit(0)
        return -6
    """)
    results, stdout, _ = grade(fake, source)
    assert results["score"] == 6, stdout
    time.sleep(2.5)
    assert not marker.exists(), "a background process survived the grader"
    assert json.loads((fake / "out" / "results.json").read_text())["score"] == 6


@pytest.mark.parametrize("case,source,reason", [
    ("syntax_error", "def double(x)\n    return 2 * x\n", "SyntaxError"),
    ("missing_import", "import numpy_but_not_installed\n\ndef double(x):\n    return 2 * x\n", "ModuleNotFoundError"),
    ("missing_function", "def triple(x):\n    return 3 * x\n", "has no 'double'"),
    ("missing_file", None, "missing from the submission"),
    ("import_time_exit", "import os\nos._exit(0)\n", "ended without a result"),
])
def test_broken_module_scores_zero_with_a_clear_reason(fake: Path, case: str, source: str | None, reason: str):
    results, stdout, _ = grade(fake, source)
    assert results["score"] == 0
    assert reason in stdout, stdout


def test_forbidden_import_is_flagged_and_scored_zero(fake: Path):
    source = "from minilib.plot import best_so_far  # noqa\n\n" + SOLUTION
    results, stdout, _ = grade(fake, source)
    assert results["score"] == 0 and "minilib.plot" in stdout and "FLAG" in stdout
    results, _, _ = grade(fake, source, "--allow-forbidden-imports")
    assert results["score"] == 6


def test_suspicious_code_is_flagged_but_scored(fake: Path):
    results, stdout, _ = grade(fake, "import ctypes  # noqa\n\n" + SOLUTION)
    assert results["score"] == 6 and "ctypes" in stdout and "worth a look" in stdout


def test_grader_selects_exercises_and_finds_flat_submissions(tmp_path: Path):
    submission = tmp_path / "flat"
    submission.mkdir()
    for name in ("ex00_data.py", "ex00_params.py"):
        (submission / name).write_text((REPO / "exercises" / "00_introduction" / name).read_text())
    results = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "exercises.grade", "--submission", str(submission), "--json",
                           str(results), "00"], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    data = json.loads(results.read_text())
    assert data["tests"] and all(t["name"].startswith("00_introduction/") for t in data["tests"])
    assert data["score"] == sum(t["max_score"] for t in data["tests"])
