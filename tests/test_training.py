"""Trainer: determinism, exact resume after interruption, validation-based selection, schedules,
batched augmentation, hooks (callbacks with exactly resumed state, extra loss terms)."""
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


# ----------------------------------------------------------------------------------------------------
# hooks: callbacks and extra loss terms
# ----------------------------------------------------------------------------------------------------
STEPS = math.ceil(240 / 32)  # steps per epoch of the toy training split


class StepStats(training.Callback):
    """Stateful per-step callback: a step count, an EMA of the loss (a device tensor: no host sync) and
    every (epoch, step, global_step) seen; ``seen_here`` is what this object saw itself (not saved)."""

    def __init__(self):
        self.count, self.ema, self.seen = 0, None, []
        self.seen_here = []

    def on_step_end(self, ctx):
        assert not ctx.loss.requires_grad
        self.count += 1
        self.ema = ctx.loss.clone() if self.ema is None else 0.9 * self.ema + 0.1 * ctx.loss
        self.seen.append((ctx.epoch, ctx.step, ctx.global_step))
        self.seen_here.append((ctx.epoch, ctx.step, ctx.global_step))

    def state_dict(self):
        return {"count": self.count, "ema": self.ema, "seen": list(self.seen)}

    def load_state_dict(self, state):
        self.count, self.ema, self.seen = state["count"], state["ema"], list(state["seen"])


class EpochStats(training.Callback):
    """Per-epoch callback: the epochs seen and the first layer's weight norm at each."""

    def __init__(self):
        self.epochs, self.norms, self.epochs_here = [], [], []

    def on_epoch_end(self, ctx):
        with torch.no_grad():
            self.norms.append(ctx.model[1].weight.norm().item())
        self.epochs.append(ctx.epoch)
        self.epochs_here.append(ctx.epoch)

    def state_dict(self):
        return {"epochs": list(self.epochs), "norms": list(self.norms)}

    def load_state_dict(self, state):
        self.epochs, self.norms = list(state["epochs"]), list(state["norms"])


def last_save_point(stop_after: int, every: int) -> int:
    """Global step count of the last state saved before a kill after ``stop_after`` steps (0: none)."""
    points = [0]
    for e in range(PROTOCOL["epochs"]):
        if (e + 1) * STEPS < stop_after:  # an epoch-end save (a kill on the epoch's last step precedes it)
            points.append((e + 1) * STEPS)
        if every:
            points += [e * STEPS + k for k in range(every, STEPS, every) if e * STEPS + k <= stop_after]
    return max(points)


