"""minilib.nas.enas: a child of the supernet uses exactly its own operations' weights and computes
what a standalone network with those weights computes; BatchNorm with batch statistics and with
recalibration; ENAS's alternation and random search with weight sharing; ranking candidates and
placing them in a (synthetic) tabular benchmark."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from minilib.benchmarks.nas import load_tabular_nas, rows_of, save_table
from minilib.nas import enas
from minilib.nas.reinforce import Reinforce
from minilib.nas.space import EDGES, SPACE, edge_name, from_string, sample

SIZES = {"channels": 4, "cells_per_stage": 1, "stages": 2, "stem_stride": 2}
# every edge's operation reaches the output, and each of the four operations appears
FULL = from_string("|conv3~0|+|skip~0|conv1~1|+|avgpool~0|conv3~1|conv1~2|")
WITH_NONE = from_string("|none~0|+|conv3~0|none~1|+|skip~0|none~1|avgpool~2|")


def batch(n=32, length=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, length, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_a_child_step_touches_only_its_own_operations():
    # After one backward pass of child FULL, an edge's used operation has gradients and the three
    # others have none; the shared stem and head have gradients. Catches a forward that sums all
    # operations (DARTS's mixed op) or routes an edge through the wrong operation.
    supernet = enas.build_supernet(**SIZES, seed=0)
    X, y = batch()
    torch.nn.functional.cross_entropy(supernet(X, FULL), y).backward()
    for name, p in supernet.named_parameters():
        parts = name.split(".")
        if parts[0] == "cells" and parts[2] == "edges":
            used = FULL[parts[3].replace("_", "->")] == parts[4]
            assert (p.grad is not None and p.grad.abs().sum() > 0) == used, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_an_edge_with_none_uses_no_operation():
    supernet = enas.build_supernet(**SIZES, seed=0)
    X, y = batch()
    torch.nn.functional.cross_entropy(supernet(X, WITH_NONE), y).backward()
    for name, p in supernet.named_parameters():
        if name.startswith("cells.0.edges.0_1.") or name.startswith("cells.0.edges.1_2."):
            assert p.grad is None, name


@pytest.mark.parametrize("config", [FULL, WITH_NONE] + sample(3, seed=1))
def test_a_child_computes_what_the_standalone_network_with_its_weights_computes(config):
    # Oracle: minilib.nas.space's CellNetwork of the same cell, loaded with the child's weights.
    # Both in train mode (batch statistics everywhere); and the bn="batch" supernet in eval mode
    # gives the same, since it never uses running statistics. Catches a weight copied from another
    # operation or a cell wired differently from Cell.
    supernet = enas.build_supernet(**SIZES, seed=0)
    with torch.no_grad():                            # non-trivial weights in every layer
        for p in supernet.parameters():
            p.add_(0.1 * torch.randn_like(p))
    child = enas.child_network(supernet, config)
    X, _ = batch()
    child.train()
    supernet.train()
    with torch.no_grad():
        expected = child(X)
        torch.testing.assert_close(supernet(X, config), expected, rtol=1e-5, atol=1e-6)
        supernet.eval()
        torch.testing.assert_close(supernet(X, config), expected, rtol=1e-5, atol=1e-6)
    n_child = sum(p.numel() for p in child.parameters())
    assert n_child == sum(t.numel() for n, t in enas.child_state_dict(supernet, config).items()
                          if not n.endswith(("running_mean", "running_var", "num_batches_tracked")))


def test_running_statistics_mix_children_and_recalibration_repairs_them():
    # bn="running": after training steps on other children the running statistics belong to no
    # child, and eval mode disagrees with the child's own batch statistics. Recalibrating on X as
    # one batch makes every running mean exactly X's batch mean, so eval mode then matches train
    # mode up to the unbiased running variance (n / (n - 1) with n = 512 * 20 values: < 1e-3).
    supernet = enas.build_supernet(**SIZES, bn="running", seed=0)
    optimizer = torch.optim.SGD(supernet.parameters(), lr=0.1)
    for k, other in enumerate(sample(20, seed=2)):
        Xo, yo = batch(seed=10 + k)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(supernet(3 * Xo + 1, other), yo).backward()
        optimizer.step()
    X, _ = batch(n=512, seed=99)
    with torch.no_grad():
        supernet.train()
        momenta = [m.momentum for m in supernet.modules() if isinstance(m, torch.nn.BatchNorm1d)]
        before = [m.running_mean.clone() for m in supernet.modules() if isinstance(m, torch.nn.BatchNorm1d)]
        truth = supernet(X, FULL)                        # batch statistics (updates the running ones)
        for m, b in zip([m for m in supernet.modules() if isinstance(m, torch.nn.BatchNorm1d)], before):
            m.running_mean.copy_(b)                      # undo that update
        supernet.eval()
        mixed = supernet(X, FULL)
        assert (mixed - truth).abs().max() > 0.05        # what goes wrong without a remedy
        enas.recalibrate(supernet, FULL, X, batch_size=len(X))
        stem_mean = supernet.stem[0](X.unsqueeze(1)).mean(dim=(0, 2))
        torch.testing.assert_close(supernet.stem[1].running_mean, stem_mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(supernet(X, FULL), truth, rtol=1e-3, atol=1e-3)
    assert [m.momentum for m in supernet.modules() if isinstance(m, torch.nn.BatchNorm1d)] == momenta
    assert not supernet.training
    with pytest.raises(ValueError, match="running"):
        enas.recalibrate(enas.build_supernet(**SIZES), FULL, X)


def fake_data(n_train=512, n_val=256, seed=0):
    """Four classes told apart by the frequency of a sine with a random phase (the networks end in
    a global average pool: a position would be lost, a local pattern is not)."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, 4, n)
        t = np.arange(40)
        X = np.sin(2 * np.pi * (y[:, None] + 1) * t / 20 + rng.uniform(0, 2 * np.pi, (n, 1)))
        return (X + rng.normal(0, 0.3, (n, 40))).astype(np.float32), y

    (X, y), (Xv, yv) = make(n_train), make(n_val)
    return SimpleNamespace(X_train=X, y_train=y, X_val=Xv, y_val=yv)


