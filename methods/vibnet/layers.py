"""The information-bottleneck (IB) layer of VIBNet and its objective.

Dai, Zhu, Guo, Wipf, "Compressing Neural Networks using the Variational Information Bottleneck",
ICML 2018, Sec. 3-4:

- eq. (4): ``h_i = (mu_i + eps_i * sigma_i) * f_i(h_{i-1})``, ``eps_i ~ N(0, I)``, where ``f_i`` is the
  deterministic layer (linear map or convolution, batch normalisation, nonlinearity). One ``(mu, sigma)``
  per neuron, and per channel for convolutions with the noise shared over the spatial positions (the
  authors' code draws ``eps`` of shape (batch, C)). Parameters: ``mu`` ~ N(1, 0.01) and
  ``log sigma^2`` ~ N(-9, 0.01) at initialisation (authors' code).
- eq. (10): ``alpha_ij = mu_ij^2 / sigma_ij^2``; neurons with ``alpha ~ 0`` are removed.
- At test time the network uses the mean of ``p(h_i | h_{i-1})`` (Sec. 6, "Training and Testing"):
  ``h_i = mu_i * f_i(h_{i-1})``, with the pruned neurons masked: ``x * mu * [kept]``.
- eq. (9), the objective::

      L~ = sum_i gamma_i sum_j log(1 + mu_ij^2 / sigma_ij^2) - L * E_{(x,y)~D, h~p(h|x)}[log q(y | h_L)]

  Here ``L`` is the number of bottlenecked layers (Sec. 3 introduces "a neural network with L layers"
  h_1..h_L, each with the stochastic relation (4); eq. (9) is the sum over i = 1..L of the layer-wise
  bounds (3), each of which carries the data term once, hence the factor L, which the paper says
  "naturally provides balance for deeper networks"). It is *not* the training-set size: the data term is
  already an expectation over the data distribution, i.e. a per-sample mean.

Per-sample form used for training (``objective_coefficients``). Dividing (9) by the constant L > 0 does
not move its minimisers::

      L~ / L = E[-log q(y | h_L)] + sum_i (gamma_i / L) * KL_i,     KL_i = sum_j log(1 + alpha_ij).

The trainer's loss is the mini-batch mean of the cross-entropy ``-log q(y | h_L)`` with ``h`` drawn by
(4), an unbiased estimate of the first term, so the penalty added to it is exactly
``sum_i (gamma_i / L) * KL_i``, with L = the number of IB layers of the network (an input bottleneck,
VIBNet Table 1, counts as one more layer: it brings its own KL and data term).

The authors' code (``faithful_to="code"``; ``benchmarks/papers/vibnet/README.md``) differs:

- it stores ``alpha_code = sigma^2 / mu^2`` (the paper's alpha inverted) and keeps a unit when
  ``log(sigma^2) - log(mu^2 + 1e-8) < threshold`` (threshold 0);
- its KL of a layer is ``0.5 * sum_c log(1 + mu_c^2 / (sigma_c^2 + 1e-8)) * H * W * kl_mult`` with
  ``H x W`` the map the IB multiplies and, in the VGG configurations, ``kl_mult = 1 / side`` of that map
  (1 for fully connected layers), so the factor is ``H * W / W = H`` (the side of a square map); the
  loss is ``CE + kl_fac * sum_i KL_i``;
- its weight decay also acts on ``mu`` and ``log sigma^2`` (``parameter_groups``).

Threshold, both forms (``keep_mask``): paper form keeps ``log alpha > threshold``, code form keeps
``log alpha_code < threshold``. The paper gives no number ("alpha ~ 0 are ideal candidates for removal",
Sec. 4); the code's default 0 means ``alpha > 1`` (``mu^2 > sigma^2``, up to the 1e-8) is kept, so the
default threshold is 0 in both forms and both then give the same masks. A floor (``min_keep``, at least
1) keeps the most informative units of a layer when fewer pass the threshold: a layer cannot be empty.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
from torch import nn

FORMS = ("paper", "code")
MU_INIT = (1.0, 0.01)  # mean, std of mu at initialisation (authors' code)
LOG_SIGMA2_INIT = (-9.0, 0.01)  # mean, std of log sigma^2 at initialisation (authors' code)
CODE_EPS = 1e-8  # the authors' code adds it to sigma^2 in the KL and to mu^2 in log alpha


def check_form(form: str) -> str:
    if form not in FORMS:
        raise ValueError(f"faithful_to must be one of {FORMS}, got {form!r}")
    return form


class InformationBottleneck(nn.Module):
    """Multiplicative Gaussian noise ``z = mu + eps * sigma`` per channel (eq. 4); deterministic
    ``mu * [kept]`` in eval mode.

    ``spatial`` is the (H, W) of the maps it multiplies (``()`` for feature vectors); it only enters the
    code-form KL weight ``H * W * kl_mult = H``. ``unit`` names the prunable unit it decides (``"input"``
    for input features), ``index`` its position in execution order."""

    def __init__(self, channels: int, *, spatial: Sequence[int] = (), form: str = "paper",
                 threshold: float = 0.0, min_keep: int = 1, unit: str = "", index: int = 0):
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"InformationBottleneck: channels must be an int >= 1, got {channels!r}")
        if isinstance(min_keep, bool) or not isinstance(min_keep, int) or min_keep < 1:
            raise ValueError(f"InformationBottleneck: min_keep must be an int >= 1, got {min_keep!r}")
        if not math.isfinite(float(threshold)):
            raise ValueError(f"InformationBottleneck: threshold must be finite, got {threshold!r}")
        self.channels = channels
        self.spatial = tuple(int(s) for s in spatial)
        self.form = check_form(form)
        self.threshold = float(threshold)
        self.min_keep = min(min_keep, channels)
        self.unit, self.index = unit, index
        self.mu = nn.Parameter(torch.empty(channels).normal_(*MU_INIT))
        self.log_sigma2 = nn.Parameter(torch.empty(channels).normal_(*LOG_SIGMA2_INIT))

    # ---------------------------------------------------------------- alpha, masks
    def log_alpha(self) -> torch.Tensor:
        """Paper's ``log alpha = log(mu^2 / sigma^2)`` (eq. 10); ``-inf`` where ``mu == 0``."""
        return 2 * self.mu.abs().log() - self.log_sigma2

    def log_alpha_code(self) -> torch.Tensor:
        """Code's ``log alpha_code = log sigma^2 - log(mu^2 + 1e-8)``."""
        return self.log_sigma2 - (self.mu.pow(2) + CODE_EPS).log()

    @torch.no_grad()
    def keep_mask(self) -> torch.Tensor:
        """Bool mask of the kept units (see the module docstring), with the ``min_keep`` floor."""
        if self.form == "paper":
            score = self.log_alpha()
            keep = score > self.threshold
        else:
            score = -self.log_alpha_code()
            keep = self.log_alpha_code() < self.threshold
        if int(keep.sum()) < self.min_keep:
            keep = keep.clone()
            keep[torch.topk(score, self.min_keep).indices] = True
        return keep

    @torch.no_grad()
    def deterministic_scale(self) -> torch.Tensor:
        """Eval-mode per-channel factor ``mu * [kept]`` (zero for removed units)."""
        return self.mu * self.keep_mask().to(self.mu.dtype)

    # ---------------------------------------------------------------- KL terms
    def kl(self) -> torch.Tensor:
        """Paper form: ``sum_j log(1 + mu_j^2 / sigma_j^2)`` (the KL_i of eq. 9). Code form:
        ``0.5 * sum_c log(1 + mu_c^2 / (sigma_c^2 + 1e-8)) * code_kl_weight``."""
        if self.form == "paper":
            return torch.log1p(self.mu.pow(2) * torch.exp(-self.log_sigma2)).sum()
        ratio = self.mu.pow(2) / (torch.exp(self.log_sigma2) + CODE_EPS)
        return 0.5 * torch.log1p(ratio).sum() * self.code_kl_weight

    @property
    def code_kl_weight(self) -> float:
        """``H * W * kl_mult`` with ``kl_mult = 1 / W`` (the map side for the square maps of the code's
        VGGs); 1 for feature vectors."""
        if not self.spatial:
            return 1.0
        return float(math.prod(self.spatial)) / self.spatial[-1]

    # ---------------------------------------------------------------- forward
    def _per_channel(self, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return v.reshape(*v.shape, *([1] * (x.dim() - v.dim())))

    def apply_noise(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Eq. (4) with given standard-normal draws ``eps`` of shape (batch, channels)."""
        z = self.mu + eps * torch.exp(0.5 * self.log_sigma2)
        return x * self._per_channel(z, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.shape[1] != self.channels:
            raise ValueError(f"InformationBottleneck({self.unit!r}): expected input of shape (batch, "
                             f"{self.channels}, ...), got {tuple(x.shape)}")
        if self.training:
            eps = torch.randn(x.shape[0], self.channels, device=x.device, dtype=x.dtype)
            return self.apply_noise(x, eps)
        return x * self._per_channel(self.deterministic_scale().to(x.dtype)[None], x)

    def extra_repr(self) -> str:
        return (f"{self.channels}, unit={self.unit!r}, spatial={self.spatial}, form={self.form!r}, "
                f"threshold={self.threshold}")


# ---------------------------------------------------------------- objective

def objective_coefficients(n_layers: int, *, form: str, gamma=None, kl_fac=None) -> list[float]:
    """Weight of each layer's ``kl()`` in the per-sample loss: ``gamma_i / L`` (paper, L = n_layers;
    ``gamma`` one number or one per layer in execution order) or ``kl_fac`` (code)."""
    check_form(form)
    if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
        raise ValueError(f"objective_coefficients: n_layers must be an int >= 1, got {n_layers!r}")
    if form == "code":
        if kl_fac is None:
            raise ValueError("objective_coefficients: faithful_to='code' needs kl_fac")
        return [float(kl_fac)] * n_layers
    if gamma is None:
        raise ValueError("objective_coefficients: faithful_to='paper' needs gamma")
    gammas = list(gamma) if isinstance(gamma, (list, tuple)) else [gamma] * n_layers
    if len(gammas) != n_layers:
        raise ValueError(f"gamma lists {len(gammas)} values but the network has {n_layers} bottlenecked "
                         f"layers; give one gamma or exactly {n_layers}")
    return [float(g) / n_layers for g in gammas]


def code_equivalent_gamma(ibs: Sequence[InformationBottleneck], kl_fac: float) -> list[float]:
    """Per-layer gammas for which the paper-form penalty ``sum_i gamma_i / L * KL_i`` equals the code form's
    ``kl_fac * sum_i KL_code_i`` (up to the code's 1e-8): ``gamma_i = L * kl_fac * 0.5 * H_i`` (H_i the map
    side, 1 for FC layers). Translates the authors' README settings into the paper's parameters."""
    n = len(ibs)
    return [n * float(kl_fac) * 0.5 * ib.code_kl_weight for ib in ibs]


def kl_penalty(ibs: Sequence[InformationBottleneck], coefficients: Sequence[float]) -> torch.Tensor:
    """``sum_i coefficients[i] * ibs[i].kl()``: the term the trainer adds to the cross-entropy."""
    if len(ibs) != len(coefficients):
        raise ValueError(f"kl_penalty: {len(ibs)} bottlenecks but {len(coefficients)} coefficients")
    return sum(c * ib.kl() for c, ib in zip(coefficients, ibs))


def parameter_groups(model: nn.Module, weight_decay: float, *, decay_bottlenecks: bool) -> list[dict]:
    """Optimizer parameter groups: every parameter with ``weight_decay``, except the IB parameters
    (``mu``, ``log sigma^2``), which get it only when ``decay_bottlenecks`` (the authors' code decays
    them; eq. 9 has no such term, so the paper form does not). Empty groups are left out."""
    ib_ids = {id(p) for m in model.modules() if isinstance(m, InformationBottleneck) for p in m.parameters()}
    ib = [p for p in model.parameters() if id(p) in ib_ids]
    rest = [p for p in model.parameters() if id(p) not in ib_ids]
    groups = [{"params": rest, "weight_decay": float(weight_decay)},
              {"params": ib, "weight_decay": float(weight_decay) if decay_bottlenecks else 0.0}]
    return [g for g in groups if g["params"]]


def decay_penalty(groups: Iterable[dict]) -> torch.Tensor | float:
    """``sum_groups 0.5 * wd * sum ||p||^2``. Its gradient ``wd * p`` is exactly what coupled weight decay
    (torch's SGD and Adam ``weight_decay``, not AdamW) adds to each gradient, so a trainer that applies
    one decay to all parameters can realise ``parameter_groups`` with decay 0 plus this penalty."""
    total = 0.0
    for g in groups:
        wd = g.get("weight_decay", 0.0)
        if wd:
            total = total + 0.5 * wd * sum(p.pow(2).sum() for p in g["params"])
    return total
