"""Infinitely wide networks: the NNGP and NTK kernels in closed form, and their finite-width estimates (chapter 11).

An ensemble of randomly initialised fully connected networks becomes a Gaussian process as the
width grows (the *NNGP*, Neal 1996; Lee et al., ICLR 2018), and gradient-descent training of a
wide network becomes kernel regression with the *neural tangent kernel* (NTK; Jacot, Gabriel &
Hongler, NeurIPS 2018; Lee et al., NeurIPS 2019). Neural Tangents (Novak et al., ICLR 2020)
computes both in JAX; this module does it with numpy and PyTorch.

**The network as data.** As in Neural Tangents' ``stax``, every layer is a triple
``Layer(init_fn, apply_fn, kernel_fn)``:

* ``init_fn(in_features, generator, dtype) -> (out_features, params)`` draws the weights;
* ``apply_fn(params, x) -> y`` runs the finite network (PyTorch, so autograd gives its Jacobian);
* ``kernel_fn(k: Kernel) -> Kernel`` maps the (NNGP, NTK) pair of the layer's input to that of
  its output: the closed form composes exactly like the network, ``serial(Dense, Relu, Dense)``.

**NTK parameterisation** (Jacot et al. 2018; Neural Tangents' default). All weights are N(0, 1);
the scale sits in the forward pass: with ``n`` inputs, ``Dense`` computes

    z = (W_std / sqrt(n)) * x @ W + b_std * b,        W_ij, b_j ~ N(0, 1).       (1)

``W_std`` and ``b_std`` are standard deviations (sigma_w, sigma_b), not variances.

**The recursion** for one input pair (x, x'), with K the NNGP and Theta the NTK of a layer's input:

* inputs: K^0 = x . x' / d (d input features), Theta^0 = 0;
* ``Dense``:  K <- sigma_w^2 K + sigma_b^2,   Theta <- K_new + sigma_w^2 Theta;                  (2)
* an activation phi, with (u, v) ~ N(0, [[K_xx, K_xx'], [K_xx', K_x'x']]):
  K <- E[phi(u) phi(v)],   Theta <- Theta * E[phi'(u) phi'(v)].                             (3)

For ReLU, (3) is the arc-cosine kernel of degree 1 (Cho & Saul, NeurIPS 2009), with
cos(t) = K_xx' / sqrt(K_xx K_x'x') clipped to [-1, 1]:

    E[relu(u) relu(v)] = sqrt(K_xx K_x'x') (sin t + (pi - t) cos t) / (2 pi),
    E[relu'(u) relu'(v)] = (pi - t) / (2 pi).                                               (4)

For erf it is the arcsine kernel (Williams, NeurIPS 1997), with P = (1 + 2 K_xx)(1 + 2 K_x'x'):

    E[erf(u) erf(v)] = (2 / pi) arcsin(2 K_xx' / sqrt(P)),
    E[erf'(u) erf'(v)] = (4 / pi) / sqrt(P - 4 K_xx'^2).                                  (5)

**Inference** (MSE loss, as ``minilib.train.fit`` trains with ``task="regression"``):

* ``nngp_posterior``: the exact GP posterior of the infinite *Bayesian* network (Cholesky);
* ``ntk_predict``: a wide network trained by gradient descent for ``t`` steps at learning rate
  ``lr`` is its linearisation (Lee et al. 2019, Eqs. 9-10), solved by the eigendecomposition
  Theta = V diag(lambda) V^T;
* ``ntk_ensemble``: mean and covariance over the random initialisations of that trained network
  (Lee et al. 2019, Eq. 16): the infinite ensemble of trained networks.

**Monte Carlo** estimates for a finite width: ``monte_carlo_nngp`` (the covariance of the outputs
of many random networks) and ``monte_carlo_ntk`` (the average of J J^T, the Jacobian from
``torch.func.jacrev``), and ``empirical_ntk`` of one given network.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from scipy.linalg import cho_solve, solve_triangular
from torch import nn

# --- kernels ------------------------------------------------------------------------------


@dataclass
class Kernel:
    """The kernels of one layer's output between the rows of X1 and X2 (Neural Tangents' names).

    ``nngp`` (n1, n2) and ``ntk`` (n1, n2): the NNGP K(x1_i, x2_j) and the NTK Theta(x1_i, x2_j);
    ``cov1`` (n1,) and ``cov2`` (n2,): the variances K(x, x) of the rows of X1 and X2, which the
    nonlinearities need for the correlation of every pair.
    """

    nngp: np.ndarray
    ntk: np.ndarray
    cov1: np.ndarray
    cov2: np.ndarray


def input_kernel(X1: np.ndarray, X2: np.ndarray | None = None) -> Kernel:
    """The kernel of the inputs themselves: K^0 = x . x' / d, Theta^0 = 0 (float64).

    Neural Tangents divides by the number of features d, so that the first ``Dense`` of (1) sees
    inputs of variance ``|x|^2 / d``.
    """
    X1 = np.atleast_2d(np.asarray(X1, dtype=np.float64))
    X2 = X1 if X2 is None else np.atleast_2d(np.asarray(X2, dtype=np.float64))
    if X1.shape[1] != X2.shape[1]:
        raise ValueError(f"X1 and X2 need the same number of features, got {X1.shape[1]} and {X2.shape[1]}")
    d = X1.shape[1]
    nngp = X1 @ X2.T / d
    return Kernel(nngp=nngp, ntk=np.zeros_like(nngp), cov1=(X1**2).sum(1) / d, cov2=(X2**2).sum(1) / d)


# --- layers: (init_fn, apply_fn, kernel_fn) --------------------------------------------------


class Layer(NamedTuple):
    """A layer as Neural Tangents' ``stax`` builds it: the finite network and its infinite limit.

    ``name`` and ``layers`` (the children of a ``serial``) are only for printing and for
    ``empirical_nngp``, which needs to find the network's last ``Dense``.
    """

    init_fn: Callable[[int, torch.Generator, torch.dtype], tuple[int, list]]
    apply_fn: Callable[[list, torch.Tensor], torch.Tensor]
    kernel_fn: Callable[[Kernel], Kernel]
    name: str = ""
    layers: tuple = ()


def Dense(out_features: int, W_std: float = 1.0, b_std: float = 0.0) -> Layer:
    """A fully connected layer in the NTK parameterisation, Eq. (1); its kernel map is Eq. (2)."""
    if out_features < 1 or W_std < 0 or b_std < 0:
        raise ValueError(f"need out_features >= 1, W_std >= 0, b_std >= 0; got {out_features}, {W_std}, {b_std}")

    def init_fn(in_features: int, generator: torch.Generator, dtype: torch.dtype = torch.float64):
        W = torch.randn(in_features, out_features, generator=generator, dtype=dtype)  # N(0, 1)
        b = torch.randn(out_features, generator=generator, dtype=dtype)
        return out_features, [W, b]

    def apply_fn(params: list, x: torch.Tensor) -> torch.Tensor:
        W, b = params                     # (in, out) and (out,), or (M, in, out) and (M, out) for M networks
        in_features = W.shape[-2]
        return (W_std / math.sqrt(in_features)) * (x @ W) + b_std * b.unsqueeze(-2)  # the scale is in the forward

    def kernel_fn(k: Kernel) -> Kernel:
        w2, b2 = W_std**2, b_std**2
        nngp = w2 * k.nngp + b2
        ntk = nngp + w2 * k.ntk            # d f / d(W, b) of this layer, plus the layers below, scaled by W
        return Kernel(nngp=nngp, ntk=ntk, cov1=w2 * k.cov1 + b2, cov2=w2 * k.cov2 + b2)

    return Layer(init_fn, apply_fn, kernel_fn, f"Dense({out_features}, W_std={W_std:g}, b_std={b_std:g})")


def _elementwise(fn: Callable[[torch.Tensor], torch.Tensor], kernel_fn: Callable[[Kernel], Kernel],
                 name: str) -> Layer:
    """A parameter-free layer: the width stays, the kernel changes by ``kernel_fn``."""
    def init_fn(in_features: int, generator: torch.Generator, dtype: torch.dtype = torch.float64):
        return in_features, []

    return Layer(init_fn, lambda params, x: fn(x), kernel_fn, name)


def relu_kernel(k: Kernel) -> Kernel:
    """Eq. (4): the arc-cosine kernel of degree 1 and the derivative kernel (pi - t) / (2 pi)."""
    norms = np.sqrt(np.outer(k.cov1, k.cov2))                     # sqrt(K_xx K_x'x'), (n1, n2)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(norms > 0, k.nngp / norms, 0.0)            # a zero input: angle pi/2, as in NT
    theta = np.arccos(np.clip(cos, -1.0, 1.0))                    # round-off can push |cos| past 1
    nngp = norms * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
    dot_sigma = (np.pi - theta) / (2 * np.pi)                     # E[relu'(u) relu'(v)] = P(u > 0, v > 0)
    return Kernel(nngp=nngp, ntk=k.ntk * dot_sigma, cov1=k.cov1 / 2, cov2=k.cov2 / 2)


def erf_kernel(k: Kernel) -> Kernel:
    """Eq. (5): the arcsine kernel of Williams (1997) and its derivative kernel."""
    prod = np.outer(1 + 2 * k.cov1, 1 + 2 * k.cov2)                # P = (1 + 2 K_xx)(1 + 2 K_x'x')
    nngp = (2 / np.pi) * np.arcsin(np.clip(2 * k.nngp / np.sqrt(prod), -1.0, 1.0))
    dot_sigma = (4 / np.pi) / np.sqrt(np.maximum(prod - 4 * k.nngp**2, 1e-300))  # P - 4K^2 >= 1 in exact math

    def variance(c: np.ndarray) -> np.ndarray:                    # the same formula with x = x'
        return (2 / np.pi) * np.arcsin(2 * c / (1 + 2 * c))

    return Kernel(nngp=nngp, ntk=k.ntk * dot_sigma, cov1=variance(k.cov1), cov2=variance(k.cov2))


def Relu() -> Layer:
    """ReLU, max(x, 0); its kernel map is ``relu_kernel``."""
    return _elementwise(torch.relu, relu_kernel, "Relu")


def Erf() -> Layer:
    """The error function erf(x), a sigmoid with a closed-form kernel; its kernel map is ``erf_kernel``."""
    return _elementwise(torch.erf, erf_kernel, "Erf")


def serial(*layers: Layer) -> Layer:
    """Layers one after another: init, apply and kernel maps all compose in the same order.

    A ``serial`` inside a ``serial`` is flattened, so the parameters are always one list per
    layer: ``params[i]`` belongs to ``net.layers[i]``.
    """
    flat = tuple(child for layer in layers for child in (layer.layers or (layer,)))

    def init_fn(in_features: int, generator: torch.Generator, dtype: torch.dtype = torch.float64):
        params = []
        for layer in flat:
            in_features, p = layer.init_fn(in_features, generator, dtype)
            params.append(p)
        return in_features, params

    def apply_fn(params: list, x: torch.Tensor) -> torch.Tensor:
        for layer, p in zip(flat, params, strict=True):
            x = layer.apply_fn(p, x)
        return x

    def kernel_fn(k: Kernel) -> Kernel:
        for layer in flat:
            k = layer.kernel_fn(k)
        return k

    return Layer(init_fn, apply_fn, kernel_fn, " -> ".join(layer.name for layer in flat), flat)


def mlp(width: int, depth: int = 1, out_features: int = 1, activation: str = "relu",
        W_std: float = 1.0, b_std: float = 0.0) -> Layer:
    """``depth`` hidden layers ``Dense(width) -> activation``, then ``Dense(out_features)``."""
    act = {"relu": Relu, "erf": Erf}
    if activation not in act:
        raise ValueError(f"activation must be one of {sorted(act)}, got {activation!r}")
    hidden = [layer for _ in range(depth) for layer in (Dense(width, W_std, b_std), act[activation]())]
    return serial(*hidden, Dense(out_features, W_std, b_std))


def kernel(net: Layer, X1: np.ndarray, X2: np.ndarray | None = None) -> Kernel:
    """The closed-form NNGP and NTK of the infinitely wide ``net`` between the rows of X1 and X2.

    The widths inside ``net`` do not matter here: only ``W_std``, ``b_std``, the activations and
    the depth do. ``kernel(net, X).nngp`` is Neural Tangents' ``kernel_fn(X, None, "nngp")``.
    """
    return net.kernel_fn(input_kernel(X1, X2))


# --- inference -------------------------------------------------------------------------------


def _as_2d(y: np.ndarray) -> tuple[np.ndarray, bool]:
    y = np.asarray(y, dtype=np.float64)
    return (y[:, None], True) if y.ndim == 1 else (y, False)


def nngp_posterior(K_train: np.ndarray, K_test_train: np.ndarray, y_train: np.ndarray,
                   K_test: np.ndarray | None = None, noise: float = 0.0) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """GP posterior of the infinite Bayesian network (Rasmussen & Williams, Algorithm 2.1).

    ``K_train`` (n, n), ``K_test_train`` (m, n): NNGP matrices; ``y_train`` (n,) or (n, k), each
    column an independent output; ``noise``: the observation-noise variance added to the diagonal.
    Returns the mean (shape of ``y_train`` with m rows) and, when ``K_test`` (m, m) is given, the
    covariance of f at the test points, ``K_test - K_*X (K + noise I)^-1 K_X*`` (m, m), shared by
    all outputs.
    """
    y, squeeze = _as_2d(y_train)
    L = np.linalg.cholesky(K_train + noise * np.eye(len(K_train)))   # fails loudly if not positive definite
    alpha = cho_solve((L, True), y)                                  # (K + noise I)^-1 y
    mean = K_test_train @ alpha
    mean = mean[:, 0] if squeeze else mean
    if K_test is None:
        return mean
    v = solve_triangular(L, K_test_train.T, lower=True)              # L^-1 K_X*, (n, m)
    return mean, K_test - v.T @ v


def gd_operator(ntk_train: np.ndarray, n_outputs: int = 1, t: float | None = None, lr: float = 1.0,
                diag_reg: float = 0.0) -> np.ndarray:
    """T_t = Theta^-1 (I - exp(-c Theta t)), with c = 2 lr / (n k): what ``t`` steps of GD did.

    The loss is the mean squared error over all n * k training targets (no factor 1/2), as PyTorch's
    ``mse_loss``; its gradient flow on the linearised network is df/dt = -c Theta (f - y). (Neural
    Tangents' ``gradient_descent_mse`` halves the loss, so its learning rate is twice ours.)
    ``t=None`` is t -> infinity, where T = Theta^-1. Computed from Theta = V diag(lambda) V^T:
    T = V diag((1 - exp(-c lambda t)) / lambda) V^T; ``diag_reg`` is added to Theta's diagonal.
    """
    n = len(ntk_train)
    lam, V = np.linalg.eigh(ntk_train + diag_reg * np.eye(n))
    if t is None:
        if lam.min() <= 0:
            raise np.linalg.LinAlgError(f"the NTK is singular (smallest eigenvalue {lam.min():.3g}), so t -> infinity "
                                        "has no unique answer: add diag_reg")
        factor = 1.0 / lam
    else:
        ct = 2.0 * lr / (n * n_outputs) * t
        safe = np.where(lam == 0, 1.0, lam)
        factor = np.where(lam == 0, ct, -np.expm1(-ct * lam) / safe)   # (1 - e^{-c t lambda}) / lambda -> c t at 0
    return (V * factor) @ V.T


def ntk_predict(ntk_train: np.ndarray, ntk_test_train: np.ndarray, y_train: np.ndarray, t: float | None = None,
                lr: float = 1.0, diag_reg: float = 0.0, f0_train: np.ndarray | None = None,
                f0_test: np.ndarray | None = None) -> np.ndarray:
    """Prediction of a wide network after ``t`` steps of gradient descent on the MSE (Lee et al. 2019).

    f_t(x) = f_0(x) + Theta(x, X) T_t (y - f_0(X)), with T_t from ``gd_operator`` (``t=None``: the
    end of training, t -> infinity). ``f0_train``/``f0_test`` are the network's outputs at
    initialisation; the default 0 is their mean over initialisations, which gives the mean of the
    infinite ensemble of trained networks. Shapes follow ``y_train``, (n,) or (n, k).
    """
    y, squeeze = _as_2d(y_train)
    f0_tr = np.zeros_like(y) if f0_train is None else _as_2d(f0_train)[0]
    f0_te = np.zeros((len(ntk_test_train), y.shape[1])) if f0_test is None else _as_2d(f0_test)[0]
    T = gd_operator(ntk_train, y.shape[1], t, lr, diag_reg)
    f = f0_te + ntk_test_train @ (T @ (y - f0_tr))
    return f[:, 0] if squeeze else f


def ntk_ensemble(k_train: Kernel, k_test_train: Kernel, nngp_test: np.ndarray, y_train: np.ndarray,
                 t: float | None = None, lr: float = 1.0, diag_reg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance over initialisations of infinitely wide networks trained by GD (Lee et al. 2019, Eq. 16).

    A trained network is f_t(x) = f_0(x) - Theta(x, X) T_t (f_0(X) - y), linear in f_0, and f_0 is a
    GP with the NNGP K. So f_t is Gaussian with
    mean Theta_*X T y and covariance K_** - Theta_*X T K_X* - K_*X T Theta_X* + Theta_*X T K_XX T Theta_X*.
    ``k_train``: kernels between the training rows; ``k_test_train``: test rows vs training rows;
    ``nngp_test``: the NNGP between the test rows (m, m).
    """
    y, squeeze = _as_2d(y_train)
    T = gd_operator(k_train.ntk, y.shape[1], t, lr, diag_reg)
    A = k_test_train.ntk @ T                                      # Theta_*X T, (m, n)
    mean = A @ y
    cross = A @ k_test_train.nngp.T                               # Theta_*X T K_X*
    cov = nngp_test - cross - cross.T + A @ k_train.nngp @ A.T
    return (mean[:, 0] if squeeze else mean), cov


# --- finite networks and Monte Carlo ---------------------------------------------------------


def _leaves(tree: Any) -> list[torch.Tensor]:
    """The tensors of a nested list of parameters, in order."""
    return [tree] if isinstance(tree, torch.Tensor) else [t for sub in tree for t in _leaves(sub)]


def _rebuild(tree: Any, leaves: Any) -> Any:
    """``tree`` with its tensors replaced, in order, by the items of the iterator ``leaves``."""
    return next(leaves) if isinstance(tree, torch.Tensor) else [_rebuild(sub, leaves) for sub in tree]


def _generator(seed: int | torch.Generator) -> torch.Generator:
    return seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))