@pytest.mark.parametrize("stop_after,every", [(3, 0), (11, 0), (13, 4), (16, 4), (20, 4)])
def test_callbacks_resume_exactly(tmp_path, stop_after, every):
    full_cbs = [StepStats(), EpochStats()]
    full_model, full = run(tmp_path / "full.pt", checkpoint_every_steps=every, callbacks=full_cbs)
    state = tmp_path / "state.pt"
    with pytest.raises(KeyboardInterrupt):
        run(state, stop_after_steps=stop_after, checkpoint_every_steps=every,
            callbacks=[StepStats(), EpochStats()])
    cbs = [StepStats(), EpochStats()]  # fresh objects: their state comes from the state file
    resumed_model, resumed = run(state, checkpoint_every_steps=every, callbacks=cbs)
    assert_same_weights(full_model, resumed_model)
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in full.history]
    step_full, epoch_full = full_cbs
    step_res, epoch_res = cbs
    assert step_full.count == step_res.count == PROTOCOL["epochs"] * STEPS
    assert torch.equal(step_full.ema, step_res.ema)
    assert step_full.seen == step_res.seen
    assert epoch_full.state_dict() == epoch_res.state_dict()
    # the resumed objects saw exactly the steps and epochs after the save point
    k = last_save_point(stop_after, every)
    assert step_res.seen_here == step_full.seen[k:]
    assert epoch_res.epochs_here == list(range(k // STEPS + 1, PROTOCOL["epochs"] + 1))
    # a rerun of the finished run restores the final state and trains no further
    again = [StepStats(), EpochStats()]
    run(state, checkpoint_every_steps=every, callbacks=again)
    assert again[0].seen == step_full.seen and again[0].seen_here == [] and torch.equal(again[0].ema, step_full.ema)
    assert again[1].state_dict() == epoch_full.state_dict() and again[1].epochs_here == []


def test_resume_needs_the_same_callbacks(tmp_path):
    state = tmp_path / "state.pt"
    with pytest.raises(KeyboardInterrupt):
        run(state, stop_after_steps=STEPS + 2, callbacks=[StepStats(), EpochStats()])
    with pytest.raises(ValueError, match="callbacks"):
        run(state, callbacks=[StepStats()])


def test_callbacks_see_every_step_and_the_trained_model():
    training.seed_everything(0)
    model = toy_model()
    calls = []

    class Probe(training.Callback):
        def __init__(self):
            self.steps, self.epochs, self.begun, self.prev = [], [], [], None

        def on_train_begin(self, m):
            self.begun.append(m)

        def on_step_end(self, ctx):
            assert ctx.model is model and ctx.steps_per_epoch == STEPS
            w = ctx.model[1].weight.detach().clone()
            if self.prev is not None:  # called after the optimiser step: the weights moved
                assert not torch.equal(w, self.prev)
            self.prev = w
            assert ctx.logits.shape == (ctx.y.shape[0], 3) and ctx.x.shape[0] == ctx.y.shape[0]
            self.steps.append((ctx.epoch, ctx.step, ctx.global_step, ctx.y.shape[0], ctx.lr, ctx.loss.clone()))
            calls.append("step")

        def on_epoch_end(self, ctx):
            assert ctx.model is model
            self.epochs.append((ctx.epoch, ctx.row, ctx.val, ctx.best_epoch,
                                ctx.model[1].weight.detach().clone()))
            calls.append("epoch")

    probe, second = Probe(), training.Callback()  # the base class: all no-ops
    res = training.train(model, toy_splits(), dict(PROTOCOL, selection="last"), seed=7, device=CPU,
                         progress=False, callbacks=[probe, second])
    epochs = PROTOCOL["epochs"]
    assert probe.begun == [model]
    assert len(probe.steps) == epochs * STEPS
    assert calls == (["step"] * STEPS + ["epoch"]) * epochs
    assert [(e, s, g) for e, s, g, *_ in probe.steps] == [
        (e, s, (e - 1) * STEPS + s) for e in range(1, epochs + 1) for s in range(STEPS)]
    for e in range(1, epochs + 1):
        rows = [r for r in probe.steps if r[0] == e]
        assert sum(r[3] for r in rows) == 240  # every sample once per epoch
        assert {r[4] for r in rows} == {res.history[e - 1]["lr"]}
        mean_loss = sum(r[5] * r[3] for r in rows) / 240
        assert mean_loss.item() == pytest.approx(res.history[e - 1]["train_loss"], rel=1e-5)
    assert [row for _, row, *_ in probe.epochs] == res.history
    for e, row, val, best_epoch, _ in probe.epochs:
        assert row["epoch"] == e and val["loss"] == row["val_loss"] and best_epoch == e  # selection "last"
    # the model they get is the model being trained: with selection "last" it ends as the last epoch's
    assert torch.equal(probe.epochs[-1][4], model[1].weight)
    assert not torch.equal(probe.epochs[0][4], model[1].weight)


def test_read_only_callback_changes_nothing():
    class Reader(training.Callback):
        def __init__(self):
            self.total = torch.zeros(())

        def on_step_end(self, ctx):
            with torch.no_grad():
                self.total += ctx.loss + sum(p.norm() for p in ctx.model.parameters()) + ctx.logits.sum()

        def on_epoch_end(self, ctx):
            self.norm = ctx.model[1].weight.norm().item()

        def state_dict(self):
            return {"total": self.total}

    plain_model, plain = run()
    model, res = run(callbacks=[Reader(), Reader()])
    assert_same_weights(plain_model, model)
    assert [h["train_loss"] for h in res.history] == [h["train_loss"] for h in plain.history]
    assert [h["val_loss"] for h in res.history] == [h["val_loss"] for h in plain.history]


def test_extra_losses_add_up():
    proto = dict(PROTOCOL, epochs=2, augmentation="none")
    calls = {"a": 0, "b": 0}

    def a(m):
        calls["a"] += 1
        return 3.0 * m[1].weight.pow(2).sum()

    def b(m):
        calls["b"] += 1
        return 2.0 * m[4].weight.abs().sum()

    def train_with(**kw):
        training.seed_everything(0)
        model = toy_model()
        res = training.train(model, toy_splits(), proto, seed=7, device=CPU, progress=False, **kw)
        return model, res

    two, res_two = train_with(extra_losses=[a, b])
    assert calls == {"a": 2 * STEPS, "b": 2 * STEPS}
    summed, res_summed = train_with(extra_losses=[lambda m: a(m) + b(m)])
    mixed, res_mixed = train_with(extra_loss=a, extra_losses=[b])  # the old keyword is one more term
    plain, _ = train_with()
    for other in (summed, mixed):
        for (k, v1), (_, v2) in zip(two.state_dict().items(), other.state_dict().items()):
            assert torch.allclose(v1, v2, rtol=1e-5, atol=1e-6), k
    assert_same_weights(two, mixed)  # same terms in the same order: bit-identical
    assert model_norm(two) < model_norm(plain)
    # terms that do not depend on the weights shift the loss and leave the gradients alone
    const, res_const = train_with(extra_losses=[lambda m: torch.tensor(1.5), lambda m: torch.tensor(2.25)])
    plain, res_plain = train_with()
    assert_same_weights(const, plain)
    assert [h["train_loss"] for h in res_const.history] == pytest.approx(
        [h["train_loss"] + 3.75 for h in res_plain.history], rel=1e-6)


@torch.no_grad()
def model_norm(m: nn.Module) -> float:
    return float(m[1].weight.norm() + m[4].weight.norm())
