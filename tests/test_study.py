import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from minilib import Choice, Float, Int, Space, Study, maximize, minimize
from minilib.hpo import GridSearch, RandomSearch
from minilib.study import Searcher, Trial


def quadratic_space():
    return Space({"x": Float(-5.0, 5.0), "y": Float(-5.0, 5.0)})


def quadratic(config):
    return (config["x"] - 1.0) ** 2 + (config["y"] + 2.0) ** 2


def test_minimize_finds_a_good_point_and_records_every_trial():
    study = minimize(quadratic, quadratic_space(), n_trials=200, seed=0, progress=False)
    assert len(study.trials) == 200
    assert all(t.ok and t.duration is not None for t in study.trials)
    assert study.best_value == min(t.value for t in study.trials)
    assert study.best_value < 0.3
    assert study.best_config == study.best_trial.config


def test_maximize_keeps_user_values_and_picks_the_largest():
    study = maximize(lambda c: -quadratic(c), quadratic_space(), n_trials=50, seed=1, progress=False)
    values = [t.value for t in study.trials]
    assert all(v <= 0 for v in values)
    assert study.best_value == max(values)
    assert study.direction == "maximize"
    np.testing.assert_array_equal(study.best_so_far(), np.maximum.accumulate(values))


def test_maximize_does_not_corrupt_the_searchers_view():
    space = quadratic_space()
    searcher = RandomSearch(space, seed=0)
    study = maximize(lambda c: 1.0 + c["x"], space, searcher=searcher, n_trials=5, progress=False)
    assert [t.value for t in searcher.trials] == [-v for v in study.values()]


def test_same_seed_same_study():
    a = minimize(quadratic, quadratic_space(), n_trials=20, seed=5, progress=False)
    b = minimize(quadratic, quadratic_space(), n_trials=20, seed=5, progress=False)
    assert [t.config for t in a.trials] == [t.config for t in b.trials]


@pytest.mark.parametrize("bad", [ValueError("diverged"), float("nan"), float("inf"), None, "text"])
def test_failures_are_recorded_and_the_search_goes_on(bad):
    def objective(config):
        if config["x"] > 0:
            if isinstance(bad, Exception):
                raise bad
            return bad
        return quadratic(config)

    study = minimize(objective, quadratic_space(), n_trials=40, seed=0, progress=False)
    failed = [t for t in study.trials if t.status == "failed"]
    assert len(study.trials) == 40 and 5 < len(failed) < 35
    assert all(t.value is None and t.error for t in failed)
    assert study.best_trial.ok and study.best_trial.config["x"] <= 0
    if isinstance(bad, Exception):
        assert "ValueError: diverged" in failed[0].error
    assert np.isnan(study.values()[failed[0].number])


def test_all_failed_study_says_so():
    study = minimize(lambda c: math.nan, quadratic_space(), n_trials=3, seed=0, progress=False)
    with pytest.raises(ValueError, match="no successful trial among 3"):
        _ = study.best_trial


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_trials"):
        minimize(quadratic, quadratic_space(), n_trials=0)
    with pytest.raises(TypeError, match="callable"):
        minimize(42, quadratic_space(), n_trials=1)
    with pytest.raises(ValueError, match="unknown searcher 'bogus'"):
        minimize(quadratic, quadratic_space(), searcher="bogus", n_trials=1)
    with pytest.raises(ValueError, match="another Space"):
        minimize(quadratic, quadratic_space(), searcher=RandomSearch(Space({"x": Float(0, 1)})), n_trials=1)
    with pytest.raises(ValueError, match="direction"):
        Study(direction="up")


def test_tell_checks_its_trial():
    space = quadratic_space()
    searcher, other = RandomSearch(space, seed=0), RandomSearch(space, seed=0)
    trial = searcher.ask()
    with pytest.raises(ValueError, match="not asked from this searcher"):
        other.tell(trial, 1.0)
    searcher.tell(trial, 1.0)
    with pytest.raises(ValueError, match="already told"):
        searcher.tell(trial, 2.0)
    assert searcher.finished_trials == [trial] and searcher.pending_trials == []


