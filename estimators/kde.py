"""Pairwise-distance (KDE) mutual information of noisy representations, Kolchinsky & Tracey style.

Kolchinsky & Tracey, "Estimating mixture entropy with pairwise distances", Entropy 19(7):361 (2017), and
its use for information planes in Saxe et al., "On the information bottleneck theory of deep learning",
ICLR 2018. The representation T = X + N with N ~ N(0, s^2 I) (s^2 = ``Params.noise_var``) has, over the n
samples, the density of the Gaussian mixture (1/n) sum_j N(x_j, s^2 I). The KL-divergence pairwise bound
gives an upper bound on the mixture entropy,

    H_KL(T) = -1/n sum_i log( 1/n sum_j exp(-||x_i - x_j||^2 / (2 s^2)) ) + d/2 log(2 pi e s^2),

whose last term is exactly H(T | X), the entropy of the added noise. Hence (all in nats)

    I(T; X) <= H_KL(T) - H(T|X) = -1/n sum_i log 1/n sum_j exp(-||x_i - x_j||^2 / (2 s^2)).

What ``estimate(x, y)`` returns:

* ``y`` class labels: I(T; Y) for T = x + noise, as H_KL(T) - sum_c p(c) H_KL(T | Y = c), where
  H_KL(T | Y = c) is the same bound on the mixture of the n_c samples of class c and p(c) = n_c / n
  (Saxe et al.'s I(T; Y)). The noise entropies cancel. (Labels in ``x`` and continuous ``y`` are swapped.)
* continuous ``y``: H_KL(X~) + H_KL(Y~) - H_KL(X~, Y~) for X~ = x + noise and Y~ = y + noise with the same
  noise variance on every coordinate, i.e. the pairwise-KL estimate of I(X~; Y~). The noise-entropy
  terms cancel (d_x/2 + d_y/2 = (d_x + d_y)/2 of them), leaving three log-mean-kernel averages. This is a
  difference of upper bounds, not itself a bound; for small noise it approaches I(X; Y) from the density
  estimate's side and is biased when s is small compared with the sample spacing.
* ``KDEEstimator.i_xt(x)``: the upper bound on I(T; X) above, the other information-plane coordinate.

``Params.bound = "lower"`` gives the Bhattacharyya-distance lower bound of the same paper instead (the one
the information-plane code of Saxe et al. reports beside the upper): for equal isotropic covariances the
Bhattacharyya distance is ||x_i - x_j||^2 / (8 s^2), so every formula above holds with 4 s^2 in place of
s^2 (the noise-entropy terms differ by d/2 log 4 in H(T) and cancel in I(T; X) and I(T; Y)). It is defined
for I(T; X) and for I(T; Y) with class labels; with a continuous ``y`` only the upper version exists.

``Params.noise_var`` defaults to 1e-3, the value the public code of Saxe et al. uses for activations in
[-1, 1]; the estimate depends strongly on it, so state it with every result. Pairwise distances are
computed in row chunks, O(n^2) time and O(chunk x n) memory, on CPU or GPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import torch

from .base import EstimatorInputError, MIEstimator, as_samples, is_labels, rows_per_block

# Elements of one (rows x n) block of squared distances. On CPU a block small enough to stay in cache
# (2 MiB in float64), reused, measured 5-12x faster at n = 5000 than 64 MiB blocks allocated per block
# (page faults and memory traffic dominated); on a GPU larger blocks keep the kernels busy.
_BLOCK_ELEMENTS = {"cpu": 1 << 18, "other": 1 << 24}


def _sq_dist_blocks(f: torch.Tensor):
    """Row blocks of the pairwise squared Euclidean distances of f (n, d): yields (rows, (rows x n) block).
    Each block is one matmul of [f, |f|^2, 1] with [-2 f, 1, |f|^2]^T, the expansion |a|^2 + |b|^2 - 2 a.b
    summed inside the GEMM, written into one reused buffer: a consumer may overwrite the block, but must
    not keep it past the next one. Small negatives from cancellation are clamped to 0."""
    n = f.shape[0]
    sq = (f * f).sum(1, keepdim=True)
    one = torch.ones_like(sq)
    left = torch.cat([f, sq, one], 1)
    right = torch.cat([-2.0 * f, one, sq], 1).T.contiguous()
    step = rows_per_block(n, f.device, _BLOCK_ELEMENTS)
    buf = torch.empty((min(step, n), n), dtype=f.dtype, device=f.device)
    for i0 in range(0, n, step):
        rows = slice(i0, min(n, i0 + step))
        block = buf[: rows.stop - i0]
        torch.mm(left[rows], right, out=block)
        yield rows, block.clamp_min_(0.0)


def _log_row_sums_of_exp(logk: torch.Tensor) -> torch.Tensor:
    """log sum_j exp(logk_ij) per row, overwriting logk. Every row here holds its own sample's zero
    distance (logk_ii = 0, the row maximum, since logk <= 0), so each sum lies in [1, n]: no max shift
    is needed against overflow or underflow, which saves logsumexp's extra passes over the block."""
    return logk.exp_().sum(1).log_()


