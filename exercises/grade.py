"""Grade a submission with the full tests (hidden ones included): a score table and a Gradescope results.json.

Usage (from the repository root)::

    python -m exercises.grade                                   # the solutions in exercises/ (all exercises)
    python -m exercises.grade --submission DIR --json results.json 00 01

``DIR`` is laid out like the release (``DIR/00_introduction/ex00_split.py``); a flat folder of the
assignment files (as Gradescope stores an upload) works too. The tests always come from
``exercises/``, never from the submission. Each test runs in its own sandboxed child process with a
deadline; see ``exercises/_sandbox.py`` and the threat model in ``exercises/README.md``.
"""

from __future__ import annotations

import argparse
import ast
import gc
import hashlib
import importlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from exercises import _sandbox  # noqa: E402
from exercises._layout import EXERCISES_DIR, Exercise, ExerciseError, find_exercises, imported_names  # noqa: E402

DEFAULT_TIMEOUT = 20.0
#: seconds for a whole grading run (collection included); Gradescope's default autograder timeout is 10 minutes
DEFAULT_BUDGET = 480.0
DEFAULT_MEMORY_GIB = 4.0
#: constructs an assignment never needs; a module using one is flagged for a human to look at (score unchanged)
SUSPICIOUS = {
    "ctypes": r"\bctypes\b", "gc": r"\bgc\.", "frames": r"_getframe|\binspect\b|f_back|f_locals|f_globals",
    "tracing": r"settrace|setprofile", "atexit": r"\batexit\b", "exit": r"os\._exit|sys\.exit|\bexit\(",
    "processes": r"\bsubprocess\b|os\.fork|setsid|multiprocessing|os\.system|os\.exec|os\.spawn|\bpty\b|os\.kill",
    "signals": r"\bsignal\b", "pytest": r"\bpytest\b|_pytest|pluggy", "proc": r"/proc\b",
    "results file": r"results\.json", "builtins": r"__builtins__|\bbuiltins\b",
    "dynamic import": r"importlib|__import__", "exec/eval": r"\bexec\(|\beval\(|\bcompile\(",
}


@dataclass
class TestResult:
    exercise: str
    nodeid: str
    max_points: float
    hidden: bool
    points: float = 0.0
    reason: str = ""
    output: str = ""
    seconds: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.exercise}/{self.nodeid}"

    @property
    def passed(self) -> bool:
        return self.points == self.max_points


@dataclass
class Report:
    results: list[TestResult] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(r.points for r in self.results)

    @property
    def max_score(self) -> float:
        return sum(r.max_points for r in self.results)


# --- the submission -------------------------------------------------------------------------

def find_module(submission: Path, exercise: Exercise, name: str) -> Path | None:
    """``DIR/NN_slug/name.py``, else ``DIR/name.py``, else a unique ``name.py`` anywhere below ``DIR``."""
    for candidate in (submission / exercise.name / f"{name}.py", submission / f"{name}.py"):
        if candidate.is_file():
            return candidate
    matches = [p for p in submission.rglob(f"{name}.py") if p.is_file()][:2]
    return matches[0] if len(matches) == 1 else None


def _defined_names(module: str) -> set[str]:
    path = EXERCISES_DIR.parent / (module.replace(".", "/") + ".py")
    if not path.is_file():
        return set()
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _dotted(node: ast.expr) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _reexports(module: str) -> set[str]:
    """Dotted names ``package.name`` through which an ancestor package of ``module`` re-exports its objects.

    ``minilib.minimize`` is ``minilib.study.minimize``: with ``minilib.study`` forbidden, ``minilib.minimize``
    counts as the forbidden module too. Read from the imported packages (trusted code), else from their source.
    """
    found: set[str] = set()
    parts = module.split(".")
    for k in range(1, len(parts)):
        package = ".".join(parts[:k])
        try:
            mod = importlib.import_module(package)
        except Exception:  # noqa: BLE001 - not importable here: fall back to nothing
            continue
        for name, value in list(vars(mod).items()):
            origin = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
            if isinstance(origin, str) and (origin == module or origin.startswith(module + ".")):
                found.add(f"{package}.{name}")
    return found


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> the dotted name it stands for (``import minilib as m``, ``from minilib import hpo``, ``m = x``)."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases.setdefault(top, top)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if alias.name != "*":
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for _ in range(3):  # plain assignments of an alias (``m = minilib.hpo``), a few levels deep
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Name, ast.Attribute)):
                target = _resolve(_dotted(node.value), aliases)
                if target and target.split(".")[0] in {v.split(".")[0] for v in aliases.values()}:
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            aliases[t.id] = target
    return aliases