def test_ask_tell_by_hand_matches_minimize():
    space = quadratic_space()
    searcher = RandomSearch(space, seed=11)
    by_hand = []
    for _ in range(10):
        trial = searcher.ask()
        searcher.tell(trial, quadratic(trial.config))
        by_hand.append(trial.value)
    study = minimize(quadratic, space, n_trials=10, seed=11, progress=False)
    assert by_hand == [t.value for t in study.trials]


def test_grid_search_stops_when_the_grid_is_used_up():
    space = Space({"a": Int(0, 2), "b": Choice(["u", "v"])})
    study = minimize(lambda c: c["a"], space, searcher=GridSearch(space), n_trials=100, progress=False)
    assert len(study.trials) == 6
    assert [t.config for t in study.trials] == space.grid(5)


def test_grid_search_shuffle_is_a_seeded_permutation():
    space = Space({"a": Int(0, 9)})
    points = GridSearch(space, points_per_dim=10, seed=1, shuffle=True).points
    assert sorted(c["a"] for c in points) == list(range(10))
    assert points == GridSearch(space, points_per_dim=10, seed=1, shuffle=True).points != space.grid(10)


def test_random_search_in_a_small_discrete_space_never_repeats():
    space = Space({"a": Int(0, 1), "b": Choice(["x", "y", "z"]), "c": Int(0, 20, step=10)})
    study = minimize(lambda c: 0.0, space, n_trials=30, seed=0, progress=False)
    configs = [json.dumps(t.config, sort_keys=True) for t in study.trials]
    assert len(configs) == 18 == len(set(configs))  # the whole space, then it stops


def test_random_search_without_replacement_keeps_log_uniform_integers():
    # The old sampler permuted grid indices uniformly: Int(1, 1024, log=True) drew a median near 527.
    space = Space({"width": Int(1, 1024, log=True), "act": Choice(["relu", "tanh"])})
    first = [RandomSearch(space, seed=s).ask().config["width"] for s in range(1000)]
    assert 15 < np.median(first) < 35             # log-uniform on [0.5, 1024.5]: median sqrt(0.5*1024.5) = 23
    search = RandomSearch(space, seed=0)
    widths = [search.ask().config["width"] for _ in range(200)]
    # without replacement the small widths run out, so 200 draws of 2048 drift up (30 seeds: medians
    # 102-161), but stay far below the uniform grid's 512
    assert np.median(widths) < 250
    assert len(set(zip(widths, [t.config["act"] for t in search.trials]))) == 200   # still no repeats


def test_random_search_first_draw_follows_the_dimension_distributions():
    # Over many seeds, the first configuration must have the law of space.sample: P(width=v) is v's
    # share of the log axis (1: 0.29, 2: 0.24, 3..8: the rest), the choice is uniform.
    space = Space({"width": Int(1, 8, log=True), "act": Choice(["a", "b"])})
    first = [RandomSearch(space, seed=s).ask().config for s in range(4000)]
    p = space["width"].probabilities()
    observed = np.array([sum(c["width"] == v for c in first) for v in range(1, 9)]) / len(first)
    np.testing.assert_allclose(observed, p, atol=0.025)   # 4000 draws: standard error <= 0.008
    assert abs(sum(c["act"] == "a" for c in first) / len(first) - 0.5) < 0.03
    np.testing.assert_allclose(p.sum(), 1.0)


def test_random_search_in_a_mixed_space_uses_all_values():
    space = Space({"x": Float(0, 1), "c": Choice(["a", "b"])})
    configs = [t.config for t in minimize(lambda c: 0.0, space, n_trials=50, seed=0, progress=False).trials]
    assert {c["c"] for c in configs} == {"a", "b"}