@pytest.fixture(autouse=True)
def one_thread():
    """Tensors this small run fastest on one thread (two threads on a shared, loaded machine
    made this test ten times slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow   # two short searches: about a second on one thread, more under load
def test_enas_and_random_weight_sharing_searches_run_and_learn():
    # The shared weights learn (training loss falls) in both; ENAS makes exactly
    # epochs * controller_steps controller updates, each rewarded with a one-batch accuracy in
    # [0, 1]; random weight sharing trains no controller. Catches an alternation that skips the
    # controller or rewards it with the loss.
    data = fake_data()
    controller = Reinforce(SPACE, policy="lstm", seed=0)
    result = enas.search(data, epochs=4, controller=controller, controller_steps=5, val_batch=64, batch_size=64, seed=0,
                         device=torch.device("cpu"))
    assert result["train_loss"][-1] < result["train_loss"][0] - 0.3
    assert len(result["reward"]) == len(controller.history) == 20
    assert all(0.0 <= r <= 1.0 for r in result["reward"])
    np.testing.assert_allclose([h["reward"] for h in controller.history], result["reward"])
    random_ws = enas.search(data, epochs=4, controller=None, batch_size=64, seed=0, device=torch.device("cpu"))
    assert random_ws["train_loss"][-1] < random_ws["train_loss"][0] - 0.3 and random_ws["reward"] == []
    picks = enas.derive(random_ws["supernet"], data.X_val, data.y_val, n=10, seed=5)
    assert [c for c, _ in picks] != [] and {edge_name(i, j) for i, j in EDGES} == set(picks[0][0])


def test_rank_orders_by_shared_weight_accuracy():
    # Oracle: enas.accuracy of each candidate, sorted descending; derive(controller=None) ranks
    # exactly the uniform sample(n, seed). Catches an ascending sort (the worst child first).
    supernet = enas.build_supernet(**SIZES, seed=0)
    data = fake_data(seed=1)
    candidates = sample(8, seed=4)
    ranked = enas.rank(supernet, candidates, data.X_val, data.y_val)
    X, y = torch.as_tensor(data.X_val), torch.as_tensor(data.y_val)
    scores = [enas.accuracy(supernet, c, X, y) for c in candidates]
    assert [s for _, s in ranked] == sorted(scores, reverse=True)
    assert sorted(map(str, (c for c, _ in ranked))) == sorted(map(str, candidates))
    derived = enas.derive(supernet, data.X_val, data.y_val, n=8, seed=4)
    assert [s for _, s in derived] == [s for _, s in ranked]


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory):
    """A synthetic NAS table: unique architecture r has final validation accuracy (r % 100) / 100,
    so every accuracy level is shared by about 49 architectures (ties)."""
    representatives, _ = rows_of()
    n = len(representatives)
    val = np.broadcast_to(((np.arange(n) % 100) / 100)[:, None, None], (n, 1, 2)).copy()
    tables = {"val_accuracy": val, "test_accuracy": val, "val_loss": 1 - val, "test_loss": 1 - val,
              "train_loss": 1 - val, "seconds": np.ones_like(val)}
    arch = {"params": np.arange(n), "flops": np.arange(n), "latency": np.full(n, 1e-3)}
    path = tmp_path_factory.mktemp("nas") / "table.npz"
    save_table(path, tables, arch, {"n_val": 100, "n_test": 100, "epochs": 2})
    return load_tabular_nas(path), representatives


def test_percentile_and_top_quartile_in_the_benchmark(benchmark):
    # Oracle: counting by hand over the unique rows' accuracies. The best level (0.99) is above
    # all but its ties; level 0.74 is at the 25% boundary of errors (in the top quartile), 0.73
    # is not. Catches counting cells instead of unique architectures or ranking by error upside down.
    bench, representatives = benchmark
    accuracies = (np.arange(len(representatives)) % 100) / 100
    for r in (99, 0, 50, 1234):
        mine = accuracies[r]
        expected = 100 * (np.mean(accuracies < mine) + 0.5 * np.mean(accuracies == mine))
        assert bench.percentile(representatives[r]) == pytest.approx(expected, abs=1e-9)
    assert bench.percentile(representatives[99]) > 99
    threshold = np.quantile(1 - accuracies, 0.25)
    for r in (74, 73, 99, 0):
        assert bench.in_top_quartile(representatives[r]) == bool(1 - accuracies[r] <= threshold + 1e-12)
    assert bench.in_top_quartile(representatives[99]) and not bench.in_top_quartile(representatives[0])
