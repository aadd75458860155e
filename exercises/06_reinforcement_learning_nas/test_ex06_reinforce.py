"""Graded tests for ex06_reinforce.py (EMA baseline, log-probability and entropy, the REINFORCE
gradient, MnasNet's reward, a whole REINFORCE search). Oracles: closed forms, PyTorch's autograd and
minilib.nas.reinforce on the same seeded inputs."""

import ex06_reinforce as ex
import excheck as check
import numpy as np
import pytest
import torch

from minilib.nas import reinforce as reference
from minilib.space import Choice, Space

FORBIDDEN_IMPORTS = ["minilib.nas.reinforce"]


def _logit_list(value, shapes, what="the logits"):
    items = check.sequence(value, len(shapes), what=what, kinds=(list,))
    return [check.array(g, shape=(k,), what=f"{what}[{t}]") for t, (g, k) in enumerate(zip(items, shapes))]


def _torch_loss_grads(logits, actions, advantage, entropy_weight):
    # Oracle: autograd through minilib's independent policy with these logits
    policy = reference.IndependentPolicy([len(z) for z in logits]).double()
    with torch.no_grad():
        for p, z in zip(policy.logits, logits):
            p.copy_(torch.as_tensor(z, dtype=torch.float64))
    _, log_prob, entropy, _ = policy(actions=actions)
    (-advantage * log_prob - entropy_weight * entropy).backward()
    return log_prob.item(), entropy.item(), [p.grad.numpy().copy() for p in policy.logits]


def _replay(reward, n_choices, steps, lr, decay, entropy_weight, seed):
    # Oracle: minilib's Reinforce with the independent policy and plain SGD instead of Adam
    space = Space({f"d{t}": Choice(list(range(k))) for t, k in enumerate(n_choices)})
    search = reference.Reinforce(space, policy="independent", baseline_decay=decay, entropy_weight=entropy_weight,
                                 seed=seed)
    search.optimizer = torch.optim.SGD(search.policy.parameters(), lr=lr)
    for _ in range(steps):
        trial = search.ask()
        search.tell(trial, -reward(list(trial.meta["actions"])))
    return [p.detach().double().numpy() for p in search.policy.logits], [h["reward"] for h in search.history]


# --- task 1: the EMA baseline ---------------------------------------------------------------------

@pytest.mark.points(1)
def test_ema_baseline():
    check.approx(check.number(ex.ema_baseline(None, 0.7, 0.95)), 0.7, rel=1e-12, what="the first reward")
    check.approx(check.number(ex.ema_baseline(0.5, 0.9, 0.9)), 0.54, rel=1e-12, what="0.9 * 0.5 + 0.1 * 0.9")
    check.approx(check.number(ex.ema_baseline(0.5, 0.9, 0.0)), 0.9, rel=1e-12, what="decay 0")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_ema_baseline_over_a_sequence():
    rewards = np.random.default_rng(7).uniform(0.2, 0.95, 40)
    b_ex, b_ref = None, None
    for r in rewards:
        b_ex = check.number(ex.ema_baseline(b_ex, float(r), 0.99))
        b_ref = reference.ema_baseline(b_ref, float(r), 0.99)
        check.approx(b_ex, b_ref, rel=1e-10, what="the baseline")


# --- task 2: log pi and H --------------------------------------------------------------------------

@pytest.mark.points(1)
def test_log_prob_and_entropy_of_the_uniform_policy():
    out = check.sequence(ex.log_prob_and_entropy([np.zeros(5), np.zeros(5), np.zeros(3)], [0, 4, 2]), 2)
    log_prob, entropy = check.number(out[0]), check.number(out[1])
    check.approx(log_prob, -2 * np.log(5) - np.log(3), rel=1e-12, what="log pi")
    check.approx(entropy, 2 * np.log(5) + np.log(3), rel=1e-12, what="H")


