"""Build the Gradescope autograder zip of one chapter's exercises.

Usage (from the repository root)::

    python -m exercises.gradescope 04_multi_fidelity --out dist/        # or: make gradescope EX=04
    python -m exercises.gradescope 04 --out dist/ --budget 480 --timeout 20 --reveal-total

writes ``dist/autograder_04_multi_fidelity.zip``. Upload it as the autograder of a Gradescope
"Programming Assignment" (base image Ubuntu 22.04). The zip holds, at its root,

* ``setup.sh``: run once by Gradescope (as root) when it builds the image: installs Python 3.11, CPU
  ``torch`` and the book's pinned packages (``constraints.txt``) into ``/autograder/venv``, and creates
  the unprivileged user ``grader``;
* ``run_autograder``: run (as root, in ``/autograder``) for every submission: copies
  ``/autograder/submission`` to a fresh folder owned by ``grader``, runs ``python -m exercises.grade``
  on it as ``grader`` with the chapter's full tests, and copies the grader's ``results.json`` to
  ``/autograder/results/results.json`` (a zero score with the reason if the grader wrote none);
* what the grader needs: ``exercises/`` (the framework and this chapter's folder, without its
  ``wrong/`` submissions), ``minilib/``, ``pyproject.toml``, ``README.md`` and ``constraints.txt``.

``run_autograder`` reads three environment variables, so that it can be tested outside Gradescope
(``tests/test_gradescope.py`` runs it against a fake ``/autograder`` in a temporary folder):
``AUTOGRADER_ROOT`` (default ``/autograder``), ``AUTOGRADER_PYTHON`` (default
``$AUTOGRADER_ROOT/venv/bin/python``) and ``AUTOGRADER_USER`` (default ``grader``; empty: never switch).
The switch to that user (``runuser``) happens only when ``run_autograder`` runs as root and the user
exists; otherwise the grader runs as the current user, and stdout says which.
"""

from __future__ import annotations

import argparse
import stat
import sys
import zipfile
from pathlib import Path

from exercises import grade as grader
from exercises._layout import EXERCISES_DIR, REPO_ROOT, WRONG_DIR, ExerciseError, find_exercises

#: the framework files of exercises/ that the grader needs (the chapter folder is added separately)
FRAMEWORK = ["__init__.py", "_layout.py", "_sandbox.py", "grade.py", "excheck.py", "conftest.py"]
#: files of the repository root that setup.sh needs to install minilib and its pinned dependencies
ROOT_FILES = ["pyproject.toml", "README.md", "constraints.txt"]
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (base image: Ubuntu 22.04).
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends software-properties-common
if ! apt-cache show python3.11 > /dev/null 2>&1; then add-apt-repository -y ppa:deadsnakes/ppa && apt-get update; fi
apt-get install -y --no-install-recommends python3.11 python3.11-venv
python3.11 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
# CPU torch first (no CUDA wheels), at the version constraints.txt pins
/autograder/venv/bin/python -m pip install --index-url {torch_index} \\
    "torch==$(grep -E '^torch==' /autograder/source/constraints.txt | cut -d= -f3)"
/autograder/venv/bin/python -m pip install -c /autograder/source/constraints.txt /autograder/source pytest
# the unprivileged user that runs the submissions (run_autograder itself runs as root)
id grader > /dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin grader
# check the installation: the reference solutions must score full marks (else the image build fails)
cd /autograder/source
/autograder/venv/bin/python -m exercises.grade --quiet --json /tmp/setup-check.json {number}
/autograder/venv/bin/python -c "import json, sys; r = json.load(open('/tmp/setup-check.json')); \
sys.exit(0 if r['score'] == r['extra_data']['max_score'] else 'the reference solutions lose points')"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this as root, in /autograder, once per submission. See exercises/gradescope.py.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}}"
USER_NAME="${{AUTOGRADER_USER-grader}}"   # set it empty to never switch
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp -r "$ROOT/submission" "$WORK/submission"
mkdir -p "$WORK/tmp" "$WORK/out"
AS_USER=()
if [ -n "$USER_NAME" ] && [ "$(id -u)" = 0 ] && id "$USER_NAME" > /dev/null 2>&1; then
    chown -R "$USER_NAME" "$WORK/submission" "$WORK/tmp" "$WORK/out"
    chmod 711 "$WORK"
    chmod -R a+rX "$ROOT/source"
    AS_USER=(runuser -u "$USER_NAME" --)
    echo "grading as the unprivileged user $USER_NAME"
