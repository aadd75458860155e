"""minilib.ensembles.averaging against torch.optim.swa_utils and closed forms.

Oracles: AveragedModel (equal-weight SWA and the EMA multi-avg function), update_bn, SWALR,
and the definitions of the mixture / geometric-mean ensemble.
"""

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim import swa_utils

from minilib.ensembles.averaging import (
    AveragedWeights,
    combine_logits,
    ensemble_predict,
    predict_logits,
    softmax,
    swa_lr,
    update_bn,
)


def bn_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def perturb(model, gen):
    """A fake training step: new random weights and new BN running statistics."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen))
        model(torch.randn(16, 5, generator=gen) * 3 + 1)   # train-mode pass moves the BN buffers


@pytest.mark.parametrize("decay", [None, 0.9])
def test_matches_averaged_model(decay):
    # catches: averaging with weight 1/n instead of 1/(n+1), no initial copy, EMA with decay and 1-decay
    # swapped, averaging the BN buffers instead of copying them
    live = bn_net().train()
    ours = AveragedWeights(live, decay=decay)
    kwargs = {} if decay is None else {"multi_avg_fn": swa_utils.get_ema_multi_avg_fn(decay)}
    ref = swa_utils.AveragedModel(live, **kwargs)
    gen = torch.Generator().manual_seed(1)
    for _ in range(10):
        perturb(live, gen)
        ours.update(live)
        ref.update_parameters(live)
    for a, b in zip(ours.model.parameters(), ref.module.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for a, b, c in zip(ours.model.buffers(), ref.module.buffers(), live.buffers()):
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(a, c)           # buffers are the live model's, not averaged
    assert ours.n_averaged == 10


def test_swa_is_the_arithmetic_mean_and_ema_the_closed_form():
    # closed forms of torch's test_swa_utils: mean of the iterates; EMA = sum_i p_i d^(n-1-i)(1-d) + p_0 d^(n-1)
    # catches: EMA with bias correction, or an EMA that starts from zeros instead of the first copy
    lin = nn.Linear(3, 2)
    swa, ema = AveragedWeights(lin), AveragedWeights(lin, decay=0.8)
    iterates = []
    gen = torch.Generator().manual_seed(0)
    for _ in range(7):
        with torch.no_grad():
            lin.weight.copy_(torch.randn(2, 3, generator=gen))
        iterates.append(lin.weight.detach().clone())
        swa.update(lin)
        ema.update(lin)
    torch.testing.assert_close(swa.model.weight, torch.stack(iterates).mean(0))
    n, d = len(iterates), 0.8
    expected = iterates[0] * d ** (n - 1) + sum(iterates[i] * d ** (n - 1 - i) * (1 - d) for i in range(1, n))
    torch.testing.assert_close(ema.model.weight, expected)


def test_averaged_weights_rejects_bad_decay():
    with pytest.raises(ValueError):
        AveragedWeights(nn.Linear(2, 2), decay=1.5)


def test_update_bn_matches_torch_and_the_exact_mean():
    # catches: keeping momentum (an exponential average biased to the last batches), forgetting the
    # reset, leaving the model in train mode, not restoring the momentum
    torch.manual_seed(0)
    X = torch.randn(200, 5) * 2 + 3
    ours, ref = bn_net(), bn_net()
    ours[1].momentum = ref[1].momentum = 0.3
    ours.eval()
    ref.eval()
    update_bn(ours, X, batch_size=20)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X), batch_size=20, shuffle=False)
    swa_utils.update_bn(loader, ref)
    torch.testing.assert_close(ours[1].running_mean, ref[1].running_mean)
    torch.testing.assert_close(ours[1].running_var, ref[1].running_var)
    with torch.no_grad():
        pre = ours[0](X)                           # the inputs of the BN layer
    torch.testing.assert_close(ours[1].running_mean, pre.mean(0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours[1].running_var, pre.var(0, unbiased=False), atol=0.1, rtol=0.05)
    assert not ours.training and ours[1].momentum == 0.3


def test_update_bn_makes_the_averaged_model_match_its_own_statistics():
    # the reason for update_bn: after it, the eval-mode output equals the train-mode (batch statistics)
    # output on the full data set, for the averaged weights
    live = bn_net().train()
    avg = AveragedWeights(live)
    gen = torch.Generator().manual_seed(3)
    for _ in range(5):
        perturb(live, gen)
        avg.update(live)
    X = torch.randn(256, 5, generator=gen)
    update_bn(avg.model, X, batch_size=256)
    with torch.no_grad():
        eval_out = avg.model.eval()(X)
        bn = avg.model[1]
        h = avg.model[0](X)
        expected = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=True) + bn.eps) * bn.weight + bn.bias
    torch.testing.assert_close(avg.model[1](h), expected, rtol=1e-4, atol=1e-4)
    assert eval_out.shape == (256, 3)


def test_update_bn_without_batchnorm_is_a_no_op():
    lin = nn.Linear(3, 2)
    before = copy.deepcopy(lin.state_dict())
    update_bn(lin, torch.randn(10, 3))
    for k, v in lin.state_dict().items():
        assert torch.equal(v, before[k])


@pytest.mark.parametrize("strategy,anneal", [("cos", 5), ("linear", 5), ("cos", 0), ("linear", 1)])
def test_swa_lr_matches_swalr(strategy, anneal):
    # catches: t = step / (anneal - 1), the cosine weight reversed, annealing from swa_lr to lr_start
    opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    sched = swa_utils.SWALR(opt, swa_lr=0.02, anneal_epochs=anneal, anneal_strategy=strategy)
    for step in range(12):
        assert opt.param_groups[0]["lr"] == pytest.approx(swa_lr(step, 0.1, 0.02, anneal, strategy), rel=1e-9)
        opt.step()
        sched.step()


def test_combine_logits_mixture_and_geometric_mean():
    # catches: averaging logits when probabilities were asked (and vice versa), softmax over the wrong axis
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 6, 3)) * 3
    mix = combine_logits(z, "probabilities")
    ref_mix = torch.softmax(torch.tensor(z), dim=-1).mean(0).numpy()
    np.testing.assert_allclose(mix, ref_mix, rtol=1e-12)
    geo = combine_logits(z, "logits")
    ref_geo = np.prod(softmax(z) ** 0.25, axis=0)
    np.testing.assert_allclose(geo, ref_geo / ref_geo.sum(-1, keepdims=True), rtol=1e-10)
    np.testing.assert_allclose(mix.sum(-1), 1.0)
    assert not np.allclose(mix, geo)
    np.testing.assert_allclose(combine_logits(z[:1], "logits"), softmax(z[0]))
    with pytest.raises(ValueError):
        combine_logits(z, "weights")


def test_ensemble_predict_of_copies_is_the_member():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    X = np.random.default_rng(1).normal(size=(7, 4)).astype(np.float32)
    single = softmax(predict_logits(net, X))
    np.testing.assert_allclose(ensemble_predict([net, copy.deepcopy(net)], X), single, rtol=1e-6)
    assert net.training                               # predict_logits restores the mode