def _tensor(X: Any, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(np.atleast_2d(np.asarray(X)), dtype=dtype)


class Network(nn.Module):
    """A finite network of ``net`` as an ``nn.Module``, so that ``minilib.train.fit`` can train it.

    The weights are drawn by ``net.init_fn`` (N(0, 1), NTK parameterisation) from ``seed``;
    ``forward`` is ``net.apply_fn``. ``params()`` returns them in ``apply_fn``'s nested layout.
    """

    def __init__(self, net: Layer, in_features: int, seed: int | torch.Generator = 0,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        self.net = net
        _, params = net.init_fn(in_features, _generator(seed), dtype)
        self._layout = params
        self.weights = nn.ParameterList([nn.Parameter(p) for p in _leaves(params)])

    def params(self) -> list:
        return _rebuild(self._layout, iter(self.weights))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.apply_fn(self.params(), x.to(self.weights[0].dtype))


def empirical_ntk(net: Layer, params: list, X1: np.ndarray, X2: np.ndarray | None = None) -> np.ndarray:
    """The NTK of one finite network, Theta = J(X1) J(X2)^T, averaged over the output units.

    J(X) holds the derivatives of every output at every row of X with respect to every parameter
    (``torch.func.jacrev``; memory n * k * n_params numbers).
    """
    dtype = _leaves(params)[0].dtype

    def jacobian(X: np.ndarray) -> list[torch.Tensor]:
        x = _tensor(X, dtype)
        jac = torch.func.jacrev(lambda p: net.apply_fn(p, x))(params)   # leaves of shape (n, k, *param.shape)
        return [j.reshape(j.shape[0], j.shape[1], -1) for j in _leaves(jac)]

    J1 = jacobian(X1)
    J2 = J1 if X2 is None else jacobian(X2)
    k = J1[0].shape[1]
    ntk = sum(torch.einsum("iap,jap->ij", a, b) for a, b in zip(J1, J2)) / k   # sum over parameters, mean over outputs
    return ntk.detach().numpy().astype(np.float64)


def empirical_nngp(net: Layer, params: list, X1: np.ndarray, X2: np.ndarray | None = None) -> np.ndarray:
    """The NNGP of one finite network: the covariance of its outputs over a re-drawn last layer.

    Given the hidden layers, the output of a ``Dense`` readout with N(0, 1) weights is exactly a
    Gaussian process whose kernel is Eq. (2) applied to the kernel of the last hidden features h:
    sigma_w^2 h(x) . h(x') / width + sigma_b^2. As the width grows this tends to the NNGP (law of
    large numbers, fluctuations ~ 1 / sqrt(width)). ``net`` must end with a ``Dense``.
    """
    *body, head = net.layers or (net,)
    if not head.name.startswith("Dense") or not body:
        raise ValueError(f"empirical_nngp needs a serial network that ends with a Dense layer, got {net.name!r}")
    dtype = _leaves(params)[0].dtype

    def features(X: np.ndarray) -> np.ndarray:
        h = _tensor(X, dtype)
        with torch.no_grad():
            for layer, p in zip(body, params[:-1], strict=True):
                h = layer.apply_fn(p, h)
        return h.numpy().astype(np.float64)

    H1 = features(X1)
    H2 = H1 if X2 is None else features(X2)
    return head.kernel_fn(input_kernel(H1, H2)).nngp


def monte_carlo_nngp(net: Layer, X1: np.ndarray, X2: np.ndarray | None = None, n_samples: int = 100,
                     seed: int | torch.Generator = 0, dtype: torch.dtype = torch.float64) -> np.ndarray:
    """The covariance of the outputs of ``n_samples`` random finite networks, E[f(x1) f(x2)].

    The outputs have mean 0, so the covariance is the mean of f(X1) f(X2)^T over the networks and
    over the output units (each output unit is one more sample; they share the hidden layers).
    """
    gen = _generator(seed)
    x1 = _tensor(X1, dtype)
    x2 = x1 if X2 is None else _tensor(X2, dtype)
    total = torch.zeros(len(x1), len(x2), dtype=dtype)
    with torch.no_grad():
        for _ in range(n_samples):
            _, params = net.init_fn(x1.shape[1], gen, dtype)
            f1 = net.apply_fn(params, x1)                     # (n1, k)
            f2 = f1 if X2 is None else net.apply_fn(params, x2)
            total += f1 @ f2.T / f1.shape[1]
    return (total / n_samples).numpy()


def monte_carlo_ntk(net: Layer, X1: np.ndarray, X2: np.ndarray | None = None, n_samples: int = 10,
                    seed: int | torch.Generator = 0, dtype: torch.dtype = torch.float64) -> np.ndarray:
    """The empirical NTK J J^T averaged over ``n_samples`` random finite networks."""
    gen = _generator(seed)
    in_features = np.atleast_2d(np.asarray(X1)).shape[1]
    total = 0.0
    for _ in range(n_samples):
        _, params = net.init_fn(in_features, gen, dtype)
        total = total + empirical_ntk(net, params, X1, X2)
    return total / n_samples


@dataclass
class TrainedEnsemble:
    """What ``train_ensemble`` records. Outputs have shape (n_checkpoints, n_members, n, k);
    ``steps[0] = 0`` is the initialisation. Parameters follow ``net``'s layout, every tensor with a
    leading axis of length ``n_members`` (``member(params, i)`` takes one network out)."""

    steps: list[int]
    train_outputs: np.ndarray
    test_outputs: np.ndarray
    train_loss: np.ndarray          # (n_steps,): the MSE before each step, mean over the members
    initial_params: list
    final_params: list

    @staticmethod
    def member(params: list, i: int) -> list:
        return _rebuild(params, (t[i].detach() for t in _leaves(params)))


def train_ensemble(net: Layer, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, n_members: int,
                   steps: int, lr: float, record: list[int] | None = None, seed: int | torch.Generator = 0,
                   dtype: torch.dtype = torch.float64) -> TrainedEnsemble:
    """Train ``n_members`` independent networks by full-batch gradient descent on the MSE, all at once.

    Plain GD (no momentum, no mini-batches) is the setting of the NTK theory: ``t`` steps here
    correspond to ``ntk_predict(..., t=t, lr=lr)``. The members differ only in their random
    initialisation (NTK parameterisation, from ``seed``). Their parameters are stacked along a
    first axis and ``apply_fn`` broadcasts over it, so they run as one batched network. The loss
    is the *sum* of the members' MSEs, so that each member gets exactly the gradient of its own
    MSE. Outputs at the steps in ``record`` (default: the last step) and at step 0 are kept.
    """
    gen = _generator(seed)
    x, x_test = _tensor(X_train, dtype), _tensor(X_test, dtype)
    y = torch.as_tensor(np.asarray(y_train), dtype=dtype).reshape(len(x), -1)        # (n, k)
    members = [net.init_fn(x.shape[1], gen, dtype)[1] for _ in range(n_members)]
    layout = members[0]
    stacked = [torch.stack(leaves) for leaves in zip(*(_leaves(m) for m in members))]  # (M, *param.shape)
    initial = _rebuild(layout, (t.clone() for t in stacked))
    for t in stacked:
        t.requires_grad_(True)
    params = _rebuild(layout, iter(stacked))
    all_nets = lambda inp: net.apply_fn(params, inp)     # apply_fn broadcasts over the members: (M, n, k)
    optimizer = torch.optim.SGD(stacked, lr=lr)
    record = sorted({0} | {s for s in (record or [steps]) if 0 <= s <= steps})
    outputs: dict[str, list] = {"train": [], "test": []}
    losses = []

    def snapshot() -> None:
        with torch.no_grad():
            outputs["train"].append(all_nets(x).numpy().copy())
            outputs["test"].append(all_nets(x_test).numpy().copy())

    snapshot()                                                                      # step 0: the initialisation
    for step in range(1, steps + 1):
        mse = ((all_nets(x) - y) ** 2).mean(dim=(1, 2))                    # (M,): each member's MSE
        optimizer.zero_grad()
        mse.sum().backward()
        optimizer.step()
        losses.append(mse.mean().item())
        if step in record:
            snapshot()
    final = _rebuild(layout, (t.detach() for t in stacked))
    return TrainedEnsemble(record, np.stack(outputs["train"]),
                           np.stack(outputs["test"]), np.array(losses), initial, final)


def relative_error(estimate: np.ndarray, exact: np.ndarray) -> float:
    """||estimate - exact||_F / ||exact||_F, the error measure of Neural Tangents' Monte-Carlo tests."""
    return float(np.linalg.norm(estimate - exact) / np.linalg.norm(exact))
