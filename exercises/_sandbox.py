"""Run one graded test in a child process whose result the student's code cannot forge by ordinary means.

The grader (the parent) never imports a submission. For each test it forks a child that

1. starts a new session (its own process group), keeps only five file descriptors
   (stdin = /dev/null, stdout+stderr = an output pipe, 3 = key pipe, 4 = result pipe),
   and limits its address space (``RLIMIT_AS``);
2. puts *lazy* stand-ins for the assignment modules into ``sys.modules``, so that importing the
   test file runs no student code; the student's module is loaded on first use, inside the test;
3. runs ``pytest.main`` on the one test with a plugin that calls the test function itself and
   records whether it returned normally; pytest's own reports are used only for the failure text;
4. checks that the functions and classes of pytest, numpy, minilib, the test module, ... are the
   same objects after the test as before the student's code ran (no monkeypatching);
5. only then reads the per-test key from the key pipe (the parent wrote it there; it is in no Python
   object while the student's code runs) and writes ``PASS <HMAC(key, test id)>`` to the result pipe,
   and ends with ``os._exit`` (no atexit hooks, no finalizers).

The parent scores the test only if the exact token arrives. It kills the child's process group at
the deadline or when the child ends, and, being a *child subreaper* (``prctl``), adopts every orphan
the student's processes leave behind (``setsid`` does not escape it) and kills those too.
See ``exercises/README.md`` for what this does and does not guarantee.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import hmac
import importlib.util
import json
import os
import resource
import select
import signal
import sys
import time
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
KEY_FD, RESULT_FD = 3, 4
OUTPUT_KEEP = 2048          # bytes of a test's output kept from its start and from its end
RESULT_KEEP = 16384         # bytes of the result channel kept
GUARDED = ("builtins", "math", "cmath", "operator", "functools", "itertools", "collections", "copy", "json",
           "hmac", "hashlib", "os", "io", "random", "statistics", "types", "numpy", "scipy", "pytest", "_pytest",
           "pluggy", "minilib", "exercises", "excheck")
PYTEST_INI = """[pytest]
markers =
    points(n): points the test is worth
    hidden: graded, left out of the student release
