import numpy as np
import pytest
import torch

from minilib import data, train
from minilib.models import count_parameters, make_cnn1d, make_mlp


def test_mnist1d_splits_shapes_and_hash():
    ds = data.load_mnist1d()
    assert ds.X_train.shape == (4000, 40) and ds.X_val.shape == (1000, 40) and ds.X_test.shape == (1000, 40)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64 and ds.n_classes == 10
    assert np.bincount(ds.y_val).tolist() == [100] * 10
    train_rows = {r.tobytes() for r in ds.X_train}
    assert not any(r.tobytes() in train_rows for r in ds.X_val)  # no leakage between splits
    assert not any(r.tobytes() in train_rows for r in ds.X_test)


def test_mnist1d_regenerates_the_same_data(tmp_path):
    path = tmp_path / "mnist1d.npz"
    fresh = data.load_mnist1d(path)  # missing: generated with the package's generator, then cached
    assert path.exists()
    np.testing.assert_array_equal(fresh.X_test, data.load_mnist1d().X_test)


def test_mnist1d_refuses_a_damaged_file(tmp_path):
    good = data.load_mnist1d()
    path = tmp_path / "mnist1d.npz"
    np.savez(path, x_train=good.X_train + 1, y_train=good.y_train, x_val=good.X_val, y_val=good.y_val,
             x_test=good.X_test, y_test=good.y_test)
    with pytest.raises(ValueError, match="sha256"):
        data.load_mnist1d(path)


def test_digits_and_synthetic_sets_are_fixed_and_disjoint():
    for ds in (data.load_digits(), data.make_moons(), data.make_regression_1d()):
        n = len(ds.X_train) + len(ds.X_val) + len(ds.X_test)
        assert len(ds.X_train) == pytest.approx(0.6 * n, abs=10)
        rows = [{r.tobytes() for r in X} for X in (ds.X_train, ds.X_val, ds.X_test)]
        assert not (rows[0] & rows[1]) and not (rows[0] & rows[2]) and not (rows[1] & rows[2])
    a, b = data.load_digits(), data.load_digits()
    np.testing.assert_array_equal(a.X_val, b.X_val)
    assert a.X_train.shape[1] == 64 and a.X_train.max() <= 1.0


def test_split_indices_stratified_and_validated():
    y = np.repeat([0, 1], [80, 20])
    tr, va, te = data.split_indices(100, (0.6, 0.2, 0.2), seed=0, stratify=y)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(100))
    assert (y[va] == 1).sum() == 4 and (y[te] == 1).sum() == 4
    with pytest.raises(ValueError, match="sum"):
        data.split_indices(10, (0.5, 0.5, 0.5), seed=0)


def test_budget_and_quick_mode(monkeypatch):
    monkeypatch.setenv("MINILIB_QUICK", "1")
    assert train.is_quick() and train.budget(full=100, quick=5) == 5
    monkeypatch.setenv("MINILIB_QUICK", "0")
    assert not train.is_quick() and train.budget(full=100, quick=5) == 100
    monkeypatch.delenv("MINILIB_QUICK")
    assert train.budget(full=100, quick=5) == 100


def test_device_selection(monkeypatch):
    monkeypatch.delenv("MINILIB_DEVICE", raising=False)
    assert train.get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("MINILIB_DEVICE", "cpu")
    assert train.get_device() == torch.device("cpu")
    if not torch.cuda.is_available():
        monkeypatch.setenv("MINILIB_DEVICE", "cuda")
        with pytest.raises(RuntimeError, match="no CUDA"):
            train.get_device()


def test_fit_learns_moons_and_is_deterministic():
    ds = data.make_moons(n=400, noise=0.1, seed=0)

    def run():
        model = make_mlp(2, 2, width=32, depth=2, seed=0)
        history = train.fit(model, ds.X_train, ds.y_train, ds.X_val, ds.y_val, epochs=40, lr=1e-2,
                            batch_size=32, seed=0, device=torch.device("cpu"))
        return model, history

    (model, h1), (_, h2) = run(), run()
    assert h1.epochs == 40 and len(h1.val_accuracy) == 40 and all(s > 0 for s in h1.seconds)
    assert h1.train_loss == h2.train_loss
    assert h1.train_loss[-1] < h1.train_loss[0] / 3
    assert train.evaluate(model, ds.X_test, ds.y_test)["accuracy"] > 0.9


def test_fit_regression_and_bad_arguments():
    ds = data.make_regression_1d(n=300, seed=0)
    model = make_mlp(1, 1, width=64, depth=2, activation="tanh", seed=0)
    history = train.fit(model, ds.X_train, ds.y_train, ds.X_val, ds.y_val, epochs=60, lr=1e-2, task="regression",
                        seed=0, device=torch.device("cpu"))
    assert history.val_loss[-1] < 0.5 * history.val_loss[0]
    with pytest.raises(ValueError, match="optimizer"):
        train.fit(model, ds.X_train, ds.y_train, epochs=1, optimizer="rmsprop", task="regression")
    with pytest.raises(ValueError, match="task"):
        train.fit(model, ds.X_train, ds.y_train, epochs=1, task="ranking")
    with pytest.raises(ValueError, match="lr"):
        train.fit(model, ds.X_train, ds.y_train, epochs=1, lr=0.0, task="regression")