@pytest.mark.points(1)
def test_log_prob_and_entropy_against_torch_and_large_logits():
    logits = [np.array([0.3, -1.0, 2.0, 0.0, 0.5]), np.array([1.0, 1.0, -2.0])]
    expected_lp, expected_h, _ = _torch_loss_grads(logits, [2, 1], 1.0, 0.0)
    out = check.sequence(ex.log_prob_and_entropy(logits, [2, 1]), 2)
    check.approx(check.number(out[0]), expected_lp, rel=1e-9, what="log pi")
    check.approx(check.number(out[1]), expected_h, rel=1e-9, what="H")
    out = check.sequence(ex.log_prob_and_entropy([np.array([1000.0, 0.0])], [1]), 2)   # needs the max shift
    check.approx(check.number(out[0]), -1000.0, rel=1e-9, what="log pi with a logit of 1000")
    check.approx(check.number(out[1]), 0.0, abs=1e-12, what="H of an almost sure choice")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_log_prob_and_entropy_random():
    rng = np.random.default_rng(3)
    for _ in range(5):
        logits = [rng.normal(0, 2, k) for k in (5, 5, 4, 5, 2, 5)]
        actions = [int(rng.integers(len(z))) for z in logits]
        expected_lp, expected_h, _ = _torch_loss_grads(logits, actions, 1.0, 0.0)
        out = check.sequence(ex.log_prob_and_entropy(logits, actions), 2)
        check.approx(check.number(out[0]), expected_lp, rel=1e-9, what="log pi")
        check.approx(check.number(out[1]), expected_h, rel=1e-9, what="H")


# --- task 3: the gradient ---------------------------------------------------------------------------

@pytest.mark.points(1)
def test_gradient_without_entropy_is_minus_advantage_times_onehot_minus_p():
    logits = [np.zeros(4), np.log(np.array([0.1, 0.2, 0.7]))]
    grads = _logit_list(ex.reinforce_gradient(logits, [1, 2], advantage=0.5), [4, 3], what="the gradient")
    check.close(grads[0], -0.5 * (np.array([0, 1, 0, 0]) - 0.25), rtol=1e-12, atol=1e-15, what="decision 0")
    check.close(grads[1], -0.5 * (np.array([0, 0, 1]) - np.array([0.1, 0.2, 0.7])), rtol=1e-9, atol=1e-15,
                what="decision 1")


@pytest.mark.points(1)
def test_gradient_with_entropy_bonus_against_autograd():
    logits = [np.array([0.3, -1.0, 2.0, 0.0, 0.5]), np.array([1.0, 1.0, -2.0])]
    _, _, expected = _torch_loss_grads(logits, [0, 2], -0.2, 0.1)
    grads = _logit_list(ex.reinforce_gradient(logits, [0, 2], -0.2, entropy_weight=0.1), [5, 3])
    for t in range(2):
        check.close(grads[t], expected[t], rtol=1e-9, atol=1e-12, what=f"decision {t}")


@pytest.mark.points(2)
@pytest.mark.hidden
def test_gradient_random_against_autograd():
    rng = np.random.default_rng(11)
    for _ in range(6):
        logits = [rng.normal(0, 1.5, k) for k in (5, 3, 5, 5, 4, 5)]
        actions = [int(rng.integers(len(z))) for z in logits]
        advantage, weight = float(rng.normal(0, 0.3)), float(rng.choice([0.0, 1e-3, 0.5]))
        _, _, expected = _torch_loss_grads(logits, actions, advantage, weight)
        grads = _logit_list(ex.reinforce_gradient(logits, actions, advantage, weight), [len(z) for z in logits])
        for t in range(len(logits)):
            check.close(grads[t], expected[t], rtol=1e-8, atol=1e-12, what=f"decision {t}")


# --- task 4: MnasNet's reward ------------------------------------------------------------------------

