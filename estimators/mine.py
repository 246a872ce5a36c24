"""MINE: mutual information neural estimation (Belghazi et al., "Mutual Information Neural Estimation",
ICML 2018).

Bound (Donsker-Varadhan): for any critic T,

    I(X; Y) >= E_P[T(x, y)] - log E_Q[exp T(x, y)],      P = joint, Q = product of the marginals,

maximised over an MLP critic T (``_neural``: concatenated input by default). Minibatches: P-samples are
rows (x_i, y_i); Q-samples pair the same x_i with y's of an independent draw of rows.

Bias-corrected gradient (the paper's moving average): the minibatch gradient of log E_Q[e^T] is
E_Q[e^T grad T] / E_Q[e^T], and the plain minibatch ratio is biased. The denominator is replaced by an
exponential moving average  ema <- (1 - r) ema + r * mean_batch(e^T)  with rate ``ema_rate`` (0.01), kept in
log space against overflow; the loss minimised is  -(mean_P T - mean_Q e^T / ema), with ema held constant,
whose gradient is exactly the corrected one.

Reported value (nats): the DV bound of the final critic on the held-out samples (``test_fraction``, see
``_neural``): the P-term over the m held-out joint rows, the Q-term over ``eval_shuffles`` random
derangements of their y's (m * eval_shuffles product pairs).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import torch

from ._neural import NeuralParams, log_mean_exp, train_and_evaluate
from .base import EstimatorInputError, MIEstimator


class MINEEstimator(MIEstimator):
    """Donsker-Varadhan lower bound with an MLP critic and moving-average gradient correction. Nats."""

    name: ClassVar[str] = "mine"
    supports_conditional: ClassVar[bool] = False
    min_samples: ClassVar[int] = 2

    @dataclass(frozen=True)
    class Params(NeuralParams):
        ema_rate: float = 0.01  # moving-average rate for E_Q[e^T] in the gradient correction
        eval_shuffles: int = 10  # derangements of y used for the final Q-term

    def _estimate(self, x: torch.Tensor, y: torch.Tensor, z: Optional[torch.Tensor]) -> float:
        p = self.params
        if not 0 < p.ema_rate <= 1:
            raise EstimatorInputError(f"ema_rate: expected 0 < ema_rate <= 1, got {p.ema_rate}")
        if p.eval_shuffles < 1:
            raise EstimatorInputError(f"eval_shuffles: expected >= 1, got {p.eval_shuffles}")
        log_keep, log_rate = math.log1p(-p.ema_rate) if p.ema_rate < 1 else -math.inf, math.log(p.ema_rate)

        def batch_loss(critic, xb, yb, y_other, state):
            lme = log_mean_exp(critic(xb, y_other))  # log mean_Q e^T on this batch
            prev = state.get("log_ema")
            log_ema = lme.detach() if prev is None else torch.logaddexp(prev + log_keep, lme.detach() + log_rate)
            state["log_ema"] = log_ema
            return -(critic(xb, yb).mean() - torch.exp(lme - log_ema))

        def final(critic, fx, fy, gen):
            n = fx.shape[0]
            joint = critic(fx, fy).mean()
            marginal = []
            for _ in range(p.eval_shuffles):
                perm = torch.randperm(n, generator=gen, device=fx.device)
                marginal.append(critic(fx[perm], fy[perm.roll(1)]))  # a derangement: no row meets its own y
            return joint - log_mean_exp(torch.cat(marginal))

        return train_and_evaluate(x, y, p, self.device, batch_loss, final)
