"""minilib.ensembles.snapshot: the cyclic cosine schedule of Huang et al. (2017) against PyTorch's
CosineAnnealingWarmRestarts, and the snapshots taken at the end of each cycle."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from minilib.ensembles.snapshot import (
    SnapshotCollector,
    cycle_length,
    cyclic_cosine_lr,
    cyclic_cosine_scheduler,
    snapshot_steps,
)
from minilib.train import fit


@pytest.mark.parametrize("T,M", [(50, 5), (47, 4), (12, 1), (9, 9)])
def test_schedule_matches_cosine_annealing_warm_restarts(T, M):
    # catches: mod(t, c) instead of mod(t - 1, c) (off by one step), floor(T/M) instead of ceil,
    # restarting per epoch instead of per iteration
    opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.2)
    ref = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=math.ceil(T / M), T_mult=1, eta_min=0)
    opt2 = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.2)
    ours = cyclic_cosine_scheduler(T, M)(opt2)
    for t in range(1, T + 1):
        expected = opt.param_groups[0]["lr"]
        assert cyclic_cosine_lr(t, T, M, 0.2) == pytest.approx(expected, abs=1e-12)
        assert opt2.param_groups[0]["lr"] == pytest.approx(expected, abs=1e-12)
        opt.step()
        ref.step()
        opt2.step()
        ours.step()


def test_schedule_restarts_and_snapshot_steps():
    # every cycle starts at lr0 and its last step is its smallest learning rate
    T, M, lr0 = 100, 4, 0.1
    lrs = np.array([cyclic_cosine_lr(t, T, M, lr0) for t in range(1, T + 1)])
    assert snapshot_steps(T, M) == [25, 50, 75, 100]
    assert all(lrs[t - 1] == pytest.approx(lr0) for t in (1, 26, 51, 76))
    for end in snapshot_steps(T, M):
        cycle = lrs[end - 25:end]
        assert np.argmin(cycle) == 24 and np.all(np.diff(cycle) < 0)
    assert snapshot_steps(10, 4) == [3, 6, 9, 10] and cycle_length(10, 4) == 3
    with pytest.raises(ValueError):
        cyclic_cosine_lr(0, T, M, lr0)


def test_fit_with_the_scheduler_collects_one_snapshot_per_cycle():
    # end to end with minilib.train.fit: the learning rate of every step follows Eq. 2, and the snapshots
    # are copies taken at the cycle ends (the last one equals the final model); catches a collector that
    # stores references (all snapshots would equal the final model)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    epochs, batch, M = 6, 16, 3
    T = epochs * (64 // batch)
    collector = SnapshotCollector(model, snapshot_steps(T, M))
    history = fit(model, X, y, epochs=epochs, batch_size=batch, lr=0.05, optimizer="sgd",
                  scheduler=cyclic_cosine_scheduler(T, M), on_step=collector, device=torch.device("cpu"))
    np.testing.assert_allclose(history.step_lr, [cyclic_cosine_lr(t, T, M, 0.05) for t in range(1, T + 1)])
    assert collector.taken_at == [8, 16, 24] and len(collector.last(2)) == 2
    final = [p.detach() for p in model.parameters()]
    last = [p.detach() for p in collector.snapshots[-1].parameters()]
    first = [p.detach() for p in collector.snapshots[0].parameters()]
    assert all(torch.equal(a, b) for a, b in zip(final, last))
    assert not all(torch.equal(a, b) for a, b in zip(final, first))
    with pytest.raises(ValueError):
        collector.last(4)