@pytest.mark.points(1)
def test_mnasnet_reward_soft_and_hard():
    check.approx(check.number(ex.mnasnet_reward(0.9, 2.0, 1.0)), 0.9 * 2 ** -0.07, rel=1e-12, what="soft, 2T")
    check.approx(check.number(ex.mnasnet_reward(0.9, 0.5, 1.0)), 0.9 * 0.5 ** -0.07, rel=1e-12, what="soft, T/2")
    check.approx(check.number(ex.mnasnet_reward(0.9, 2e-3, 1e-3, alpha=0.0, beta=-1.0)), 0.45, rel=1e-12,
                 what="hard, 2T")
    check.approx(check.number(ex.mnasnet_reward(0.9, 5e-4, 1e-3, alpha=0.0, beta=-1.0)), 0.9, rel=1e-12,
                 what="hard, T/2")
    with pytest.raises(ValueError):
        ex.mnasnet_reward(0.9, 1.0, 0.0)


@pytest.mark.points(1)
@pytest.mark.hidden
def test_mnasnet_reward_random_against_minilib():
    rng = np.random.default_rng(5)
    for _ in range(30):
        acc, lat, target = rng.uniform(0.1, 1), rng.uniform(1e-4, 3e-3), rng.uniform(5e-4, 2e-3)
        alpha, beta = rng.uniform(-0.2, 0), rng.uniform(-1.5, 0)
        check.approx(check.number(ex.mnasnet_reward(acc, lat, target, alpha, beta)),
                     reference.mnasnet_reward(acc, lat, target, alpha, beta), rel=1e-12, what="the reward")
    check.approx(check.number(ex.mnasnet_reward(0.8, 1e-3, 1e-3, alpha=-0.3, beta=-2.0)), 0.8, rel=1e-12,
                 what="at the target")


# --- task 5: a whole search (end to end) ---------------------------------------------------------------

def _count_twos(actions):
    return sum(a == 2 for a in actions) / len(actions)


@pytest.mark.points(1)
def test_search_replays_minilib_and_learns_a_toy():
    out = check.sequence(ex.reinforce_search(_count_twos, [4, 4, 3], steps=25, lr=0.3, decay=0.8,
                                             entropy_weight=0.01, seed=1), 2)
    logits = _logit_list(out[0], [4, 4, 3])
    rewards = check.array(np.array(check.sequence(out[1], 25, what="the rewards", kinds=(list,)), dtype=float),
                          shape=(25,))
    expected_logits, expected_rewards = _replay(_count_twos, [4, 4, 3], 25, 0.3, 0.8, 0.01, 1)
    check.close(rewards, expected_rewards, rtol=0, atol=1e-12, what="the rewards (the sampled architectures)")
    for t in range(3):
        check.close(logits[t], expected_logits[t], rtol=1e-4, atol=1e-5, what=f"final logits of decision {t}")
    out = check.sequence(ex.reinforce_search(_count_twos, [4, 4, 3], steps=300, lr=1.0, decay=0.9,
                                             entropy_weight=0.0, seed=0), 2)
    logits = _logit_list(out[0], [4, 4, 3])
    assert [int(np.argmax(z)) for z in logits] == [2, 2, 2], "after 300 steps every decision should prefer 2"


@pytest.mark.points(2)
@pytest.mark.hidden
def test_search_replays_minilib_on_other_problems():
    def weighted(actions):        # a reward that prefers different actions on different decisions
        return float(np.dot([0.1, 0.3, 0.2, 0.25, 0.15], [(a * (t + 1)) % 5 == 3 for t, a in enumerate(actions)]))

    for n_choices, steps, lr, decay, weight, seed in (([5] * 5, 60, 0.5, 0.95, 1e-3, 7), ([5, 3, 5, 2, 4], 40, 0.1,
                                                                                         0.5, 0.2, 3)):
        out = check.sequence(ex.reinforce_search(weighted, n_choices, steps, lr, decay, weight, seed), 2)
        logits = _logit_list(out[0], n_choices)
        rewards = np.array(check.sequence(out[1], steps, what="the rewards", kinds=(list,)), dtype=float)
        expected_logits, expected_rewards = _replay(weighted, n_choices, steps, lr, decay, weight, seed)
        check.close(rewards, expected_rewards, rtol=0, atol=1e-12, what="the rewards")
        for t in range(len(n_choices)):
            check.close(logits[t], expected_logits[t], rtol=1e-4, atol=1e-5, what=f"logits of decision {t}")
