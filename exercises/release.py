"""Make the student version of the exercises.

Usage (from the repository root)::

    python -m exercises.release --out DIR [NN ...]

For each selected exercise ``exercises/NN_slug/`` this writes ``DIR/NN_slug/`` where

* every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block of an assignment module is replaced by
  ``raise NotImplementedError`` (signatures, docstrings and the code around the blocks are kept);
* every test function (or class) marked ``@pytest.mark.hidden`` is removed from the test files
  (a file with ``pytestmark = pytest.mark.hidden`` is left out);
* everything else (README.md, data files) is copied unchanged.

``DIR/conftest.py`` registers the markers and prints a points line, ``DIR/pytest.ini`` makes ``DIR`` the
pytest root (so ``python -m pytest`` works from ``DIR`` and from ``DIR/NN_slug``), ``DIR/excheck.py`` is
the tests' type/shape helper, and ``DIR/README.md`` tells a student how to start. Relative links of the
READMEs that point outside the exercise folder (the chapter) are rewritten to resolve from ``DIR``.
"""

from __future__ import annotations

import argparse
import os
import re
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
        if rel.endswith(".md"):
            data = relink(data.decode(), exercise.path / rel, path).encode()
        path.write_bytes(data)
        written.append(path)
    return written


_LINK = re.compile(r"(\]\()([^)\s#]+)([^)]*\))")


def relink(text: str, source: Path, target: Path) -> str:
    """Rewrite relative Markdown links of ``source`` that leave its exercise folder so they resolve from ``target``."""
    def fix(match: re.Match) -> str:
        link = match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", link) or link.startswith("/"):
            return match.group(0)
        real = (source.parent / link).resolve()
        if source.parent.resolve() in real.parents or not real.exists():
            return match.group(0)
        new = os.path.relpath(real, target.parent.resolve())
        return match.group(1) + new + match.group(3)

    return _LINK.sub(fix, text)


PYTEST_INI = """[pytest]
# The root of the student version of the exercises: `python -m pytest` from here or from a chapter folder.
markers =
    points(n): the number of points a graded exercise test is worth
    hidden: a graded test left out of the student release
python_files = test_*.py
"""

HANDOUT_README = """# Exercises of *AutoML from Scratch*

One folder per chapter. Each folder's `README.md` lists the tasks and their points; write your
code between the lines where a function raises `NotImplementedError`.

```bash
python -m pytest                      # every chapter's visible tests, from this folder
python -m pytest {first}              # one chapter
cd {first} && python -m pytest        # the same, from the chapter's folder
```

Each run ends with a line `exercise points (...)`: the points of the visible tests you pass. The
teacher's grader also runs hidden tests (the same functions on other inputs), so a function that
only returns the visible answers loses points.

Work from a notebook in this folder (or a chapter folder) with

```python
%load_ext autoreload
%autoreload 2
import sys; sys.path.insert(0, "{first}")   # the chapter's folder, if the notebook is elsewhere
import {module} as ex                       # your module; edits are reloaded on every cell run
```

Do not rename the files or the functions: the grader imports them by name. The tests need
`numpy`, `scipy`, `pytest` and the book's `minilib` (`pip install -e .` in the book's repository).
"""


def release(out: Path, numbers: list[str] | None = None, exercises_dir: Path = EXERCISES_DIR) -> list[Exercise]:
    """Release the selected exercises (all by default) into ``out``."""
    if out.resolve() == exercises_dir.resolve() or exercises_dir.resolve() in out.resolve().parents:
        raise ExerciseError(f"--out {out} must not be inside {exercises_dir}")
    exercises = find_exercises(exercises_dir, numbers)
    out.mkdir(parents=True, exist_ok=True)
    for exercise in exercises:
        release_exercise(exercise, out)
    shutil.copyfile(EXERCISES_DIR / "conftest.py", out / "conftest.py")
    shutil.copyfile(EXERCISES_DIR / "excheck.py", out / "excheck.py")
    (out / "pytest.ini").write_text(PYTEST_INI)
    if exercises:
        first = exercises[0]
        (out / "README.md").write_text(HANDOUT_README.format(first=first.name, module=sorted(first.modules)[0]))
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
