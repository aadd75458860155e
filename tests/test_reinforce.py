"""minilib.nas.reinforce: the policies against closed forms and Monte Carlo, the REINFORCE step
with its EMA baseline and entropy bonus, learning a one-edge toy, ask/tell through
minilib.maximize, and MnasNet's reward."""

import itertools

import numpy as np
import pytest
import torch

import minilib
from minilib.nas.reinforce import (
    IndependentPolicy,
    LSTMPolicy,
    Reinforce,
    ema_baseline,
    mnasnet_hard,
    mnasnet_reward,
    mnasnet_soft,
    pareto_front,
    regret_by_evaluations,
    squash,
)
from minilib.nas.space import OPS, SPACE
from minilib.space import Choice, Float, Space

ONE_EDGE = Space({"0->1": Choice(list(OPS))})


def test_squash_is_tanh_c_times_tanh_of_logits_over_temperature():
    # Catches: tanh applied before dividing by T, or the constant inside the tanh.
    x = torch.tensor([-10.0, -1.0, 0.0, 2.0, 50.0])
    np.testing.assert_allclose(squash(x, tanh_c=2.5, temperature=5.0), 2.5 * np.tanh(x.numpy() / 5.0), rtol=1e-6)
    np.testing.assert_allclose(squash(x, tanh_c=None, temperature=2.0), x.numpy() / 2.0)


def test_independent_policy_grad_log_pi_is_onehot_minus_softmax():
    # Closed form: d log softmax(theta)[a] / d theta = onehot(a) - softmax(theta), per decision.
    # Catches: a log-probability of the wrong action, or a missing normalisation.
    policy = IndependentPolicy([5, 3, 4])
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for p in policy.logits:
            p.copy_(torch.as_tensor(rng.normal(size=p.shape), dtype=torch.float32))
    actions = [3, 0, 2]
    _, log_prob, entropy, probs = policy(actions=actions)
    log_prob.backward()
    for t, (theta, a) in enumerate(zip(policy.logits, actions)):
        softmax = torch.softmax(theta.detach(), dim=0).numpy()
        np.testing.assert_allclose(probs[t], softmax, rtol=1e-5)
        np.testing.assert_allclose(theta.grad.numpy(), np.eye(len(softmax))[a] - softmax, atol=1e-6)
    expected = sum(float(np.log(torch.softmax(th.detach(), 0).numpy()[a])) for th, a in zip(policy.logits, actions))
    assert log_prob.item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("make", [lambda: IndependentPolicy([3, 2, 4], tanh_c=1.5, temperature=0.7),
                                  lambda: LSTMPolicy([3, 2, 4], hidden=8, seed=1)])
def test_probabilities_of_all_architectures_sum_to_one_and_match_sampling(make):
    # pi must be a distribution over whole architectures, and sampling must draw from the same pi
    # that scoring computes. Catches an LSTM that feeds another action when scoring than when
    # sampling (the sampled frequencies would not match exp(log pi)). Monte Carlo: 6,000 draws,
    # the largest deviation of 24 frequencies is well under 0.02 (standard error <= 0.0065).
    policy = make()
    with torch.no_grad():
        if isinstance(policy, LSTMPolicy):            # make the decisions depend on each other
            for p in policy.parameters():
                p.mul_(20)
        else:
            for p, values in zip(policy.logits, ([0.5, -1.0, 2.0], [1.0, 0.0], [0.0, 3.0, -2.0, 1.0])):
                p.copy_(torch.tensor(values))
        all_actions = list(itertools.product(range(3), range(2), range(4)))
        pi = np.array([policy(actions=list(a))[1].exp().item() for a in all_actions])
        assert pi.sum() == pytest.approx(1.0, abs=1e-5)
        rng = np.random.default_rng(0)
        draws = [tuple(policy(rng=rng)[0]) for _ in range(6000)]
    frequencies = np.array([draws.count(a) for a in all_actions]) / len(draws)
    assert np.abs(frequencies - pi).max() < 0.02
    if isinstance(policy, LSTMPolicy):
        # the LSTM reads the previous action: decision 1's probabilities depend on decision 0's.
        # Catches a controller that feeds a constant input instead (a valid but memoryless policy).
        with torch.no_grad():
            after = [policy(actions=[a, 0, 0])[3][1] for a in range(3)]
        assert max(np.abs(after[0] - after[a]).max() for a in (1, 2)) > 0.05