def _neg_log_mean_kernel(f: torch.Tensor, kernel_vars: tuple[float, ...],
                         groups: Optional[torch.Tensor] = None) -> list[torch.Tensor]:
    """For the feature matrix f (n, d) and each variance v in ``kernel_vars``, the per-sample values

        -log( 1/m_i sum_{j in G(i)} exp(-||f_i - f_j||^2 / (2 v)) ),

    with G(i) all samples, or the samples of the same group as i when ``groups`` is given (m_i = |G(i)|).
    Returns one (n,) tensor per variance, all from one pass over the pairwise distances. With groups only
    the within-group blocks are computed (sum of n_c^2 pairs, a tenth of n^2 for ten balanced classes)."""
    out = [torch.empty(f.shape[0], dtype=torch.float64, device=f.device) for _ in kernel_vars]
    if groups is None:
        members = [torch.arange(f.shape[0], device=f.device)]
    else:
        members = [(groups == g).nonzero().flatten() for g in torch.unique(groups)]
    last = len(kernel_vars) - 1
    for idx in members:
        m = idx.shape[0]
        scratch = None  # sized by the group's first (largest) block
        for rows, d2 in _sq_dist_blocks(f[idx]):
            for i, (o, v) in enumerate(zip(out, kernel_vars)):
                if i == last:  # the last variance may use d2's memory: it is not needed afterwards
                    k = d2.mul_(-0.5 / v)
                else:
                    scratch = torch.empty_like(d2) if scratch is None else scratch
                    k = torch.mul(d2, -0.5 / v, out=scratch[: d2.shape[0]])
                o[idx[rows]] = math.log(m) - _log_row_sums_of_exp(k)
    return out


def _neg_log_mean_kernel_pair(x: torch.Tensor, y: torch.Tensor, kernel_var: float) -> list[torch.Tensor]:
    """The per-sample values of ``_neg_log_mean_kernel`` for x, y and the joint (x, y), from one pass: the
    joint squared distance is the sum of the two marginal ones, so the joint kernel is the product of the
    two marginal kernels (one multiplication instead of a third exponential; every kernel is in [0, 1] and
    each row holds its own sample's 1, so nothing overflows and the row sums stay >= 1)."""
    n = x.shape[0]
    out = [torch.empty(n, dtype=torch.float64, device=x.device) for _ in range(3)]
    scale = -0.5 / kernel_var
    joint = None
    for (rows, dx), (_, dy) in zip(_sq_dist_blocks(x), _sq_dist_blocks(y)):
        if joint is None:
            joint = torch.empty_like(dx)
        kx, ky = dx.mul_(scale).exp_(), dy.mul_(scale).exp_()
        kxy = torch.mul(kx, ky, out=joint[: dx.shape[0]])
        for o, k in zip(out, (kx, ky, kxy)):
            o[rows] = math.log(n) - k.sum(1).log_()
    return out


