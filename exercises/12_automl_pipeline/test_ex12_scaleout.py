"""Graded tests for ex12_scaleout.py (NetScore, greedy list scheduling, utilisation, the journal, scaling).

Oracles: Wong's closed form and ``minilib.pipeline.netscore``; ``minilib.hpo.parallel.simulate`` (the
event queue of chapters 04 and 12) driven by a searcher that asks the given trials in order;
``minilib.hpo.parallel.worker_busy_fraction``; ``minilib.journal.EventJournal.replay``; hand-worked cases.
"""

import json
import math

import ex12_scaleout as ex
import excheck as check
import numpy as np
import pytest

from minilib.hpo.parallel import simulate, worker_busy_fraction
from minilib.journal import EventJournal
from minilib.pipeline import netscore as reference_netscore
from minilib.space import Int, Space
from minilib.study import Searcher, Study, Trial

FORBIDDEN_IMPORTS = ["minilib.pipeline", "minilib.hpo.parallel", "minilib.journal"]

# a hand-worked schedule on 2 workers (README, task 2): at time 4 both workers are free, trial 3 takes
# worker 0 (the lowest index) and trial 4 worker 1
HAND_DURATIONS = [4.0, 1.0, 3.0, 2.0, 5.0]
HAND_WORKERS = [0, 1, 1, 0, 1]
HAND_STARTS = [0.0, 0.0, 1.0, 4.0, 4.0]
HAND_ENDS = [4.0, 1.0, 4.0, 6.0, 9.0]


def _schedule(durations, n_workers, what="schedule_trials"):
    """The student's schedule as trusted arrays (workers must be integers), after type and shape checks."""
    n = len(durations)
    workers, starts, ends = check.sequence(ex.schedule_trials(durations, n_workers), 3, what=what)
    w = check.array(workers, shape=(n,), what=f"{what}: workers", dtype=int)
    assert workers.dtype.kind in "iu", f"{what}: workers should be an integer array, got dtype {workers.dtype}"
    return (w, check.array(starts, shape=(n,), what=f"{what}: starts"),
            check.array(ends, shape=(n,), what=f"{what}: ends"))


class _InOrder(Searcher):
    """Asks trial i = 0, 1, ... with config {"i": i}: a fixed list of trials, in order."""

    def __init__(self, n):
        super().__init__(Space({"i": Int(0, max(n - 1, 1))}), seed=0)
        self.n = n

    def ask(self):
        if len(self.trials) >= self.n:
            self.finished = True
            return None
        return self._new_trial({"i": len(self.trials)})


class _Costs:
    """A cost model for ``simulate``: trial i costs durations[i] seconds."""

    max_budget = 1

    def __init__(self, durations):
        self.durations = list(durations)

    def lookup(self, config, budget):
        return 0.0

    def cost(self, config, budget, from_budget=0):
        return self.durations[config["i"]]


def _simulated(durations, n_workers):
    """minilib's event-queue simulation of the list: (workers, starts, ends) in trial order, and the Study."""
    study = simulate(_InOrder(len(durations)), _Costs(durations), n_workers=n_workers, max_trials=len(durations))
    trials = sorted(study.trials, key=lambda t: t.number)
    assert len(trials) == len(durations)
    return (np.array([t.meta["worker"] for t in trials]), np.array([t.meta["start"] for t in trials]),
            np.array([t.meta["end"] for t in trials]), study)


def _study(starts, ends):
    return Study([Trial(number=i, config={}, status="ok", value=0.0, meta={"start": float(s), "end": float(e)})
                  for i, (s, e) in enumerate(zip(starts, ends))])