addopts =
python_files = test_*.py
"""


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    """Make orphans of our descendants (even those in a new session) our children (Linux >= 3.4)."""
    ok = _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_DUMPABLE, 0)  # other processes of the same user cannot ptrace us or read /proc/<pid>/mem
    return ok


# --- processes -------------------------------------------------------------------------

def _children() -> list[tuple[int, str]]:
    """(pid, state) of every direct child of this process, from /proc."""
    me = os.getpid()
    return [(pid, fields[0]) for pid, fields in _proc_stats() if len(fields) > 1 and int(fields[1]) == me]


def _proc_stats() -> list[tuple[int, list[str]]]:
    """(pid, fields of /proc/PID/stat after the command name) of every process we can read."""
    stats = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        stats.append((int(entry), stat[stat.rfind(")") + 2:].split()))   # state, ppid, pgrp, ...
    return stats


def kill_strays(keep: set[int]) -> int:
    """Kill and reap every child of ours not in ``keep``, repeatedly (their children become ours in turn)."""
    killed = 0
    for _ in range(1000):
        strays = [(pid, state) for pid, state in _children() if pid not in keep]
        if not strays:
            break
        for pid, state in strays:
            if state != "Z":
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
        for pid, _ in strays:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    return killed


def _group_members(pgid: int) -> list[int]:
    return [pid for pid, fields in _proc_stats() if len(fields) > 2 and int(fields[2]) == pgid]


def _end_group(pgid: int, keep: set[int], patience: float = 5.0) -> None:
    """Kill process group ``pgid`` and wait until it is gone, killing and reaping every orphan on the way.

    A member's children are re-parented to us only once it has died, so we loop until the group is empty.
    """
    stop = time.monotonic() + patience
    while True:
        _killpg(pgid)
        kill_strays(keep)
        if not _group_members(pgid) or time.monotonic() > stop:
            break
        time.sleep(0.002)
    kill_strays(keep)


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# --- jobs: one forked child each ----------------------------------------------------------

@dataclass
class Job:
    """A running child. ``token`` is what a passing child must send; ``output``/``result`` what it sent."""

    name: str
    pid: int
    out_fd: int
    result_fd: int
    deadline: float
    started: float
    token: bytearray
    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)
    out_bytes: int = 0
    result: bytearray = field(default_factory=bytearray)
    result_keep: int = RESULT_KEEP
    window: bytes = b""
    found: bool = False
    status: int | None = None
    timed_out: bool = False
    seconds: float = 0.0

    def feed_output(self, data: bytes) -> None:
        self.out_bytes += len(data)
        if len(self.head) < OUTPUT_KEEP:
            take = OUTPUT_KEEP - len(self.head)
            self.head += data[:take]
            data = data[take:]
        if data:
            self.tail = (self.tail + data)[-OUTPUT_KEEP:]

    def feed_result(self, data: bytes) -> None:
        window = self.window + data
        if bytes(self.token) in window:
            self.found = True
        self.window = window[-len(self.token):]
        if len(self.result) < self.result_keep:
            self.result += data[: self.result_keep - len(self.result)]

    def output_text(self) -> str:
        text = self.head.decode("utf-8", "replace")
        if self.tail:
            skipped = self.out_bytes - len(self.head) - len(self.tail)
            if skipped > 0:
                text += f"\n[... {skipped} bytes of output left out ...]\n"
            text += self.tail.decode("utf-8", "replace")
        return text

    def message(self) -> str:
        """What the child said after ``FAIL`` (untrusted text, for display only)."""
        text = bytes(self.result).decode("utf-8", "replace")
        return text.split("FAIL\n", 1)[1] if "FAIL\n" in text else ""


_LIVE_TOKENS: list[bytearray] = []


def start(name: str, target, args: tuple, timeout: float, memory_bytes: int | None) -> Job:
    """Fork a child that runs ``target(*args)`` sandboxed; see the module docstring."""
    out_r, out_w = os.pipe()
    key_r, key_w = os.pipe()
    res_r, res_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 70
        try:
            for token in _LIVE_TOKENS:  # other children's expected tokens must not be readable here
                token[:] = bytes(len(token))
            _child_setup(out_w, key_r, res_w, memory_bytes)
            code = target(*args)
        except BaseException:  # noqa: B036 - nothing may escape the child
            pass
        finally:
            os._exit(code if isinstance(code, int) else 70)
    for fd in (out_w, key_r, res_w):
        os.close(fd)
    key = os.urandom(32)  # made after the fork: never in the child's memory
    os.write(key_w, key)
    os.close(key_w)
    token = bytearray(b"PASS " + hmac.new(key, b"pass\0" + name.encode(), hashlib.sha256).hexdigest().encode())
    del key
    for fd in (out_r, res_r):
        os.set_blocking(fd, False)
    now = time.monotonic()
    _LIVE_TOKENS.append(token)
    return Job(name, pid, out_r, res_r, now + timeout, now, token)


def _child_setup(out_w: int, key_r: int, res_w: int, memory_bytes: int | None) -> None:
    os.setsid()
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in (out_w, key_r, res_w)]
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(high[0], 1)
    os.dup2(high[0], 2)
    os.dup2(high[1], KEY_FD)
    os.dup2(high[2], RESULT_FD)
    os.closerange(RESULT_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    os.set_blocking(KEY_FD, False)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def wait(jobs: dict[int, Job], poll: float = 0.05) -> list[Job]:
    """Read output, enforce deadlines, and return the jobs that have ended (their processes all killed)."""
    fds = {}
    for job in jobs.values():
        fds[job.out_fd] = (job, job.feed_output)
        fds[job.result_fd] = (job, job.feed_result)
    timeout = max(0.0, min(min(j.deadline for j in jobs.values()) - time.monotonic(), poll))
    if fds:
        ready, _, _ = select.select(list(fds), [], [], timeout)
        for fd in ready:
            _drain(fd, *fds[fd])
    done = []
    for pid, job in list(jobs.items()):
        finished, status = os.waitpid(pid, os.WNOHANG)
        if not finished and time.monotonic() > job.deadline:
            _killpg(pid)
            job.timed_out = True
            finished, status = os.waitpid(pid, 0)
        if finished:
            job.status = status
            job.seconds = time.monotonic() - job.started
            del jobs[pid]
            _end_group(pid, keep=set(jobs))  # its process group, and orphans (also from setsid) re-parented to us
            _drain(job.out_fd, job, job.feed_output)
            _drain(job.result_fd, job, job.feed_result)
            os.close(job.out_fd)
            os.close(job.result_fd)
            _LIVE_TOKENS.remove(job.token)
            done.append(job)
    return done


def _drain(fd: int, job: Job, feed) -> None:
    for _ in range(64):  # at most 64 reads per call, so that a flood of output cannot starve the loop
        try:
            data = os.read(fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        if not data:
            return
        feed(data)


def describe_exit(job: Job) -> str:
    if job.timed_out:
        return "timed out (killed at the deadline)"
    status = job.status or 0
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return f"the test process was killed by {name}"
    code = os.WEXITSTATUS(status)
    return f"the test process ended without a result (exit code {code}: sys.exit, os._exit or a crash?)"


# --- inside the child ------------------------------------------------------------------------

class LazyModule(types.ModuleType):
    """Stands in for an assignment module until the test first uses it; then loads the real file."""

    def __init__(self, name: str, path: str):
        super().__init__(name)
        self.__dict__["_lazy_path"] = path
        self.__dict__["_lazy_real"] = None

    def _lazy_load(self) -> types.ModuleType:
        real = self.__dict__["_lazy_real"]
        if real is not None:
            return real
        name, path = self.__name__, self.__dict__["_lazy_path"]
        if not os.path.exists(path):
            raise ModuleNotFoundError(f"{name}.py is missing from the submission", name=name)
        spec = importlib.util.spec_from_file_location(name, path)
        real = importlib.util.module_from_spec(spec)
        sys.modules[name] = real
        try:
            spec.loader.exec_module(real)
        except BaseException:
            sys.modules[name] = self
            raise
        self.__dict__["_lazy_real"] = real
        return real

    def __getattr__(self, attr: str):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        real = self._lazy_load()
        try:
            return getattr(real, attr)
        except AttributeError:
            raise AttributeError(f"{self.__name__}.py has no {attr!r} (is it missing from the submission?)") from None


def _snapshot(extra: tuple[str, ...]) -> dict[tuple[str, str], tuple[int, ...]]:
    """Identity of every function and class (and each class's attributes) in the guarded modules."""
    snap: dict[tuple[str, str], tuple[int, ...]] = {}
    for modname, module in list(sys.modules.items()):
        if not isinstance(module, types.ModuleType) or isinstance(module, LazyModule):
            continue
        if modname.split(".")[0] not in GUARDED and modname not in extra:
            continue
        strict = modname in extra      # a test module: every name counts, added ones too
        if strict:
            snap[(modname, "__names__")] = (hash(tuple(sorted(vars(module)))),)
        for attr, value in list(vars(module).items()):
            if not strict and (not callable(value) or isinstance(value, types.ModuleType)):
                continue
            code = getattr(value, "__code__", None)
            snap[(modname, attr)] = (id(value), id(code))
            if isinstance(value, type) and getattr(value, "__module__", None) == modname:
                for cattr, cvalue in list(vars(value).items()):
                    if callable(cvalue) or isinstance(cvalue, (staticmethod, classmethod, property)):
                        snap[(modname, f"{attr}.{cattr}")] = (id(cvalue), id(getattr(cvalue, "__code__", None)))
    return snap


def _changed(before: dict, extra: tuple[str, ...]) -> list[str]:
    after = _snapshot(extra)
    return [".".join(key) for key, ident in before.items() if after.get(key) != ident]


class _RunPlugin:
    """Calls the one selected test function itself and remembers whether it returned normally."""

    def __init__(self, nodeid: str):
        self.nodeid = nodeid
        self.item = None
        self.func = None
        self.code = None
        self.calls = 0
        self.returned = False
        self.error = ""
        self.baseline: dict | None = None
        self.test_modules: tuple[str, ...] = ()

    def pytest_collection_modifyitems(self, session, config, items):
        chosen = [item for item in items if item.nodeid == self.nodeid]
        items[:] = chosen
        if len(chosen) == 1:
            self.item = chosen[0]
            self.func = getattr(self.item, "obj", None)
            self.code = getattr(self.func, "__code__", None)
            self.test_modules = (self.item.module.__name__,)
        else:
            self.error = f"the test {self.nodeid} was not collected ({len(chosen)} matches)"

    def pytest_collectreport(self, report):
        if report.failed and not self.error:
            self.error = "collection failed:\n" + _short(str(report.longrepr))

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem):
        self.calls += 1
        if pyfuncitem is not self.item or self.calls != 1:
            raise RuntimeError("unexpected test call")
        if self.baseline is None:
            self.baseline = _snapshot(self.test_modules)
        names = pyfuncitem._fixtureinfo.argnames
        kwargs = {name: pyfuncitem.funcargs[name] for name in names}
        try:
            result = self.func(**kwargs)
        except BaseException as exc:
            self.error = _describe_exception(exc)
            raise
        changed = _changed(self.baseline, self.test_modules)
        if changed:
            self.error = "the submission replaced library or test code: " + ", ".join(changed[:8])
            raise AssertionError(self.error)
        if result is not None:
            self.error = f"the test function returned {type(result).__name__}, not None"
            raise AssertionError(self.error)
        if pyfuncitem.obj is self.func and self.func.__code__ is self.code:
            self.returned = True
        return True

    def pytest_runtest_logreport(self, report):
        if report.failed and not self.error:
            self.error = f"{report.when} failed:\n" + _short(report.longreprtext)


