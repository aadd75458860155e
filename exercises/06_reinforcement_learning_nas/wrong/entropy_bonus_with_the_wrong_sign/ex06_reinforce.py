"""PLAUSIBLE WRONG SUBMISSION 'entropy_bonus_with_the_wrong_sign' (selfcheck requires it to lose points).

Mistake: the entropy term of the gradient has the wrong sign (it would push the policy towards collapse).

Exercise 06: REINFORCE for architecture search, written with numpy.

Chapter 06 ("NAS with reinforcement learning and ENAS") explains every formula used here. The policy
is the *independent* one: one vector of logits ``theta_t`` per decision t (an edge of the cell), and
``pi(a) = prod_t softmax(theta_t)[a_t]``. Do not import ``minilib.nas.reinforce``: you are writing it.
``logits`` is always a list of 1-D float arrays, one per decision (their lengths may differ).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def ema_baseline(baseline: float | None, reward: float, decay: float) -> float:
    """ENAS's baseline update ``b <- decay * b + (1 - decay) * R``; the first reward (``baseline``
    is ``None``) starts it: return ``reward``. Return a float."""
    ### BEGIN SOLUTION
    if baseline is None:
        return float(reward)
    return float(decay * baseline + (1.0 - decay) * reward)
    ### END SOLUTION


def log_prob_and_entropy(logits: Sequence[np.ndarray], actions: Sequence[int]) -> tuple[float, float]:
    """``(log pi(actions), H(pi))`` of the independent policy: the sum over the decisions of
    ``log softmax(theta_t)[a_t]`` and of the entropy ``-sum_k p_tk log p_tk`` of each softmax.
    Compute the softmax stably (subtract the maximum logit). Return two floats."""
    ### BEGIN SOLUTION
    log_prob, entropy = 0.0, 0.0
    for theta, a in zip(logits, actions):
        z = np.asarray(theta, dtype=float)
        log_p = z - z.max()
        log_p = log_p - np.log(np.exp(log_p).sum())
        log_prob += float(log_p[int(a)])
        entropy -= float(np.sum(np.exp(log_p) * log_p))
    return log_prob, entropy
    ### END SOLUTION


def reinforce_gradient(logits: Sequence[np.ndarray], actions: Sequence[int], advantage: float,
                       entropy_weight: float = 0.0) -> list[np.ndarray]:
    """The gradient with respect to every ``theta_t`` of the REINFORCE loss of one sampled architecture,

        loss = -advantage * log pi(actions) - entropy_weight * H(pi),

    as a list of arrays shaped like ``logits``. With ``p = softmax(theta_t)``:
    ``d log pi / d theta_t = onehot(a_t) - p`` and ``d H_t / d theta_t = -p * (log p + H_t)``."""
    ### BEGIN SOLUTION
    grads = []
    for theta, a in zip(logits, actions):
        z = np.asarray(theta, dtype=float)
        log_p = z - z.max()
        log_p = log_p - np.log(np.exp(log_p).sum())
        p = np.exp(log_p)
        h = -np.sum(p * log_p)
        onehot = np.zeros_like(p)
        onehot[int(a)] = 1.0
        grads.append(-advantage * (onehot - p) - entropy_weight * p * (log_p + h))
    return grads
    ### END SOLUTION


def mnasnet_reward(accuracy: float, latency: float, target: float, alpha: float = -0.07,
                   beta: float = -0.07) -> float:
    """MnasNet's reward (Tan et al. 2019, eq. 2): ``accuracy * (latency / target) ** w`` with
    ``w = alpha`` if ``latency <= target`` and ``w = beta`` otherwise. Raise ``ValueError`` for a
    target that is not positive. Return a float."""
    ### BEGIN SOLUTION
    if not target > 0:
        raise ValueError(f"the latency target must be positive, got {target!r}")
    w = alpha if latency <= target else beta
    return float(accuracy * (latency / target) ** w)
    ### END SOLUTION


def reinforce_search(reward: Callable[[list[int]], float], n_choices: Sequence[int], steps: int, lr: float,
                     decay: float, entropy_weight: float, seed: int) -> tuple[list[np.ndarray], list[float]]:
    """REINFORCE end to end with plain gradient descent on the independent policy.

    Start from all logits 0 (``np.zeros(k)`` for each decision) and ``rng = np.random.default_rng(seed)``.
    Each of ``steps`` steps:

    1. sample the actions, decision by decision in order: ``a_t = int(rng.choice(k_t, p=softmax(theta_t)))``;
    2. ``R = reward(actions)`` (a list of ints);
    3. update the baseline first (``ema_baseline`` with ``decay``; the first reward starts it), then
       the advantage is ``R - b``;
    4. ``theta_t <- theta_t - lr * gradient_t`` with ``reinforce_gradient`` (``entropy_weight``),
       computed at the logits used for sampling.

    Return ``(logits, rewards)``: the final logits (a list of arrays) and the list of the rewards.
    """
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    logits = [np.zeros(int(k)) for k in n_choices]
    baseline, rewards = None, []
    for _ in range(steps):
        actions = []
        for theta in logits:
            p = np.exp(theta - theta.max())
            actions.append(int(rng.choice(len(theta), p=p / p.sum())))
        r = float(reward(actions))
        rewards.append(r)
        baseline = ema_baseline(baseline, r, decay)
        grads = reinforce_gradient(logits, actions, r - baseline, entropy_weight)
        logits = [theta - lr * g for theta, g in zip(logits, grads)]
    return logits, rewards
    ### END SOLUTION