def test_multi_fidelity_objective_gets_the_budget_and_best_uses_the_top_budget():
    class TwoBudgets(Searcher):
        multi_fidelity = True

        def ask(self):
            config = self.space.sample(1, rng=self.rng)[0]
            return self._new_trial(config, budget=1 if len(self.trials) % 2 == 0 else 9)

    seen = []

    def objective(config, budget):
        seen.append(budget)
        return -100.0 if budget == 1 else quadratic(config)  # low budget looks best, misleadingly

    space = quadratic_space()
    study = minimize(objective, space, searcher=TwoBudgets(space, seed=0), n_trials=6, progress=False)
    assert seen == [1, 9, 1, 9, 1, 9]
    assert study.best_trial.budget == 9 and study.best_value > -100.0
    # the any-time curve follows the same rule: the misleading -100 shows only until a budget-9 result
    # exists (the old curve was the minimum over all budgets: -100 to the end, never the answer)
    curve = study.best_so_far()
    assert curve[0] == -100.0 and curve[-1] == study.best_value
    top = [t.value for t in study.trials[:2] if t.budget == 9]
    assert curve[1] == min(top)


def test_best_so_far_equals_best_value_of_every_prefix():
    class ThreeBudgets(Searcher):
        multi_fidelity = True

        def ask(self):
            return self._new_trial(self.space.sample(1, rng=self.rng)[0], budget=[1, 3, 9][len(self.trials) % 3])

    rng = np.random.default_rng(0)
    space = quadratic_space()
    study = minimize(lambda c, b: quadratic(c) / b + rng.normal(), space, searcher=ThreeBudgets(space, seed=0),
                     n_trials=30, progress=False)
    curve = study.best_so_far()
    for n in range(1, 31):
        assert curve[n - 1] == Study(study.trials[:n]).best_value


class Cheap(Searcher):
    multi_fidelity = True

    def ask(self):
        return self._new_trial(self.space.sample(1, rng=self.rng)[0], budget=3)


def test_a_wrong_objective_signature_is_refused_before_the_first_trial():
    # Before, each trial failed with the same TypeError and the search "finished" with no result.
    calls = []

    def single(config):
        calls.append(config)
        return 0.0

    with pytest.raises(TypeError, match=r"calls objective\(config, budget\).*single\(config\)"):
        minimize(single, quadratic_space(), searcher=Cheap(quadratic_space(), seed=0), n_trials=3, progress=False)
    with pytest.raises(TypeError, match=r"calls objective\(config\)"):
        minimize(lambda config, budget: 0.0, quadratic_space(), n_trials=3, progress=False)
    assert calls == []
    # signatures that can be called either way are accepted
    minimize(lambda config, budget=None: 0.0, quadratic_space(), n_trials=2, progress=False)
    minimize(lambda *args: 0.0, quadratic_space(), searcher=Cheap(quadratic_space(), seed=0), n_trials=2,
             progress=False)


def test_objective_extras_are_kept_journaled_and_exported(tmp_path):
    space = quadratic_space()

    def objective(config):
        value = quadratic(config)
        return {"value": value, "accuracy": 1.0 / (1.0 + value), "predictions": np.arange(3) * value}

    journal = tmp_path / "j.jsonl"
    study = minimize(objective, space, n_trials=4, seed=0, journal=journal, progress=False)
    for t in study.trials:
        assert t.ok and t.user_attrs["accuracy"] == pytest.approx(1.0 / (1.0 + t.value))
        np.testing.assert_allclose(t.user_attrs["predictions"], np.arange(3) * t.value)
    resumed = minimize(objective, space, n_trials=4, seed=0, journal=journal, progress=False)
    assert [t.user_attrs["accuracy"] for t in resumed.trials] == [t.user_attrs["accuracy"] for t in study.trials]
    np.testing.assert_allclose(resumed.trials[2].user_attrs["predictions"], study.trials[2].user_attrs["predictions"])
    study.to_json(tmp_path / "s.json")
    loaded = Study.from_json(tmp_path / "s.json")
    assert loaded.trials[1].user_attrs["accuracy"] == study.trials[1].user_attrs["accuracy"]
    study.to_csv(tmp_path / "s.csv")
    header = (tmp_path / "s.csv").read_text().splitlines()[0]
    assert header.endswith("user_attrs.accuracy") and "predictions" not in header
    bad = minimize(lambda c: {"accuracy": 0.5}, space, n_trials=1, progress=False)
    assert not bad.trials[0].ok and "'value'" in bad.trials[0].error
    assert maximize(lambda c: {"value": 2.0, "n": 1}, space, n_trials=1, progress=False).best_value == 2.0


