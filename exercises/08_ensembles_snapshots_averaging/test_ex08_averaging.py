"""Graded tests for ex08_averaging.py (SWA and EMA updates), against torch.optim.swa_utils.AveragedModel."""

import ex08_averaging as ex
import excheck as check
import numpy as np
import pytest
import torch
from torch.optim import swa_utils

FORBIDDEN_IMPORTS = ["minilib.ensembles.averaging"]


def _iterates(seed, n=6, shape=(3, 2)):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for _ in range(n)]


def _run(update, iterates):
    avg = np.zeros_like(iterates[0])
    for n, w in enumerate(iterates):
        avg = check.array(update(avg, w, n), shape=w.shape, what=f"average after update {n + 1}")
    return avg


def _torch_average(iterates, multi_avg_fn=None):
    lin = torch.nn.Linear(iterates[0].shape[1], iterates[0].shape[0], bias=False).double()
    kwargs = {} if multi_avg_fn is None else {"multi_avg_fn": multi_avg_fn}
    ref = swa_utils.AveragedModel(lin, **kwargs)
    for w in iterates:
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(w))
        ref.update_parameters(lin)
    return ref.module.weight.detach().numpy()


@pytest.mark.points(1)
def test_swa_is_the_mean_of_the_iterates():
    its = _iterates(0)
    check.close(_run(ex.swa_update, its), np.mean(its, axis=0), rtol=1e-12, atol=1e-12, what="SWA average")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_swa_matches_averaged_model():
    its = _iterates(5, n=9, shape=(4, 3))
    check.close(_run(ex.swa_update, its), _torch_average(its), rtol=1e-10, atol=1e-12, what="SWA average")


@pytest.mark.points(1)
def test_ema_first_update_copies_then_lerps():
    its = _iterates(1, n=3)
    d = 0.9
    expected = (its[0] * d + its[1] * (1 - d)) * d + its[2] * (1 - d)
    got = _run(lambda a, w, n: ex.ema_update(a, w, d, n), its)
    check.close(got, expected, rtol=1e-12, atol=1e-12, what="EMA after 3 updates")
    with pytest.raises(ValueError):
        ex.ema_update(its[0], its[1], 1.5, 1)


@pytest.mark.points(1)
@pytest.mark.hidden
def test_ema_matches_pytorch_multi_avg_fn():
    its = _iterates(7, n=10)
    for d in (0.5, 0.99):
        got = _run(lambda a, w, n, d=d: ex.ema_update(a, w, d, n), its)
        check.close(got, _torch_average(its, swa_utils.get_ema_multi_avg_fn(d)), rtol=1e-10, atol=1e-12)