else
    echo "grading as $(id -un) (not root, or no user $USER_NAME): no user switch"
fi
cd "$ROOT/source"
rm -f "$RESULTS"
"${{AS_USER[@]}}" env HOME="$WORK/tmp" TMPDIR="$WORK/tmp" "$PYTHON" -m exercises.grade \\
    --submission "$WORK/submission" --json "$WORK/out/results.json" \\
    --budget {budget:g} --timeout {timeout:g} --jobs {jobs} {reveal}{number}
status=$?
if [ -f "$WORK/out/results.json" ] && [ ! -L "$WORK/out/results.json" ]; then
    cp "$WORK/out/results.json" "$RESULTS"
else
    cat > "$RESULTS" << END_OF_RESULTS
{{"score": 0, "visibility": "visible", "stdout_visibility": "hidden",
 "output": "The autograder failed (exit status $status) before it wrote results: please tell your teacher."}}
END_OF_RESULTS
fi
echo "grader exit status $status"
"""


def _add(archive: zipfile.ZipFile, path: Path, arcname: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((stat.S_IFREG | (0o755 if executable else 0o644)) << 16)
    archive.writestr(info, path.read_bytes())


def _add_text(archive: zipfile.ZipFile, text: str, arcname: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((stat.S_IFREG | (0o755 if executable else 0o644)) << 16)
    archive.writestr(info, text)


def _tracked(root: Path) -> list[Path]:
    skip = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
    return sorted(p for p in root.rglob("*") if p.is_file() and not skip & set(p.parts) and p.suffix != ".pyc")


def build(number: str, out: Path, budget: float = grader.DEFAULT_BUDGET, timeout: float = grader.DEFAULT_TIMEOUT,
          jobs: int = 2, reveal_total: bool = False) -> Path:
    """Write ``out/autograder_<NN_slug>.zip`` for the one exercise folder matching ``number``; return its path."""
    matches = find_exercises(EXERCISES_DIR, [number])
    if len(matches) != 1:
        raise ExerciseError(f"{number!r} matches {[e.name for e in matches]}: name exactly one exercise")
    exercise = matches[0]
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"autograder_{exercise.name}.zip"
    run = RUN_AUTOGRADER.format(budget=budget, timeout=timeout, jobs=jobs, number=exercise.name,
                                reveal="--reveal-total " if reveal_total else "")
    with zipfile.ZipFile(target, "w") as archive:
        _add_text(archive, SETUP_SH.format(torch_index=TORCH_CPU_INDEX, number=exercise.name), "setup.sh", True)
        _add_text(archive, run, "run_autograder", True)
        for name in ROOT_FILES:
            _add(archive, REPO_ROOT / name, name)
        for name in FRAMEWORK:
            _add(archive, EXERCISES_DIR / name, f"exercises/{name}")
        for path in _tracked(exercise.path):
            rel = path.relative_to(exercise.path)
            if rel.parts[0] != WRONG_DIR:
                _add(archive, path, f"exercises/{exercise.name}/{rel.as_posix()}")
        for path in _tracked(REPO_ROOT / "minilib"):
            _add(archive, path, f"minilib/{path.relative_to(REPO_ROOT / 'minilib').as_posix()}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exercises.gradescope", description=__doc__.splitlines()[0])
    parser.add_argument("number", metavar="NN_slug", help="the exercise folder (or its number prefix)")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write the zip to")
    parser.add_argument("--budget", type=float, default=grader.DEFAULT_BUDGET,
                        help=f"seconds for one grading run (default {grader.DEFAULT_BUDGET:g}; keep it under the "
                             "assignment's autograder timeout, which is 10 minutes by default)")
    parser.add_argument("--timeout", type=float, default=grader.DEFAULT_TIMEOUT, help="seconds per test (default 20)")
    parser.add_argument("--jobs", type=int, default=2, help="tests run in parallel (default 2)")
    parser.add_argument("--reveal-total", action="store_true",
                        help="show students the total (hidden tests included) and the flags right away")
    args = parser.parse_args(argv)
    try:
        path = build(args.number, args.out, args.budget, args.timeout, args.jobs, args.reveal_total)
    except ExerciseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
