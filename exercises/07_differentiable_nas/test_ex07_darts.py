"""Graded tests for ex07_darts.py (mixed operation, genotype, Hessian-vector product, unrolled step,
second-order gradient, DARTS+'s rule, expected latency, and the whole bilevel loop)."""

import ex07_darts as ex
import excheck as check
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minilib.nas.darts import Architect
from minilib.nas.darts import derive as reference_derive
from minilib.nas.darts import hessian_vector_product as reference_hvp

FORBIDDEN_IMPORTS = ["minilib.nas.darts", "minilib.nas.proxyless"]


def tensor(value, shape, what="the result"):
    """``value`` as a fresh float64 numpy array; it must be a torch.Tensor (or Parameter) of ``shape``."""
    if type(value) not in (torch.Tensor, nn.Parameter):
        raise AssertionError(f"{what} should be a torch.Tensor, got {type(value).__name__}")
    if tuple(torch.Tensor.size(value)) != tuple(shape):
        raise AssertionError(f"{what} should have shape {tuple(shape)}, got {tuple(torch.Tensor.size(value))}")
    return torch.Tensor.numpy(torch.Tensor.detach(value).to(torch.float64).cpu()).copy()


def tensor_dict(value, shapes, what="the weights"):
    d = check.mapping(value, what)
    if sorted(d) != sorted(shapes):
        raise AssertionError(f"{what} should have the keys {sorted(shapes)}, got {sorted(d)}")
    return {name: tensor(d[name], shapes[name], f"{what}[{name!r}]") for name in shapes}


# --- a two-operation toy: softmax(alpha)_0 * A x + softmax(alpha)_1 * tanh(B x), float64 -----------

class ToyNet(nn.Module):
    def __init__(self, weights, alpha):
        super().__init__()
        self.a, self.b = nn.Linear(3, 4).double(), nn.Linear(3, 4).double()
        self.alpha = nn.Parameter(alpha.detach().clone())
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name != "alpha":
                    p.copy_(weights[name])

    def forward(self, x):
        p = torch.softmax(self.alpha, dim=0)
        return p[0] * self.a(x) + p[1] * torch.tanh(self.b(x))


def toy_loss(weights, alpha, x, y):
    p = torch.softmax(alpha, dim=0)
    out = p[0] * (x @ weights["a.weight"].T + weights["a.bias"]) \
        + p[1] * torch.tanh(x @ weights["b.weight"].T + weights["b.bias"])
    return F.cross_entropy(out, y)


SHAPES = {"a.weight": (4, 3), "a.bias": (4,), "b.weight": (4, 3), "b.bias": (4,)}


def toy(seed, n=16):
    g = torch.Generator().manual_seed(seed)
    weights = {name: torch.randn(shape, generator=g, dtype=torch.float64) for name, shape in SHAPES.items()}
    alpha = (0.5 * torch.randn(2, generator=g, dtype=torch.float64)).requires_grad_(True)
    batch = lambda: (torch.randn(n, 3, generator=g, dtype=torch.float64), torch.randint(0, 4, (n,), generator=g))
    (xt, yt), (xv, yv) = batch(), batch()
    return weights, alpha, (xt, yt, xv, yv), g


def exact_hvp(loss_fn, weights, alpha, vector):
    w = {n: t.clone().requires_grad_(True) for n, t in weights.items()}
    grads = torch.autograd.grad(loss_fn(w, alpha), list(w.values()), create_graph=True)
    return torch.autograd.grad(sum((gi * vector[n]).sum() for gi, n in zip(grads, w)), alpha)[0]


def exact_second_order(weights, alpha, batch, eta, momentum=0.0, weight_decay=0.0, buffers=None):
    """Autograd through the unrolled step: no finite difference at all."""
    xt, yt, xv, yv = batch
    w = {n: t.clone().requires_grad_(True) for n, t in weights.items()}
    grads = torch.autograd.grad(toy_loss(w, alpha, xt, yt), list(w.values()), create_graph=True)
    unrolled = {n: weights[n] - eta * (momentum * (buffers or {}).get(n, torch.zeros_like(weights[n])) + g
                                       + weight_decay * weights[n]) for n, g in zip(w, grads)}
    return torch.autograd.grad(toy_loss(unrolled, alpha, xv, yv), alpha)[0]


