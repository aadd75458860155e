"""CI check of every exercise: the solutions score full marks, the untouched release scores zero.

Usage: ``python -m exercises.selfcheck [NN ...]`` (``make test`` runs it). Exit status 1 with the reasons
when a test fails on the solutions, passes on a stub, or an exercise breaks the format (no README, no
hidden or no visible test, solution markers, points markers).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from exercises import grade as grader
from exercises._layout import EXERCISES_DIR, ExerciseError, find_exercises
from exercises.release import release


def check(numbers: list[str] | None = None, jobs: int = 2, timeout: float = grader.DEFAULT_TIMEOUT) -> list[str]:
    """Return the problems found (empty when everything is fine)."""
    start = time.monotonic()
    problems: list[str] = []
    exercises = find_exercises(EXERCISES_DIR, numbers)
    for exercise in exercises:
        if "README.md" not in exercise.other:
            problems.append(f"{exercise.name}: no README.md")
    solutions = grader.grade(None, numbers, timeout=timeout, jobs=jobs)
    print(f"solutions: {solutions.score:g}/{solutions.max_score:g} in {solutions.seconds:.1f} s")
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
        stubs = grader.grade(Path(tmp), numbers, timeout=timeout, jobs=jobs)
    print(f"release:   {stubs.score:g}/{stubs.max_score:g} in {stubs.seconds:.1f} s")
    for r in stubs.results:
        if r.points:
            problems.append(f"{r.name}: passes on the untouched release (a test that cannot fail)")
    print(f"selfcheck of {len(exercises)} exercises, {len(solutions.results)} tests: {time.monotonic() - start:.1f} s")
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