def test_named_searchers_take_their_options():
    from minilib.hpo import Hyperband
    from minilib.study import make_searcher
    space = quadratic_space()
    hb = make_searcher("hyperband", space, seed=0, options={"max_budget": 81})
    assert isinstance(hb, Hyperband) and hb.max_budget == 81   # the name alone used to mean max_budget=27
    study = minimize(lambda c, b: quadratic(c), space, searcher="hyperband", n_trials=3, seed=0, progress=False,
                     searcher_options={"max_budget": 81, "min_budget": 1})
    assert {t.budget for t in study.trials} == {1}
    with pytest.raises(TypeError, match="searcher_options"):
        minimize(quadratic, space, searcher="random", n_trials=1, searcher_options={"max_budget": 3})
    with pytest.raises(ValueError, match="already built"):
        minimize(quadratic, space, searcher=RandomSearch(space), n_trials=1, searcher_options={"seed": 1})


def test_export_json_and_csv_round_trip(tmp_path):
    space = Space({"lr": Float(1e-3, 1.0, log=True), "act": Choice(["relu", "tanh"])})
    study = minimize(lambda c: c["lr"] if c["act"] == "relu" else math.nan, space, n_trials=8, seed=0,
                     progress=False)
    study.to_json(tmp_path / "s.json")
    again = Study.from_json(tmp_path / "s.json")
    assert [t.to_dict() for t in again.trials] == study.to_dicts()
    study.to_csv(tmp_path / "s.csv")
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0].startswith("number,lr,act,budget,value,status") and len(lines) == 9


# --- the journal ---------------------------------------------------------------------

def counting(objective):
    calls = []

    def wrapped(config):
        calls.append(config)
        return objective(config)

    return wrapped, calls


def test_journal_resume_reads_back_finished_trials(tmp_path):
    path = tmp_path / "search.jsonl"
    first = minimize(quadratic, quadratic_space(), n_trials=6, seed=2, journal=path, progress=False)
    lines = path.read_text().splitlines()
    assert len(lines) == 7 and json.loads(lines[0])["journal"] == "minilib"
    objective, calls = counting(quadratic)
    resumed = minimize(objective, quadratic_space(), n_trials=10, seed=2, journal=path, progress=False)
    assert len(calls) == 4  # only the new trials are evaluated
    assert resumed.to_dicts()[:6] == first.to_dicts()
    straight = minimize(quadratic, quadratic_space(), n_trials=10, seed=2, progress=False)
    assert [t.config for t in resumed.trials] == [t.config for t in straight.trials]


def test_journal_without_seed_records_one_and_replays_it(tmp_path):
    path = tmp_path / "search.jsonl"
    first = minimize(quadratic, quadratic_space(), n_trials=3, journal=path, progress=False)
    objective, calls = counting(quadratic)
    resumed = minimize(objective, quadratic_space(), n_trials=5, journal=path, progress=False)
    assert len(calls) == 2 and resumed.to_dicts()[:3] == first.to_dicts()


def test_journal_keeps_failed_trials_and_maximize_values(tmp_path):
    path = tmp_path / "m.jsonl"

    def objective(config):
        if config["x"] > 2:
            raise RuntimeError("bad region")
        return -quadratic(config)

    first = maximize(objective, quadratic_space(), n_trials=12, seed=0, journal=path, progress=False)
    wrapped, calls = counting(objective)
    again = maximize(wrapped, quadratic_space(), n_trials=12, seed=0, journal=path, progress=False)
    assert calls == [] and again.to_dicts() == first.to_dicts()
    assert any(t.status == "failed" for t in again.trials)


