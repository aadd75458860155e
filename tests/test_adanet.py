"""Tests for minilib.ensembles.adanet: the soft threshold, the mixture-weight fit, the search loop."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from minilib.data import make_regression_1d
from minilib.ensembles.adanet import (
    AdaNet,
    Candidate,
    SimpleDNN,
    adanet_objective,
    complexity,
    fit_mixture_weights,
    mixture_loss,
    soft_threshold,
)
from minilib.models import make_mlp


@pytest.fixture(autouse=True)
def _one_thread():
    # these tensors are tiny: one thread is much faster than two on a busy machine (thread hand-offs dominate)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

def test_soft_threshold_is_the_closed_form_and_the_prox():
    # catches: the threshold applied with the wrong sign, a missing clamp (negative magnitudes),
    # and "shrink by a factor" (v / (1 + t), the ridge prox) instead of "shrink by t"
    v = torch.tensor([-3.0, -1.0, -0.2, 0.0, 0.3, 0.5, 2.5])
    t = 0.5
    expected = np.sign(v.numpy()) * np.maximum(np.abs(v.numpy()) - t, 0.0)
    got = soft_threshold(v, t)
    assert got.shape == v.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-7)
    assert got[2].item() == 0.0 and got[4].item() == 0.0 and got[5].item() == 0.0   # exactly zero, not 1e-9
    # the prox property: soft_threshold(v, t) = argmin_w 1/2 (w - v)^2 + t |w|, by brute force on a grid
    grid = np.linspace(-4, 4, 80001)
    for vi in v.numpy():
        brute = grid[np.argmin(0.5 * (grid - vi) ** 2 + t * np.abs(grid))]
        assert soft_threshold(torch.tensor(vi), t).item() == pytest.approx(brute, abs=1e-4)


def test_soft_threshold_with_one_threshold_per_weight():
    # catches: a scalar-only implementation (gamma_j differs per subnetwork: lambda * sqrt(depth_j) + beta)
    v = torch.tensor([1.0, 1.0, -1.0])
    got = soft_threshold(v, torch.tensor([0.25, 2.0, 0.5]))
    np.testing.assert_array_equal(got.numpy(), np.array([0.75, 0.0, -0.5], dtype=np.float32))


def test_complexity_is_sqrt_depth():
    assert [complexity(d) for d in (0, 1, 4, 9)] == [0.0, 1.0, 2.0, 3.0]


def _regression_outputs(seed=0, m=400, n=4):
    g = torch.Generator().manual_seed(seed)
    outputs = torch.randn(n, m, 1, generator=g, dtype=torch.float64)
    true_w = torch.tensor([1.5, 0.0, -0.7, 0.05], dtype=torch.float64)[:n]
    y = torch.einsum("j,jmk->m", true_w, outputs) + 0.3 * torch.randn(m, generator=g, dtype=torch.float64)
    return outputs, y


def test_mixture_weights_match_sklearn_lasso():
    # Oracle: with squared error, F(w) = (1/m)||y - Hw||^2 + sum_j gamma_j |w_j| is a weighted lasso. Substituting
    # v_j = (gamma_j / 2) w_j turns it into sklearn's (1/(2m))||y - H'v||^2 + 1 * ||v||_1 with H'_j = H_j / (gamma_j/2).
    # catches: a subgradient step (no exact zeros, not converged), a missing factor 2 between MSE and sklearn's
    # loss, a penalty applied to the wrong weight
    from sklearn.linear_model import Lasso

    outputs, y = _regression_outputs()
    gamma = torch.tensor([0.05, 0.2, 0.1, 0.3], dtype=torch.float64)
    w = fit_mixture_weights(outputs, y, gamma, task="regression", steps=2000, tol=0.0)
    H = outputs[:, :, 0].T.numpy()                       # (m, N)
    scale = gamma.numpy() / 2
    lasso = Lasso(alpha=1.0, fit_intercept=False, tol=1e-12, max_iter=100000).fit(H / scale, y.numpy())
    expected = lasso.coef_ / scale
    assert w.shape == (4,)
    np.testing.assert_allclose(w.numpy(), expected, atol=1e-6)
    assert (w == 0).sum().item() == (expected == 0).sum() >= 1   # the same weights are exactly zero


def test_mixture_weights_satisfy_the_kkt_conditions_for_cross_entropy():
    # Oracle: w minimises the convex F iff 0 is in its subdifferential: grad_j + gamma_j sign(w_j) = 0 where w_j != 0,
    # |grad_j| <= gamma_j where w_j = 0. catches: a non-converged or wrongly scaled proximal step on the logits loss
    g = torch.Generator().manual_seed(1)
    outputs = 2 * torch.randn(5, 300, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (300,), generator=g)
    y[:150] = outputs[0, :150].argmax(dim=1)            # member 0 is informative, the others are noise
    gamma = torch.full((5,), 0.1, dtype=torch.float64)
    w = fit_mixture_weights(outputs, y, gamma, task="classification", steps=2000, tol=0.0)
    wg = w.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(mixture_loss(wg, outputs, y, "classification"), wg)
    nonzero = w != 0
    assert nonzero[0] and (~nonzero).any()
    np.testing.assert_allclose((grad + gamma * torch.sign(w))[nonzero].numpy(), 0.0, atol=1e-6)
    assert torch.all(grad[~nonzero].abs() <= gamma[~nonzero] + 1e-9)


def test_large_lambda_sets_every_weight_to_exactly_zero():
    # When gamma_j >= |d loss / d w_j| at w = 0, w = 0 is optimal; the soft threshold must land there exactly.
    # catches: a subgradient method (which would leave tiny non-zero weights), a threshold that is not scaled
    # by the step size
    outputs, y = _regression_outputs(seed=2)
    w0 = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    (grad0,) = torch.autograd.grad(mixture_loss(w0, outputs, y, "regression"), w0)
    gamma = grad0.abs().max() * 1.01 * torch.ones(4, dtype=torch.float64)
    w = fit_mixture_weights(outputs, y, gamma, task="regression")
    assert torch.equal(w, torch.zeros(4, dtype=torch.float64))
    # and just below the largest gradient the weight of that member is the only non-zero one
    w = fit_mixture_weights(outputs, y, gamma * 0.9, task="regression", steps=400)
    assert (w != 0).sum().item() == 1 and w[grad0.abs().argmax()].item() != 0


def test_objective_parts_by_hand():
    # catches: a penalty on w instead of |w|, gamma applied to the loss, lambda = beta = 0 not giving zero penalty
    outputs = torch.tensor([[[1.0], [2.0]], [[0.0], [4.0]]])      # 2 subnetworks, 2 examples
    y = torch.tensor([1.0, 1.0])
    w = torch.tensor([0.5, -0.25])
    loss, penalty = adanet_objective(w, outputs, y, torch.tensor([0.2, 1.0]), task="regression")
    f = np.array([0.5 * 1 - 0.25 * 0, 0.5 * 2 - 0.25 * 4])          # [0.5, 0.0]
    assert loss == pytest.approx(np.mean((f - 1) ** 2))
    assert penalty == pytest.approx(0.2 * 0.5 + 1.0 * 0.25)
    assert adanet_objective(w, outputs, y, torch.zeros(2), task="regression")[1] == 0.0


class _Fixed(nn.Module):
    """A 'subnetwork' that returns fixed outputs for the rows of X it is indexed by."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = nn.Parameter(table.clone())

    def forward(self, X):
        return self.table[X[:, 0].long()]