# --- task 1: the mixed operation --------------------------------------------------------------------

@pytest.mark.points(2)
def test_mixed_op_weights_by_softmax():
    outputs = [torch.full((2, 3), 1.0), torch.full((2, 3), 2.0), torch.full((2, 3), 4.0)]
    alpha = torch.tensor([0.0, np.log(2.0), np.log(5.0)], requires_grad=True)      # softmax = 1/8, 2/8, 5/8
    out = ex.mixed_op(outputs, alpha)
    check.close(tensor(out, (2, 3)), np.full((2, 3), (1 + 4 + 20) / 8), rtol=1e-6, what="mixed_op")
    grad = torch.autograd.grad(out.sum(), alpha)[0]                                  # differentiable in alpha
    p = np.array([1, 2, 5]) / 8
    check.close(tensor(grad, (3,)), 6 * p * (np.array([1.0, 2.0, 4.0]) - p @ [1.0, 2.0, 4.0]), rtol=1e-5, what="grad")
    stacked = ex.mixed_op(torch.stack(outputs), alpha)                               # one stacked tensor too
    check.close(tensor(stacked, (2, 3)), np.full((2, 3), 25 / 8), rtol=1e-6, what="mixed_op of a stacked tensor")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_mixed_op_random():
    g = torch.Generator().manual_seed(5)
    outputs = torch.randn(5, 4, 2, 7, generator=g, dtype=torch.float64)
    alpha = torch.randn(5, generator=g, dtype=torch.float64)
    expected = torch.einsum("o,oabc->abc", torch.softmax(alpha, 0), outputs)
    check.close(tensor(ex.mixed_op(list(outputs), alpha), (4, 2, 7)), expected.numpy(), rtol=1e-10, atol=1e-12)


# --- task 2: the genotype ------------------------------------------------------------------------------

@pytest.mark.points(2)
def test_derive_skips_none():
    alpha = np.zeros((6, 5))
    alpha[:, 0] = 10.0                                               # none is the largest everywhere
    best = ["skip", "conv1", "conv3", "avgpool", "conv3", "skip"]
    for e, op in enumerate(best):
        alpha[e, ex.OPS.index(op)] = 1.0 + e
    cell = check.mapping(ex.derive_genotype(torch.tensor(alpha)), "the genotype")
    check.equal(list(cell), ["0->1", "0->2", "1->2", "0->3", "1->3", "2->3"], what="the edge names, in order")
    check.equal([str(v) for v in cell.values()], best, what="the operations")
    plain = check.mapping(ex.derive_genotype(alpha, keep_none=True), "keep_none=True")
    check.equal([str(v) for v in plain.values()], ["none"] * 6, what="the plain argmax")
    with pytest.raises(ValueError):
        ex.derive_genotype(np.zeros((6, 4)))


@pytest.mark.points(1)
@pytest.mark.hidden
def test_derive_matches_minilib():
    rng = np.random.default_rng(11)
    for _ in range(20):
        alpha = rng.normal(size=(6, 5))
        for keep_none in (False, True):
            cell = check.mapping(ex.derive_genotype(alpha, keep_none=keep_none))
            check.equal({k: str(v) for k, v in cell.items()}, reference_derive(alpha, keep_none=keep_none))
    alpha = np.zeros((6, 3))                                          # other operations, ties to the first
    alpha[:, 2] = 1.0
    cell = check.mapping(ex.derive_genotype(alpha, ops=("none", "skip", "conv3")))
    check.equal([str(v) for v in cell.values()], ["conv3"] * 6)
    cell = check.mapping(ex.derive_genotype(np.zeros((6, 3)), ops=("none", "skip", "conv3")))
    check.equal([str(v) for v in cell.values()], ["skip"] * 6, what="ties go to the first operation other than none")


