"""Make the student version of the exercises.

Usage (from the repository root)::

    python -m exercises.release --out DIR [NN ...]

For each selected exercise ``exercises/NN_slug/`` this writes ``DIR/NN_slug/`` where

* every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block of an assignment module is replaced by
  ``raise NotImplementedError`` (signatures, docstrings and the code around the blocks are kept);
* every test function (or class) marked ``@pytest.mark.hidden`` is removed from the test files
  (a file with ``pytestmark = pytest.mark.hidden`` is left out);
* everything else (README.md, data files) is copied unchanged.

``DIR/conftest.py`` registers the markers, so that ``pytest DIR/NN_slug`` runs the visible tests.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from exercises._layout import (
    EXERCISES_DIR,
    Exercise,
    ExerciseError,
    find_exercises,
    is_hidden_file,
    remove_hidden_tests,
    stub_solutions,
)


def release_exercise(exercise: Exercise, out: Path) -> list[Path]:
    """Write the student version of one exercise into ``out / exercise.name``; return the files written."""
    target = out / exercise.name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    written = []
    for name, source in exercise.modules.items():
        path = target / f"{name}.py"
        path.write_text(stub_solutions(source, f"{exercise.name}/{name}.py"))
        written.append(path)
    for name, source in exercise.tests.items():
        if is_hidden_file(source):
            continue
        path = target / name
        path.write_text(remove_hidden_tests(source, f"{exercise.name}/{name}"))
        written.append(path)
    for rel, data in exercise.other.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written


def release(out: Path, numbers: list[str] | None = None, exercises_dir: Path = EXERCISES_DIR) -> list[Exercise]:
    """Release the selected exercises (all by default) into ``out``."""
    if out.resolve() == exercises_dir.resolve() or exercises_dir.resolve() in out.resolve().parents:
        raise ExerciseError(f"--out {out} must not be inside {exercises_dir}")
    exercises = find_exercises(exercises_dir, numbers)
    out.mkdir(parents=True, exist_ok=True)
    for exercise in exercises:
        release_exercise(exercise, out)
    shutil.copyfile(exercises_dir / "conftest.py", out / "conftest.py")
    return exercises


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exercises.release", description=__doc__.splitlines()[0])
    parser.add_argument("numbers", nargs="*", metavar="NN", help="exercise number prefixes (default: all)")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write the student version to")
    args = parser.parse_args(argv)
    try:
        exercises = release(args.out, args.numbers)
    except (ExerciseError, SyntaxError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for exercise in exercises:
        print(f"released {exercise.name} -> {args.out / exercise.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