def information_plane_bounds(x: Any, labels: Any, noise_var: float, device: str = "auto") -> dict[str, float]:
    """Both information-plane coordinates under both bounds (nats), from one pass over the pairwise
    distances and one over the within-class ones: ``i_xt_upper``, ``i_xt_lower``, ``i_yt_upper``,
    ``i_yt_lower`` -- the values of ``KDEEstimator(noise_var, bound=...).i_xt(x)`` and
    ``.estimate(x, labels)``, at a fraction of their cost (each of those computes the distances again)."""
    probe = KDEEstimator(noise_var=noise_var, device=device)
    t = as_samples(x, "x", device=probe.device)
    lab = as_samples(labels, "labels", allow_labels=True, device=t.device)
    if not is_labels(lab) or lab.shape[0] != t.shape[0]:
        raise EstimatorInputError(f"labels: expected {t.shape[0]} integer class labels, got {lab.dtype} {tuple(lab.shape)}")
    if t.shape[0] < KDEEstimator.min_samples:
        raise EstimatorInputError(f"x: needs at least {KDEEstimator.min_samples} samples, got {t.shape[0]}")
    variances = (noise_var, 4.0 * noise_var)  # KL (upper) and Bhattacharyya (lower) kernels
    all_u, all_l = (float(h.mean()) for h in _neg_log_mean_kernel(t, variances))
    cls_u, cls_l = (float(h.mean()) for h in _neg_log_mean_kernel(t, variances, groups=lab))
    return {"i_xt_upper": all_u, "i_xt_lower": all_l, "i_yt_upper": all_u - cls_u, "i_yt_lower": all_l - cls_l}


class KDEEstimator(MIEstimator):
    """Kolchinsky-Tracey pairwise-KL estimate for Gaussian-noised representations."""

    name: ClassVar[str] = "kde"
    supports_conditional: ClassVar[bool] = False
    min_samples: ClassVar[int] = 2

    @dataclass(frozen=True)
    class Params:
        noise_var: float = 1e-3  # variance s^2 of the Gaussian noise added to every coordinate
        bound: str = "upper"  # "upper": pairwise KL; "lower": pairwise Bhattacharyya (module docstring)
        device: str = "auto"

        def __post_init__(self) -> None:
            nv = self.noise_var
            if not (isinstance(nv, (int, float)) and nv > 0 and math.isfinite(nv)):
                raise ValueError(f"noise_var: expected a positive finite float, got {self.noise_var!r}")
            if self.bound not in ("upper", "lower"):
                raise ValueError(f"bound: expected 'upper' or 'lower', got {self.bound!r}")

    @property
    def _kernel_var(self) -> float:
        """s^2 for the KL bound; 4 s^2 for the Bhattacharyya bound (distance / 8 s^2 = distance / 2 (4 s^2))."""
        return self.params.noise_var * (4.0 if self.params.bound == "lower" else 1.0)

    def i_xt(self, x: Any) -> float:
        """The upper (or, with ``bound="lower"``, lower) bound on I(T; X) for T = x + noise (in nats); at most log n."""
        t = as_samples(x, "x", device=self.device)
        if t.shape[0] < self.min_samples:
            raise EstimatorInputError(f"x: needs at least {self.min_samples} samples, got {t.shape[0]}")
        (h,) = _neg_log_mean_kernel(t, (self._kernel_var,))
        return float(h.mean())

    def _estimate(self, x: torch.Tensor, y: torch.Tensor, z: Optional[torch.Tensor]) -> float:
        if is_labels(x) and is_labels(y):
            raise EstimatorInputError("x, y: kde needs at least one continuous variable; both are labels")
        if is_labels(x):  # I(X;Y) is symmetric: keep the labels in y
            x, y = y, x
        s2 = self._kernel_var
        if is_labels(y):
            (h_all,) = _neg_log_mean_kernel(x, (s2,))
            (h_cls,) = _neg_log_mean_kernel(x, (s2,), groups=y)
            # sum_c p(c) H(T|Y=c) = 1/n sum_i h_cls_i because each class mean is weighted by n_c / n
            return float(h_all.mean() - h_cls.mean())
        if self.params.bound == "lower":
            raise EstimatorInputError("kde bound='lower' is defined for I(T; X) and for I(T; Y) with class "
                                      "labels; y here is continuous (use bound='upper')")
        h_x, h_y, h_xy = _neg_log_mean_kernel_pair(x, y, s2)
        return float(h_x.mean() + h_y.mean() - h_xy.mean())
