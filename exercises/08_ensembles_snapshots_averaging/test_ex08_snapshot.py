"""Graded tests for ex08_snapshot.py (the cyclic cosine schedule and the snapshot steps)."""

import math

import ex08_snapshot as ex
import excheck as check
import pytest
import torch
from torch import nn

from minilib.ensembles.snapshot import snapshot_steps as reference_steps

FORBIDDEN_IMPORTS = ["minilib.ensembles.snapshot"]


def _torch_lrs(T, M, lr0):
    # PyTorch's CosineAnnealingWarmRestarts stepped once per mini-batch is the same schedule
    opt = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=lr0)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=math.ceil(T / M), eta_min=0)
    out = []
    for _ in range(T):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.points(1)
def test_lr_restarts_and_minimum():
    lr = [check.number(ex.cyclic_cosine_lr(t, 100, 4, 0.1), what=f"lr at t={t}") for t in range(1, 101)]
    for t in (1, 26, 51, 76):
        check.approx(lr[t - 1], 0.1, rel=1e-12, what=f"lr at the start of a cycle, t={t}")
    check.approx(lr[12], 0.05 * (math.cos(math.pi * 12 / 25) + 1), rel=1e-12, what="lr at t=13")
    assert min(lr[:25]) == lr[24] > 0                                 # the last step of a cycle is its smallest lr


@pytest.mark.points(1)
def test_lr_matches_pytorch_when_T_is_not_a_multiple_of_M():
    expected = _torch_lrs(47, 4, 0.2)                                 # c = ceil(47 / 4) = 12
    for t in range(1, 48):
        check.approx(check.number(ex.cyclic_cosine_lr(t, 47, 4, 0.2)), expected[t - 1], abs=1e-12, what=f"lr at t={t}")
    with pytest.raises(ValueError):
        ex.cyclic_cosine_lr(0, 47, 4, 0.2)


@pytest.mark.points(1)
@pytest.mark.hidden
def test_lr_other_schedules():
    for T, M, lr0 in ((30, 3, 0.5), (31, 5, 0.05), (7, 7, 1.0), (12, 1, 0.3)):
        expected = _torch_lrs(T, M, lr0)
        for t in range(1, T + 1):
            check.approx(check.number(ex.cyclic_cosine_lr(t, T, M, lr0)), expected[t - 1], abs=1e-12)
    with pytest.raises(ValueError):
        ex.cyclic_cosine_lr(31, 30, 3, 0.5)


@pytest.mark.points(1)
def test_snapshot_steps():
    assert check.int_list(ex.snapshot_steps(100, 4), 4) == [25, 50, 75, 100]
    assert check.int_list(ex.snapshot_steps(10, 4), 4) == [3, 6, 9, 10]


@pytest.mark.points(1)
@pytest.mark.hidden
def test_snapshot_steps_match_minilib():
    for T, M in ((47, 4), (12, 1), (9, 9), (50, 6), (101, 5)):
        got = check.int_list(ex.snapshot_steps(T, M), len(reference_steps(T, M)))
        assert got == reference_steps(T, M)