def test_models_shapes_and_parameter_counts():
    mlp = make_mlp(40, 10, width=16, depth=2)
    assert count_parameters(mlp) == (40 * 16 + 16) + (16 * 16 + 16) + (16 * 10 + 10)
    assert mlp(torch.zeros(3, 40)).shape == (3, 10)
    assert make_cnn1d(channels=8, depth=2)(torch.zeros(5, 40)).shape == (5, 10)
    with pytest.raises(ValueError, match="activation"):
        make_mlp(4, 2, activation="swish")
    with pytest.raises(ValueError, match="dropout"):
        make_mlp(4, 2, dropout=1.0)


def test_seed_everything_repeats_torch_and_numpy():
    train.seed_everything(7)
    a = (np.random.rand(), torch.rand(1).item())
    train.seed_everything(7)
    assert a == (np.random.rand(), torch.rand(1).item())


def test_fit_records_parts_of_an_epoch_without_changing_the_training():
    ds = data.make_moons(n=400, noise=0.1, seed=0)     # 240 training points: 7 batches of 32 and one of 16

    def run(k):
        model = make_mlp(2, 2, width=16, depth=2, dropout=0.2, seed=0)
        calls = []
        history = train.fit(model, ds.X_train, ds.y_train, ds.X_val, ds.y_val, epochs=2, lr=1e-2, batch_size=32,
                            seed=0, device=torch.device("cpu"), evals_per_epoch=k,
                            on_epoch=lambda n, h: calls.append(n))
        return history, calls

    (h1, calls1), (h3, calls3) = run(1), run(3)
    assert calls1 == [1, 2] and calls3 == [1, 2, 3, 4, 5, 6]
    assert len(h3.val_loss) == len(h3.train_loss) == len(h3.seconds) == 6
    # every third record is the end of an epoch: same weights as the run that records once per epoch
    np.testing.assert_allclose(h3.val_loss[2::3], h1.val_loss, rtol=1e-6)
    # the training loss of an epoch is the size-weighted mean of its parts: batches 0-1, 2-4, 5-7
    assert len(ds.X_train) == 240
    np.testing.assert_allclose(np.dot(h3.train_loss[:3], [64, 96, 80]) / 240, h1.train_loss[0], rtol=1e-6)
    assert h3.val_loss[0] != h3.val_loss[2]
    for bad in (0, 10, 1.5, True):
        with pytest.raises(ValueError, match="evals_per_epoch"):
            train.fit(make_mlp(2, 2), ds.X_train, ds.y_train, epochs=1, batch_size=32, evals_per_epoch=bad)


def _moons_run(epochs, resume=None, model=None, **kwargs):
    ds = data.make_moons(n=400, noise=0.1, seed=0)
    model = model or make_mlp(2, 2, width=16, depth=2, dropout=0.2, seed=0)
    history = train.fit(model, ds.X_train, ds.y_train, ds.X_val, ds.y_val, epochs=epochs, lr=1e-2, batch_size=32,
                        seed=0, device=torch.device("cpu"), resume=resume, **kwargs)
    return model, history


def test_resumed_fit_trains_exactly_like_one_longer_run():
    # Catches a resume that rebuilds the optimizer (Adam's moments lost), restarts the scheduler,
    # or reseeds the mini-batch order: each changes the weights after the first epoch.
    schedule = lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=48)
    _, whole = _moons_run(6, scheduler=schedule)
    model, part = _moons_run(3, scheduler=schedule)
    _, same = _moons_run(3, resume=part, model=model)
    assert same is part and part.epochs == 6 and part.steps == whole.steps == 48
    np.testing.assert_allclose(part.val_loss, whole.val_loss, rtol=1e-6)
    np.testing.assert_allclose(part.step_lr, whole.step_lr, rtol=1e-12)
    with pytest.raises(ValueError, match="resume"):
        _moons_run(1, resume=train.History())


def test_scheduler_per_batch_and_per_epoch_and_on_step():
    # 240 training points, batch 32 -> 8 steps per epoch. A per-epoch StepLR(step_size=1, gamma=0.5)
    # halves the rate after every 8 steps; stepped per batch it would halve after every step.
    calls = []
    halve = lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    _, per_epoch = _moons_run(2, scheduler=halve, scheduler_step="epoch", on_step=lambda s, v: calls.append((s, v)))
    np.testing.assert_allclose(per_epoch.step_lr, [1e-2] * 8 + [5e-3] * 8)
    _, per_batch = _moons_run(1, scheduler=halve)
    np.testing.assert_allclose(per_batch.step_lr, [1e-2 * 0.5**k for k in range(8)])
    assert [s for s, _ in calls] == list(range(1, 17)) and all(np.isfinite(v) and v > 0 for _, v in calls)
    custom = lambda params: torch.optim.SGD(params, lr=0.123)
    _, h = _moons_run(1, optimizer=custom)
    assert h.step_lr == [0.123] * 8 and isinstance(h.optimizer, torch.optim.SGD)
    with pytest.raises(ValueError, match="scheduler_step"):
        _moons_run(1, scheduler_step="cycle")


def test_model_seeds_leave_the_global_rng_alone():
    # The old make_mlp(seed=...) called torch.manual_seed, silently resetting the caller's stream.
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = make_mlp(4, 2, seed=5)
    b = make_cnn1d(channels=4, depth=1, seed=5)
    assert torch.equal(torch.rand(3), expected)
    torch.manual_seed(5)
    reference = make_mlp(4, 2)           # the same weights as before the change, for the same seed
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), reference.parameters()))
    assert not torch.equal(b.head.weight, make_cnn1d(channels=4, depth=1, seed=6).head.weight)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    m1, m2 = make_mlp(4, 2, generator=g1), make_mlp(4, 2, generator=g2)
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))
    with pytest.raises(ValueError, match="seed or generator"):
        make_mlp(4, 2, seed=1, generator=g1)
