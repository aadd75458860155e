"""minilib.distributed on a real Dask cluster: a scheduler and two worker processes on 127.0.0.1.

Started as the command line does it (``python -m distributed.cli.dask_scheduler`` and
``…dask_worker --nworkers 2 --nthreads 1``), not an in-process cluster, so that a worker dying with
``os._exit`` is a real process dying. The objectives sleep instead of computing: the file costs a few
seconds of CPU (mostly starting the processes), whatever the machine's load.
"""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from functools import partial
from pathlib import Path

import numpy as np
import psutil
import pytest
from distributed import Client

from minilib import Float, Space, minimize
from minilib.distributed import run_distributed
from minilib.hpo.asha import ASHA
from minilib.hpo.parallel import drive, run_parallel
from minilib.hpo.random import RandomSearch
from minilib.journal import EventJournal

SPACE = Space({"x": Float(0.0, 1.0)})
HERE = Path(__file__).parent


def _mark(calls: str, config: dict) -> None:
    """One file per objective call, named after the config, so the test can count the calls."""
    Path(calls, f"{config['x']!r}-{os.getpid()}-{time.perf_counter_ns()}").touch()


def sleepy(config, calls, seconds=0.1):
    _mark(calls, config)
    time.sleep(seconds)
    return config["x"]


def crash_on_third(config, calls, first):
    """Kills its worker process (no exception, no clean-up) for the third trial of the run."""
    _mark(calls, config)
    if config["x"] == first:
        os._exit(1)
    time.sleep(0.1)
    return {"value": config["x"], "pid": os.getpid()}


def sleepy_budget(config, budget, calls):
    _mark(calls, config)
    time.sleep(0.02 * budget)
    return (config["x"] - 0.3) ** 2 + 1 / budget


def _calls(calls) -> list[float]:
    return sorted(float(name.split("-")[0]) for name in os.listdir(calls))


@pytest.fixture(scope="module")
def scheduler_file(tmp_path_factory):
    """A scheduler and a 2-process worker (one thread each); afterwards no process is left behind."""
    tmp = tmp_path_factory.mktemp("dask")
    sched_file = tmp / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    common = ["--no-dashboard", "--scheduler-file", str(sched_file)]
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", "0", "--dashboard-address", "127.0.0.1:0", *common], env=env, cwd=tmp,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not sched_file.exists() and time.time() < deadline:
        time.sleep(0.05)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--host", "127.0.0.1",
                               "--nworkers", "2", "--nthreads", "1", "--memory-limit", "1GiB",
                               "--local-directory", str(tmp), *common], env=env, cwd=tmp,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: dict[int, psutil.Process] = {}

    def remember():  # every process of the cluster, so that none escapes the finaliser
        for proc in (scheduler, worker):
            try:
                root = psutil.Process(proc.pid)
                for p in [root, *root.children(recursive=True)]:
                    seen.setdefault(p.pid, p)
            except psutil.NoSuchProcess:
                pass

    try:
        with Client(scheduler_file=str(sched_file), timeout=120) as client:   # generous: a loaded machine
            client.wait_for_workers(2, timeout=120)
        remember()
        yield sched_file, remember
    finally:
        remember()
        worker.terminate()                       # the nannies stop their workers
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        scheduler.terminate()
        try:
            scheduler.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        alive = {}
        for p in seen.values():
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive[p.pid] = " ".join(p.cmdline())[:100]
                    p.kill()                     # leftovers: killed by PID, and the test fails
            except (psutil.Error, OSError):
                pass                             # it ended in the meantime
        assert not alive, f"processes left behind: {alive}"


@pytest.fixture
def client(scheduler_file):
    sched_file, remember = scheduler_file
    with Client(scheduler_file=str(sched_file), timeout=120) as c:
        c.wait_for_workers(2, timeout=120)
        yield c
    remember()


