"""minilib.nas.proxyless: one sampled path against the discrete cell network, the binary-gate
gradient against its formula, the expected latency's gradient against the closed form, the
per-operation latency fit on a synthetic table, and the memory a step saves against DARTS's."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minilib.benchmarks.nas import load_tabular_nas, rows_of, save_table
from minilib.data import Dataset
from minilib.nas import darts as D
from minilib.nas import proxyless as P
from minilib.nas import space as S


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one thread is much faster than two on a shared machine; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def path_of(cell):
    return torch.tensor([S.OPS.index(cell[S.edge_name(i, j)]) for i, j in S.EDGES])


def cell_network_with_weights_of(supernet, cell):
    """``CellNetwork(cell)`` carrying the supernet's weights of the chosen operations."""
    net = S.CellNetwork(cell, channels=supernet.stem[0].out_channels, stem_stride=supernet.stem[0].stride[0])
    state = {}
    for name, value in supernet.state_dict().items():
        parts = name.split(".")
        if name == "alpha":
            continue
        if "ops" in parts:
            at = parts.index("ops")
            op, edge = parts[at + 1], parts[at - 1].replace("_", "->")
            if op != cell[edge] or op in ("skip", "avgpool", "none"):
                continue
            parts = parts[:at] + parts[at + 2:]
        state[".".join(parts)] = value
    net.load_state_dict(state)
    return net


@pytest.mark.parametrize("cell", S.sample(4, seed=3))
def test_a_sampled_path_is_the_cell_network_of_that_cell(cell):
    # oracle: minilib.nas.space.CellNetwork. catches: another operation run than the sampled one,
    # edges matched to the wrong path entries, the gate changing the forward value
    supernet = P.ProxylessNetwork(channels=4, stem_stride=2, seed=0)
    net = cell_network_with_weights_of(supernet, cell)
    x = torch.randn(8, 40, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(supernet(x, path_of(cell)), net(x))


def test_sample_path_follows_softmax_alpha():
    # Monte Carlo: 4,000 draws per edge; frequencies within 5 standard errors of softmax(alpha)
    net = P.ProxylessNetwork(channels=2, seed=0)
    with torch.no_grad():
        net.alpha.copy_(torch.tensor([[2.0, 0.0, -1.0, 1.0, 0.5]] * 6))
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([net.sample_path(g) for _ in range(4000)])            # (4000, 6)
    assert draws.shape == (4000, 6) and draws.dtype == torch.long
    p = F.softmax(net.alpha.detach()[0], dim=0).numpy()
    for e in range(6):
        freq = np.bincount(draws[:, e].numpy(), minlength=5) / 4000
        assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / 4000))


def test_alpha_gradient_is_the_binary_gate_formula_of_the_sampled_path():
    # oracle: eq. 4 of the paper with the sampled term, dL/dg_k * p_k (delta_ik - p_i), where dL/dg_k
    # comes from autograd on an explicit gate g_k = 1. catches: a straight-through gradient (dL/dg_k
    # on alpha_k alone), the softmax Jacobian's sign, gradient reaching unsampled edges' other rows wrongly
    torch.manual_seed(0)
    op = nn.Sequential(nn.Conv1d(3, 3, 3, padding=1), nn.Tanh())
    alpha = torch.randn(5, requires_grad=True)
    x, target = torch.randn(2, 3, 7), torch.randn(2, 3, 7)
    k = 3
    p = F.softmax(alpha, dim=0)
    loss = ((P.path_output(op, x, p[k]) - target) ** 2).sum()
    grad = torch.autograd.grad(loss, alpha)[0]
    gate = torch.ones((), requires_grad=True)
    dl_dg = torch.autograd.grad(((gate * op(x) - target) ** 2).sum(), gate)[0]
    p = p.detach()
    expected = dl_dg * p[k] * (F.one_hot(torch.tensor(k), 5).float() - p)
    torch.testing.assert_close(grad, expected)
    torch.testing.assert_close(P.path_output(op, x, F.softmax(alpha, dim=0)[k]), op(x))


