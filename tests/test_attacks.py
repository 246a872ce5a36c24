"""Tests of benchmarks.attacks (iterative FGSM / least-likely class attacks for MINT Fig. 6) on a toy
classifier trained deterministically on three Gaussian blobs in [0, 1]^8, plus analytic checks on a
linear model whose optimal l-infinity attack is known in closed form."""
import copy
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from benchmarks.attacks import (accuracy_under_attack, default_schedule, iterative_fgsm,
                                iterative_least_likely, least_likely_class, normalised_clamp)

EPS = [0.0, 0.02, 0.05, 0.1, 0.2, 0.4]


@pytest.fixture(scope="module")
def blobs():
    """(model, x, y): an MLP trained to >= 98 % accuracy on 300 points of 3 well-separated blobs."""
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        g = torch.Generator().manual_seed(0)
        means = 0.3 + 0.4 * torch.rand(3, 8, generator=g)
        y = torch.arange(3).repeat_interleave(100)
        x = (means[y] + 0.05 * torch.randn(300, 8, generator=g)).clamp(0.0, 1.0)
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        for _ in range(300):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        model.zero_grad(set_to_none=True)
    finally:
        torch.set_num_threads(n_threads)
    with torch.no_grad():
        assert (model(x).argmax(1) == y).float().mean() >= 0.98
    return model, x, y


def _batches(x, y, size=128):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(y), size)]


def _clean_accuracy(model, x, y):
    with torch.no_grad():
        return int((model(x).argmax(1) == y).sum()) / len(y)


def _non_increasing(v):
    return all(b <= a for a, b in zip(v, v[1:]))


# --- step rule -----------------------------------------------------------------------------------

@pytest.mark.parametrize("eps255, steps, alpha255", [
    (16, 20, 1.0),     # min(16 + 4, 1.25 * 16) = 20
    (4, 5, 1.0),       # min(8, 5) = 5
    (2, 3, 1.0),       # min(6, 2.5) -> 3
    (51, 55, 1.0),     # eps = 0.2: min(55, 63.75) = 55 despite 0.2 * 255 = 51.00000000000001
    (0.5, 1, 0.5),     # below one intensity level: a single step of size eps
])
def test_default_schedule_follows_kurakin(eps255, steps, alpha255):
    eps = 0.2 if eps255 == 51 else eps255 / 255
    alpha, n = default_schedule(eps)
    assert n == steps
    assert alpha == pytest.approx(alpha255 / 255)
    assert alpha * n >= eps - 1e-12  # the edge of the ball is reachable


# --- analytic check on a linear model --------------------------------------------------------------

def _linear_model(w):
    """Two-class model with logits (0, w.x): class 1 iff w.x > 0."""
    lin = nn.Linear(len(w), 2, bias=False)
    with torch.no_grad():
        lin.weight.zero_()
        lin.weight[1] = w
    return lin


def test_ifgsm_reaches_the_optimal_corner_of_a_linear_model():
    # For class 1 the loss grows fastest along -sign(w); with steps * alpha >= eps the iterate ends at
    # the corner x - eps * sign(w) of the ball (no clamp).
    w = torch.tensor([1.0, -2.0, 0.5, -0.25])
    model = _linear_model(w)
    x = torch.tensor([[0.3, -0.1, 0.2, 0.0], [1.0, 0.0, -1.0, 2.0]])
    y = torch.tensor([1, 1])
    x_adv = iterative_fgsm(model, x, y, 0.1, clamp=None)
    torch.testing.assert_close(x_adv, x - 0.1 * w.sign(), rtol=0, atol=1e-6)
    # The least-likely class of a class-1 prediction is class 0, reached by the same move.
    x_ll = iterative_least_likely(model, x[:1], 0.1, clamp=None)
    torch.testing.assert_close(x_ll, x[:1] - 0.1 * w.sign(), rtol=0, atol=1e-6)
    # Too few steps stop short of the corner: 2 steps of 0.02 move exactly 0.04 per coordinate.
    x_short = iterative_fgsm(model, x, y, 0.1, step_size=0.02, steps=2, clamp=None)
    torch.testing.assert_close(x_short, x - 0.04 * w.sign(), rtol=0, atol=1e-6)


# --- toy classifier ------------------------------------------------------------------------------

@pytest.mark.parametrize("attack", ["ifgsm", "ill"])
def test_accuracy_decreases_with_eps(blobs, attack):
    model, x, y = blobs
    rows = accuracy_under_attack(model, _batches(x, y), EPS, attack)
    assert [r["eps"] for r in rows] == EPS
    assert all(r["n"] == len(y) for r in rows)
    acc = [r["accuracy"] for r in rows]
    clean = _clean_accuracy(model, x, y)
    assert acc[0] == clean  # eps = 0 leaves every input as it was
    assert _non_increasing(acc), acc
    assert acc[-1] <= clean - 0.5, acc
    assert acc[2] < clean, acc  # a small budget already hurts
    if attack == "ill":
        hit = [r["target_success"] for r in rows]
        assert all(b >= a for a, b in zip(hit, hit[1:])), hit
        assert hit[0] == 0.0  # the least likely class is never the prediction on clean inputs
        assert hit[-1] >= 0.9, hit
    else:
        assert "target_success" not in rows[0]


def test_ill_metrics_match_a_direct_computation(blobs):
    model, x, y = blobs
    eps = 0.1
    row = accuracy_under_attack(model, _batches(x, y), [eps], "ill")[0]
    target = least_likely_class(model, x)
    x_adv = iterative_least_likely(model, x, eps)
    with torch.no_grad():
        pred = model(x_adv).argmax(1)
    assert row["accuracy"] == pytest.approx((pred == y).float().mean().item())
    assert row["target_success"] == pytest.approx((pred == target).float().mean().item())
    assert 0.0 < row["target_success"] < 1.0  # this eps is in the interesting range