# --- task 3: the finite-difference Hessian-vector product ------------------------------------------------

@pytest.mark.points(3)
def test_hvp_matches_autograd():
    # central differences with eps ||v|| = 0.01 have a relative error ~1e-4 here (float64): tolerance 1e-3
    weights, alpha, (xt, yt, _, _), g = toy(0)
    vector = {n: torch.randn(w.shape, generator=g, dtype=torch.float64) for n, w in weights.items()}
    loss = lambda w, a: toy_loss(w, a, xt, yt)
    exact = exact_hvp(loss, weights, alpha, vector).numpy()
    got = tensor(ex.hessian_vector_product(loss, weights, alpha, vector), (2,), "the product")
    assert np.abs(exact).min() > 1e-3
    check.close(got, exact, rtol=1e-3, atol=1e-6, what="hessian_vector_product")
    # linear in v: a v 1000 times longer must give a 1000 times larger product (eps is scaled by ||v||)
    long = ex.hessian_vector_product(loss, weights, alpha, {n: 1000 * v for n, v in vector.items()})
    check.close(tensor(long, (2,)), 1000 * exact, rtol=1e-3, atol=1e-3, what="the product for 1000 v")


@pytest.mark.points(2)
@pytest.mark.hidden
def test_hvp_matches_minilib_and_r():
    weights, alpha, (xt, yt, _, _), g = toy(3)
    vector = {n: 0.01 * torch.randn(w.shape, generator=g, dtype=torch.float64) for n, w in weights.items()}
    loss = lambda w, a: toy_loss(w, a, xt, yt)
    for r in (1e-2, 0.5):                                             # r is used: a large step differs
        ref = reference_hvp(loss, weights, alpha, vector, r=r).numpy()
        got = tensor(ex.hessian_vector_product(loss, weights, alpha, vector, r=r), (2,))
        check.close(got, ref, rtol=1e-7, atol=1e-12, what=f"hessian_vector_product, r = {r}")
    for w0, w1 in zip(weights.values(), toy(3)[0].values()):
        assert torch.equal(w0, w1), "the weights passed in must not be modified"


# --- task 4: the unrolled step ---------------------------------------------------------------------------

@pytest.mark.points(2)
def test_unrolled_is_the_next_sgd_step():
    # the oracle is torch.optim.SGD itself, after one step so that it holds momentum buffers
    weights, alpha, (xt, yt, _, _), _ = toy(1)
    model = ToyNet(weights, alpha)
    opt = torch.optim.SGD([p for n, p in model.named_parameters() if n != "alpha"], lr=0.3, momentum=0.9,
                          weight_decay=0.1)
    for _ in range(2):
        before = {n: p.detach().clone() for n, p in model.named_parameters() if n != "alpha"}
        buffers = {n: opt.state[p]["momentum_buffer"].clone() for n, p in model.named_parameters()
                   if n != "alpha" and p in opt.state}
        opt.zero_grad()
        F.cross_entropy(model(xt), yt).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if n != "alpha"}
        unrolled = ex.unrolled_weights(before, grads, 0.3, momentum=0.9, weight_decay=0.1, buffers=buffers or None)
        opt.step()
        got = tensor_dict(unrolled, SHAPES)
        for n, p in model.named_parameters():
            if n != "alpha":
                check.close(got[n], p.detach().numpy(), rtol=1e-12, atol=1e-12, what=f"w'[{n!r}]")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_unrolled_by_formula():
    g = torch.Generator().manual_seed(9)
    w = {"x": torch.randn(3, 2, generator=g, dtype=torch.float64),
         "y": torch.randn(5, generator=g, dtype=torch.float64)}
    grads = {n: torch.randn(t.shape, generator=g, dtype=torch.float64) for n, t in w.items()}
    buffers = {"x": torch.randn(3, 2, generator=g, dtype=torch.float64)}          # no buffer for "y" yet
    got = tensor_dict(ex.unrolled_weights(w, grads, 0.05, momentum=0.5, weight_decay=0.01, buffers=buffers),
                      {"x": (3, 2), "y": (5,)})
    check.close(got["x"], (w["x"] - 0.05 * (0.5 * buffers["x"] + grads["x"] + 0.01 * w["x"])).numpy(), rtol=1e-12)
    check.close(got["y"], (w["y"] - 0.05 * (grads["y"] + 0.01 * w["y"])).numpy(), rtol=1e-12)


