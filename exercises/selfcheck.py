"""CI check of every exercise: solutions score full marks; the release, attacks and wrong submissions do not.

Usage: ``python -m exercises.selfcheck [NN ...]`` (``make test`` runs it). Exit status 1 with the reasons
when

* a test fails on the solutions, or an exercise breaks the format (no README, no hidden or no visible
  test, solution markers, points markers);
* a test passes on the untouched release (every function raises ``NotImplementedError``);
* a test passes when every function of the release returns an object whose ``==`` is always true
  (``ALWAYS_EQUAL``): the test compares before it checks the type (use ``excheck``);
* a test passes when every function of the release misbehaves in one of the ways of
  ``tests/test_grading.py`` (``HOSTILE``: exits, skips, forged PASS lines, a stolen key, patched
  pytest reports, KeyboardInterrupt), chosen per test and function;
* a committed plausible-wrong submission (``NN_slug/wrong/<label>/exNN_x.py``, the other modules
  taken from the solution) keeps full marks: the tests cannot tell it from a solution;
* a grading run of the solutions does not fit in the time budget.
"""

from __future__ import annotations

import argparse
import ast
import sys
import tempfile
import time
from pathlib import Path

from exercises import grade as grader
from exercises._layout import EXERCISES_DIR, Exercise, ExerciseError, find_exercises, is_hidden_file, stub_solutions
from exercises.release import release

#: appended to a generated module: an object equal to everything, true, and "less than" everything
ALWAYS_EQUAL = """

class _AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __lt__ = __le__ = __gt__ = __ge__ = __eq__

    def __bool__(self):
        return True

    def __hash__(self):
        return 0
"""

#: appended to a generated module: misbehave in one of several ways, chosen by the test and the function
HOSTILE = r"""

def _hostile(function):
    import os
    import sys
    import zlib
    case = zlib.crc32((os.environ.get("PYTEST_CURRENT_TEST", "") + function).encode()) % 9
    if case == 0:
        for fd in range(64):
            try:
                os.write(fd, b"\nPASS " + b"0" * 64 + b"\n")
            except OSError:
                pass
    elif case == 1:
        import atexit
        atexit.register(lambda: [os.write(fd, b"\nPASS deadbeef\n") for fd in range(3, 20)])
    elif case == 2:
        import pytest
        pytest.skip("later")
    elif case == 3:
        import pytest
        pytest.xfail("later")
    elif case == 4:
        import pytest
        pytest.exit("bye", returncode=0)
    elif case == 5:
        sys.exit(0)
    elif case == 6:
        raise KeyboardInterrupt
    elif case == 7:
        for fd in range(3, 64):
            try:
                os.set_blocking(fd, False)
                os.read(fd, 64)
            except OSError:
                pass
    else:
        import _pytest.reports
        orig = _pytest.reports.TestReport.from_item_and_call.__func__

        def passed(cls, item, call):
            report = orig(cls, item, call)
            report.outcome, report.longrepr = "passed", None
            return report
        _pytest.reports.TestReport.from_item_and_call = classmethod(passed)
    raise NotImplementedError
"""


def attack_modules(exercises: list[Exercise], kind: str) -> dict[str, str]:
    """Every assignment module with each solution block replaced by an attack.

    ``kind`` is ``"always_equal"`` (return an object equal to everything) or ``"hostile"`` (misbehave).
    """
    modules = {}
    for exercise in exercises:
        for name, source in exercise.modules.items():
            if kind == "always_equal":
                modules[name] = stub_solutions(source, name, "return _AlwaysEqual()") + ALWAYS_EQUAL
            else:
                stubbed = stub_solutions(source, name, f"_hostile({name!r})")
                modules[name] = stubbed + HOSTILE
    return modules