def test_ema_baseline_update():
    # ENAS: b <- b - (1 - decay)(b - R); the first reward starts it. Catches decay and 1 - decay swapped.
    assert ema_baseline(None, 0.7, 0.95) == 0.7
    assert ema_baseline(0.5, 1.0, 0.9) == pytest.approx(0.9 * 0.5 + 0.1 * 1.0)
    search = Reinforce(ONE_EDGE, baseline_decay=0.8, seed=0)
    rewards, b = [0.2, 0.6, 0.4, 0.9], None
    for r in rewards:
        search.tell(search.ask(), -r)                 # searchers minimise: value = -reward
        b = r if b is None else 0.8 * b + 0.2 * r
        assert search.baseline == pytest.approx(b)
        assert search.history[-1]["advantage"] == pytest.approx(r - b)
    assert search.history[0]["advantage"] == 0.0


@pytest.mark.parametrize("entropy_weight", [0.0, 0.1])
def test_tell_gradient_is_minus_advantage_times_grad_log_pi_minus_entropy_bonus(entropy_weight):
    # Closed form for independent logits, loss = -A log pi(a) - beta H:
    #   d loss / d theta = -A (onehot(a) - p) + beta p (log p + H),   H = -sum p log p.
    # The gradient of the last step stays in .grad (Adam does not clear it).
    # Catches: the wrong sign of the reward (value is -reward), an advantage without the
    # baseline, or an entropy *penalty* instead of a bonus. (The first tell only starts the
    # baseline: its gradient is the entropy term alone, and Adam's first step moves theta.)
    search = Reinforce(ONE_EDGE, entropy_weight=entropy_weight, baseline_decay=0.5, seed=0)
    with torch.no_grad():     # away from uniform, where the entropy's gradient vanishes
        search.policy.logits[0].copy_(torch.tensor([0.3, -0.5, 1.0, 0.0, -1.2]))
    first = search.ask()
    search.tell(first, -0.2)
    trial = search.ask()
    theta = search.policy.logits[0].detach().clone()
    search.tell(trial, -0.8)
    advantage = 0.8 - (0.5 * 0.2 + 0.5 * 0.8)
    assert search.history[-1]["advantage"] == pytest.approx(advantage)
    p = torch.softmax(theta, 0).numpy().astype(float)
    H = -(p * np.log(p)).sum()
    onehot = np.eye(len(OPS))[OPS.index(trial.config["0->1"])]
    expected = -advantage * (onehot - p) + entropy_weight * p * (np.log(p) + H)
    np.testing.assert_allclose(search.policy.logits[0].grad.numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("policy, steps", [("independent", 150), ("lstm", 120)])
def test_controller_learns_the_one_edge_toy(policy, steps):
    # Reward 1 for conv3, 0 for anything else: pi(conv3) must rise from 0.2 above 0.9 (measured:
    # after about 70 steps for the independent policy, 35-50 for the LSTM, over seeds 0-3).
    # Catches a gradient step of the wrong sign (pi(conv3) would fall) or no update at all.
    search = Reinforce(ONE_EDGE, policy=policy, seed=0)
    study = minilib.maximize(lambda c: float(c["0->1"] == "conv3"), ONE_EDGE, search, n_trials=steps,
                             progress=False)
    assert len(study.trials) == steps
    assert search.probabilities()[0][OPS.index("conv3")] > 0.9
    assert search.most_likely() == {"0->1": "conv3"}


def test_ask_tell_through_maximize_on_the_cell_space():
    # A toy with more conv3 = better: the mean reward of the last 50 of 200 models beats the first
    # 50's (random search would not). The history's rewards are the values returned (not negated).
    def count_conv3(config):
        return sum(op == "conv3" for op in config.values()) / 6

    search = Reinforce(SPACE, policy="independent", seed=3)
    study = minilib.maximize(count_conv3, SPACE, search, n_trials=200, progress=False)
    values = study.values()
    for trial in study.trials:
        SPACE.validate(trial.config)
    np.testing.assert_allclose([h["reward"] for h in search.history], values)
    assert values[-50:].mean() > values[:50].mean() + 0.2
    assert [len(p) for p in search.history[-1]["probabilities"]] == [5] * 6


def test_a_failed_trial_does_not_update_the_policy():
    search = Reinforce(ONE_EDGE, seed=0)
    before = search.policy.logits[0].detach().clone()
    search.tell(search.ask(), float("nan"))
    assert search.history == [] and search.baseline is None
    assert torch.equal(search.policy.logits[0].detach(), before)


def test_reinforce_needs_choice_dimensions_and_matching_policy():
    with pytest.raises(ValueError, match="not Choice"):
        Reinforce(Space({"x": Float(0.0, 1.0)}))
    with pytest.raises(ValueError, match="decisions"):
        Reinforce(SPACE, policy=IndependentPolicy([5, 5]))


def test_mnasnet_reward_soft_and_hard():
    # Tan et al. 2019, eq. 2. Soft (w = -0.07): at the target the reward is the accuracy, twice
    # as slow costs a factor 2^-0.07 = 0.9526, twice as fast gains 2^0.07. Hard (0 / -1): no gain
    # below the target, halved at twice the target. Catches a swapped alpha/beta or LAT/T inverted.
    assert mnasnet_soft(0.8, 1.0, target=1.0) == pytest.approx(0.8)
    assert mnasnet_soft(0.8, 2.0, target=1.0) == pytest.approx(0.8 * 2 ** -0.07)
    assert mnasnet_soft(0.8, 0.5, target=1.0) == pytest.approx(0.8 * 2 ** 0.07)
    assert mnasnet_hard(0.8, 0.5e-3, target=1e-3) == pytest.approx(0.8)
    assert mnasnet_hard(0.8, 2e-3, target=1e-3) == pytest.approx(0.4)
    out = mnasnet_reward(np.array([0.9, 0.9]), np.array([1.0, 4.0]), target=2.0, alpha=0.0, beta=-1.0)
    np.testing.assert_allclose(out, [0.9, 0.45])
    with pytest.raises(ValueError):
        mnasnet_soft(0.8, 1.0, target=0.0)


def test_pareto_front_against_brute_force():
    # Oracle: a point is on the front if no other point is at least as good on both axes and
    # better on one.
    rng = np.random.default_rng(0)
    acc, lat = rng.integers(0, 8, 60) / 8, rng.integers(1, 9, 60).astype(float)
    front = pareto_front(acc, lat)
    dominated = [any((acc[j] >= acc[i] and lat[j] <= lat[i]) and (acc[j] > acc[i] or lat[j] < lat[i])
                     for j in range(60)) for i in range(60)]
    on_front = {(acc[i], lat[i]) for i in range(60) if not dominated[i]}
    assert {(acc[i], lat[i]) for i in front} == on_front and len(front) == len(on_front)
    assert list(lat[front]) == sorted(lat[front])


@pytest.fixture(scope="module")
def conv3_table(tmp_path_factory):
    """A synthetic NAS table with structure a policy can learn: the final validation accuracy of
    a unique architecture is 0.5 + 0.08 * (its number of conv3 edges), plus a small fixed jitter
    in [0, 0.01); row r trains in 1 + (r mod 7) seconds per epoch."""
    from minilib.benchmarks.nas import load_tabular_nas, rows_of, save_table

    representatives, _ = rows_of()
    n = len(representatives)
    jitter = np.random.default_rng(0).integers(0, 10, n) / 1000
    acc = np.array([0.5 + 0.08 * sum(op == "conv3" for op in c.values()) for c in representatives]) + jitter
    val = np.broadcast_to(acc[:, None, None], (n, 1, 2)).copy()
    tables = {"val_accuracy": val, "test_accuracy": val, "val_loss": 1 - val, "test_loss": 1 - val,
              "train_loss": 1 - val, "seconds": np.broadcast_to((1.0 + np.arange(n) % 7)[:, None, None], val.shape)}
    arch = {"params": np.arange(n), "flops": np.arange(n), "latency": np.full(n, 1e-3)}
    path = tmp_path_factory.mktemp("nas") / "table.npz"
    save_table(path, tables, arch, {"n_val": 1000, "n_test": 1000, "epochs": 2})
    return load_tabular_nas(path)


def test_regret_by_evaluations_is_the_incumbents_regret(conv3_table):
    # Oracle: the running minimum of the same search's validation errors minus the table's best.
    # Catches a regret of the last model instead of the incumbent, or of accuracy instead of error.
    bench = conv3_table
    regret = regret_by_evaluations(lambda s: Reinforce(SPACE, seed=s), bench, seeds=[0, 1], n_evaluations=30)
    assert regret.shape == (2, 30)
    study = minilib.minimize(bench.objective, SPACE, Reinforce(SPACE, seed=1), n_trials=30, progress=False)
    np.testing.assert_allclose(regret[1], np.minimum.accumulate(study.values()) - bench.best_value)
    assert np.all(regret >= 0) and np.all(np.diff(regret, axis=1) <= 0)


@pytest.mark.slow   # 2 x 8 searches of 150 table lookups: a few seconds
def test_reinforce_beats_random_search_on_a_learnable_table(conv3_table):
    # The target, on a table where a per-edge preference pays: REINFORCE's median regret
    # after 150 models is below random search's (each edge must be conv3, a 1 / 5^6 chance for a
    # random cell; random search measured 0.08-0.24 over these seeds, REINFORCE 0 on all 8).
    from minilib.hpo.random import RandomSearch

    seeds = range(8)
    rl = regret_by_evaluations(lambda s: Reinforce(SPACE, seed=s), conv3_table, seeds, 150)
    rs = regret_by_evaluations(lambda s: RandomSearch(SPACE, seed=s), conv3_table, seeds, 150)
    assert np.median(rl[:, -1]) < np.median(rs[:, -1])
    assert np.median(rl[:, -1]) < 0.05


def test_parallel_workers_drive_it_with_results_out_of_order(conv3_table):
    # minilib.hpo.parallel.simulate asks for 4 models before the first result is told, and tells
    # them as they finish (the table's seconds differ per row, so not in the order asked). Each
    # tell must score that trial's own actions. Catches a tell that scores the last asked
    # architecture instead (the logged log-probabilities would not match the told trials).
    from minilib.hpo.parallel import simulate

    search = Reinforce(SPACE, seed=0)
    study = simulate(search, conv3_table, n_workers=4, max_trials=120)
    told = sorted((t for t in study.trials if t.ok), key=lambda t: (t.meta["end"], t.number))
    assert len(search.history) == len(told) >= 100
    assert [t.number for t in told] != sorted(t.number for t in told)      # out of order indeed
    assert [h["reward"] for h in search.history] == [-t.value for t in told]
    for h, t in zip(search.history[-5:], told[-5:]):
        assert search.actions_of(t.config) == t.meta["actions"]
        p = [h["probabilities"][d][a] for d, a in enumerate(t.meta["actions"])]
        assert h["log_prob"] == pytest.approx(float(np.log(p).sum()), abs=1e-4)