def _short(text: str, limit: int = 1500) -> str:
    """``text`` if short, else its first and last lines (cut at line ends, never in the middle of a number)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head, tail = text[: 2 * limit // 3], text[-(limit // 3):]
    if "\n" in head[limit // 3:]:
        head = head[: head.rindex("\n")]
    if "\n" in tail[: -(limit // 6)]:
        tail = tail[tail.index("\n") + 1:]
    return f"{head}\n[... {len(text) - len(head) - len(tail)} characters left out ...]\n{tail}"


def _describe_exception(exc: BaseException) -> str:
    kind = type(exc).__name__
    if kind in ("Skipped", "XFailed"):
        return f"{kind}: the test was skipped or xfailed by the submission (scores nothing)"
    try:
        if isinstance(exc, SyntaxError):
            text = f"{kind}: {exc.msg} ({os.path.basename(exc.filename or '?')}, line {exc.lineno})"
        else:
            text = f"{kind}: {exc}" if str(exc) else kind
    except BaseException:  # noqa: B036 - a hostile __str__
        text = kind
    where = ""
    tb = exc.__traceback__
    frames = traceback.extract_tb(tb) if tb is not None else []
    if frames:
        last = frames[-1]
        where = f"  (at {os.path.basename(last.filename)}:{last.lineno})"
    return _short(text + where, 1500)


#: pytest plugins a graded test does not need (unraisableexception's gc.collect costs 0.3 s after a fork)
_NO_PLUGINS = [arg for name in ("cacheprovider", "stepwise", "unraisableexception", "threadexception", "pastebin",
                                "junitxml", "doctest", "lsof", "nose", "legacypath")
               for arg in ("-p", f"no:{name}")]


def run_test(workdir: str, nodeid: str, modules: dict[str, str], name: str) -> int:
    """Child side: run test ``nodeid`` in ``workdir``; report on RESULT_FD (signed with job ``name``)."""
    reason = "the test did not run"
    passed = False
    try:
        _prepare(workdir, modules)
        plugin_obj = _RunPlugin(nodeid)
        try:
            pytest.main([nodeid, "-c", os.path.join(workdir, "pytest.ini"), "--rootdir", workdir, "-q", "-s",
                         "--no-header", "-W", "ignore", *_NO_PLUGINS],
                        plugins=[plugin_obj])
        except BaseException as exc:  # noqa: B036 - pytest.main itself interrupted
            plugin_obj.error = plugin_obj.error or _describe_exception(exc)
        if plugin_obj.returned and plugin_obj.calls == 1:
            passed = True
        else:
            reason = plugin_obj.error or "the test did not finish"
    except BaseException as exc:  # noqa: B036
        reason = "runner error: " + _describe_exception(exc)
    if passed:
        key = b""
        try:
            key = os.read(KEY_FD, 64)
        except OSError:
            pass
        if len(key) == 32:
            digest = hmac.new(key, b"pass\0" + name.encode(), hashlib.sha256).hexdigest()
            os.write(RESULT_FD, b"\nPASS " + digest.encode() + b"\n")
            return 0
        reason = "the test passed but its key was gone (something read the key pipe)"
    try:
        os.write(RESULT_FD, b"\nFAIL\n" + reason.encode("utf-8", "replace")[:RESULT_KEEP // 2])
    except OSError:
        pass
    return 1


def _prepare(workdir: str, modules: dict[str, str]):
    os.chdir(workdir)
    sys.path.insert(0, workdir)
    sys.dont_write_bytecode = True
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    os.environ["HOME"] = workdir
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ["MPLCONFIGDIR"] = workdir
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    for name in list(sys.modules):
        if name.startswith("test_") or name in modules:
            del sys.modules[name]
    for name, path in modules.items():
        sys.modules[name] = LazyModule(name, path)


def collect(workdir: str, modules: dict[str, str]) -> int:
    """Child side: collect the tests in ``workdir`` (reference modules, nothing runs) and report JSON."""
    _prepare(workdir, modules)

    class Collector:
        items: list = []
        errors: list = []

        def pytest_collection_modifyitems(self, session, config, items):
            for item in items:
                points = item.get_closest_marker("points")
                Collector.items.append({
                    "nodeid": item.nodeid,
                    "points": points.args[0] if points is not None and points.args else None,
                    "hidden": item.get_closest_marker("hidden") is not None,
                    "file": item.nodeid.split("::")[0],
                })

        def pytest_collectreport(self, report):
            if report.failed:
                Collector.errors.append(_short(str(report.longrepr), 3000))

    pytest.main(["--collect-only", "-q", "-c", os.path.join(workdir, "pytest.ini"), "--rootdir", workdir,
                 *_NO_PLUGINS, workdir], plugins=[Collector()])
    payload = json.dumps({"items": Collector.items, "errors": Collector.errors}).encode()
    os.write(RESULT_FD, b"\nJSON " + payload + b"\n")
    return 0


def write_workdir(workdir: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        target = workdir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (workdir / "pytest.ini").write_text(PYTEST_INI)