def test_every_trial_is_told_once_and_both_workers_run_trials(client, tmp_path):
    # catches: a result told twice or lost (out-of-order completions), a driver that runs one
    # trial at a time (no overlap), or keeps more trials in flight than the 2 workers have threads
    calls = tmp_path / "calls"
    calls.mkdir()
    searcher = RandomSearch(SPACE, seed=0)
    study = run_distributed(searcher, lambda c: sleepy(c, str(calls)), n_trials=8, client=client)
    assert [t.number for t in study.trials] == list(range(8)) and all(t.ok for t in study.trials)
    assert all(t.value == t.config["x"] for t in study.trials)
    assert _calls(calls) == sorted(t.config["x"] for t in study.trials)          # each ran exactly once
    assert len({t.meta["worker_id"] for t in study.trials}) == 2
    changes = sorted([(t.meta["start"], 1) for t in study.trials] + [(t.meta["end"], -1) for t in study.trials])
    in_flight = np.cumsum([change for _, change in changes])                      # (an end sorts before a start)
    assert in_flight.max() == 2                                                    # 2 in flight, never 3
    deadline = time.time() + 5
    while client.who_has() and time.time() < deadline:                              # releases are messages
        time.sleep(0.05)
    assert not client.who_has()                                                    # every result released


def test_a_trial_that_kills_its_worker_fails_alone(client, tmp_path, scheduler_file):
    # catches: a KilledWorker that ends the run, a crashing trial retried on other workers
    # (allowed-failures left at 3: it would take down the second worker too), a trial pinned to the
    # dead worker (hangs), or the other trial in flight failing with it
    calls = tmp_path / "calls"
    calls.mkdir()
    searcher = RandomSearch(SPACE, seed=1)
    configs = [searcher.ask().config["x"] for _ in range(3)]                      # trial 2 will crash
    study = run_distributed(RandomSearch(SPACE, seed=1), lambda c: crash_on_third(c, str(calls), configs[2]),
                            n_trials=6, client=client)
    scheduler_file[1]()                               # remember the worker the nanny started again
    failed = [t for t in study.trials if not t.ok]
    assert len(study.trials) == 6 and [t.number for t in failed] == [2]
    assert failed[0].error.startswith("KilledWorker")
    assert _calls(calls).count(configs[2]) == 1                                    # not retried
    assert all(isinstance(t.user_attrs["pid"], int) for t in study.trials if t.ok)
    assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures) == 0


class StopAfter(RandomSearch):
    """A searcher whose driver is interrupted (Ctrl-C) at its n-th tell, with trials still in flight."""

    def __init__(self, space, seed, stop_at):
        super().__init__(space, seed)
        self.stop_at, self.told = stop_at, 0

    def tell(self, trial, value, error=None):
        out = super().tell(trial, value, error)
        self.told += 1
        if self.told == self.stop_at:
            raise KeyboardInterrupt
        return out


def test_an_interrupted_driver_resumes_from_the_event_journal(client, tmp_path):
    # catches: finished trials run again on resume, trials in flight at the interrupt lost (never
    # told), a replay that rebuilds another searcher state (different configs after the resume)
    first_calls, calls = tmp_path / "first", tmp_path / "resumed"     # each run marks its own calls
    first_calls.mkdir()
    calls.mkdir()
    journal = tmp_path / "run.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_distributed(StopAfter(SPACE, 3, stop_at=3), lambda c: sleepy(c, str(first_calls), 0.2), n_trials=8,
                        client=client, journal=journal)
    events = [json.loads(line) for line in journal.read_text().splitlines()[1:]]
    told = {e["number"] for e in events if e["event"] == "tell"}
    asked = {e["number"] for e in events if e["event"] == "ask"}
    # the third result reached the searcher but not the journal (the interrupt came in between):
    # like the trial still in flight, it counts as asked but never told
    assert len(told) == 2 and len(asked - told) >= 2
    study = run_distributed(StopAfter(SPACE, 3, stop_at=-1), lambda c: sleepy(c, str(calls), 0.2), n_trials=8,
                            client=client, journal=journal)
    reference = RandomSearch(SPACE, seed=3)
    assert [t.config for t in study.trials] == [reference.ask().config for _ in range(8)]
    assert all(t.ok for t in study.trials) and len(study.trials) == 8
    again = Counter(_calls(calls))
    assert all(again[study.trials[n].config["x"]] == 0 for n in told)              # finished: not run again
    assert all(again[study.trials[n].config["x"]] == 1 for n in asked - told)      # asked, untold: run again
    assert sum(again.values()) == 8 - len(told)
    events = [json.loads(line) for line in journal.read_text().splitlines()[1:]]
    assert sorted(e["number"] for e in events if e["event"] == "tell") == list(range(8))   # told once each


