"""minilib.hpo.hypernetwork: the flat-weight MLP against torch.nn, the hypergradient against a finite
difference, and — the oracle — ridge regression, whose best response w*(λ) = (XᵀX + n e^λ I)⁻¹ Xᵀy and
validation-optimal λ are known in closed form: the hypernetwork must learn w*(λ̂) and its slope, and
Algorithm 3 must end at the λ a fine 1-D search over the closed form finds."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from minilib.hpo import hypernetwork as H

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is as fast and immune to busy neighbours; restore the setting after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def ridge_problem() -> dict:
    """Over-parameterised noisy linear regression (30 points, 40 features): the validation loss of the
    best response has an interior minimum. Returns float64 tensors and the validation-optimal λ* from a
    fine 1-D search (step 0.005) over the closed form, computed by a route independent of the module
    (least squares on the augmented system [X; sqrt(n e^λ) I] w = [y; 0])."""
    rng = np.random.default_rng(0)
    n, n_val, d = 30, 200, 40
    w_true = rng.standard_normal(d) / np.sqrt(d)
    X = rng.standard_normal((n + n_val, d))
    y = X @ w_true + 0.5 * rng.standard_normal(n + n_val)
    Xt, yt, Xv, yv = X[:n], y[:n], X[n:], y[n:]

    def exact(log_lam):
        A = np.vstack([Xt, math.sqrt(n * math.exp(log_lam)) * np.eye(d)])
        return np.linalg.lstsq(A, np.concatenate([yt, np.zeros(d)]), rcond=None)[0]

    fine = np.arange(-6, 3, 0.005)
    val = np.array([np.mean((Xv @ exact(v) - yv) ** 2) for v in fine])
    best = int(np.argmin(val))
    assert 0 < best < len(fine) - 1, "the fixture needs an interior optimum"
    t = lambda a: torch.tensor(a, dtype=torch.float64)
    return {"X": t(Xt), "y": t(yt), "Xv": t(Xv), "yv": t(yv), "exact": exact, "lam_star": float(fine[best]),
            "val_curve": (fine, val), "n": n, "d": d}


@pytest.fixture(scope="module")
def ridge():
    return ridge_problem()


def exact_slope(X: torch.Tensor, w: torch.Tensor, log_lam: float) -> torch.Tensor:
    """dw*/dλ = -(XᵀX + μI)⁻¹ μ w* with μ = n e^λ (differentiate (XᵀX + μI) w* = Xᵀy in λ)."""
    n, d = X.shape
    mu = n * math.exp(log_lam)
    return -torch.linalg.solve(X.T @ X + mu * torch.eye(d, dtype=X.dtype), mu * w)


# --- the model with flat weights -----------------------------------------------------------------

@pytest.mark.parametrize("sizes,bias", [([5, 3], True), ([5, 4, 3], True), ([5, 4, 6, 3], False), ([7, 1], False)])
def test_flat_mlp_is_torch_sequential(sizes, bias):
    # oracle: nn.Sequential(Linear, ReLU, ..., Linear) with the same numbers copied in, layer by layer.
    # catches: W transposed or sliced row-major the wrong way, bias read before the matrix, a ReLU
    # after the last layer, a wrong weight count
    torch.manual_seed(0)
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(a, b, bias=bias)] + ([nn.ReLU()] if k < len(sizes) - 2 else [])
    net = nn.Sequential(*layers)
    flat = torch.cat([p.reshape(-1) for p in net.parameters()])        # weight, bias, weight, bias ...
    assert H.n_weights(sizes, bias) == flat.numel() == sum(p.numel() for p in net.parameters())
    X = torch.randn(9, sizes[0])
    out = H.mlp(flat, X, sizes, bias)
    assert out.shape == (9, sizes[-1])
    torch.testing.assert_close(out, net(X))
    with pytest.raises(ValueError):
        H.mlp(flat[:-1], X, sizes, bias)


def test_init_weights_follow_nn_linear_bounds_and_seed():
    # catches: one bound for all layers (should be 1/sqrt(fan_in) per layer), an init ignoring the seed
    w = H.init_weights([100, 4, 2], seed=3)
    assert w.shape == (H.n_weights([100, 4, 2]),)
    first, second = w[:404], w[404:]
    assert first.abs().max() <= 0.1 and first.abs().max() > 0.09          # 1/sqrt(100)
    assert second.abs().max() <= 0.5 and second.abs().max() > 0.1          # 1/sqrt(4)
    assert torch.equal(w, H.init_weights([100, 4, 2], seed=3))
    assert not torch.equal(w, H.init_weights([100, 4, 2], seed=4))


def test_task_loss_and_penalty():
    # oracle: torch's cross_entropy / mse_loss and the penalty written out. catches: log λ used as the
    # penalty weight itself instead of exp(λ), a sum instead of a mean, an unknown task accepted
    torch.manual_seed(0)
    X, w = torch.randn(6, 3), torch.randn(H.n_weights([3, 2]))
    y = torch.tensor([0, 1, 1, 0, 1, 0])
    expected = nn.functional.cross_entropy(H.mlp(w, X, [3, 2]), y) + math.exp(-1.5) * (w ** 2).sum()
    torch.testing.assert_close(H.train_loss(w, X, y, -1.5, [3, 2], True, "classification"), expected)
    yr = torch.randn(6)
    out = H.mlp(w[:3], X, [3, 1], False)
    torch.testing.assert_close(H.task_loss(out, yr, "regression"), ((out[:, 0] - yr) ** 2).mean())
    with pytest.raises(ValueError):
        H.task_loss(out, yr, "ranking")


def test_ridge_best_response_is_the_minimiser_of_the_training_loss(ridge):
    # oracle: the fixture's augmented least squares, and a zero gradient of (1) at w*.
    # catches: a missing factor n (penalty on the sum rather than the mean squared error), λ not exponentiated
    for log_lam in (-3.0, -1.0, 1.5):
        w = H.ridge_best_response(ridge["X"], ridge["y"], log_lam)
        np.testing.assert_allclose(w.numpy(), ridge["exact"](log_lam), rtol=1e-8, atol=1e-10)
        w = w.clone().requires_grad_(True)
        loss = H.train_loss(w, ridge["X"], ridge["y"], log_lam, [ridge["d"], 1], False, "regression")
        (g,) = torch.autograd.grad(loss, w)
        assert g.abs().max() < 1e-10


# --- the hypernetwork and its hypergradient -------------------------------------------------------

@pytest.mark.parametrize("hidden", [0, 8])
def test_hypergradient_matches_a_finite_difference(hidden):
    # oracle: the central difference of λ -> L_val(w_φ(λ)) in float64 (h = 1e-5: error ~ h² f''' ~ 1e-10).
    # catches: λ detached somewhere on the way (gradient 0), a gradient through the penalty (which the
    # validation loss does not have), a sign error
    torch.manual_seed(0)
    hnet = H.HyperNetwork([6, 5, 3], hidden=hidden, log_lambda0=-2.0, seed=1).double()
    with torch.no_grad():
        for p in hnet.parameters():
            p.add_(0.3 * torch.randn_like(p))          # a slope b != 0 and a non-trivial map
    Xv, yv = torch.randn(20, 6, dtype=torch.float64), torch.randint(0, 3, (20,))
    h = 1e-5
    for lam in (-2.0, -1.3, 0.4):
        value, grad = H.hypergradient(hnet, lam, Xv, yv, "classification")
        f = lambda v: H.validation_loss(hnet, torch.tensor(v, dtype=torch.float64), Xv, yv, "classification").item()
        fd = (f(lam + h) - f(lam - h)) / (2 * h)
        assert isinstance(value, float) and isinstance(grad, float)
        assert value == pytest.approx(f(lam), rel=1e-12)
        assert abs(fd) > 1e-3                           # the check is not 0 == 0
        assert grad == pytest.approx(fd, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("hidden", [0, 8])
def test_recenter_leaves_the_function_unchanged(hidden):
    # catches: shifting a (or the first bias) with the wrong sign, or forgetting the shift, which would
    # change the weights the hypernetwork gives every λ at each hyperparameter step
    torch.manual_seed(0)
    hnet = H.HyperNetwork([4, 3], hidden=hidden, log_lambda0=-1.0, seed=0)
    with torch.no_grad():
        for p in hnet.parameters():
            p.add_(torch.randn_like(p))
    lams = torch.tensor([-4.0, -1.0, 0.5])
    before = torch.stack([hnet(v) for v in lams])
    hnet.recenter(-2.7)
    assert hnet.log_lambda0.item() == pytest.approx(-2.7)
    after = torch.stack([hnet(v) for v in lams])
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


def test_hypernetwork_learns_the_exact_best_response_and_its_slope(ridge):
    # Algorithm 3 with λ̂ held fixed (warm-up only): the linear hypernetwork must give w*(λ̂) (closed form)
    # and its slope b must approach dw*/dλ, the quantity the hypergradient (2) relies on.
    # Measured on one x86 CPU: weight error 0.05 %, slope error 2.4 %; the bounds (1 %, 10 %) leave room
    # for other float32 kernels. catches: σ = 0 or no sampling (b never learns: error 100 %), the penalty
    # without exp, the training loss evaluated at λ̂ instead of the sampled λ (b never learns either)
    lam = -1.0
    hnet = H.HyperNetwork([ridge["d"], 1], bias=False, log_lambda0=lam, seed=0)
    res = H.hypertrain(hnet, ridge["X"], ridge["y"], ridge["Xv"], ridge["yv"], task="regression", log_lambda0=lam,
                       steps=0, warmup=1000, lr=0.003, sigma=0.1, seed=0, device=CPU)
    assert res.trajectory == [pytest.approx(lam)] and res.gradient_evals == 2 * 1000
    w_star = H.ridge_best_response(ridge["X"], ridge["y"], lam)
    w_hat = hnet(torch.tensor(lam)).detach().double()
    assert w_hat.shape == w_star.shape
    assert (w_hat - w_star).norm() / w_star.norm() < 0.01
    slope = exact_slope(ridge["X"], w_star, lam)
    assert (hnet.b.detach().double() - slope).norm() / slope.norm() < 0.10


@pytest.mark.slow
def test_global_hypernetwork_follows_the_curved_best_response(ridge):
    # with a hidden layer and a wide σ = 1 (the paper's global variant), λ̂ held fixed: w_φ(λ) must follow the
    # exact w*(λ) over 3 units of λ, where a straight line cannot (a linear hypernetwork trained the same way
    # was measured 7 % and 13 % off at the two ends). Measured max error 1.9 %; bound 5 %.
    # catches: a broken hidden-layer path (no non-linearity, the input not centred, a wrong recenter)
    hnet = H.HyperNetwork([ridge["d"], 1], hidden=16, bias=False, log_lambda0=-1.0, seed=0)
    H.hypertrain(hnet, ridge["X"], ridge["y"], ridge["Xv"], ridge["yv"], task="regression", log_lambda0=-1.0,
                 steps=0, warmup=1500, lr=0.003, sigma=1.0, n_samples=4, seed=0, device=CPU)
    for lam in (-2.5, -1.0, 0.5):
        w_star = H.ridge_best_response(ridge["X"], ridge["y"], lam)
        w_hat = hnet(torch.tensor(lam)).detach().double()
        assert w_hat.shape == w_star.shape
        assert (w_hat - w_star).norm() / w_star.norm() < 0.05, lam


@pytest.mark.parametrize("start", [-5.0, 2.0])
def test_hypertrain_finds_the_validation_optimal_lambda(ridge, start):
    # the test oracle: λ* from a fine 1-D search over the closed form (the fixture). From below and from
    # above, λ̂ must end within 0.05 of λ* (measured: within 0.01 on one x86 CPU), and w_φ(λ̂) must be the
    # exact best response at λ̂ to 1 %. catches: a step up the hypergradient, a validation loss that
    # includes the penalty (its optimum lies elsewhere), a hypernetwork not re-centred (λ̂ stalls 0.2 away)
    hnet = H.HyperNetwork([ridge["d"], 1], bias=False, log_lambda0=start, seed=0)
    res = H.hypertrain(hnet, ridge["X"], ridge["y"], ridge["Xv"], ridge["yv"], task="regression",
                       log_lambda0=start, steps=200, warmup=200, train_steps=5, lr=0.01, hyper_lr=0.05,
                       sigma=0.1, seed=0, device=CPU)
    assert len(res.trajectory) == len(res.val_loss) == 201 and res.trajectory[0] == start
    assert res.gradient_evals == 2 * 200 + 200 * (5 * 2 + 1)
    assert abs(res.log_lambda - ridge["lam_star"]) < 0.05, (res.log_lambda, ridge["lam_star"])
    # the record ends where λ̂ ended, with the validation loss there (catches a record one step behind)
    assert res.trajectory[-1] == res.log_lambda
    end = H.validation_loss(hnet, torch.tensor(res.log_lambda), ridge["Xv"].float(), ridge["yv"].float(), "regression")
    assert res.val_loss[-1] == pytest.approx(end.item(), rel=1e-6)
    w_star = H.ridge_best_response(ridge["X"], ridge["y"], res.log_lambda)
    w_hat = hnet(torch.tensor(res.log_lambda)).detach().double()
    assert (w_hat - w_star).norm() / w_star.norm() < 0.01


def test_hypertrain_is_reproducible_from_its_seed(ridge):
    # catches: λ samples or batches drawn from the global RNG instead of the seeded generator
    def run(seed):
        hnet = H.HyperNetwork([ridge["d"], 1], bias=False, log_lambda0=0.0, seed=0)
        return H.hypertrain(hnet, ridge["X"], ridge["y"], ridge["Xv"], ridge["yv"], task="regression",
                            log_lambda0=0.0, steps=10, warmup=10, batch_size=8, seed=seed, device=CPU).trajectory
    first = run(1)
    torch.manual_seed(123)
    assert run(1) == first
    assert run(2) != first


# --- the baseline --------------------------------------------------------------------------------

def test_grid_search_matches_the_closed_form_on_ridge(ridge):
    # oracle: the validation loss of the exact ridge solution at each grid value. Adam for 1,000 steps on
    # this quadratic gets within 0.1 % (measured 0.002 %). catches: losses stored out of grid order, the
    # argmax picked, the penalty counted in the validation loss, a cost that is not models x steps
    grid = [-4.0, -2.0, -1.0, 0.0, 2.0]
    res = H.grid_search(grid, ridge["X"], ridge["y"], ridge["Xv"], ridge["yv"], sizes=[ridge["d"], 1], bias=False,
                        task="regression", steps=1000, lr=0.01, device=CPU)
    exact = [float(np.mean((ridge["Xv"].numpy() @ ridge["exact"](v) - ridge["yv"].numpy()) ** 2)) for v in grid]
    assert len(res.val_loss) == len(grid) and res.log_lambdas == grid
    np.testing.assert_allclose(res.val_loss, exact, rtol=1e-3)
    assert res.best_log_lambda == grid[int(np.argmin(exact))] == -1.0
    assert res.best_weights.shape == (ridge["d"],)
    assert res.gradient_evals == len(grid) * 1000
