"""minilib.nas.darts: the mixed operation against the discrete cell network, the genotype rule,
the second-order architecture gradient and its finite-difference Hessian-vector product against
exact autograd, the unrolled step against PyTorch's SGD, and the search loop's remedy."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minilib.benchmarks.nas import load_tabular_nas, rows_of, save_table
from minilib.data import Dataset
from minilib.nas import darts as D
from minilib.nas import space as S


@pytest.fixture(autouse=True)
def one_thread():
    """These networks are tiny: on a shared machine two threads per process are up to 50x slower
    than one (oversubscription), so the tests run on one and restore the setting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- the supernet ------------------------------------------------------------------------------

def test_mixed_op_with_one_hot_weights_is_the_single_op():
    # catches: weights applied to the wrong operation (an order other than OPS), a missing operation
    torch.manual_seed(0)
    mixed = D.MixedOp(4)
    x = torch.randn(3, 4, 10)
    assert list(mixed.ops) == list(S.OPS)
    for k, name in enumerate(S.OPS):
        out = mixed(x, F.one_hot(torch.tensor(k), len(S.OPS)).float())
        expected = torch.zeros_like(x) if name == "none" else mixed.ops[name](x)
        assert out.shape == x.shape
        torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("cell", [S.from_string("|conv3~0|+|skip~0|conv3~1|+|none~0|avgpool~1|conv1~2|"),
                                  *S.sample(3, seed=1)])
def test_supernet_with_one_hot_weights_is_the_cell_network(cell):
    # the oracle is minilib.nas.space.CellNetwork, written independently, with the supernet's weights.
    # catches: rows of the weights matched to the wrong edges, a node summing the wrong inputs,
    # softmax applied to weights the caller passed, a skeleton different from the benchmark's
    supernet = D.SearchNetwork(channels=4, stem_stride=2, seed=0)
    net = S.CellNetwork(cell, channels=4, stem_stride=2)
    state = {}
    for name, value in supernet.state_dict().items():
        if name == "alpha":
            continue
        parts = name.split(".")
        if "ops" in parts:                         # cells.k.edges.i_j.ops.conv3.1.weight -> cells.k.edges.i_j.1.weight
            at = parts.index("ops")
            op, edge = parts[at + 1], parts[at - 1].replace("_", "->")
            if op != cell[edge] or op in ("skip", "avgpool", "none"):
                continue
            parts = parts[:at] + parts[at + 2:]
        state[".".join(parts)] = value
    net.load_state_dict(state)                     # strict: every weight of the cell network is set
    one_hot = torch.stack([F.one_hot(torch.tensor(S.OPS.index(cell[S.edge_name(i, j)])), len(S.OPS)).float()
                           for i, j in S.EDGES])
    x = torch.randn(8, 40, generator=torch.Generator().manual_seed(2))
    for train in (True, False):
        supernet.train(train), net.train(train)
        torch.testing.assert_close(supernet(x, one_hot), net(x))


def test_alpha_is_small_noise_from_the_seed_and_apart_from_the_weights():
    # catches: alpha initialised to zeros or to N(0, 1), a seed that does not fix it, the global RNG
    # reseeded, alpha counted among the weights (SGD and weight decay would then move it)
    state = torch.random.get_rng_state()
    a, b, c = (D.SearchNetwork(seed=s) for s in (0, 0, 1))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert a.alpha.shape == (6, len(S.OPS)) and a.alpha.requires_grad
    torch.testing.assert_close(a.alpha, b.alpha)
    assert not torch.equal(a.alpha, c.alpha)
    big = torch.cat([D.SearchNetwork(seed=s).alpha.detach().flatten() for s in range(20)])
    assert 0.7e-3 < float(big.std()) < 1.3e-3 and abs(float(big.mean())) < 3e-4      # 600 draws of 1e-3 N(0, 1)
    assert all(p is not a.alpha for p in a.weight_parameters())
    assert len(a.weight_parameters()) == len(list(a.parameters())) - 1