def test_expected_latency_and_its_gradient_are_the_closed_form():
    # catches: latencies weighted by alpha instead of softmax(alpha), a mean instead of a sum over edges
    alpha = torch.randn(6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64, requires_grad=True)
    lat = np.array([0.0, 0.1, 0.5, 0.9, 0.3])
    value = P.expected_latency(alpha, lat)
    p = F.softmax(alpha.detach(), dim=1).numpy()
    assert float(value.detach()) == pytest.approx(float((p @ lat).sum()))
    grad = torch.autograd.grad(value, alpha)[0].numpy()
    np.testing.assert_allclose(grad, p * (lat[None, :] - (p @ lat)[:, None]), atol=1e-12)
    one_hot = torch.full((6, 5), -1e9, dtype=torch.float64)
    one_hot[:, 3] = 0
    assert float(P.expected_latency(one_hot, lat)) == pytest.approx(6 * 0.9)


def test_op_latencies_recovers_an_additive_table(tmp_path):
    # a synthetic table whose latency is exactly base + the sum of known per-op latencies;
    # catches: a fit over the 15,625 cells instead of the measured representatives, ops in another order
    truth = dict(zip(S.OPS, [0.0, 1e-5, 4e-5, 9e-5, 2e-5]))
    representatives, _ = rows_of()
    n = len(representatives)
    latency = np.array([3e-4 + sum(truth[o] for o in c.values()) for c in representatives])
    acc = np.full((n, 1, 2), 0.5)
    tables = {m: acc for m in ("val_accuracy", "test_accuracy", "val_loss", "test_loss", "train_loss", "seconds")}
    save_table(tmp_path / "t.npz", tables, {"params": np.zeros(n), "flops": np.zeros(n), "latency": latency},
               {"n_val": 2, "n_test": 2, "epochs": 2})
    fitted = P.op_latencies(load_tabular_nas(tmp_path / "t.npz"))
    assert fitted.shape == (5,)
    np.testing.assert_allclose(fitted, [truth[o] for o in S.OPS], atol=1e-8)   # float32 storage
    cell = representatives[100]
    assert P.derived_latency(cell, fitted) == pytest.approx(latency[100] - 3e-4, abs=1e-7)


def test_one_path_saves_less_memory_than_the_darts_mixture():
    # the measure first, on an oracle: a ReLU saves its (B, C, L) float32 output, 4 bytes each
    relu = nn.Sequential(nn.Identity(), nn.ReLU())
    x = torch.randn(4, 3, 10, requires_grad=True)
    assert P.saved_activation_bytes(lambda v: relu(v), x) == 4 * 3 * 10 * 4
    # DARTS runs the 5 operations of each of the 6 edges; one path runs one per edge (a conv cell
    # here, the costliest path). catches: a proxyless forward that still computes every operation
    darts = D.SearchNetwork(channels=4, stem_stride=2, seed=0)
    proxy = P.ProxylessNetwork(channels=4, stem_stride=2, seed=0)
    x = torch.randn(16, 40)
    conv_path = torch.full((6,), S.OPS.index("conv3"))
    mixture, one_path = P.saved_activation_bytes(darts, x), P.saved_activation_bytes(proxy, x, path=conv_path)
    assert mixture > 2 * one_path


def test_a_large_latency_weight_lowers_the_expected_latency():
    # catches: the latency term left out of alpha's loss or added with the wrong sign
    g = np.random.default_rng(0)
    X = g.normal(size=(256, 40)).astype(np.float32)
    y = g.integers(0, 10, 256)
    data = Dataset("tiny", X, y, X[:32], y[:32], X[:32], y[:32], n_classes=10)
    lat = np.array([0.0, 0.0, 1.0, 2.0, 0.5])
    runs = {w: P.search(data, lat, latency_weight=w, epochs=3, seed=0, channels=2, alpha_lr=0.3,
                        device=torch.device("cpu")) for w in (0.0, 10.0)}
    heavy, free = runs[10.0].info["expected_latency"], runs[0.0].info["expected_latency"]
    assert len(heavy) == 4 and heavy[0] == pytest.approx(free[0])            # same start (same seed)
    assert heavy[-1] < heavy[0] - 1.0 and heavy[-1] < free[-1] - 1.0
    assert runs[10.0].alphas.shape == (4, 6, 5)
