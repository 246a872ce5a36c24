"""Iterative l-infinity adversarial attacks for MINT Fig. 6 (Ganesh, Corso, Sekeh, ICPR 2020): accuracy of
the original and the pruned network under attack, as a function of the attack budget ``eps``.

Both attacks are the iterative methods of Kurakin, Goodfellow, Bengio, "Adversarial examples in the
physical world" (2016), Sec. 2.2 and 2.3:

- ``iterative_fgsm`` -- the *basic iterative method* (BIM, untargeted):
      x_0 = x,   x_{t+1} = Clip_{x,eps}( x_t + alpha * sign( grad_x CE(f(x_t), y) ) )
- ``iterative_least_likely`` -- the *iterative least-likely class method* (targeted):
      y_LL = argmin_c f(x)_c  (on the clean input),
      x_{t+1} = Clip_{x,eps}( x_t - alpha * sign( grad_x CE(f(x_t), y_LL) ) )

``Clip_{x,eps}`` projects onto the l-infinity ball of radius ``eps`` around the clean ``x`` and, when a
``clamp=(lo, hi)`` range is given, onto the valid input range as well.

Step rule (Kurakin et al., with their pixel scale 0..255 mapped to ``eps`` in units of x / 255)
-------------------------------------------------------------------------------------------------
- ``steps = ceil( min(255 * eps + 4, 1.25 * 255 * eps) )``, at least 1: "enough iterations for the
  adversarial example to reach the edge of the eps max-norm ball", but not too many.
- ``step_size = 1/255`` (one intensity level) when ``255 * eps >= 1``; otherwise ``step_size = eps``
  (a budget smaller than one level is spent in a single step).

With these defaults ``steps * step_size >= eps`` always, so the ball's edge is reachable. Both values
can be overridden. ``eps`` is in the units of x: for inputs normalised as ``(x - mean) / std`` an eps of
``e`` in pixel units corresponds to ``e / std`` per channel, and the valid range is
``((0 - mean) / std, (1 - mean) / std)``, which :func:`normalised_clamp` builds.

All functions are deterministic (no random start), run on the device of ``x``, evaluate the model in
eval mode (restoring every submodule's previous mode afterwards), and differentiate with respect to the
input only (``torch.autograd.grad``), so the model parameters' ``.grad`` are never touched.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .metrics import eval_mode

Bound = Union[float, torch.Tensor]
Clamp = Union[tuple[Bound, Bound], None]

ATTACKS = ("ifgsm", "ill")

__all__ = [
    "ATTACKS",
    "default_schedule",
    "normalised_clamp",
    "iterative_fgsm",
    "least_likely_class",
    "iterative_least_likely",
    "accuracy_under_attack",
]


def default_schedule(eps: float) -> tuple[float, int]:
    """Kurakin et al. (2016) step size and number of iterations for budget ``eps`` (units of x / 255).

    Returns ``(step_size, steps)``: ``steps = ceil(min(255*eps + 4, 1.25*255*eps))`` (at least 1) and
    ``step_size = 1/255`` if ``255*eps >= 1`` else ``eps``.
    """
    _check_eps(eps)
    e255 = 255.0 * float(eps)
    # The tolerance keeps float noise (0.2 * 255 = 51.00000000000001) from adding a whole step.
    steps = max(1, math.ceil(min(e255 + 4.0, 1.25 * e255) - 1e-9))
    step_size = 1.0 / 255.0 if e255 >= 1.0 - 1e-9 else float(eps)
    return step_size, steps


def normalised_clamp(mean: Sequence[float], std: Sequence[float], *,
                     lo: float = 0.0, hi: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The valid range ``((lo - mean) / std, (hi - mean) / std)`` of inputs normalised per channel,
    shaped ``(1, C, 1, 1)`` to broadcast over ``(N, C, H, W)`` batches; pass it as ``clamp=``."""
    m = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    if m.shape != s.shape:
        raise ValueError(f"mean and std differ in length: {len(mean)} vs {len(std)}")
    return (lo - m) / s, (hi - m) / s


def _check_eps(eps: float) -> None:
    if not math.isfinite(float(eps)) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got eps={eps!r}")


def _bounds(x: torch.Tensor, eps: float, clamp: Clamp) -> tuple[torch.Tensor, torch.Tensor]:
    """Element-wise lower and upper bounds of Clip_{x,eps} intersected with the clamp range."""
    lower, upper = x - eps, x + eps
    if clamp is None:
        return lower, upper
    lo, hi = (torch.as_tensor(b, dtype=x.dtype, device=x.device) for b in clamp)
    if bool((lo > hi).any()):
        raise ValueError(f"clamp lower bound exceeds upper bound: clamp={clamp!r}")
    # A clean input outside the range would make the two boxes disjoint; this is almost always a
    # normalised batch attacked with the default (0, 1) range, so say so rather than clip silently.
    tol = 1e-5
    if bool((x < lo - tol).any()) or bool((x > hi + tol).any()):
        raise ValueError(
            f"x has values in [{x.min().item():.4g}, {x.max().item():.4g}], outside clamp={clamp!r}; "
            "for normalised inputs pass clamp=normalised_clamp(mean, std) or clamp=None")
    return torch.maximum(lower, lo), torch.minimum(upper, hi)


