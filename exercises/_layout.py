"""Where the exercises live and how their files are read (shared by release, grade and selfcheck).

An exercise is a folder ``exercises/NN_slug/`` holding assignment modules (``*.py`` that are not
tests), graded tests (``test_*.py``) and anything else (README.md, small data files). Nothing here
imports or runs an exercise: files are read as text and parsed with ``ast``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

EXERCISES_DIR = Path(__file__).resolve().parent
REPO_ROOT = EXERCISES_DIR.parent
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = "raise NotImplementedError"
_SKIP_NAMES = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
#: ``NN_slug/wrong/<label>/exNN_x.py``: plausible wrong submissions (never released, never copied to a test)
WRONG_DIR = "wrong"


class ExerciseError(Exception):
    """A defect of an exercise's source (not of a submission): bad markers, missing points, ..."""


@dataclass
class Exercise:
    """One exercise folder, read into memory once (later changes on disk are not seen)."""

    name: str                                  # "00_introduction"
    path: Path
    modules: dict[str, str] = field(default_factory=dict)   # assignment module name -> solution source
    tests: dict[str, str] = field(default_factory=dict)     # test file name -> source
    other: dict[str, bytes] = field(default_factory=dict)   # relative path -> bytes (README, data)
    wrong: dict[str, dict[str, str]] = field(default_factory=dict)  # label -> {module name: source}

    @property
    def number(self) -> str:
        return self.name[:2]

    def forbidden_imports(self) -> list[str]:
        """The union of ``FORBIDDEN_IMPORTS = [...]`` over the exercise's test files."""
        names: list[str] = []
        for test_name, source in self.tests.items():
            for value in _module_constant(source, "FORBIDDEN_IMPORTS", test_name):
                if value not in names:
                    names.append(value)
        return names

    def modules_used_by(self, test_file: str) -> set[str]:
        """The assignment modules that ``test_file`` imports."""
        return imported_names(self.tests[test_file]) & set(self.modules)


def _module_constant(source: str, name: str, filename: str) -> list[str]:
    for node in ast.parse(source, filename).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            value = ast.literal_eval(node.value)
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ExerciseError(f"{filename}: {name} must be a list of module names (strings)")
            return list(value)
    return []


def imported_names(source: str) -> set[str]:
    """Every module name an ``import`` statement in ``source`` mentions (absolute imports only)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def find_exercises(root: Path = EXERCISES_DIR, numbers: list[str] | None = None) -> list[Exercise]:
    """The exercise folders under ``root`` (``NN_slug`` with at least one test file), filtered by number prefix."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and re.match(r"^\d\d_", p.name)
                     and any(p.glob("test_*.py")))
    if numbers:
        unknown = [n for n in numbers if not any(p.name.startswith(n) for p in folders)]
        if unknown:
            raise ExerciseError(f"no exercise matches {unknown}; there are {[p.name for p in folders]}")
        folders = [p for p in folders if any(p.name.startswith(n) for n in numbers)]
    return [read_exercise(p) for p in folders]


def read_exercise(path: Path) -> Exercise:
    exercise = Exercise(path.name, path)
    for file in sorted(path.rglob("*")):
        rel = file.relative_to(path)
        if file.is_dir() or any(part in _SKIP_NAMES for part in rel.parts) or file.suffix == ".pyc":
            continue
        if rel.parts[0] == WRONG_DIR:
            if len(rel.parts) == 3 and file.suffix == ".py":
                exercise.wrong.setdefault(rel.parts[1], {})[file.stem] = file.read_text()
            continue
        if len(rel.parts) == 1 and file.suffix == ".py":
            if file.name == "__init__.py" or file.name == "conftest.py":
                raise ExerciseError(f"{path.name}/{file.name}: exercise folders have no {file.name}")
            target = exercise.tests if file.name.startswith("test_") else exercise.modules
            key = file.name if file.name.startswith("test_") else file.stem
            target[key] = file.read_text()
        else:
            exercise.other[str(rel)] = file.read_bytes()
    if not exercise.modules:
        raise ExerciseError(f"{path.name}: no assignment module (a *.py file that is not test_*.py)")
    return exercise


# --- release: stubs and hidden tests ---------------------------------------------------

def stub_solutions(source: str, filename: str = "<module>", stub: str = STUB) -> str:
    """Replace every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block by ``raise NotImplementedError``.

    The stub (``stub``, one line) is indented like the BEGIN marker; everything outside the blocks is kept.
    """
    out: list[str] = []
    begin_line = None
    indent = ""
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        stripped = line.strip()
        if stripped == BEGIN:
            if begin_line is not None:
                raise ExerciseError(f"{filename}:{number}: BEGIN SOLUTION inside the block opened at line {begin_line}")
            indent = line[: len(line) - len(line.lstrip())]
            if not indent:
                raise ExerciseError(f"{filename}:{number}: solution markers must sit inside a function body")
            begin_line = number
            out.append(f"{indent}{stub}\n")
        elif stripped == END:
            if begin_line is None:
                raise ExerciseError(f"{filename}:{number}: END SOLUTION without BEGIN SOLUTION")
            if line[: len(line) - len(line.lstrip())] != indent:
                raise ExerciseError(f"{filename}:{number}: END SOLUTION is indented differently from its BEGIN")
            begin_line = None
        elif BEGIN.lower() in stripped.lower() or END.lower() in stripped.lower():
            raise ExerciseError(f"{filename}:{number}: a solution marker must be alone on its line: {stripped!r}")
        elif begin_line is None:
            out.append(line)
    if begin_line is not None:
        raise ExerciseError(f"{filename}:{begin_line}: BEGIN SOLUTION is never closed")
    stubbed = "".join(out)
    ast.parse(stubbed, filename)  # the release must still import
    return stubbed


def _is_hidden_marker(node: ast.expr) -> bool:
    """``pytest.mark.hidden`` or ``mark.hidden`` (optionally called)."""
    if isinstance(node, ast.Call):
        node = node.func
    return isinstance(node, ast.Attribute) and node.attr == "hidden" and (
        (isinstance(node.value, ast.Attribute) and node.value.attr == "mark")
        or (isinstance(node.value, ast.Name) and node.value.id == "mark"))


def is_hidden_file(source: str) -> bool:
    """A module-level ``pytestmark = pytest.mark.hidden`` (or a list containing it) hides the whole file."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark"
                                                for t in node.targets):
            values = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
            return any(_is_hidden_marker(v) for v in values)
    return False


def remove_hidden_tests(source: str, filename: str = "<test>") -> str:
    """Drop every function or class (top level, or a method of a class) decorated with ``pytest.mark.hidden``."""
    tree = ast.parse(source, filename)
    spans: list[tuple[int, int]] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if any(_is_hidden_marker(d) for d in node.decorator_list):
                    start = min([d.lineno for d in node.decorator_list] + [node.lineno])
                    spans.append((start, node.end_lineno))
                elif isinstance(node, ast.ClassDef):
                    visit(node.body)

    visit(tree.body)
    lines = source.splitlines(keepends=True)
    drop = set()
    for start, end in spans:
        drop.update(range(start, end + 1))
        # also drop the blank lines that followed the removed definition
        k = end + 1
        while k <= len(lines) and not lines[k - 1].strip():
            drop.add(k)
            k += 1
    kept = "".join(line for i, line in enumerate(lines, start=1) if i not in drop)
    kept = kept.rstrip("\n") + "\n"
    ast.parse(kept, filename)
    return kept
