"""NAS with reinforcement learning: a controller that samples cells, trained with REINFORCE.

Zoph & Le (2017) let a recurrent *controller* write an architecture one decision at a time and
trained it with REINFORCE (Williams 1992) to maximise the accuracy of what it writes; ENAS
(Pham et al., ICML 2018) kept that controller and made each evaluation cheap (``minilib.nas.enas``).
Here a decision is the operation of one edge of the cell (``minilib.nas.space``): 6 decisions of
5 choices. The policy pi_theta(a) is the product of one softmax per decision, and REINFORCE
climbs the expected reward J(theta) = E_{a ~ pi}[R(a)] along

    grad J = E[(R(a) - b) * grad log pi_theta(a)]                           (Williams 1992, eq. 11)

estimated from one sampled architecture at a time. What this module offers (chapter 06, "NAS
with reinforcement learning", explains each):

1. two policies with the same interface: ``IndependentPolicy`` (one vector of logits per
   decision, no memory) and ``LSTMPolicy`` (NASNet/ENAS: an LSTM reads the previous decision
   and writes the logits of the next), both with ENAS's squashed logits
   ``tanh_c * tanh(logits / T)``;
2. ``Reinforce``: a ``minilib.study.Searcher``. ``ask()`` samples an architecture, ``tell()``
   makes one policy-gradient step with an exponential-moving-average baseline b and an entropy
   bonus, so ``minilib.maximize`` and ``minilib.hpo.parallel`` drive it like any searcher;
3. MnasNet's multi-objective reward ``ACC(m) * (LAT(m) / T)^w`` (Tan et al., CVPR 2019, eq. 2)
   in its soft and hard forms, as plain functions of an accuracy and a latency, and the
   accuracy-latency ``pareto_front`` to compare what it finds with the benchmark's true front;
4. ``regret_by_evaluations`` (from ``minilib.benchmarks.tabular``): regret vs models evaluated on
   the tabular benchmark, over seeds, for REINFORCE or any other searcher.

The defaults and the pitfalls (collapse to one architecture when the entropy reaches 0, noisy
rewards, the baseline's decay) are in ``shared/REFERENCES.md`` section 9.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from minilib.benchmarks.tabular import regret_by_evaluations
from minilib.space import Choice, Config, Space
from minilib.study import Searcher, Trial

__all__ = ["IndependentPolicy", "LSTMPolicy", "Policy", "Reinforce", "ema_baseline", "mnasnet_hard", "mnasnet_reward",
           "mnasnet_soft", "pareto_front", "regret_by_evaluations", "squash"]

# --- 1) the policies -----------------------------------------------------------------------------

def squash(logits: torch.Tensor, tanh_c: float | None = None, temperature: float = 1.0) -> torch.Tensor:
    """ENAS's logit transform ``tanh_c * tanh(logits / temperature)`` (``melodyguan/enas``
    ``micro_controller.py``): the logits stay in [-tanh_c, tanh_c], so no operation's probability
    can run away to 1 early. ``tanh_c=None`` gives plain ``logits / temperature``."""
    logits = logits / temperature
    return logits if tanh_c is None else tanh_c * torch.tanh(logits)


class Policy(nn.Module):
    """A distribution over a sequence of categorical decisions, written one decision at a time.

    A subclass defines ``start()`` (its state before the first decision) and
    ``step(t, state, previous) -> (raw logits of decision t, new state)``, where ``previous`` is
    the action taken at decision t - 1 (``None`` at t = 0). ``forward`` runs all decisions."""

    def __init__(self, n_choices: Sequence[int], tanh_c: float | None = None, temperature: float = 1.0):
        super().__init__()
        if not n_choices or any(k < 1 for k in n_choices):
            raise ValueError(f"need at least one decision, each with >= 1 choice; got {list(n_choices)}")
        self.n_choices = list(n_choices)
        self.tanh_c, self.temperature = tanh_c, temperature

    def start(self) -> Any:
        return None

    def step(self, t: int, state: Any, previous: int | None) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

    def forward(self, actions: Sequence[int] | None = None, rng: np.random.Generator | None = None
                ) -> tuple[list[int], torch.Tensor, torch.Tensor, list[np.ndarray]]:
        """Sample an architecture (``rng`` given) or score a given one (``actions`` given).

        Returns ``(actions, log pi(actions), entropy, probabilities)``: the log-probability and the
        entropy are summed over the decisions (tensors with gradients); ``probabilities[t]`` is the
        softmax of decision t along this path (for an LSTM it depends on the earlier actions).
        """
        if (actions is None) == (rng is None):
            raise ValueError("pass either actions (to score them) or rng (to sample)")
        taken: list[int] = []
        log_prob, entropy, probabilities = torch.zeros(()), torch.zeros(()), []
        state = self.start()
        for t, k in enumerate(self.n_choices):
            logits, state = self.step(t, state, taken[-1] if taken else None)
            log_p = torch.log_softmax(squash(logits, self.tanh_c, self.temperature), dim=-1)   # (k,)
            p = log_p.exp()
            a = int(actions[t]) if actions is not None else int(rng.choice(k, p=_normalised(p)))
            if not 0 <= a < k:
                raise ValueError(f"action {a} of decision {t} is not in [0, {k})")
            taken.append(a)
            log_prob = log_prob + log_p[a]
            entropy = entropy - (p * log_p).sum()
            probabilities.append(p.detach().numpy().copy())
        return taken, log_prob, entropy, probabilities


def _normalised(p: torch.Tensor) -> np.ndarray:
    p64 = p.detach().double().numpy()
    return p64 / p64.sum()


class IndependentPolicy(Policy):
    """One vector of logits per decision, no interaction between decisions:
    pi(a) = prod_t softmax(theta_t)[a_t], so grad_{theta_t} log pi(a) = onehot(a_t) - softmax(theta_t)
    (with ``tanh_c=None`` and ``temperature=1``). Starts uniform (all logits 0)."""

    def __init__(self, n_choices: Sequence[int], tanh_c: float | None = None, temperature: float = 1.0):
        super().__init__(n_choices, tanh_c, temperature)
        self.logits = nn.ParameterList([nn.Parameter(torch.zeros(k)) for k in self.n_choices])

    def step(self, t: int, state: Any, previous: int | None) -> tuple[torch.Tensor, Any]:
        return self.logits[t], state


class LSTMPolicy(Policy):
    """The NASNet/ENAS controller: an LSTM cell takes one step per decision. Its input is the
    embedding of the previous decision's action (a learned start vector at t = 0); a linear head
    per decision turns the hidden state into that decision's logits. ENAS's defaults for the
    squashing: ``tanh_c=2.5``, ``temperature=5.0`` (``carpedm20/ENAS-pytorch``)."""

    def __init__(self, n_choices: Sequence[int], hidden: int = 32, tanh_c: float | None = 2.5,
                 temperature: float = 5.0, seed: int | None = 0):
        super().__init__(n_choices, tanh_c, temperature)
        generator = torch.Generator().manual_seed(0 if seed is None else seed)
        self.hidden = hidden
        self.cell = nn.LSTMCell(hidden, hidden)
        self.start_input = nn.Parameter(torch.zeros(hidden))
        self.embed = nn.ModuleList([nn.Embedding(k, hidden) for k in self.n_choices[:-1]])
        self.heads = nn.ModuleList([nn.Linear(hidden, k) for k in self.n_choices])
        with torch.no_grad():    # ENAS initialises every controller weight uniformly in [-0.1, 0.1]
            for p in self.parameters():
                p.copy_(torch.rand(p.shape, generator=generator) * 0.2 - 0.1)

    def start(self) -> Any:
        return torch.zeros(1, self.hidden), torch.zeros(1, self.hidden)

    def step(self, t: int, state: Any, previous: int | None) -> tuple[torch.Tensor, Any]:
        x = self.start_input if previous is None else self.embed[t - 1].weight[previous]   # (hidden,)
        h, c = self.cell(x.unsqueeze(0), state)                                             # (1, hidden) each
        return self.heads[t](h)[0], (h, c)                                                  # (k,)


# --- 2) REINFORCE as a searcher --------------------------------------------------------------------

def ema_baseline(baseline: float | None, reward: float, decay: float) -> float:
    """The exponential moving average of the rewards, ENAS's
    ``b <- b - (1 - decay) * (b - R)`` = ``decay * b + (1 - decay) * R``; the first reward starts it."""
    return reward if baseline is None else decay * baseline + (1 - decay) * reward


class Reinforce(Searcher):
    """REINFORCE over a ``Space`` of ``Choice``s: one decision per dimension, in the space's order.

    Each ``tell`` makes one step on the loss of the told architecture a,

        loss = -(R - b) * log pi(a) - entropy_weight * H(pi)

    with the reward ``R = -value`` (searchers minimise; ``minilib.maximize`` passes ``-accuracy``,
    so R is the accuracy) and the baseline b updated *before* the advantage is formed, as ENAS and
    its PyTorch port do: b <- decay * b + (1 - decay) * R, then advantage R - b. The first reward
    only starts the baseline (advantage 0). The entropy bonus is differentiated directly (the
    official ENAS adds ``entropy_weight * H`` to the reward instead); it keeps the policy from
    collapsing onto one architecture early.

    The actions are stored on ``trial.meta["actions"]`` and log pi(a) is recomputed at ``tell``:
    told in the order asked (``minimize``) this is the on-policy gradient; with parallel workers a
    result can come back after other updates and the step is then slightly off-policy.

    Args:
        policy: ``"independent"``, ``"lstm"`` or a ``Policy`` whose ``n_choices`` match the space.
        lr: Adam's learning rate for the policy; ``None`` gives 0.05 for the independent policy and
            0.01 for the LSTM (what learned a 6-edge toy reward within 200 steps; ENAS uses 3.5e-4
            over thousands of steps, too slow for a search of a few hundred table lookups).
        baseline_decay: the EMA decay (ENAS 0.99; the PyTorch port 0.95, "very important").
        entropy_weight: beta of the entropy bonus (ENAS 1e-4; with a few hundred steps the default
            1e-3 still lets the policy concentrate: watch ``history``'s entropy).

    ``history`` holds one dict per update: reward, baseline, advantage, entropy, log_prob and the
    per-decision probabilities (a list of arrays) along the told architecture's path.
    """

    def __init__(self, space: Space, policy: str | Policy = "independent", lr: float | None = None,
                 baseline_decay: float = 0.95, entropy_weight: float = 1e-3, seed: int | None = None):
        super().__init__(space, seed)
        not_choice = [name for name, dim in space.dimensions.items() if not isinstance(dim, Choice)]
        if not_choice:
            raise ValueError(f"REINFORCE samples categorical decisions; {not_choice} are not Choice dimensions")
        if not 0.0 <= baseline_decay < 1.0:
            raise ValueError(f"baseline_decay must be in [0, 1), got {baseline_decay!r}")
        self.names = list(space.dimensions)
        n_choices = [len(space.dimensions[name].options) for name in self.names]
        if policy == "independent":
            policy = IndependentPolicy(n_choices)
        elif policy == "lstm":
            policy = LSTMPolicy(n_choices, seed=seed)
        elif not isinstance(policy, Policy):
            raise ValueError(f"policy must be 'independent', 'lstm' or a Policy, got {policy!r}")
        if policy.n_choices != n_choices:
            raise ValueError(f"the policy makes decisions {policy.n_choices}, the space needs {n_choices}")
        self.policy = policy
        if lr is None:
            lr = 0.01 if isinstance(policy, LSTMPolicy) else 0.05
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
        self.baseline_decay, self.entropy_weight = baseline_decay, entropy_weight
        self.baseline: float | None = None
        self.history: list[dict[str, Any]] = []

    def config_of(self, actions: Sequence[int]) -> Config:
        return {name: self.space.dimensions[name].options[a] for name, a in zip(self.names, actions)}

    def actions_of(self, config: Config) -> list[int]:
        return [self.space.dimensions[name].index(config[name]) for name in self.names]

    def ask(self) -> Trial:
        with torch.no_grad():
            actions, _, _, _ = self.policy(rng=self.rng)
        return self._new_trial(self.config_of(actions), actions=actions)

    def tell(self, trial: Trial, value: Any, error: str | None = None) -> Trial:
        super().tell(trial, value, error)
        if not trial.ok:
            return trial                              # a failed evaluation teaches the policy nothing
        reward = -trial.value
        # 1) the baseline first, then the advantage (ENAS's order)
        self.baseline = ema_baseline(self.baseline, reward, self.baseline_decay)
        advantage = reward - self.baseline
        # 2) log pi(a) and H(pi) under the current policy, with gradients
        _, log_prob, entropy, probabilities = self.policy(actions=trial.meta["actions"])
        loss = -advantage * log_prob - self.entropy_weight * entropy
        # 3) one Adam step
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.history.append({"reward": reward, "baseline": self.baseline, "advantage": advantage,
                             "entropy": entropy.item(), "log_prob": log_prob.item(),
                             "probabilities": probabilities})
        return trial

    def probabilities(self) -> list[np.ndarray]:
        """The current per-decision probabilities along the most likely path (for the independent
        policy these are simply its softmaxes; for the LSTM each decision follows the argmax of
        the previous ones)."""
        actions: list[int] = []
        with torch.no_grad():
            for t in range(len(self.names)):
                _, _, _, probs = self.policy(actions=actions + [0] * (len(self.names) - t))
                actions.append(int(np.argmax(probs[t])))
        return probs

    def most_likely(self) -> Config:
        """The architecture the policy's greedy path picks (argmax at every decision)."""
        return self.config_of([int(np.argmax(p)) for p in self.probabilities()])


# --- 3) MnasNet's reward ---------------------------------------------------------------------------

def mnasnet_reward(accuracy: Any, latency: Any, target: float, alpha: float = -0.07, beta: float = -0.07) -> Any:
    """MnasNet's objective (Tan et al. 2019, eq. 2): ``ACC(m) * (LAT(m) / T)^w`` with
    ``w = alpha`` if LAT(m) <= T and ``w = beta`` otherwise. Works on numbers and arrays.

    The paper's soft constraint is alpha = beta = -0.07 (``mnasnet_soft``): a model twice as slow
    must be about 5% more accurate to score the same (2^-0.07 = 0.953). Its hard constraint is
    alpha = 0, beta = -1 (``mnasnet_hard``): no reward for being faster than T, a steep penalty
    for being slower."""
    if target <= 0:
        raise ValueError(f"the latency target T must be positive, got {target!r}")
    accuracy, latency = np.asarray(accuracy, dtype=float), np.asarray(latency, dtype=float)
    w = np.where(latency <= target, alpha, beta)
    reward = accuracy * (latency / target) ** w
    return float(reward) if reward.ndim == 0 else reward


def mnasnet_soft(accuracy: Any, latency: Any, target: float) -> Any:
    """MnasNet's soft latency constraint: w = -0.07 on both sides of the target T."""
    return mnasnet_reward(accuracy, latency, target, alpha=-0.07, beta=-0.07)


def mnasnet_hard(accuracy: Any, latency: Any, target: float) -> Any:
    """MnasNet's hard latency constraint: w = 0 up to the target T, w = -1 above it."""
    return mnasnet_reward(accuracy, latency, target, alpha=0.0, beta=-1.0)


def pareto_front(accuracy: Any, latency: Any) -> np.ndarray:
    """Indices of the points no other point beats on both axes (higher accuracy *and* lower
    latency, one of them strictly), sorted by latency: the accuracy-latency Pareto front."""
    accuracy, latency = np.asarray(accuracy, dtype=float), np.asarray(latency, dtype=float)
    order = np.lexsort((-accuracy, latency))          # by latency, the most accurate first among ties
    front, best = [], -np.inf
    for i in order:
        if accuracy[i] > best:                        # more accurate than everything at least as fast
            front.append(int(i))
            best = accuracy[i]
    return np.array(front, dtype=int)


# --- 4) on the tabular benchmark -------------------------------------------------------------------
# ``regret_by_evaluations(make_searcher, benchmark, seeds, n_evaluations)`` (regret of the incumbent
# after each model evaluated, one row per seed) lives with the tabular benchmarks, where chapter 05's
# searchers use it too; it is imported at the top of this module so that chapter 06 finds it here.
