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

from .base import EstimatorInputError, MIEstimator, as_samples, is_labels

_CHUNK_ELEMENTS = 1 << 23


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # (a - b)^2 expanded; clamp the small negatives the expansion leaves from cancellation
    d = (a * a).sum(1, keepdim=True) + (b * b).sum(1).unsqueeze(0) - 2.0 * (a @ b.T)
    return d.clamp_min_(0.0)


def _distance_blocks(f: torch.Tensor, groups: Optional[torch.Tensor] = None):
    """Row blocks of the pairwise squared distances of f (n, d): yields (rows, (block x n) distances,
    (block x n) mask of the pairs in different groups or None, log of each row's pair count: n, or its
    group's size). The (block x n) blocks bound the memory, not d (the distances are a matmul)."""
    n = f.shape[0]
    step = max(1, _CHUNK_ELEMENTS // n)
    sizes = None if groups is None else torch.bincount(groups).to(torch.float64)
    for i0 in range(0, n, step):
        rows = slice(i0, min(n, i0 + step))
        if groups is None:
            other = None
            log_count = torch.full((rows.stop - i0,), math.log(n), dtype=torch.float64, device=f.device)
        else:
            other = groups[rows].unsqueeze(1) != groups.unsqueeze(0)
            log_count = torch.log(sizes[groups[rows]])
        yield rows, _sq_dists(f[rows], f), other, log_count


def _neg_log_mean_kernel(feats: list[torch.Tensor], noise_var: float,
                         groups: Optional[torch.Tensor] = None) -> list[torch.Tensor]:
    """For each feature matrix f in ``feats`` (all (n, d_f)), the per-sample values

        -log( 1/m_i sum_{j in G(i)} exp(-||f_i - f_j||^2 / (2 noise_var)) ),

    with G(i) all samples, or the samples of the same group as i when ``groups`` is given (m_i = |G(i)|).
    Returns one (n,) tensor per feature matrix.
    """
    out = []
    for f in feats:
        o = torch.empty(f.shape[0], dtype=torch.float64, device=f.device)
        for rows, d2, other, log_count in _distance_blocks(f, groups):
            logk = d2.div_(-2.0 * noise_var)
            if other is not None:
                logk.masked_fill_(other, float("-inf"))
            o[rows] = log_count - torch.logsumexp(logk, 1)
        out.append(o)
    return out


def information_plane_bounds(x: Any, labels: Any, noise_var: float, device: str = "auto") -> dict[str, float]:
    """Both information-plane coordinates under both bounds (nats), from one pass over the pairwise
    distances: ``i_xt_upper``, ``i_xt_lower``, ``i_yt_upper``, ``i_yt_lower`` -- the values of
    ``KDEEstimator(noise_var, bound=...).i_xt(x)`` and ``.estimate(x, labels)``, at a sixth of the cost
    (each of those computes the n x n distances again)."""
    probe = KDEEstimator(noise_var=noise_var, device=device)
    t = as_samples(x, "x", device=probe.device)
    lab = as_samples(labels, "labels", allow_labels=True, device=t.device)
    if not is_labels(lab) or lab.shape[0] != t.shape[0]:
        raise EstimatorInputError(f"labels: expected {t.shape[0]} integer class labels, got {lab.dtype} {tuple(lab.shape)}")
    if t.shape[0] < KDEEstimator.min_samples:
        raise EstimatorInputError(f"x: needs at least {KDEEstimator.min_samples} samples, got {t.shape[0]}")
    _, groups = torch.unique(lab, return_inverse=True)
    n = t.shape[0]
    sums = {k: torch.zeros((), dtype=torch.float64, device=t.device) for k in ("all_u", "cls_u", "all_l", "cls_l")}
    for _, d2, other, log_count in _distance_blocks(t, groups):
        for tag, var in (("u", noise_var), ("l", 4.0 * noise_var)):
            logk = d2 / (-2.0 * var)
            sums[f"all_{tag}"] += (math.log(n) - torch.logsumexp(logk, 1)).sum()
            sums[f"cls_{tag}"] += (log_count - torch.logsumexp(logk.masked_fill(other, float("-inf")), 1)).sum()
    m = {k: float(v) / n for k, v in sums.items()}
    return {"i_xt_upper": m["all_u"], "i_xt_lower": m["all_l"],
            "i_yt_upper": m["all_u"] - m["cls_u"], "i_yt_lower": m["all_l"] - m["cls_l"]}


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
        (h,) = _neg_log_mean_kernel([t], self._kernel_var)
        return float(h.mean())

    def _estimate(self, x: torch.Tensor, y: torch.Tensor, z: Optional[torch.Tensor]) -> float:
        if is_labels(x) and is_labels(y):
            raise EstimatorInputError("x, y: kde needs at least one continuous variable; both are labels")
        if is_labels(x):  # I(X;Y) is symmetric: keep the labels in y
            x, y = y, x
        s2 = self._kernel_var
        if is_labels(y):
            _, groups = torch.unique(y, return_inverse=True)
            (h_all,) = _neg_log_mean_kernel([x], s2)
            (h_cls,) = _neg_log_mean_kernel([x], s2, groups=groups)
            # sum_c p(c) H(T|Y=c) = 1/n sum_i h_cls_i because each class mean is weighted by n_c / n
            return float(h_all.mean() - h_cls.mean())
        if self.params.bound == "lower":
            raise EstimatorInputError("kde bound='lower' is defined for I(T; X) and for I(T; Y) with class "
                                      "labels; y here is continuous (use bound='upper')")
        h_x, h_y, h_xy = _neg_log_mean_kernel([x, y, torch.cat([x, y], 1)], s2)
        return float(h_x.mean() + h_y.mean() - h_xy.mean())