def check(numbers: list[str] | None = None, jobs: int = 2, timeout: float = grader.DEFAULT_TIMEOUT,
          budget: float = grader.DEFAULT_BUDGET) -> list[str]:
    """Return the problems found (empty when everything is fine)."""
    start = time.monotonic()
    problems: list[str] = []
    exercises = find_exercises(EXERCISES_DIR, numbers)
    for exercise in exercises:
        if "README.md" not in exercise.other:
            problems.append(f"{exercise.name}: no README.md")
    solutions = grader.grade(None, numbers, timeout=timeout, jobs=jobs, budget=None)
    print(f"solutions: {solutions.score:g}/{solutions.max_score:g} in {solutions.seconds:.1f} s")
    for exercise in exercises:      # one chapter is one Gradescope assignment: its run must fit the budget
        seconds = sum(r.seconds for r in solutions.results if r.exercise == exercise.name) / max(1, jobs)
        if seconds > 0.5 * budget:
            problems.append(f"{exercise.name}: grading the solutions takes about {seconds:.0f} s of tests, more "
                            f"than half the {budget:g} s budget of a grading run (--budget)")
    for r in solutions.results:
        if not r.passed:
            problems.append(f"{r.name}: fails on the solution: {r.reason.strip()[:400]}")
    for exercise in exercises:
        mine = [r for r in solutions.results if r.exercise == exercise.name]
        if not any(r.hidden for r in mine):
            problems.append(f"{exercise.name}: no hidden test (@pytest.mark.hidden)")
        if all(r.hidden for r in mine):
            problems.append(f"{exercise.name}: no visible test")
    problems += [f"flag on the solutions: {f}" for f in solutions.flags]
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        release(Path(tmp), numbers)
        for path in Path(tmp).rglob("*.py"):
            if "### BEGIN SOLUTION" in path.read_text():
                problems.append(f"{path.relative_to(tmp)}: the release still contains a solution block")
        stubs = grader.grade(Path(tmp), numbers, timeout=timeout, jobs=jobs, budget=None)
    print(f"release:   {stubs.score:g}/{stubs.max_score:g} in {stubs.seconds:.1f} s")
    for r in stubs.results:
        if r.points:
            problems.append(f"{r.name}: passes on the untouched release (a test that cannot fail)")
    for kind, why in (("always_equal", "returns an object whose == is always true (check the type first: excheck)"),
                      ("hostile", "exits, skips, forges a PASS or patches pytest")):
        attacked = grader.grade(None, numbers, timeout=min(timeout, 10.0), jobs=jobs, budget=None,
                                submission_modules=attack_modules(exercises, kind))
        print(f"{kind + ':':<10} {attacked.score:g}/{attacked.max_score:g} in {attacked.seconds:.1f} s")
        for r in attacked.results:
            if r.points:
                problems.append(f"{r.name}: passes when every function {why}")
    for note in coverage_notes(exercises):
        print(f"note:      {note}")
    problems += check_wrong(exercises, jobs, timeout)
    print(f"selfcheck of {len(exercises)} exercises, {len(solutions.results)} tests: {time.monotonic() - start:.1f} s")
    return problems


def coverage_notes(exercises: list[Exercise]) -> list[str]:
    """Graded functions without a hidden test, or without a visible one (read statically: ``alias.name`` in tests).

    A function that only hidden tests call gives the student no red test before the deadline; one that
    only visible tests call can be passed by returning the visible answers.
    """
    notes = []
    for exercise in exercises:
        functions = {(module, node.name) for module, source in exercise.modules.items()
                     for node in ast.parse(source).body
                     if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")}
        seen: dict[str, set[tuple[str, str]]] = {"hidden": set(), "visible": set()}
        for source in exercise.tests.values():
            tree = ast.parse(source)
            aliases = {a.asname or a.name: a.name for node in tree.body if isinstance(node, ast.Import)
                       for a in node.names if a.name in exercise.modules}
            helpers = {n.name: n for n in tree.body
                       if isinstance(n, ast.FunctionDef) and not n.name.startswith("test_")}
            hidden_file = is_hidden_file(source)
            for node in ast.walk(tree):
                if not (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")):
                    continue
                bodies = [node] + [helpers[n.id] for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in helpers]
                hidden = hidden_file or any("hidden" in ast.unparse(d) for d in node.decorator_list)
                for body in bodies:
                    for sub in ast.walk(body):
                        if (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name)
                                and sub.value.id in aliases):
                            seen["hidden" if hidden else "visible"].add((aliases[sub.value.id], sub.attr))
        for module, function in sorted(functions):
            used = [kind for kind in ("visible", "hidden") if (module, function) in seen[kind]]
            if used == ["visible"]:
                notes.append(f"{exercise.name}: {module}.{function} has no hidden test (other inputs)")
            elif used == ["hidden"]:
                notes.append(f"{exercise.name}: {module}.{function} has no visible test")
    return notes


def check_wrong(exercises: list[Exercise], jobs: int, timeout: float) -> list[str]:
    """Each committed wrong submission must lose points (a mutation check of the tests)."""
    problems = []
    for exercise in exercises:
        if not exercise.wrong:
            print(f"wrong:     {exercise.name}: no plausible-wrong submissions in wrong/ (none checked)")
            continue
        for label, modules in sorted(exercise.wrong.items()):
            unknown = set(modules) - set(exercise.modules)
            if unknown:
                problems.append(f"{exercise.name}/wrong/{label}: {sorted(unknown)} are not assignment modules")
                continue
            report = grader.grade(None, [exercise.name], timeout=timeout, jobs=jobs, budget=None,
                                  submission_modules={**exercise.modules, **modules}, only_modules=set(modules))
            lost = [r.nodeid.split("::")[-1] for r in report.results if not r.passed]
            print(f"wrong:     {exercise.name}/{label}: {report.score:g}/{report.max_score:g} on the tests of "
                  f"{', '.join(sorted(modules))}"
                  f" (fails {', '.join(lost) if lost else 'nothing'})")
            if report.score >= report.max_score:
                problems.append(f"{exercise.name}/wrong/{label}: a plausible wrong submission keeps full marks")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exercises.selfcheck", description=__doc__.splitlines()[0])
    parser.add_argument("numbers", nargs="*", metavar="NN", help="exercise number prefixes (default: all)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        problems = check(args.numbers or None, jobs=args.jobs)
    except ExerciseError as exc:
        print(f"selfcheck: error in the exercises: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("selfcheck: OK" if not problems else f"selfcheck: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