@pytest.mark.parametrize("eps", [0.02, 0.1, 0.4])
def test_adversarial_examples_stay_in_ball_and_range(blobs, eps):
    model, x, y = blobs
    for x_adv in (iterative_fgsm(model, x, y, eps), iterative_least_likely(model, x, eps)):
        assert x_adv.shape == x.shape and not x_adv.requires_grad
        assert (x_adv - x).abs().max().item() <= eps + 1e-6
        assert x_adv.min().item() >= 0.0 and x_adv.max().item() <= 1.0
        assert (x_adv - x).abs().max().item() >= min(eps, 1 / 255) - 1e-6  # it did move
    # A range tighter than [0, 1] (the data's own extent, so the clamp binds) is honoured too.
    lo, hi = x.min().item(), x.max().item()
    x_adv = iterative_fgsm(model, x, y, eps, clamp=(lo, hi))
    assert x_adv.min().item() >= lo - 1e-7 and x_adv.max().item() <= hi + 1e-7


def test_eps_zero_returns_x_and_attacks_are_deterministic(blobs):
    model, x, y = blobs
    assert torch.equal(iterative_fgsm(model, x, y, 0.0), x)
    assert torch.equal(iterative_least_likely(model, x, 0.0), x)
    assert torch.equal(iterative_fgsm(model, x, y, 0.1), iterative_fgsm(model, x, y, 0.1))


def test_parameters_get_no_grad_and_mode_is_restored(blobs):
    model, x, y = blobs
    model.train()
    model[1].eval()  # a submodule deliberately left in eval must stay so
    try:
        iterative_fgsm(model, x, y, 0.1)
        iterative_least_likely(model, x, 0.1)
        accuracy_under_attack(model, [(x, y)], [0.05], "ill")
        assert model.training and model[0].training and not model[1].training
    finally:
        model.eval()
    assert all(p.grad is None for p in model.parameters())


def test_eval_mode_is_used_inside():
    # Dropout in train mode would make the gradient random; in eval mode the attack is reproducible.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2)).train()
    x = torch.rand(32, 4)
    y = torch.randint(0, 2, (32,))
    torch.manual_seed(1)
    a = iterative_fgsm(model, x, y, 0.2, clamp=None)
    torch.manual_seed(2)
    b = iterative_fgsm(model, x, y, 0.2, clamp=None)
    assert torch.equal(a, b)
    assert model.training


def test_max_samples_truncates(blobs):
    model, x, y = blobs
    rows = accuracy_under_attack(model, _batches(x, y, size=64), [0.0, 0.1], max_samples=100)
    assert [r["n"] for r in rows] == [100, 100]
    assert rows[0]["accuracy"] == _clean_accuracy(model, x[:100], y[:100])


def test_normalised_inputs_with_per_channel_range():
    mean, std = (0.5, 0.4, 0.3), (0.25, 0.2, 0.1)
    lo, hi = normalised_clamp(mean, std)
    torch.testing.assert_close(lo.flatten(), torch.tensor([-2.0, -2.0, -3.0]))
    torch.testing.assert_close(hi.flatten(), torch.tensor([2.0, 3.0, 7.0]))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 3))
    pixels = torch.rand(6, 3, 5, 5)
    pixels[:, :, 0, 0] = 1.0  # some pixels at the range's edge, where the clamp must bind
    x = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    y = torch.randint(0, 3, (6,))
    with pytest.raises(ValueError, match=r"outside clamp=.*clamp=None"):
        iterative_fgsm(model, x, y, 0.5)  # the default (0, 1) range does not fit normalised data
    x_adv = iterative_fgsm(model, x, y, 0.5, clamp=(lo, hi))
    assert (x_adv - x).abs().max().item() <= 0.5 + 1e-6
    assert bool((x_adv >= lo - 1e-6).all()) and bool((x_adv <= hi + 1e-6).all())
    assert iterative_fgsm(model, x, y, 0.5, clamp=None).shape == x.shape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_inputs_device(blobs):
    model, x, y = blobs
    model = copy.deepcopy(model).cuda()  # a copy: the module-scoped fixture stays on the CPU
    x_adv = iterative_fgsm(model, x.cuda(), y.cuda(), 0.1)
    assert x_adv.device.type == "cuda"
    assert (x_adv.cpu() - x).abs().max().item() <= 0.1 + 1e-6


# --- errors --------------------------------------------------------------------------------------

def test_errors_name_the_offending_value(blobs):
    model, x, y = blobs
    with pytest.raises(ValueError, match=r"'pgd'.*'ifgsm', 'ill'"):
        accuracy_under_attack(model, [(x, y)], [0.1], "pgd")
    with pytest.raises(ValueError, match=r"eps=-0\.1"):
        accuracy_under_attack(model, [(x, y)], [0.0, -0.1])
    with pytest.raises(ValueError, match=r"eps=-0\.5"):
        iterative_fgsm(model, x, y, -0.5)
    with pytest.raises(ValueError, match=r"eps=-0\.5"):
        iterative_least_likely(model, x, -0.5)
    with pytest.raises(ValueError, match=r"eps=nan"):
        iterative_fgsm(model, x, y, math.nan)
    with pytest.raises(ValueError, match=r"steps=0"):
        iterative_fgsm(model, x, y, 0.1, steps=0)
    with pytest.raises(ValueError, match="no samples"):
        accuracy_under_attack(model, [], [0.1])