DRIVER = """
import os, sys, time
from pathlib import Path
from minilib import Float, Space
from minilib.distributed import run_distributed
from minilib.hpo.random import RandomSearch
def objective(config, calls=sys.argv[3]):   # bound here: on a worker sys.argv is the worker's
    Path(calls, f"{config['x']!r}-{os.getpid()}-{time.perf_counter_ns()}").touch()
    time.sleep(0.2)
    return config["x"]
run_distributed(RandomSearch(Space({"x": Float(0.0, 1.0)}), seed=4), objective, 8, client=sys.argv[1],
                journal=sys.argv[2])
"""


def test_a_killed_driver_resumes_from_the_event_journal(scheduler_file, tmp_path):
    # catches: a journal that a SIGKILL leaves unreadable, or a resume that reruns finished trials
    # or loses the ones in flight when the driver died (its client gone, its futures released)
    first_calls, calls = tmp_path / "first", tmp_path / "resumed"
    first_calls.mkdir()
    calls.mkdir()
    journal = tmp_path / "run.jsonl"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(scheduler_file[0]), str(journal), str(first_calls)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and (not journal.exists() or journal.read_text().count('"tell"') < 2):
            time.sleep(0.02)
    finally:
        driver.kill()                                                              # no clean-up at all
        driver.wait(timeout=10)
    told = {json.loads(line)["number"] for line in journal.read_text().splitlines()[1:]
            if '"tell"' in line and line.endswith("}")}
    assert 2 <= len(told) < 8
    study = run_distributed(RandomSearch(SPACE, seed=4), lambda c: sleepy(c, str(calls), 0.2), n_trials=8,
                            client=str(scheduler_file[0]), journal=journal)
    reference = RandomSearch(SPACE, seed=4)
    assert [t.config for t in study.trials] == [reference.ask().config for _ in range(8)]
    assert all(t.ok for t in study.trials), [t.error for t in study.trials]
    again = Counter(_calls(calls))
    assert all(again[study.trials[n].config["x"]] == 0 for n in told)              # finished: not run again
    assert sum(again.values()) == 8 - len(told)                                    # the others: once each


def test_asha_through_a_scheduler_file_and_an_address(client, scheduler_file, tmp_path):
    # catches: an engine that cannot carry budgets (objective(config, budget)), a loop that stops
    # when the asynchronous searcher has promotions pending, a scheduler file or address not understood
    calls = tmp_path / "calls"
    calls.mkdir()
    for where in (str(scheduler_file[0]), client.scheduler.address):
        searcher = ASHA(SPACE, max_budget=9, eta=3, seed=0)
        study = run_distributed(searcher, lambda c, b: sleepy_budget(c, b, str(calls)), n_trials=12, client=where)
        assert len(study.trials) == 12 and all(t.ok for t in study.trials)
        assert any(t.budget > 1 for t in study.trials)                             # promotions happened
        assert client.status == "running"                                          # the test's client untouched


def _children() -> set[int]:
    """Our child processes, without multiprocessing's resource tracker (it lives as long as we do)."""
    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if not any("resource_tracker" in part for part in p.cmdline()):
                out.add(p.pid)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.mark.slow  # starts a second cluster: about 3 s of CPU
def test_the_default_local_cluster_runs_the_trials_and_goes_away(tmp_path):
    # catches: a default that is not a process cluster (all trials in the driver's pid), or a local
    # cluster left running after the run (worker processes left behind)
    calls = tmp_path / "calls"
    calls.mkdir()
    before = _children()
    study = run_distributed(RandomSearch(SPACE, seed=0), lambda c: sleepy(c, str(calls)), n_trials=4)
    assert len(study.trials) == 4 and all(t.ok for t in study.trials)
    assert os.getpid() not in {int(name.split("-")[1]) for name in os.listdir(calls)}
    deadline = time.time() + 10
    while time.time() < deadline and _children() - before:
        time.sleep(0.1)
    leftovers = _children() - before
    for pid in leftovers:                                                          # kill them by PID
        psutil.Process(pid).kill()
    assert not leftovers