def test_journal_refuses_another_search(tmp_path):
    path = tmp_path / "j.jsonl"
    minimize(quadratic, quadratic_space(), n_trials=3, seed=1, journal=path, progress=False)
    with pytest.raises(ValueError, match="seed=1.*seed=2"):
        minimize(quadratic, quadratic_space(), n_trials=5, seed=2, journal=path, progress=False)
    with pytest.raises(ValueError, match="does not match"):
        minimize(quadratic, Space({"x": Float(-1.0, 1.0), "y": Float(0.0, 1.0)}), n_trials=5, seed=1,
                 journal=path, progress=False)
    with pytest.raises(ValueError, match="direction"):
        maximize(quadratic, quadratic_space(), n_trials=5, seed=1, journal=path, progress=False)
    other = tmp_path / "not-a-journal.jsonl"
    other.write_text('{"hello": 1}\n')
    with pytest.raises(ValueError, match="not a minilib journal"):
        minimize(quadratic, quadratic_space(), n_trials=1, journal=other, progress=False)


def test_journal_tolerates_a_torn_last_line(tmp_path):
    path = tmp_path / "j.jsonl"
    minimize(quadratic, quadratic_space(), n_trials=4, seed=1, journal=path, progress=False)
    with open(path, "a") as f:
        f.write('{"number": 4, "config": {"x"')  # the process died while writing
    objective, calls = counting(quadratic)
    study = minimize(objective, quadratic_space(), n_trials=6, seed=1, journal=path, progress=False)
    assert len(calls) == 2 and len(study.trials) == 6
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_keyboard_interrupt_loses_no_finished_trial(tmp_path):
    path = tmp_path / "j.jsonl"
    count = {"n": 0}

    def interrupted(config):
        count["n"] += 1
        if count["n"] == 5:
            raise KeyboardInterrupt
        return quadratic(config)

    with pytest.raises(KeyboardInterrupt):
        minimize(interrupted, quadratic_space(), n_trials=10, seed=3, journal=path, progress=False)
    assert len(path.read_text().splitlines()) == 1 + 4
    objective, calls = counting(quadratic)
    study = minimize(objective, quadratic_space(), n_trials=10, seed=3, journal=path, progress=False)
    assert len(calls) == 6 and len(study.trials) == 10


SCRIPT = textwrap.dedent("""
    import sys, time
    from minilib import Float, Space, minimize
    def slow(config):
        time.sleep(0.2)
        return config["x"] ** 2
    minimize(slow, Space({"x": Float(-1.0, 1.0)}), n_trials=100, seed=0, journal=sys.argv[1], progress=False)
""")


def test_real_ctrl_c_signal_then_resume(tmp_path):
    path = tmp_path / "j.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(path)], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while time.time() < deadline and (not path.exists() or len(path.read_text().splitlines()) < 4):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    finished = len(path.read_text().splitlines()) - 1
    assert finished >= 3
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    resume = textwrap.dedent("""
        import sys
        from minilib import Float, Space, minimize
        calls = []
        def objective(config):
            calls.append(1)
            return config["x"] ** 2
        s = minimize(objective, Space({"x": Float(-1.0, 1.0)}), n_trials=int(sys.argv[2]), seed=0,
                     journal=sys.argv[1], progress=False)
        print(len(calls), len(s.trials))
    """)
    out = subprocess.run([sys.executable, "-c", resume, str(path), str(finished + 2)], capture_output=True,
                         text=True, env=env, check=True)
    assert out.stdout.split() == ["2", str(finished + 2)]


def test_progress_summary_is_printed(capsys):
    space = Space({"lr": Float(1e-3, 1.0, log=True), "act": Choice(["relu", "tanh"]), "n": Int(1, 3)})
    minimize(lambda c: c["lr"], space, n_trials=3, seed=0, progress=True)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Trial 2 complete" in text and "best value so far" in text and "act" in text


def test_trial_defaults():
    trial = Trial(number=0, config={"x": 1})
    assert trial.status == "pending" and not trial.ok and trial.meta == {}