def _fake_search(tables_by_iteration, lam=0.0, beta=0.0, T=3):
    """An AdaNet run on fixed candidate outputs: no training, so the choices are known in advance."""
    def generator(t, chosen, seed):
        return [Candidate(name, _Fixed(table), r, {"depth": int(r ** 2)})
                for name, (table, r) in tables_by_iteration[t].items()]
    X = np.arange(len(next(iter(tables_by_iteration[0].values()))[0]), dtype=np.float32)[:, None]
    return X, AdaNet(generator, lam=lam, beta=beta, max_iterations=T, task="regression",
                     train=lambda module, X, y, seed: None, device=torch.device("cpu"))


def test_search_picks_the_lowest_objective_and_stops_when_nothing_lowers_it():
    # y = target; at t = 0 "good" fits y exactly, "bad" is noise: good must join. At t = 1 the only candidate is a
    # copy of the noise: adding it cannot lower F (its optimal weight is 0 with beta > 0), so the search stops.
    # catches: choosing by name or order, choosing the highest objective, never stopping, stopping too early
    rng = np.random.default_rng(0)
    y = rng.standard_normal(50).astype(np.float32)
    noise = torch.tensor(rng.standard_normal((50, 1)), dtype=torch.float32)
    good = torch.tensor(y[:, None])
    tables = [{"bad": (noise, 1.0), "good": (good, 1.0)}, {"noise": (noise, 1.0)}, {"good again": (good, 1.0)}]
    X, search = _fake_search(tables, beta=1e-3)
    search.fit(X, y)
    assert [h.name for h in search.subnetworks] == ["good"]
    assert len(search.history) == 2 and search.history[0].chosen == 1 and search.history[1].chosen is None
    assert search.weights[0].item() == pytest.approx(1 - 1e-3 / 2, abs=1e-3)   # 1 shrunk by the L1 term
    first = search.history[0]
    assert first.objectives[1] == min(first.objectives) == pytest.approx(search.objective)
    assert search.history[0].previous_objective == pytest.approx(float(np.mean(y ** 2)), rel=1e-5)  # F of f = 0