def test_event_journal_replays_out_of_order_results_and_drops_a_torn_line(tmp_path):
    # catches: a replay in trial-number order (ASHA would promote differently than it did), and a
    # torn last line that breaks the resume; no cluster needed
    path = tmp_path / "j.jsonl"
    searcher = ASHA(SPACE, max_budget=9, eta=3, seed=5)
    log = EventJournal(path, searcher)
    trials = []
    for _ in range(4):
        trials.append(searcher.ask())
        log.ask(trials[-1])
    for trial in [trials[2], trials[0], trials[3]]:                                # out of order
        searcher.tell(trial, (trial.config["x"] - 0.3) ** 2)
        log.tell(trial)
    nxt = searcher.ask()
    log.ask(nxt)
    with open(path, "a") as f:
        f.write('{"event": "tell", "numb')                                         # the driver died here
    fresh = ASHA(SPACE, max_budget=9, eta=3, seed=5)
    pending = EventJournal(path, fresh).replay(fresh)
    assert [t.number for t in pending] == [1, 4]
    assert [(t.config, t.budget, t.status) for t in fresh.trials] == \
           [(t.config, t.budget, t.status) for t in searcher.trials]
    assert fresh.ask().config == searcher.ask().config
    with pytest.raises(ValueError, match="was written by"):
        EventJournal(path, ASHA(SPACE, max_budget=9, eta=3, seed=6))


class ElasticEngine:
    """A fake engine whose number of workers changes: 1, then 3 join, then 2 leave; trials finish in order."""

    def __init__(self):
        self.workers, self.running, self.most, self.waits = 1, [], [], 0

    def capacity(self):
        return self.workers

    def submit(self, objective, trial):
        self.running.append(trial)
        self.most.append((self.workers, len(self.running)))
        return trial.number

    def wait(self, handles):
        self.waits += 1
        if self.waits == 1:
            self.workers = 3                 # two workers joined; nothing finished before the poll
            return []
        if self.waits == 3:
            self.workers = 1                 # two left
        return [min(handles)]

    def result(self, handle):
        self.running = [t for t in self.running if t.number != handle]
        return float(handle), None, 0.0, "w", {}

    def cancel(self, handles):
        pass


def test_trials_in_flight_follow_the_workers_present():
    # catches: a loop that reads the number of workers once at the start (never 3 in flight), or that
    # keeps submitting after workers left (more in flight than workers)
    engine = ElasticEngine()
    study = drive(RandomSearch(SPACE, seed=0), lambda c: 0.0, 8, engine)
    assert len(study.trials) == 8 and all(t.ok for t in study.trials)
    assert max(n for _, n in engine.most) == 3                                     # the joined workers got work
    assert all(n <= workers for workers, n in engine.most)                         # never more than present
    assert engine.most[:3] == [(1, 1), (3, 2), (3, 3)]


def test_run_parallel_resumes_from_the_same_event_journal(tmp_path):
    # catches: a journal that only the Dask engine writes (the loop is shared), and journals of the
    # two kinds mixed up (minimize's trial journal replayed as events, or the other way round)
    first_calls, calls = tmp_path / "first", tmp_path / "resumed"
    first_calls.mkdir()
    calls.mkdir()
    journal = tmp_path / "run.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_parallel(partial(sleepy, calls=str(first_calls), seconds=0.05), StopAfter(SPACE, 7, stop_at=3), 6,
                     n_workers=2, journal=journal)
    told = {json.loads(line)["number"] for line in journal.read_text().splitlines()[1:] if '"tell"' in line}
    study = run_parallel(partial(sleepy, calls=str(calls), seconds=0.05), StopAfter(SPACE, 7, stop_at=-1), 6,
                         n_workers=2, journal=journal)
    assert len(study.trials) == 6 and all(t.ok for t in study.trials) and len(told) == 2
    assert sorted(_calls(calls)) == sorted(t.config["x"] for t in study.trials if t.number not in told)
    with pytest.raises(ValueError, match="event journal"):
        minimize(lambda c: c["x"], SPACE, n_trials=2, seed=7, journal=journal, progress=False)
    trial_journal = tmp_path / "trials.jsonl"
    minimize(lambda c: c["x"], SPACE, n_trials=2, seed=7, journal=trial_journal, progress=False)
    with pytest.raises(ValueError, match="not events"):
        run_parallel(partial(sleepy, calls=str(calls)), RandomSearch(SPACE, seed=7), 2, journal=trial_journal)