def test_derive_takes_the_argmax_other_than_none():
    # catches: a plain argmax (it would return none on the edges where none is largest)
    alpha = np.zeros((6, 5))
    alpha[:, 0] = 10.0                                              # none is largest on every edge
    best = ["skip", "conv1", "conv3", "avgpool", "conv3", "skip"]
    for e, op in enumerate(best):
        alpha[e, S.OPS.index(op)] = 1.0 + e
    config = D.derive(torch.tensor(alpha))
    assert config == {S.edge_name(i, j): op for (i, j), op in zip(S.EDGES, best)}
    assert D.parameter_free_count(config) == 3                      # skip, avgpool, skip
    assert D.derive(alpha, keep_none=True) == {e: "none" for e in S.SPACE.names}   # AutoDL's plain argmax
    with pytest.raises(ValueError):
        D.derive(np.zeros((6, 4)))


# --- the bilevel step, on a two-operation toy ----------------------------------------------------

class Toy(nn.Module):
    """A two-operation mixed layer: softmax(alpha)_0 * A x + softmax(alpha)_1 * tanh(B x), in float64."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.alpha = nn.Parameter(0.5 * torch.randn(2, generator=g, dtype=torch.float64))
        self.a = nn.Linear(3, 4).double()
        self.b = nn.Linear(3, 4).double()
        with torch.no_grad():
            for p in [*self.a.parameters(), *self.b.parameters()]:
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))

    def forward(self, x):
        w = torch.softmax(self.alpha, dim=0)
        return w[0] * self.a(x) + w[1] * torch.tanh(self.b(x))


def toy_setup(momentum=0.9, weight_decay=0.1):
    g = torch.Generator().manual_seed(1)
    xt, xv = torch.randn(16, 3, generator=g, dtype=torch.float64), torch.randn(16, 3, generator=g, dtype=torch.float64)
    yt, yv = torch.randint(0, 4, (16,), generator=g), torch.randint(0, 4, (16,), generator=g)
    model = Toy()
    opt = torch.optim.SGD([p for n, p in model.named_parameters() if n != "alpha"], lr=0.3, momentum=momentum,
                          weight_decay=weight_decay)
    # one step first, so the optimizer holds a momentum buffer that the unrolled step must use
    opt.zero_grad()
    F.cross_entropy(model(xt), yt).backward()
    opt.step()
    return model, opt, (xt, yt, xv, yv)


def test_unrolled_weights_are_the_next_sgd_step():
    # the oracle is torch.optim.SGD itself. catches: momentum buffer or weight decay left out of w'
    # (quark0/darts includes both), the wrong sign, a step on the validation batch
    model, opt, (xt, yt, xv, yv) = toy_setup()
    architect = D.Architect(model, opt, order=2)
    unrolled = architect.unrolled_weights(xt, yt, eta=0.3)
    opt.zero_grad()
    F.cross_entropy(model(xt), yt).backward()
    opt.step()
    for name, p in model.named_parameters():
        if name != "alpha":
            torch.testing.assert_close(unrolled[name], p.detach(), rtol=1e-12, atol=1e-12)


def test_finite_difference_hvp_matches_autograd():
    # exact: d/d alpha of <grad_w L(w, alpha), v>, by double backward. Central differences with
    # eps ||v|| = 0.01 are O(eps^2): a relative error of ~1e-4 here; tolerance 1e-3 (float64, so
    # rounding is negligible). catches: a forward difference divided by 2 eps, eps not scaled by ||v||,
    # the derivative by w instead of alpha, the wrong sign
    model, _, (xt, yt, _, _) = toy_setup()
    weights = {n: p.detach() for n, p in model.named_parameters() if n != "alpha"}
    vector = {n: torch.randn(w.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(k))
              for k, (n, w) in enumerate(weights.items())}

    def loss_fn(w, alpha):
        return F.cross_entropy(torch.func.functional_call(model, {**w, "alpha": alpha}, (xt,)), yt)

    approx = D.hessian_vector_product(loss_fn, weights, model.alpha, vector)
    w = {n: t.clone().requires_grad_(True) for n, t in weights.items()}
    grads = torch.autograd.grad(loss_fn(w, model.alpha), list(w.values()), create_graph=True)
    dot = sum((g * vector[n]).sum() for g, n in zip(grads, w))
    exact = torch.autograd.grad(dot, model.alpha)[0]
    assert approx.shape == exact.shape == (2,)
    assert exact.abs().min() > 1e-3                                  # a non-trivial comparison
    torch.testing.assert_close(approx, exact, rtol=1e-3, atol=1e-6)
    # the product is linear in v; with eps = r / ||v|| a long v moves w just as far. catches eps = r
    # (a step of 0.01 * 1000 ||v|| would leave the quadratic region)
    long = D.hessian_vector_product(loss_fn, weights, model.alpha, {n: 1000 * v for n, v in vector.items()})
    torch.testing.assert_close(long, 1000 * exact, rtol=1e-3, atol=1e-3)


def exact_second_order_gradient(model, opt, xt, yt, xv, yv, eta):
    """Autograd through the unrolled step: d/d alpha of L_val(w - eta (mu buf + grad_w L_train + wd w), alpha)."""
    group = opt.param_groups[0]
    names = [n for n, _ in model.named_parameters() if n != "alpha"]
    params = dict(model.named_parameters())
    loss = F.cross_entropy(model(xt), yt)
    grads = torch.autograd.grad(loss, [params[n] for n in names], create_graph=True)
    unrolled = {}
    for n, g in zip(names, grads):
        w = params[n].detach()
        buf = opt.state[params[n]]["momentum_buffer"]
        unrolled[n] = w - eta * (group["momentum"] * buf + g + group["weight_decay"] * w)
    out = torch.func.functional_call(model, {**unrolled, "alpha": model.alpha}, (xv,))
    return torch.autograd.grad(F.cross_entropy(out, yv), model.alpha)[0]


def test_second_order_gradient_matches_autograd_through_the_unrolled_step():
    # the only approximation in eq. 7 is the finite difference: relative error ~1e-4, tolerance 1e-3.
    # catches: the implicit term left out or added with the wrong sign, the Hessian-vector product
    # at w' instead of w, v taken from the training loss, eta not multiplying the implicit term
    model, opt, (xt, yt, xv, yv) = toy_setup()
    eta = 0.3
    exact = exact_second_order_gradient(model, opt, xt, yt, xv, yv, eta)
    second = D.Architect(model, opt, order=2).gradient(xt, yt, xv, yv, eta)
    first = D.Architect(model, opt, order=1).gradient(xt, yt, xv, yv, eta)
    assert second.shape == exact.shape == (2,)
    torch.testing.assert_close(second, exact, rtol=1e-3, atol=1e-6)
    # the first-order gradient is grad_alpha L_val at the current weights, and it differs from the exact one
    plain = torch.autograd.grad(F.cross_entropy(model(xv), yv), model.alpha)[0]
    torch.testing.assert_close(first, plain)
    assert (first - exact).abs().max() > 1e-2 * exact.abs().max()          # 10x the tolerance above


def test_architect_step_moves_only_alpha_with_adam():
    # catches: the alpha step changing the weights, or the BatchNorm running statistics (its extra
    # forward passes run on copies of the buffers), or ignoring the gradient's direction
    net = D.SearchNetwork(channels=2, stem_stride=2, seed=0)
    opt = torch.optim.SGD(net.weight_parameters(), lr=0.1, momentum=0.9, weight_decay=3e-4)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 40, generator=g), torch.randint(0, 10, (8,), generator=g)
    before = {n: t.clone() for n, t in net.state_dict().items()}
    architect = D.Architect(net, opt, order=2)
    grad = architect.gradient(x, y, x, y, eta=0.1)
    architect.step(x, y, x, y, eta=0.1)
    for n, t in net.state_dict().items():
        if n != "alpha":
            assert torch.equal(t, before[n]), n
    step = net.alpha.detach() - before["alpha"]
    # Adam's first step is -lr * sign(grad) (up to its epsilon and weight decay on a ~1e-3 alpha)
    torch.testing.assert_close(step, -3e-4 * torch.sign(grad + 1e-3 * before["alpha"]), rtol=1e-2, atol=1e-7)


# --- the search loop ---------------------------------------------------------------------------------

def tiny_data(n=256):
    g = np.random.default_rng(0)
    X = g.normal(size=(n, 40)).astype(np.float32)
    y = g.integers(0, 10, n)
    return Dataset("tiny", X, y, X[:32], y[:32], X[:32], y[:32], n_classes=10)


def test_search_records_every_epoch_and_is_reproducible():
    # catches: alphas not recorded per epoch, rows that are not softmaxes, a seed that does not fix the run
    data = tiny_data()
    runs = [D.search(data, epochs=2, order=order, seed=0, channels=2, batch_size=64, device=torch.device("cpu"))
            for order in (1, 1, 2)]
    r = runs[0]
    assert r.alphas.shape == (3, 6, 5) and np.allclose(r.alphas.sum(axis=2), 1.0)
    assert len(r.genotypes) == len(r.parameter_free) == len(r.train_loss) == len(r.val_accuracy) == 2
    assert r.config == r.genotypes[-1] and r.stopped_at is None
    assert r.parameter_free == [D.parameter_free_count(c) for c in r.genotypes]
    assert not np.allclose(r.alphas[0], r.alphas[-1])            # alpha learnt something
    np.testing.assert_array_equal(r.alphas, runs[1].alphas)
    assert not np.array_equal(r.alphas, runs[2].alphas)           # second order takes other steps
    small = D.search(data, epochs=1, seed=0, channels=2, batch_size=16, train_size=64, device=torch.device("cpu"))
    assert small.info["steps_per_epoch"] == 2 and r.info["steps_per_epoch"] == 2   # 32 // 16 and 128 // 64


def test_darts_plus_stops_at_the_threshold_and_keeps_the_cell_before(monkeypatch):
    # the derived cells are scripted: 0, 1, 3, ... parameter-free operations after epochs 1, 2, 3.
    # catches: stopping one epoch late or early, returning the cell that triggered the stop
    cells = [S.from_string("|conv3~0|+|conv3~0|conv3~1|+|conv3~0|conv3~1|conv3~2|"),
             S.from_string("|skip~0|+|conv3~0|conv3~1|+|conv3~0|conv3~1|conv3~2|"),
             S.from_string("|skip~0|+|avgpool~0|conv3~1|+|conv3~0|conv3~1|skip~2|")] + [
        {e: "skip" for e in S.SPACE.names}] * 3
    script = iter(cells)
    monkeypatch.setattr(D, "derive", lambda alpha, ops=S.OPS: next(script))
    r = D.search(tiny_data(128), epochs=6, seed=0, channels=2, stop_at_parameter_free=2, device=torch.device("cpu"))
    assert r.parameter_free == [0, 1, 3] and r.stopped_at == 3
    assert r.config == cells[1] and r.alphas.shape == (4, 6, 5)
    # checked from epoch 4 after a warm-up of 3 epochs (alpha stays put): it fires at epoch 4 and keeps
    # that cell, since the cell before comes from the unmoved random alpha
    script = iter(cells)
    r = D.search(tiny_data(128), epochs=6, seed=0, channels=2, stop_at_parameter_free=2, warmup_epochs=3,
                 check_from=4, device=torch.device("cpu"))
    assert r.stopped_at == 4 and r.config == cells[3] and r.parameter_free == [0, 1, 3, 6]
    np.testing.assert_array_equal(r.alphas[3], r.alphas[0])            # no alpha step in the warm-up
    assert not np.array_equal(r.alphas[4], r.alphas[3])
    # without a warm-up, checked from epoch 3 on: fires there (3 >= 2) and keeps epoch 2's cell
    script = iter(cells)
    r = D.search(tiny_data(128), epochs=6, seed=0, channels=2, stop_at_parameter_free=1, check_from=3,
                 device=torch.device("cpu"))
    assert r.stopped_at == 3 and r.config == cells[1]


# --- where a cell lands in the benchmark (a synthetic table) ---------------------------------------

@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """A table whose final test accuracy of row r is ((r * 7 + e) % 1000) / 1000 at epoch e (one seed)."""
    n = len(rows_of()[0])
    r, e = np.meshgrid(np.arange(n), np.arange(3), indexing="ij")
    acc = (((r * 7 + e) % 1000) / 1000)[:, None, :]
    tables = {"val_accuracy": acc, "test_accuracy": acc, "val_loss": 1 - acc, "test_loss": 1 - acc,
              "train_loss": 1 - acc, "seconds": np.ones_like(acc)}
    arch = {"params": np.zeros(n), "flops": np.zeros(n), "latency": np.zeros(n)}
    path = tmp_path_factory.mktemp("darts") / "table.npz"
    save_table(path, tables, arch, {"n_val": 1000, "n_test": 1000, "epochs": 3})
    return load_tabular_nas(path)


def test_percentile_counts_unique_architectures_at_the_final_epoch(bench):
    # oracle: rank among the 4,930 representatives by hand, ties (each accuracy repeats ~5 times) at
    # half weight. catches: counting all 15,625 cells (isomorphic classes weigh by their size), the
    # first epoch instead of the last, a reversed order, ties counted fully or not at all
    representatives, _ = rows_of()
    final = np.array([((r * 7 + 2) % 1000) / 1000 for r in range(len(representatives))])
    for row in (0, 57, 1234, 4929):
        below, ties = np.sum(final < final[row]), np.sum(final == final[row])
        assert ties > 1
        expected = 100.0 * (below + ties / 2) / len(final)
        assert bench.percentile(representatives[row], "test_error") == pytest.approx(expected)
    best = representatives[int(np.argmax(final))]
    assert 99.5 < bench.percentile(best, "test_error") < 100.0
    result = D.evaluate(bench, best)
    assert result["test_accuracy"] == pytest.approx(final.max())
    assert result["parameter_free_share"] == pytest.approx(D.parameter_free_count(best) / 6)


def test_darts_plus_rule_on_counts():
    # catches: checking before check_from, '>' instead of '>=', a 0-based epoch
    assert D.darts_plus_epoch([1, 3, 0, 2, 2], threshold=2) == 2
    assert D.darts_plus_epoch([1, 3, 0, 2, 2], threshold=2, check_from=3) == 4
    assert D.darts_plus_epoch([1, 3, 0, 1], threshold=2, check_from=3) is None
    assert D.darts_plus_epoch([], threshold=0) is None


def test_darts_plus_read_off_a_plain_run_equals_the_stopped_search():
    # the rule only stops the run, so the same seed gives the same trajectory up to the stop.
    # catches: a stopped search that changes anything before it stops (schedule, batches, RNG), a
    # post-hoc reading that keeps the wrong epoch's cell
    data = tiny_data(128)
    kw = dict(epochs=6, seed=0, channels=2, batch_size=16, alpha_lr=0.05, device=torch.device("cpu"))
    plain = D.search(data, **kw)
    counts = plain.parameter_free
    threshold = max(counts[2:])                          # fires at the first epoch >= 3 reaching the maximum
    cell, stopped_at = D.darts_plus(plain, threshold, check_from=3)
    assert stopped_at == 3 + counts[2:].index(threshold)
    assert cell == plain.genotypes[stopped_at - 2]
    stopped = D.search(data, stop_at_parameter_free=threshold, check_from=3, **kw)
    assert stopped.stopped_at == stopped_at and stopped.config == cell
    np.testing.assert_array_equal(stopped.alphas, plain.alphas[:stopped_at + 1])
    assert D.darts_plus(plain, 7, check_from=1) == (plain.config, None)     # 7 > 6 edges: never fires
