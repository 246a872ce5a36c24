"""Trainer: determinism, exact resume after interruption, validation-based selection, schedules,
batched augmentation."""
import math

import pytest
import torch
from torch import nn

from benchmarks import training
from benchmarks.datasets import DatasetInfo, Splits, TensorImageDataset

INFO = DatasetInfo("toy", 3, (1, 6, 6), (0.5,), (0.25,), in_memory=True)


def toy_splits(n_train=240, n_val=60, seed=0) -> Splits:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n_train + n_val,), generator=g)
    # class-dependent mean brightness plus noise: learnable but not trivially
    base = (labels.float() * 60 + 40).view(-1, 1, 1, 1)
    imgs = (base + 40 * torch.randn(n_train + n_val, 1, 6, 6, generator=g)).clamp(0, 255).to(torch.uint8)
    train = TensorImageDataset(imgs[:n_train], labels[:n_train], INFO)
    val = TensorImageDataset(imgs[n_train:], labels[n_train:], INFO)
    return Splits(train, val, val, INFO)


def toy_model(seed=0) -> nn.Module:
    torch.manual_seed(seed)
    # dropout makes the run depend on the global RNG, which a resume must restore
    return nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


PROTOCOL = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4,
            "batch_size": 32, "epochs": 4, "schedule": {"type": "multistep", "milestones": [2, 3], "gamma": 0.5},
            "augmentation": "crop_flip"}
CPU = torch.device("cpu")


def run(state_path=None, **kw):
    training.seed_everything(0)
    model = toy_model()
    res = training.train(model, toy_splits(), PROTOCOL, seed=7, device=CPU, state_path=state_path,
                         progress=False, **kw)
    return model, res


def assert_same_weights(a: nn.Module, b: nn.Module):
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(va, vb), f"tensor {k} differs"


def test_same_seed_same_numbers():
    m1, r1 = run()
    m2, r2 = run()
    assert_same_weights(m1, m2)
    assert [h["train_loss"] for h in r1.history] == [h["train_loss"] for h in r2.history]


def test_different_seed_differs():
    m1, _ = run()
    training.seed_everything(0)
    m2 = toy_model()
    training.train(m2, toy_splits(), PROTOCOL, seed=8, device=CPU, progress=False)
    assert not torch.equal(m1[1].weight, m2[1].weight)


@pytest.mark.parametrize("stop_after,every", [(3, 0), (11, 0), (13, 4), (20, 4)])
def test_resume_equals_uninterrupted(tmp_path, stop_after, every):
    full_model, full = run(tmp_path / "full.pt", checkpoint_every_steps=every)
    state = tmp_path / "state.pt"
    with pytest.raises(KeyboardInterrupt):
        run(state, stop_after_steps=stop_after, checkpoint_every_steps=every)
    assert state.exists() or stop_after < math.ceil(240 / 32)
    resumed_model, resumed = run(state, checkpoint_every_steps=every)
    assert_same_weights(full_model, resumed_model)
    assert resumed.selected_epoch == full.selected_epoch
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in full.history]
    assert [h["train_loss"] for h in resumed.history] == pytest.approx([h["train_loss"] for h in full.history])


def test_selection_uses_validation():
    model, res = run()
    accs = [h["val_accuracy"] for h in res.history]
    if res.selected_epoch == 0:  # no epoch beat the initial weights on validation
        assert all(a <= res.val["accuracy"] for a in accs)
    else:  # the first epoch reaching the best validation accuracy
        assert res.selected_epoch == accs.index(max(accs)) + 1
        assert res.val["accuracy"] == max(accs)
    # the returned model carries the selected weights
    val_now = training.evaluate(model, training.batches_for(toy_splits().val, CPU))
    assert val_now["accuracy"] == pytest.approx(res.val["accuracy"])


def test_selection_last():
    training.seed_everything(0)
    model = toy_model()
    res = training.train(model, toy_splits(), dict(PROTOCOL, selection="last"), seed=7, device=CPU, progress=False)
    assert res.selected_epoch == PROTOCOL["epochs"]


@pytest.mark.parametrize("sched,expected", [
    ({"type": "step", "step_size": 2, "gamma": 0.1}, [1.0, 1.0, 0.1, 0.1, 0.01]),
    ({"type": "multistep", "milestones": [1, 4], "gamma": 0.5}, [1.0, 0.5, 0.5, 0.5, 0.25]),
    ({"type": "none"}, [1.0] * 5),
])
def test_schedules(sched, expected):
    opt = training.build_optimizer([nn.Parameter(torch.zeros(1))], {"optimizer": "sgd", "lr": 1.0})
    s = training.build_scheduler(opt, {"schedule": sched})
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    assert lrs == pytest.approx(expected)


def test_adam_and_sgd_options():
    p = [nn.Parameter(torch.zeros(1))]
    sgd = training.build_optimizer(p, {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True,
                                       "weight_decay": 5e-4})
    assert sgd.defaults["nesterov"] and sgd.defaults["weight_decay"] == 5e-4
    adam = training.build_optimizer(p, {"optimizer": "adam", "lr": 1e-3})
    assert isinstance(adam, torch.optim.Adam)
    with pytest.raises(ValueError, match="optimizer"):
        training.build_optimizer(p, {"optimizer": "rmsprop", "lr": 1.0})


def test_crop_flip_matches_reference():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 2, 6, 7)
    fill = torch.tensor([-1.0, -2.0])
    gen = torch.Generator().manual_seed(3)
    out = training.crop_flip(x, gen, 2, fill)
    # replay the same random draws and build each crop by hand
    gen = torch.Generator().manual_seed(3)
    oy = torch.randint(0, 5, (5,), generator=gen)
    ox = torch.randint(0, 5, (5,), generator=gen)
    flip = torch.rand(5, generator=gen) < 0.5
    for i in range(5):
        padded = fill.view(2, 1, 1).expand(2, 10, 11).clone()
        padded[:, 2:8, 2:9] = x[i]
        crop = padded[:, oy[i]:oy[i] + 6, ox[i]:ox[i] + 7]
        if flip[i]:
            crop = crop.flip(-1)
        assert torch.equal(out[i], crop)
    del g


def test_extra_loss_is_added():
    training.seed_everything(0)
    model = toy_model()
    calls = []

    def penalty(m):
        calls.append(1)
        return 10.0 * m[1].weight.pow(2).sum()

    training.train(model, toy_splits(), dict(PROTOCOL, epochs=1, augmentation="none"), seed=7, device=CPU,
                   progress=False, extra_loss=penalty)
    assert len(calls) == math.ceil(240 / 32)
    training.seed_everything(0)
    plain = toy_model()
    training.train(plain, toy_splits(), dict(PROTOCOL, epochs=1, augmentation="none"), seed=7, device=CPU,
                   progress=False)
    assert model[1].weight.norm() < plain[1].weight.norm()


def test_zero_epochs_keeps_initial_weights():
    training.seed_everything(0)
    model = toy_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = training.train(model, toy_splits(), dict(PROTOCOL, epochs=0), seed=7, device=CPU, progress=False)
    assert res.selected_epoch == 0 and res.history == []
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
