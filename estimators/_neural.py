"""Shared pieces of the neural variational MI bounds (``mine``, ``infonce``): critics, input preparation and
the one training loop.

A critic scores pairs (x, y). Two forms:

* ``concat``: T(x, y) = MLP([x, y]) -> scalar. All B x B pair scores cost B^2 network evaluations.
* ``separable``: T(x, y) = g(x) . h(y) with two MLP encoders; all B x B scores are one matrix product.

Training is Adam on minibatches drawn with replacement from the n samples, every random draw from one
``torch.Generator`` and the network initialisation from ``torch.manual_seed(seed)`` inside
``torch.random.fork_rng``, so a given seed gives the same estimate and the caller's global RNG is untouched.
Inputs are z-scored per column (labels become one-hot and are left as they are); the networks run in
float32.

Held-out evaluation: the samples are split once (seeded) into a training part and a held-out part of
``test_fraction`` (default 0.5). The critic is trained on the first and the bound is evaluated on the
second, with early stopping: ``stop_fraction`` of the training part is set aside, the bound is computed on
it every ``eval_every`` steps, and the critic of the best check is the one evaluated on the held-out part.
Why: both bounds hold for any fixed critic in expectation over fresh samples; evaluated on the
samples it was fitted to, a flexible critic overfits and the "bound" can exceed the true MI (seen:
InfoNCE 2.26 nats against a truth of 1.78 on a 10-class mixture at n = 500). Without early stopping a
flexible critic also overfits its training part and the held-out bound falls far below the truth (seen:
InfoNCE at -10 nats on 25-dimensional Gaussians with 1,000 training samples and 1,500 steps).
``test_fraction = 0`` trains and evaluates on all samples (the original papers' practice).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .base import EstimatorInputError, is_labels

CRITICS = ("concat", "separable")


@dataclass(frozen=True)
class NeuralParams:
    """Fields every neural bound shares (each estimator's ``Params`` extends this)."""

    critic: str = "concat"  # "concat" or "separable" (see module docstring)
    hidden: int = 64  # units per hidden layer
    layers: int = 2  # hidden layers per MLP
    embed: int = 16  # output size of g and h (separable critic only)
    lr: float = 2e-3  # Adam learning rate
    steps: int = 1500  # optimiser steps
    batch_size: int = 256  # samples per step (capped at n)
    seed: int = 0
    test_fraction: float = 0.5  # share of samples held out to evaluate the bound (0: evaluate on all)
    stop_fraction: float = 0.2  # share of the training part used to pick the best step (0: last step)
    eval_every: int = 100  # steps between early-stopping checks
    device: str = "auto"


def check_params(p: NeuralParams) -> None:
    if p.critic not in CRITICS:
        raise EstimatorInputError(f"critic: expected one of {CRITICS}, got {p.critic!r}")
    for name in ("hidden", "layers", "embed", "steps", "batch_size"):
        if getattr(p, name) < 1:
            raise EstimatorInputError(f"{name}: expected a positive integer, got {getattr(p, name)}")
    if not p.lr > 0:
        raise EstimatorInputError(f"lr: expected > 0, got {p.lr}")
    if not 0 <= p.stop_fraction < 1:
        raise EstimatorInputError(f"stop_fraction: expected a value in [0, 1), got {p.stop_fraction}")
    if p.eval_every < 1:
        raise EstimatorInputError(f"eval_every: expected a positive integer, got {p.eval_every}")
    if not 0 <= p.test_fraction < 1:
        raise EstimatorInputError(f"test_fraction: expected a value in [0, 1), got {p.test_fraction}")


def mlp(d_in: int, d_out: int, hidden: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(d_in if i == 0 else hidden, hidden), nn.ReLU()]
    mods.append(nn.Linear(hidden, d_out))
    return nn.Sequential(*mods)


class ConcatCritic(nn.Module):
    def __init__(self, d_x: int, d_y: int, p: NeuralParams):
        super().__init__()
        self.net = mlp(d_x + d_y, 1, p.hidden, p.layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Scores of aligned pairs (x_i, y_i) -> (N,)."""
        return self.net(torch.cat([x, y], dim=1)).squeeze(1)

    def pair_scores(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """All pairs: entry (i, j) scores (x_i, y_j) -> (B, B)."""
        b = x.shape[0]
        grid = torch.cat([x[:, None, :].expand(b, b, -1), y[None, :, :].expand(b, b, -1)], dim=2)
        return self.net(grid).squeeze(2)


class SeparableCritic(nn.Module):
    def __init__(self, d_x: int, d_y: int, p: NeuralParams):
        super().__init__()
        self.g = mlp(d_x, p.embed, p.hidden, p.layers)
        self.h = mlp(d_y, p.embed, p.hidden, p.layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.g(x) * self.h(y)).sum(1)

    def pair_scores(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.g(x) @ self.h(y).T


def make_critic(d_x: int, d_y: int, p: NeuralParams) -> nn.Module:
    return (ConcatCritic if p.critic == "concat" else SeparableCritic)(d_x, d_y, p)


def prepare(t: torch.Tensor) -> torch.Tensor:
    """Labels -> one-hot; real samples -> per-column z-scores (constant columns -> 0). float32."""
    if is_labels(t):
        if int(t.min()) < 0:
            raise EstimatorInputError(f"labels: expected non-negative class indices, got min {int(t.min())}")
        return nn.functional.one_hot(t).to(torch.float32)
    std = t.std(0, unbiased=False)
    return ((t - t.mean(0)) / torch.where(std > 0, std, torch.ones_like(std))).to(torch.float32)


def log_mean_exp(v: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(v.reshape(-1), 0) - math.log(v.numel())


# batch_loss(critic, x_batch, y_batch, y_other, state) -> loss; y_other is an independent draw of y
BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor, dict], torch.Tensor]
# final(critic, x, y, generator) -> estimate over the held-out samples (no gradients)
Final = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


def train_and_evaluate(x: torch.Tensor, y: torch.Tensor, p: NeuralParams, device: torch.device,
                       batch_loss: BatchLoss, final: Final) -> float:
    """Train a fresh critic with ``batch_loss`` for ``p.steps`` Adam steps, then return ``final``."""
    check_params(p)
    fx, fy = prepare(x), prepare(y)
    n_all = fx.shape[0]
    n_test = int(round(p.test_fraction * n_all))
    if p.test_fraction > 0 and (n_test < 2 or n_all - n_test < 2):
        raise EstimatorInputError(f"need at least 2 training and 2 held-out samples with test_fraction "
                                  f"{p.test_fraction}, got n = {n_all}")
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(p.seed)
        critic = make_critic(fx.shape[1], fy.shape[1], p).to(device)
        opt = torch.optim.Adam(critic.parameters(), lr=p.lr)
        gen = torch.Generator(device=device).manual_seed(p.seed)
        if n_test:
            perm = torch.randperm(n_all, generator=gen, device=device)
            ex, ey = fx[perm[:n_test]], fy[perm[:n_test]]
            fx, fy = fx[perm[n_test:]], fy[perm[n_test:]]
        else:
            ex, ey = fx, fy
        # Early stopping: a slice of the training part scores the critic every ``eval_every`` steps and
        # the best-scoring critic is the one evaluated on the held-out part.
        n_stop = int(round(p.stop_fraction * fx.shape[0])) if n_test and p.stop_fraction > 0 else 0
        if n_stop >= 2 and fx.shape[0] - n_stop >= 2:
            sx, sy, fx, fy = fx[:n_stop], fy[:n_stop], fx[n_stop:], fy[n_stop:]
        else:
            n_stop = 0
        n = fx.shape[0]
        batch = min(p.batch_size, n)
        state: dict = {}
        best_score, best_state = -math.inf, None

        def checkpoint() -> None:
            nonlocal best_score, best_state
            critic.eval()
            with torch.no_grad():
                score = float(final(critic, sx, sy, torch.Generator(device=device).manual_seed(p.seed + 1)))
            critic.train()
            if score > best_score:
                best_score, best_state = score, {k: v.clone() for k, v in critic.state_dict().items()}

        for step in range(1, p.steps + 1):
            idx = torch.randint(n, (batch,), generator=gen, device=device)
            other = torch.randint(n, (batch,), generator=gen, device=device)
            loss = batch_loss(critic, fx[idx], fy[idx], fy[other], state)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if n_stop and (step % p.eval_every == 0 or step == p.steps):
                checkpoint()
        if best_state is not None:
            critic.load_state_dict(best_state)
        critic.eval()
        with torch.no_grad():
            return float(final(critic, ex, ey, gen))