# --- task 5: the second-order gradient ---------------------------------------------------------------------

@pytest.mark.points(3)
def test_second_order_matches_autograd_through_the_unrolled_step():
    # the only approximation is the finite difference: relative error ~1e-4, tolerance 1e-3
    weights, alpha, batch, _ = toy(2)
    xt, yt, xv, yv = batch
    eta = 0.3
    got = ex.second_order_gradient(lambda w, a: toy_loss(w, a, xt, yt), lambda w, a: toy_loss(w, a, xv, yv),
                                   weights, alpha, eta)
    exact = exact_second_order(weights, alpha, batch, eta).numpy()
    check.close(tensor(got, (2,), "the gradient"), exact, rtol=1e-3, atol=1e-6, what="second_order_gradient")
    first = torch.autograd.grad(toy_loss(weights, alpha, xv, yv), alpha)[0].numpy()
    assert np.abs(first - exact).max() > 1e-2 * np.abs(exact).max()      # the second-order term matters here


@pytest.mark.points(2)
@pytest.mark.hidden
def test_second_order_with_momentum_matches_minilib():
    weights, alpha, batch, _ = toy(4)
    xt, yt, xv, yv = batch
    model = ToyNet(weights, alpha)
    opt = torch.optim.SGD([p for n, p in model.named_parameters() if n != "alpha"], lr=0.2, momentum=0.9,
                          weight_decay=0.05)
    opt.zero_grad()
    F.cross_entropy(model(xt), yt).backward()
    opt.step()                                                        # now there are momentum buffers
    w = {n: p.detach().clone() for n, p in model.named_parameters() if n != "alpha"}
    buffers = {n: opt.state[p]["momentum_buffer"].clone() for n, p in model.named_parameters() if n != "alpha"}
    ref = Architect(model, opt, order=2).gradient(xt, yt, xv, yv, eta=0.2).detach().numpy()
    got = ex.second_order_gradient(lambda ww, a: toy_loss(ww, a, xt, yt), lambda ww, a: toy_loss(ww, a, xv, yv),
                                   w, model.alpha, 0.2, momentum=0.9, weight_decay=0.05, buffers=buffers)
    check.close(tensor(got, (2,)), ref, rtol=1e-6, atol=1e-10, what="second_order_gradient with momentum")
    exact = exact_second_order(w, model.alpha, batch, 0.2, 0.9, 0.05, buffers).numpy()
    check.close(tensor(got, (2,)), exact, rtol=1e-3, atol=1e-6, what="against autograd")


# --- task 6: DARTS+'s rule ----------------------------------------------------------------------------------

@pytest.mark.points(1)
def test_darts_plus_epoch():
    assert check.integer(ex.darts_plus_epoch([1, 3, 0, 2, 2], 2)) == 2
    assert check.integer(ex.darts_plus_epoch([1, 3, 0, 2, 2], 2, check_from=3)) == 4
    assert ex.darts_plus_epoch([1, 3, 0, 1], 2, check_from=3) is None


@pytest.mark.points(1)
@pytest.mark.hidden
def test_darts_plus_epoch_more():
    assert check.integer(ex.darts_plus_epoch([0, 0, 3], 3, check_from=3)) == 3        # >=, and check_from itself
    assert ex.darts_plus_epoch([], 0) is None
    assert check.integer(ex.darts_plus_epoch([0, 1, 2, 3, 4, 5, 6], 6, check_from=1)) == 7


# --- task 7: the expected latency ---------------------------------------------------------------------------