def _iterate(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float, direction: float,
             step_size: float | None, steps: int | None, clamp: Clamp) -> torch.Tensor:
    """Shared BIM loop: ``direction=+1`` ascends CE(labels) (untargeted), ``-1`` descends (targeted)."""
    _check_eps(eps)
    x = x.detach()
    if eps == 0:
        return x.clone()
    default_alpha, default_steps = default_schedule(eps)
    alpha = default_alpha if step_size is None else float(step_size)
    n_steps = default_steps if steps is None else int(steps)
    if alpha <= 0 or n_steps < 1:
        raise ValueError(f"need step_size > 0 and steps >= 1, got step_size={alpha!r}, steps={n_steps!r}")
    lower, upper = _bounds(x, eps, clamp)
    labels = labels.to(x.device)
    x_adv = x.clone()
    with eval_mode(model), torch.enable_grad():
        for _ in range(n_steps):
            x_adv.requires_grad_(True)
            # Sum, not mean: only the sign is used, and a mean would shrink per-sample gradients of
            # large batches towards underflow.
            loss = F.cross_entropy(model(x_adv), labels, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x_adv)
            with torch.no_grad():
                x_adv = x_adv + direction * alpha * grad.sign()
                x_adv = torch.minimum(torch.maximum(x_adv, lower), upper)
            x_adv = x_adv.detach()
    return x_adv


def iterative_fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
                   step_size: float | None = None, steps: int | None = None,
                   clamp: Clamp = (0.0, 1.0)) -> torch.Tensor:
    """Untargeted basic iterative method (Kurakin et al. 2016, Sec. 2.2), as in MINT Fig. 6.

    Returns ``x_adv`` with ``|x_adv - x| <= eps`` element-wise (and inside ``clamp`` unless it is None),
    built by ``steps`` signed-gradient ascent steps of size ``step_size`` on the cross-entropy of the
    true labels ``y``; defaults follow :func:`default_schedule`. ``eps = 0`` returns a copy of ``x``.
    """
    return _iterate(model, x, torch.as_tensor(y), eps, +1.0, step_size, steps, clamp)


def least_likely_class(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``argmin_c f(x)_c``: the class the model finds least likely for the clean input (eval mode)."""
    with eval_mode(model), torch.no_grad():
        return model(x.detach()).argmin(dim=1)


def iterative_least_likely(model: nn.Module, x: torch.Tensor, eps: float, *,
                           step_size: float | None = None, steps: int | None = None,
                           clamp: Clamp = (0.0, 1.0), target: torch.Tensor | None = None) -> torch.Tensor:
    """Iterative least-likely class method (Kurakin et al. 2016, Sec. 2.3), as in MINT Fig. 6.

    Descends the cross-entropy towards ``y_LL = argmin f(x)`` of the clean prediction (or towards
    ``target`` when given, e.g. precomputed): ``x_{t+1} = Clip_{x,eps}(x_t - alpha * sign(grad))``.
    Same step rules, ball and clamp as :func:`iterative_fgsm`.
    """
    if target is None:
        target = least_likely_class(model, x)
    return _iterate(model, x, torch.as_tensor(target), eps, -1.0, step_size, steps, clamp)


def accuracy_under_attack(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                          eps_values: Sequence[float], attack: str = "ifgsm", *,
                          max_samples: int | None = None, **attack_kwargs) -> list[dict]:
    """Top-1 accuracy on adversarial examples for each ``eps`` (one curve of MINT Fig. 6).

    ``batches`` yields ``(x, y)`` pairs (iterated once; all eps are evaluated per batch, so a
    DataLoader with shuffling is fine); ``max_samples`` truncates to the first that many samples.
    ``attack`` is ``"ifgsm"`` (:func:`iterative_fgsm`) or ``"ill"`` (:func:`iterative_least_likely`);
    ``attack_kwargs`` (step_size, steps, clamp) pass through. Returns one dict per eps, in the given
    order: ``{"eps", "accuracy", "n"}``, where accuracy is w.r.t. the true label; for ``"ill"`` also
    ``"target_success"``, the fraction classified as the least-likely target.
    """
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; allowed values: {', '.join(map(repr, ATTACKS))}")
    eps_list = [float(e) for e in eps_values]
    for e in eps_list:
        _check_eps(e)
    if max_samples is not None and max_samples < 1:
        raise ValueError(f"max_samples must be >= 1 or None, got max_samples={max_samples!r}")

    correct = [0] * len(eps_list)
    hit = [0] * len(eps_list)
    n = 0
    for x, y in batches:
        if max_samples is not None:
            if n >= max_samples:
                break
            x, y = x[: max_samples - n], y[: max_samples - n]
        y = y.to(x.device)
        target = least_likely_class(model, x) if attack == "ill" else None
        for i, eps in enumerate(eps_list):
            if attack == "ifgsm":
                x_adv = iterative_fgsm(model, x, y, eps, **attack_kwargs)
            else:
                x_adv = iterative_least_likely(model, x, eps, target=target, **attack_kwargs)
            with eval_mode(model), torch.no_grad():
                pred = model(x_adv).argmax(dim=1)
            correct[i] += int((pred == y).sum())
            if target is not None:
                hit[i] += int((pred == target).sum())
        n += len(y)
    if n == 0:
        raise ValueError("batches yielded no samples")

    rows = []
    for i, eps in enumerate(eps_list):
        row = {"eps": eps, "accuracy": correct[i] / n, "n": n}
        if attack == "ill":
            row["target_success"] = hit[i] / n
        rows.append(row)
    return rows
