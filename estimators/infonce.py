"""InfoNCE lower bound on mutual information (van den Oord et al., "Representation Learning with
Contrastive Predictive Coding", 2018; as an MI bound: Poole et al., "On Variational Bounds of Mutual
Information", ICML 2019).

For a batch of B joint samples and a critic f, with f_ij = f(x_i, y_j),

    I(X; Y) >= log B + (1/B) sum_i [ f_ii - log sum_j exp f_ij ].

Each x_i must pick out its own y_i among the B candidates, so the bound can never exceed log B: it
SATURATES at log(batch_size) and underestimates any MI near or above that (use a larger batch or another
estimator for strong dependence). Its variance is low, which is why it is popular.

Critic: ``separable`` by default (f = g(x) . h(y), all B^2 scores in one matrix product); ``concat`` scores
every pair with one MLP at B^2 network evaluations per step (slow on CPU). Training loop, input scaling and
seeding are shared with MINE (``_neural``).

Reported value (nats): the bound of the final critic over ALL n samples, cut (after a seeded shuffle) into
disjoint batches of ``batch_size`` (rows that do not fill a last batch are left out), averaged; so the
value is <= log(min(batch_size, n)). Measured on held-out samples (see ``_neural``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import torch

from ._neural import NeuralParams, train_and_evaluate
from .base import MIEstimator


def infonce_bound(scores: torch.Tensor) -> torch.Tensor:
    """The InfoNCE bound of a (B, B) score matrix whose diagonal holds the joint pairs."""
    b = scores.shape[0]
    return math.log(b) + (scores.diagonal() - torch.logsumexp(scores, dim=1)).mean()


class InfoNCEEstimator(MIEstimator):
    """InfoNCE contrastive lower bound (saturates at log batch_size). Nats."""

    name: ClassVar[str] = "infonce"
    supports_conditional: ClassVar[bool] = False
    min_samples: ClassVar[int] = 2

    @dataclass(frozen=True)
    class Params(NeuralParams):
        critic: str = "separable"

    def _estimate(self, x: torch.Tensor, y: torch.Tensor, z: Optional[torch.Tensor]) -> float:
        batch = min(self.params.batch_size, x.shape[0])

        def batch_loss(critic, xb, yb, y_other, state):
            return -infonce_bound(critic.pair_scores(xb, yb))

        def final(critic, fx, fy, gen):
            b = min(batch, fx.shape[0])  # the held-out part may be smaller than a training batch
            perm = torch.randperm(fx.shape[0], generator=gen, device=fx.device)
            chunks = perm[: (fx.shape[0] // b) * b].view(-1, b)
            return torch.stack([infonce_bound(critic.pair_scores(fx[c], fy[c])) for c in chunks]).mean()

        return train_and_evaluate(x, y, self.params, self.device, batch_loss, final)