@pytest.mark.points(1)
def test_expected_latency():
    alpha = torch.zeros(6, 5, dtype=torch.float64, requires_grad=True)
    lat = [0.0, 0.0, 1.0, 2.0, 0.5]
    value = ex.expected_latency(alpha, lat)
    check.approx(check.number(tensor(value, ()).item()), 6 * 3.5 / 5, rel=1e-12, what="E[latency] at uniform p")
    grad = tensor(torch.autograd.grad(value, alpha)[0], (6, 5), "its gradient")
    check.close(grad, np.tile(0.2 * (np.array(lat) - 0.7), (6, 1)), rtol=1e-10, atol=1e-12, what="the gradient")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_expected_latency_random():
    g = torch.Generator().manual_seed(2)
    alpha = torch.randn(4, 3, generator=g, dtype=torch.float64)
    lat = torch.tensor([0.3, 1.0, 0.1], dtype=torch.float64)
    expected = float((torch.softmax(alpha, -1) * lat).sum())
    check.approx(check.number(tensor(ex.expected_latency(alpha, lat), ()).item()), expected, rel=1e-12)


# --- task 8: the whole bilevel loop (end to end) ----------------------------------------------------------------

def replay(weights, alpha, batches, eta, alpha_lr, order):
    """minilib's Architect and torch's SGD, step by step as the docstring of bilevel_search says."""
    model = ToyNet(weights, alpha)
    opt = torch.optim.SGD([p for n, p in model.named_parameters() if n != "alpha"], lr=eta)
    architect = Architect(model, opt, order=order, lr=alpha_lr)
    for xt, yt, xv, yv in batches:
        architect.step(xt, yt, xv, yv, eta)
        opt.zero_grad()
        F.cross_entropy(model(xt), yt).backward()
        opt.step()
    return {n: p.detach().numpy() for n, p in model.named_parameters() if n != "alpha"}, model.alpha.detach().numpy()


def batches_of(g, k, n=12):
    return [(torch.randn(n, 3, generator=g, dtype=torch.float64), torch.randint(0, 4, (n,), generator=g),
             torch.randn(n, 3, generator=g, dtype=torch.float64), torch.randint(0, 4, (n,), generator=g))
            for _ in range(k)]


@pytest.mark.points(2)
def test_bilevel_search_first_and_second_order():
    weights, alpha, _, g = toy(6)
    batches = batches_of(g, 4)
    kept = {n: t.clone() for n, t in weights.items()}, alpha.detach().clone()
    for order in (1, 2):
        w, a = check.sequence(ex.bilevel_search(toy_loss, weights, alpha, batches, 0.1, 0.05, order=order), 2)
        ref_w, ref_a = replay(weights, alpha, batches, 0.1, 0.05, order)
        check.close(tensor(a, (2,), "alpha"), ref_a, rtol=1e-6, atol=1e-9, what=f"alpha, order {order}")
        got = tensor_dict(w, SHAPES)
        for n in SHAPES:
            check.close(got[n], ref_w[n], rtol=1e-6, atol=1e-9, what=f"weights[{n!r}], order {order}")
    assert all(torch.equal(weights[n], kept[0][n]) for n in SHAPES) and torch.equal(alpha.detach(), kept[1]), \
        "bilevel_search must not modify the caller's tensors"


@pytest.mark.points(3)
@pytest.mark.hidden
def test_bilevel_search_hidden_problems():
    for seed in (7, 8):
        weights, alpha, _, g = toy(seed)
        batches = batches_of(g, 6, n=10)
        for order, eta, alpha_lr in ((2, 0.2, 0.1), (1, 0.05, 0.3)):
            w, a = check.sequence(ex.bilevel_search(toy_loss, weights, alpha, batches, eta, alpha_lr, order=order), 2)
            ref_w, ref_a = replay(weights, alpha, batches, eta, alpha_lr, order)
            check.close(tensor(a, (2,)), ref_a, rtol=1e-6, atol=1e-9, what=f"alpha (seed {seed}, order {order})")
            got = tensor_dict(w, SHAPES)
            for n in SHAPES:
                check.close(got[n], ref_w[n], rtol=1e-6, atol=1e-9, what=f"weights (seed {seed}, order {order})")