def _resolve(dotted: str, aliases: dict[str, str]) -> str:
    if not dotted:
        return dotted
    head, _, rest = dotted.partition(".")
    return aliases.get(head, head) + ("." + rest if rest else "")


def forbidden_used(source: str, forbidden: list[str]) -> list[str]:
    """The forbidden modules that ``source`` uses: imports, attribute chains through any alias, re-exports.

    Catches ``import minilib.hpo.asha``, ``from minilib.hpo import ASHA`` (a re-export), ``import minilib as m;
    m.minimize(...)`` (``minilib.minimize`` is ``minilib.study.minimize``), ``from minilib import hpo;
    hpo.asha.ASHA``, ``from minilib import *`` when the package re-exports the module's objects, and the
    module's name in a string (``importlib.import_module("minilib.hpo.asha")``).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    aliases = _aliases(tree)
    mentioned = set(imported_names(source)) | set(aliases.values())
    stars = {node.module for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) and node.module and any(a.name == "*" for a in node.names)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and " " not in node.value.strip():
            mentioned.add(node.value.strip())          # importlib.import_module("minilib.hpo.asha")
        elif isinstance(node, ast.Attribute):
            mentioned.add(_resolve(_dotted(node), aliases))   # m.hpo.asha.ASHA, minilib.minimize
    hits = []
    for module in forbidden:
        paths = {module} | _reexports(module)
        defined = _defined_names(module)   # static fallback: ``from minilib.hpo import ASHA``, ASHA defined in asha.py
        static = any(isinstance(node, ast.ImportFrom) and node.module and module.startswith(node.module + ".")
                     and any(alias.name in defined for alias in node.names) for node in ast.walk(tree))
        if (static or any(name == p or name.startswith(p + ".") for name in mentioned for p in paths)
                or any(p.rsplit(".", 1)[0] in stars for p in paths if "." in p)):
            hits.append(module)
    return hits


def suspicious(source: str) -> list[str]:
    return [label for label, pattern in SUSPICIOUS.items() if re.search(pattern, source)]


# --- trusted preparation ---------------------------------------------------------------------

def preimport(exercises: list[Exercise]) -> None:
    """Import (in the grader, before any fork) what the tests and reference solutions import: children start warm."""
    import _pytest.config

    for plugin in _pytest.config.default_plugins:
        try:
            importlib.import_module(f"_pytest.{plugin}")
        except ImportError:
            pass
    names: set[str] = set()
    for exercise in exercises:
        for source in [*exercise.tests.values(), *exercise.modules.values()]:
            names |= imported_names(source)
        names -= set(exercise.modules)
    for name in sorted(names):
        if name.split(".")[0].startswith("test_"):
            continue
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a name like "package.function" is not a module
            pass


def _digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for root in paths:
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for path in files:
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


#: trusted helpers copied next to every test (``import excheck as check``); see exercises/excheck.py
HELPERS = {"excheck.py": (EXERCISES_DIR / "excheck.py").read_bytes()}


def _files_for(exercise: Exercise) -> dict[str, bytes]:
    files = dict(HELPERS)
    files.update({rel: data for rel, data in exercise.other.items()})
    files.update({name: source.encode() for name, source in exercise.tests.items()})
    return files


def _collect(exercise: Exercise, base: Path, timeout: float) -> list[dict]:
    workdir = Path(tempfile.mkdtemp(prefix="collect-", dir=base))
    files = _files_for(exercise)
    files.update({f"{name}.py": source.encode() for name, source in exercise.modules.items()})
    _sandbox.write_workdir(workdir, files)
    modules = {name: str(workdir / f"{name}.py") for name in exercise.modules}
    job = _sandbox.start(f"collect {exercise.name}", _sandbox.collect, (str(workdir), modules), timeout, None)
    job.result_keep = 1 << 24
    jobs = {job.pid: job}
    while jobs:
        _sandbox.wait(jobs)
    shutil.rmtree(workdir, ignore_errors=True)
    text = bytes(job.result).decode("utf-8", "replace")
    if "\nJSON " not in text:
        raise ExerciseError(f"{exercise.name}: collecting the tests failed ({_sandbox.describe_exit(job)}):\n"
                            + job.output_text()[-3000:])
    payload = json.loads(text.split("\nJSON ", 1)[1])
    if payload["errors"]:
        raise ExerciseError(f"{exercise.name}: the tests do not collect:\n" + "\n".join(payload["errors"]))
    items = payload["items"]
    if not items:
        raise ExerciseError(f"{exercise.name}: no tests collected")
    for item in items:
        points = item["points"]
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
            raise ExerciseError(f"{exercise.name}/{item['nodeid']}: needs @pytest.mark.points(N) with N > 0, "
                                f"got {points!r}")
    return items


# --- grading -------------------------------------------------------------------------------------

#: collected test items per exercise content (a process that grades several submissions collects once)
_COLLECTED: dict[str, list[dict]] = {}


def grade(submission: Path | None = None, numbers: list[str] | None = None, *, exercises_dir: Path = EXERCISES_DIR,
          timeout: float = DEFAULT_TIMEOUT, jobs: int = 2, memory_gib: float | None = DEFAULT_MEMORY_GIB,
          allow_forbidden: bool = False, progress: bool = False, budget: float | None = DEFAULT_BUDGET,
          submission_modules: dict[str, str] | None = None, only_modules: set[str] | None = None) -> Report:
    """Grade ``submission`` (default: the solutions in ``exercises_dir``) on the selected exercises.

    ``budget`` bounds the whole run in seconds: a test still running at the end is killed, a test not
    started by then is not run, and both score 0 with that reason. ``submission_modules`` (module name
    -> source) replaces the files of ``submission`` (selfcheck's generated attacks); ``only_modules``
    keeps only the tests of the test files that import one of those modules.
    """
    start_time = time.monotonic()
    run_deadline = start_time + budget if budget else None
    exercises = find_exercises(exercises_dir, numbers)
    submission = Path(submission) if submission is not None else exercises_dir
    trusted = [p for p in exercises_dir.glob("*.py")] + [e.path for e in exercises]
    before = _digest(trusted)
    preimport(exercises)
    gc.collect()
    gc.freeze()  # children do not touch (copy) the grader's objects when they collect garbage
    _sandbox.become_subreaper()
    memory = int(memory_gib * 2**30) if memory_gib else None
    report = Report()
    base = Path(tempfile.mkdtemp(prefix="grade-"))
    try:
        queue: list[tuple[TestResult, dict[str, bytes], dict[str, str]]] = []
        for exercise in exercises:
            key = hashlib.sha256(repr((exercise.name, sorted(exercise.tests.items()), sorted(exercise.modules.items()),
                                       sorted(exercise.other))).encode()).hexdigest()
            if key not in _COLLECTED:
                _COLLECTED[key] = _collect(exercise, base, max(timeout, 60.0))
            items = _COLLECTED[key]
            sources: dict[str, str] = {}
            for name in exercise.modules:
                if submission_modules is not None:
                    if name in submission_modules:
                        sources[name] = submission_modules[name]
                    continue
                path = find_module(submission, exercise, name) if submission.is_dir() else None
                if path is None:
                    report.flags.append(f"{exercise.name}: {name}.py is missing from the submission")
                    continue
                sources[name] = path.read_bytes().decode("utf-8", "replace")
            forbidden = exercise.forbidden_imports()
            banned: dict[str, str] = {}
            for name, source in sources.items():
                hits = forbidden_used(source, forbidden)
                if hits:
                    what = f"{name}.py imports {', '.join(hits)}, which this exercise asks you to write"
                    report.flags.append(f"{exercise.name}: {what}" + (" (allowed)" if allow_forbidden else ""))
                    if not allow_forbidden:
                        banned[name] = what + " (scored 0; the grader's --allow-forbidden-imports lifts this)"
                labels = suspicious(source)
                if labels and submission != exercises_dir:
                    report.flags.append(f"{exercise.name}: {name}.py uses {', '.join(labels)}: worth a look")
            files = _files_for(exercise)
            files.update({f"{name}.py": source.encode() for name, source in sources.items()})
            for item in items:
                result = TestResult(exercise.name, item["nodeid"], float(item["points"]), item["hidden"])
                used = exercise.modules_used_by(item["file"]) if item["file"] in exercise.tests else set()
                if only_modules is not None and used and not used & only_modules:
                    continue
                blocked = [banned[m] for m in sorted(used or set(exercise.modules)) if m in banned]
                if blocked:
                    result.reason = blocked[0]
                    report.results.append(result)
                    continue
                queue.append((result, files, {name: f"{name}.py" for name in exercise.modules}))
                report.results.append(result)
        _run_queue(queue, base, timeout, max(1, jobs), memory, progress, run_deadline, budget)
    finally:
        _sandbox.kill_strays(keep=set())
        shutil.rmtree(base, ignore_errors=True)
    if _digest(trusted) != before:
        report.flags.append("WARNING: the exercises' tests or the grader's files changed on disk while grading")
    report.seconds = time.monotonic() - start_time
    return report


def _run_queue(queue, base: Path, timeout: float, n_jobs: int, memory: int | None, progress: bool,
               run_deadline: float | None = None, budget: float | None = None) -> None:
    running: dict[int, tuple[_sandbox.Job, TestResult, Path]] = {}
    jobs: dict[int, _sandbox.Job] = {}
    pending = list(queue)
    cut_short: set[int] = set()
    while pending or jobs:
        while pending and len(jobs) < n_jobs:
            result, files, modules = pending.pop(0)
            left = run_deadline - time.monotonic() if run_deadline is not None else timeout
            if left <= 0.05:
                result.reason = (f"not run: the grading run's time budget ({budget:g} s) was spent before this "
                                 "test started (earlier tests ran until their deadlines)")
                continue
            workdir = Path(tempfile.mkdtemp(prefix="test-", dir=base))
            _sandbox.write_workdir(workdir, files)
            paths = {name: str(workdir / rel) for name, rel in modules.items()}
            job = _sandbox.start(result.name, _sandbox.run_test, (str(workdir), result.nodeid, paths, result.name),
                                 min(timeout, left), memory)
            if left < timeout:
                cut_short.add(job.pid)
            jobs[job.pid] = job
            running[job.pid] = (job, result, workdir)
        if not jobs:        # every pending test was skipped (the budget is spent): nothing left to wait for
            continue
        for job in _sandbox.wait(jobs):
            _, result, workdir = running.pop(job.pid)
            result.seconds = job.seconds
            result.output = job.output_text()
            if job.found:
                result.points = result.max_points
                result.reason = "passed"
            else:
                message = job.message().strip()
                result.reason = message or _sandbox.describe_exit(job)
                if job.timed_out:
                    result.reason = f"timed out after {timeout:g} s (killed)"
                    if job.pid in cut_short:
                        result.reason = (f"stopped: the grading run's time budget ({budget:g} s) ran out "
                                         f"after {job.seconds:.1f} s of this test")
            shutil.rmtree(workdir, ignore_errors=True)
            if progress:
                mark = "." if result.points else "F"
                print(mark, end="", flush=True)
    if progress and queue:
        print()


# --- output --------------------------------------------------------------------------------------

def _fmt(x: float) -> str:
    return f"{x:g}"


def table(report: Report) -> str:
    rows = [("exercise", "test", "points", "result")]
    for r in report.results:
        first = r.reason.strip().splitlines()[0] if r.reason.strip() else ""
        reason = "ok" if r.passed else (first[:90] + ("..." if len(first) > 90 else ""))
        test = r.nodeid + (" [hidden]" if r.hidden else "")
        rows.append((r.exercise, test, f"{_fmt(r.points)}/{_fmt(r.max_points)}", reason))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    lines.insert(1, "-" * min(120, sum(widths) + 10))
    by_exercise: dict[str, list[float]] = {}
    for r in report.results:
        by_exercise.setdefault(r.exercise, [0.0, 0.0])
        by_exercise[r.exercise][0] += r.points
        by_exercise[r.exercise][1] += r.max_points
    lines.append("")
    for name, (got, total) in by_exercise.items():
        lines.append(f"{name}: {_fmt(got)}/{_fmt(total)}")
    lines.append(f"TOTAL: {_fmt(report.score)}/{_fmt(report.max_score)}  ({report.seconds:.1f} s)")
    for flag in report.flags:
        lines.append(f"FLAG: {flag}")
    return "\n".join(lines)


def gradescope(report: Report, reveal_total: bool = False) -> dict:
    """The Gradescope autograder format (``score``, ``tests[]``, ``execution_time``, ...).

    Hidden tests get ``"visibility": "after_published"``. By default (``reveal_total=False``) the
    student-visible ``output`` tells only the visible tests' points: the total and the grader's flags go
    into a zero-point entry ``Total and grader flags`` with ``after_published`` visibility and into
    ``extra_data`` (never shown to students), so a student cannot infer the hidden score before the
    grades are published. ``reveal_total=True`` (``--reveal-total``) writes them into ``output``.
    """
    tests = []
    for r in report.results:
        output = "passed" if r.passed else f"failed: {r.reason.strip()}"
        output += f"\n({r.seconds:.2f} s)"
        if not r.passed and r.output.strip():
            output += "\n--- output ---\n" + r.output.strip()[-2000:]
        tests.append({"name": r.name, "score": r.points, "max_score": r.max_points, "output": output,
                      "visibility": "after_published" if r.hidden else "visible"})
    total = f"Total: {_fmt(report.score)}/{_fmt(report.max_score)}"
    if report.flags:
        total += "\n" + "\n".join(f"Flag: {f}" for f in report.flags)
    visible = [r for r in report.results if not r.hidden]
    has_hidden = len(visible) < len(report.results)
    if reveal_total or not has_hidden:
        summary = total
    else:
        summary = (f"Visible tests: {_fmt(sum(r.points for r in visible))}/{_fmt(sum(r.max_points for r in visible))} "
                   "points. Hidden tests (other inputs) were run too; their results and your total appear "
                   "when the grades are published.")
        tests.append({"name": "Total and grader flags", "score": 0.0, "max_score": 0.0, "output": total,
                      "visibility": "after_published"})
    return {"score": report.score, "execution_time": round(report.seconds, 3), "output": summary,
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"max_score": report.max_score, "flags": report.flags}}


def write_json(path: Path, payload: dict) -> None:
    """Write atomically, replacing whatever is at ``path`` (a file, a symlink, a directory) by our file."""
    path = Path(os.path.abspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    fd, tmp = tempfile.mkstemp(prefix=".results-", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=1)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exercises.grade", description=__doc__.splitlines()[0])
    parser.add_argument("numbers", nargs="*", metavar="NN", help="exercise number prefixes (default: all)")
    parser.add_argument("--submission", type=Path, help="the submission (default: the solutions in exercises/)")
    parser.add_argument("--json", type=Path, help="write a Gradescope results.json here")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per test (default 20)")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET,
                        help="seconds for the whole run; tests not finished by then score 0 (0: no limit; "
                             f"default {DEFAULT_BUDGET:g}, under Gradescope's default 10-minute timeout)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="tests run in parallel")
    parser.add_argument("--memory-gib", type=float, default=DEFAULT_MEMORY_GIB,
                        help="address-space limit per test in GiB (0: none; default 4)")
    parser.add_argument("--allow-forbidden-imports", action="store_true",
                        help="grade modules that import the minilib module their exercise asks to write")
    parser.add_argument("--exercises-dir", type=Path, default=EXERCISES_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--reveal-total", action="store_true",
                        help="write the total and the flags into the student-visible output of results.json "
                             "(default: only after the grades are published)")
    parser.add_argument("--quiet", action="store_true", help="print only the total")
    args = parser.parse_args(argv)
    if args.submission is not None and not args.submission.is_dir():
        parser.error(f"--submission {args.submission} is not a directory")
    try:
        report = grade(args.submission, args.numbers, exercises_dir=args.exercises_dir.resolve(),
                       timeout=args.timeout, jobs=args.jobs, memory_gib=args.memory_gib or None,
                       allow_forbidden=args.allow_forbidden_imports, progress=not args.quiet,
                       budget=args.budget or None)
    except ExerciseError as exc:
        print(f"error in the exercises (not in the submission): {exc}", file=sys.stderr)
        return 2
    text = table(report)
    print(text.splitlines()[-1 - len(report.flags)] if args.quiet else text)
    if args.json:
        write_json(args.json, gradescope(report, reveal_total=args.reveal_total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