def test_complexity_penalty_changes_the_choice():
    # Two candidates fit y equally well except for a small gain of the complex one. lambda = 0 takes the complex
    # one, a large lambda the simple one. catches: lambda ignored, or r(h) not multiplied into the penalty
    rng = np.random.default_rng(1)
    y = rng.standard_normal(200).astype(np.float32)
    simple = torch.tensor(y[:, None] + 0.3 * rng.standard_normal((200, 1)), dtype=torch.float32)
    deep = torch.tensor(y[:, None] + 0.2 * rng.standard_normal((200, 1)), dtype=torch.float32)
    tables = [{"simple": (simple, 1.0), "deep": (deep, 3.0)}]
    for lam, expected in ((0.0, "deep"), (0.1, "simple")):
        X, search = _fake_search(tables, lam=lam, T=1)
        search.fit(X, y)
        assert [h.name for h in search.subnetworks] == [expected], lam


def test_uniform_prediction_is_the_mean_and_identical_members_equal_one():
    # Oracle (REFERENCES 19.7): N identical subnetworks with w = 1/N give the single subnetwork's output.
    # catches: predict(uniform=True) using the learned weights, or summing instead of averaging
    net = make_mlp(3, 2, width=8, depth=1, seed=0)
    members = [Candidate("same", net, 1.0, {"depth": 1}) for _ in range(3)]
    search = AdaNet(lambda t, c, s: [], device=torch.device("cpu"))
    search.subnetworks, search.weights = members, torch.tensor([0.9, 0.0, 0.1])
    X = torch.randn(5, 3)
    with torch.no_grad():
        single = net(X)
    np.testing.assert_allclose(search.predict(X, uniform=True).numpy(), single.numpy(), atol=1e-6)
    np.testing.assert_allclose(search.predict(X).numpy(), single.numpy(), atol=1e-6)   # weights sum to 1 here
    assert search.total_complexity == 2.0                                               # the zero weight is free


def test_simple_dnn_proposes_same_depth_and_one_deeper():
    gen = SimpleDNN(1, 1, width=4, initial_depth=0)
    first = gen(0, [], seed=0)
    assert [c.info["depth"] for c in first] == [0, 1] and [c.name for c in first] == ["linear", "1-layer"]
    assert [c.complexity for c in first] == [0.0, 1.0]
    later = gen(1, [first[1], Candidate("x", nn.Identity(), 2.0, {"depth": 3})], seed=0)
    assert [c.info["depth"] for c in later] == [3, 4]                   # from the LAST chosen, not the deepest
    n_linear = sum(isinstance(m, nn.Linear) for m in later[1].module.modules())
    assert n_linear == 5 and later[1].complexity == math.sqrt(4)


@pytest.mark.slow
def test_real_search_freezes_members_and_lambda_keeps_it_shallow():
    # A real run on the 1-D regression set. catches: earlier subnetworks trained again at later iterations,
    # the objective of the chosen ensembles going up, lambda having no effect on the depth
    data = make_regression_1d(n=300, seed=0)
    cache: dict = {}
    runs = {}
    for lam in (0.0, 1.0):
        search = AdaNet(SimpleDNN(1, 1, width=16, initial_depth=0), lam=lam, max_iterations=3, task="regression",
                        epochs=15, lr=1e-2, batch_size=32, seed=0, cache=cache, device=torch.device("cpu"))
        before = None
        for t in range(1, 4):
            search.max_iterations = t
            search.fit(data.X_train, data.y_train)
            if before is not None and search.subnetworks:
                first = search.subnetworks[0].module
                assert all(torch.equal(a, b) for a, b in zip(before, first.state_dict().values()))
            if search.subnetworks:
                before = [v.clone() for v in search.subnetworks[0].module.state_dict().values()]
        chosen = [r.objectives[r.chosen] for r in search.history if r.chosen is not None]
        assert all(b <= a for a, b in zip(chosen, chosen[1:]))
        runs[lam] = search
    assert max(runs[0.0].depths) > max(runs[1.0].depths, default=0)
    assert runs[1.0].total_complexity < runs[0.0].total_complexity