def _durations(seed, n=40):
    """Lognormal training times with a few stragglers (5x slower), as a cluster shows them."""
    rng = np.random.default_rng(seed)
    d = rng.lognormal(mean=0.0, sigma=0.5, size=n)
    d[rng.choice(n, size=max(1, n // 10), replace=False)] *= 5.0
    return d


# --- task 1: NetScore ------------------------------------------------------------------------------

@pytest.mark.points(2)
def test_netscore_known_values():
    # Wong's oracle: 100 %, 1 M parameters and 1 M MACs give 80; doubling p costs 20 * 0.5 * log10(2) = 3.01.
    # Catches accuracy used as a fraction (0 instead of 80) and counts not converted to millions.
    check.approx(check.number(ex.netscore(1.0, 1e6, 1e6), "netscore"), 80.0, rel=1e-12, what="netscore(1, 1e6, 1e6)")
    check.approx(check.number(ex.netscore(1.0, 2e6, 1e6), "netscore"), 80.0 - 10 * math.log10(2), rel=1e-12,
                 what="netscore(1, 2e6, 1e6)")
    # a = 90 %, p = 0.25 M, m = 40 M: 20 (2 log10 90 - 0.5 log10 0.25 - 0.5 log10 40)
    expected = 20 * (2 * math.log10(90) - 0.5 * math.log10(0.25) - 0.5 * math.log10(40))
    check.approx(check.number(ex.netscore(0.9, 250_000, 40_000_000), "netscore"), expected, rel=1e-12,
                 what="netscore(0.9, 250000, 4e7)")
    # the exponents are parameters: alpha = 1, beta = 1, gamma = 0 (MACs ignored)
    expected = 20 * (math.log10(90) - math.log10(0.25))
    check.approx(check.number(ex.netscore(0.9, 250_000, 40_000_000, alpha=1.0, beta=1.0, gamma=0.0), "netscore"),
                 expected, rel=1e-12, what="netscore(..., alpha=1, beta=1, gamma=0)")


@pytest.mark.points(1)
def test_netscore_rejects_bad_inputs():
    # an accuracy in percent (93.0), zero or negative counts are mistakes of the caller, not scores
    for args in [(0.0, 1e6, 1e6), (93.0, 1e6, 1e6), (-0.5, 1e6, 1e6), (0.9, 0, 1e6), (0.9, 1e6, -3.0)]:
        with pytest.raises(ValueError):
            ex.netscore(*args)


@pytest.mark.points(1)
@pytest.mark.hidden
def test_netscore_matches_minilib():
    rng = np.random.default_rng(12)
    for _ in range(20):
        a, p, m = rng.uniform(0.05, 1.0), rng.uniform(1e3, 1e8), rng.uniform(1e4, 1e10)
        alpha, beta, gamma = rng.uniform(0.5, 3.0, size=3)
        got = check.number(ex.netscore(a, p, m, alpha=alpha, beta=beta, gamma=gamma), "netscore")
        check.approx(got, reference_netscore(a, p, m, alpha, beta, gamma), rel=1e-10, abs=1e-10,
                     what=f"netscore({a:.3f}, {p:.0f}, {m:.0f}, {alpha:.2f}, {beta:.2f}, {gamma:.2f})")


# --- task 2: greedy list scheduling ------------------------------------------------------------------

@pytest.mark.points(2)
def test_schedule_hand_worked_with_a_tie():
    # catches round-robin (trial i on worker i % n: trial 2 would wait for worker 0 until time 4) and a
    # tie broken towards the higher worker index (trial 3 on worker 1)
    workers, starts, ends = _schedule(HAND_DURATIONS, 2)
    check.equal(workers, np.array(HAND_WORKERS), what="workers")
    check.close(starts, HAND_STARTS, rtol=0, atol=1e-12, what="starts")
    check.close(ends, HAND_ENDS, rtol=0, atol=1e-12, what="ends")
    # more workers than trials: every trial starts at 0 on its own worker, 0, 1, 2
    workers, starts, ends = _schedule([2.0, 0.5, 1.0], 5)
    check.equal(workers, np.array([0, 1, 2]), what="workers (5 workers, 3 trials)")
    check.close(starts, np.zeros(3), atol=0, what="starts (5 workers, 3 trials)")
    check.close(ends, [2.0, 0.5, 1.0], atol=1e-12, what="ends (5 workers, 3 trials)")


@pytest.mark.points(1)
def test_schedule_rejects_bad_input():
    for durations, n_workers in [([1.0, 2.0], 0), ([1.0, -0.5], 2), ([1.0, float("nan")], 2),
                                 ([float("inf")], 1)]:
        with pytest.raises(ValueError):
            ex.schedule_trials(durations, n_workers)


@pytest.mark.points(2)
@pytest.mark.hidden
def test_schedule_matches_minilib_simulate():
    # continuous random durations (no two workers free at the same time): simulate's event queue is the oracle
    for seed, n_workers in [(0, 1), (1, 3), (2, 8), (3, 64)]:
        d = _durations(seed)
        workers, starts, ends = _schedule(d, n_workers)
        ref_workers, ref_starts, ref_ends, _ = _simulated(d, n_workers)
        check.equal(workers, ref_workers, what=f"workers (seed {seed}, {n_workers} workers)")
        check.close(starts, ref_starts, rtol=1e-12, atol=1e-12, what=f"starts (seed {seed}, {n_workers} workers)")
        check.close(ends, ref_ends, rtol=1e-12, atol=1e-12, what=f"ends (seed {seed}, {n_workers} workers)")
    # integer durations, many ties: the times are simulate's (a tie only changes which worker), and each
    # trial takes the lowest-index worker among those free earliest (by hand, worker by worker)
    d = np.random.default_rng(4).integers(1, 4, size=30).astype(float)
    workers, starts, ends = _schedule(d, 4)
    _, ref_starts, ref_ends, _ = _simulated(d, 4)
    check.close(starts, ref_starts, atol=1e-12, what="starts (integer durations)")
    check.close(ends, ref_ends, atol=1e-12, what="ends (integer durations)")
    free_at = [0.0] * 4
    for i, duration in enumerate(d):
        w = min(range(4), key=lambda k: (free_at[k], k))
        assert workers[i] == w, f"trial {i}: worker {workers[i]}, expected {w} (free at {free_at})"
        free_at[w] += duration


# --- task 3: utilisation -----------------------------------------------------------------------------

# 2 workers: trials [0, 2], [0, 6] and [5, 8]; busy 2 + 6 + 3 = 11 of 2 * 8 worker-seconds
IDLE_STARTS, IDLE_ENDS = np.array([0.0, 0.0, 5.0]), np.array([2.0, 6.0, 8.0])


@pytest.mark.points(1)
def test_utilisation_default_until():
    # catches dividing by the sum of the durations (gives 1) instead of the worker-time
    got = check.number(ex.utilisation(IDLE_STARTS, IDLE_ENDS, 2), "utilisation")
    check.approx(got, 11 / 16, rel=1e-12, what="utilisation, until = last end")
    hand = check.number(ex.utilisation(np.array(HAND_STARTS), np.array(HAND_ENDS), 2), "utilisation")
    check.approx(hand, 15 / 18, rel=1e-12, what="utilisation of the hand-worked schedule")


@pytest.mark.points(1)
def test_utilisation_until_clips_the_trials():
    # until = 4: the trial [0, 6] counts 4, the trial [5, 8] counts 0: (2 + 4) / (2 * 4).
    # Catches an until that is ignored, trials not clipped, and late trials counted negative.
    got = check.number(ex.utilisation(IDLE_STARTS, IDLE_ENDS, 2, until=4.0), "utilisation")
    check.approx(got, 6 / 8, rel=1e-12, what="utilisation, until = 4")
    # until after the last end: the workers idle from 8 to 10
    got = check.number(ex.utilisation(IDLE_STARTS, IDLE_ENDS, 2, until=10.0), "utilisation")
    check.approx(got, 11 / 20, rel=1e-12, what="utilisation, until = 10")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_utilisation_matches_worker_busy_fraction():
    for seed, n_workers in [(5, 2), (6, 8), (7, 64)]:
        _, starts, ends, study = _simulated(_durations(seed), n_workers)
        for until in [None, 0.5 * ends.max(), 1.3 * ends.max()]:
            got = check.number(ex.utilisation(starts, ends, n_workers, until=until), "utilisation")
            check.approx(got, worker_busy_fraction(study, n_workers, until), rel=1e-10,
                         what=f"utilisation (seed {seed}, {n_workers} workers, until {until})")
    check.approx(check.number(ex.utilisation(np.zeros(0), np.zeros(0), 3), "utilisation"),
                 worker_busy_fraction(_study([], []), 3), abs=0, what="utilisation of an empty schedule")


# --- task 4: the trials to run again -----------------------------------------------------------------

@pytest.mark.points(1)
def test_pending_trials_out_of_order():
    # results come back out of order; catches returning only the last asked trial ([3] or [4])
    events = [("ask", 0), ("ask", 1), ("ask", 2), ("ask", 3), ("tell", 1), ("ask", 4), ("tell", 0), ("tell", 4)]
    check.equal(check.int_list(ex.pending_trials(events), what="pending_trials"), [2, 3], what="pending trials")
    check.equal(check.int_list(ex.pending_trials([("ask", 5), ("ask", 2)]), what="pending_trials"), [2, 5],
                what="pending trials (sorted)")
    check.equal(check.int_list(ex.pending_trials([]), what="pending_trials"), [], what="pending trials (no events)")


@pytest.mark.points(1)
def test_pending_trials_rejects_inconsistent_journals():
    # a journal with these events was not written by one run: resuming from it would be wrong.
    # Catches a set difference that never checks (a double tell, a tell before its ask, a double ask).
    for events in [[("ask", 0), ("tell", 0), ("tell", 0)],
                   [("ask", 0), ("tell", 1)],
                   [("tell", 0), ("ask", 0)],
                   [("ask", 0), ("ask", 1), ("ask", 0)],
                   [("ask", 0), ("finish", 0)]]:
        with pytest.raises(ValueError):
            ex.pending_trials(events)


def _journal_line(kind, number):
    """One line of an event journal as ``EventJournal.ask`` / ``tell`` write it (for trial ``{"i": number}``)."""
    if kind == "ask":
        return {"event": "ask", "number": number, "config": {"i": number}, "budget": None, "meta": {}}
    return {"event": "tell", "number": number, "value": 0.5, "error": None, "duration": 1.0, "user_attrs": {},
            "meta": {}}


@pytest.mark.points(1)
@pytest.mark.hidden
def test_pending_trials_match_event_journal_replay(tmp_path):
    # random runs: asks in order, results back in a random order, the run stopped at a random point;
    # minilib's EventJournal replays the journal file to a fresh searcher and returns the trials to run again
    header = {"journal": "minilib", "version": 1, "format": "events", "searcher": "_InOrder", "seed": 0, "t0": 0.0}
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        asked, running, events = 0, [], []
        for _ in range(int(rng.integers(10, 45))):
            if running and (asked >= 30 or rng.random() < 0.45):
                events.append(("tell", running.pop(int(rng.integers(len(running))))))
            else:
                events.append(("ask", asked))
                running.append(asked)
                asked += 1
        path = tmp_path / f"run{seed}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in [header, *(_journal_line(*e) for e in events)]))
        expected = [t.number for t in EventJournal(path, _InOrder(30)).replay(_InOrder(30))]
        assert sorted(expected) == sorted(running)          # the oracle agrees with the bookkeeping above
        got = check.int_list(ex.pending_trials(list(events)), what="pending_trials")
        check.equal(got, sorted(expected), what=f"pending trials (seed {seed})")


# --- task 5: end to end --------------------------------------------------------------------------------

def _report(durations, worker_counts):
    """The student's report as a trusted {int: {str: float}}, after type and key checks."""
    out = check.mapping(ex.scaling_report(durations, worker_counts), what="scaling_report")
    report = {}
    for key, entry in out.items():
        n = check.integer(key, what="a key of scaling_report")
        entry = check.mapping(entry, what=f"scaling_report[{n}]")
        for name in entry:
            assert type(name) is str, f"scaling_report[{n}] should have str keys, got {type(name).__name__}"
        names = sorted(str(name) for name in entry)
        assert names == ["makespan", "speedup", "utilisation"], f"scaling_report[{n}] has keys {names}"
        report[n] = {str(name): check.number(value, what=f"scaling_report[{n}][{name!r}]")
                     for name, value in entry.items()}
    assert sorted(report) == sorted(set(worker_counts)), f"scaling_report has keys {sorted(report)}"
    return report


@pytest.mark.points(1)
def test_scaling_report_hand_worked():
    # 1 is not among the worker counts, the speed-up is still relative to one worker (15 s)
    report = _report(HAND_DURATIONS, [2])
    check.approx(report[2]["makespan"], 9.0, rel=1e-12, what="makespan on 2 workers")
    check.approx(report[2]["speedup"], 15 / 9, rel=1e-12, what="speed-up on 2 workers")
    check.approx(report[2]["utilisation"], 15 / 18, rel=1e-12, what="utilisation on 2 workers")


@pytest.mark.points(2)
@pytest.mark.hidden
def test_scaling_report_matches_minilib_on_stragglers():
    counts = [1, 2, 8, 16, 64]
    for seed in (21, 22):
        d = _durations(seed, n=120)
        report = _report(d, counts)
        serial = _simulated(d, 1)[2].max()
        for n in counts:
            _, _, ends, study = _simulated(d, n)
            what = f"seed {seed}, {n} workers"
            check.approx(report[n]["makespan"], ends.max(), rel=1e-10, what=f"makespan ({what})")
            check.approx(report[n]["speedup"], serial / ends.max(), rel=1e-10, what=f"speed-up ({what})")
            check.approx(report[n]["utilisation"], worker_busy_fraction(study, n), rel=1e-10,
                         what=f"utilisation ({what})")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_scaling_report_properties():
    # speed-up <= n, utilisation in (0, 1], one worker: speed-up 1 and utilisation 1; and
    # speed-up = n * utilisation (both are total busy time over n times the makespan)
    d = _durations(31, n=60)
    counts = [64, 3, 1, 7]
    report = _report(d, counts)
    for n in counts:
        speedup, util = report[n]["speedup"], report[n]["utilisation"]
        assert speedup <= n + 1e-9, f"speed-up {speedup} on {n} workers exceeds {n}"
        assert 0 < util <= 1 + 1e-12, f"utilisation {util} on {n} workers is not in (0, 1]"
        check.approx(speedup, n * util, rel=1e-9, what=f"speed-up vs n * utilisation ({n} workers)")
    check.approx(report[1]["speedup"], 1.0, rel=1e-12, what="speed-up on 1 worker")
    check.approx(report[1]["utilisation"], 1.0, rel=1e-12, what="utilisation on 1 worker")
    check.approx(report[1]["makespan"], float(d.sum()), rel=1e-12, what="makespan on 1 worker")
