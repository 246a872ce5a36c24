"""Kraskov-Stoegbauer-Grassberger k-nearest-neighbour MI estimator (algorithm 1, max-norm).

Kraskov, Stoegbauer, Grassberger, "Estimating mutual information", Phys. Rev. E 69, 066138 (2004), eq. (8):

    I(X; Y) = psi(k) + psi(n) - < psi(n_x(i) + 1) + psi(n_y(i) + 1) >_i

eps_i is the distance from sample i to its k-th nearest neighbour in the joint space Z = (X, Y) under the
max-norm ||z - z'|| = max(||x - x'||_inf, ||y - y'||_inf); n_x(i) counts the samples j != i with
||x_i - x_j||_inf < eps_i (strictly), n_y(i) likewise. psi is the digamma function; the result is in nats.

Class labels (integer y, or integer x) use the discrete-continuous variant of
Ross, "Mutual information between discrete and continuous data sets", PLoS ONE 9(2): e87357 (2014):

    I(X; Y) = psi(n) - < psi(N_{y_i}) >_i + psi(k) - < psi(m_i) >_i

d_i is the max-norm distance from x_i to its k-th nearest neighbour among the samples of its own class
(N_{y_i} of them), and m_i = 1 + #{j != i : ||x_i - x_j||_inf < d_i}, which is Ross's count of all samples
within d_i including the k-th neighbour itself whenever no two distances tie. Every class needs more than
k samples; a smaller class is an error rather than a silently adapted k.

Two interchangeable backends compute the same neighbour counts (``Params.backend``):

* ``"kdtree"``: scipy.spatial.cKDTree with p = inf finds eps_i (query of k + 1 points, the sample itself
  included) and counts marginal neighbours with query_ball_point(r = nextafter(eps_i, 0)), which is
  exactly the strict "< eps_i" of the definition. CPU only; fast in low dimension (n = 10,000, d = 1 + 1:
  a few tens of milliseconds).
* ``"torch"``: chunked pairwise max-norm distances, ``topk`` for eps_i and comparisons for the counts:
  O(n^2) work, runs on the GPU.

``"auto"`` takes the KD-tree on CPU when the joint dimension is at most ``kdtree_max_dim(n)`` (about 5 at
n = 1000, 9 at 5000, 13 at 20,000: the measured crossover) and torch otherwise, and always torch on a GPU.
Both paths compare the same float64 distances, so they give the same counts.

Ties: with k + 1 identical samples eps_i = 0 and the estimator is undefined; that is an error, and
``Params.jitter`` (default 0, i.e. off) is the explicit remedy: it adds Gaussian noise of standard deviation
``jitter`` times each continuous column's standard deviation (seeded by ``Params.seed``) before estimation.
A constant column is always an error ("x column 0 is constant"): it carries no information to estimate.

Units: every continuous column is standardised first (zero mean, unit standard deviation). The max-norm
compares columns directly, so without it the estimate depended on their units (a column scaled by 1e-3
or 1e3 gave 0.03-0.08 nats for a true 0.8); with it, rescaling or shifting any column leaves the estimate
unchanged, as it leaves the MI.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
import torch

from .base import EstimatorInputError, MIEstimator, is_labels, rows_per_block

# Elements of one (rows x n) block of pairwise distances in the torch backend. On CPU a block that stays
# in cache (512 KiB in float64) ran 2-5x faster than 64 MiB blocks (n = 5000, d = 2-8, one thread); a GPU
# needs large blocks to stay busy.
_BLOCK_ELEMENTS = {"cpu": 1 << 16, "other": 1 << 23}


def kdtree_max_dim(n: int) -> float:
    """Joint dimension up to which "auto" takes the KD-tree on CPU, for n samples. Measured (one thread,
    Gaussian data, k = 3; README "KSG backends"): the torch path overtakes the KD-tree at a joint dimension
    of about 5 for n = 1000, 9 for n = 5000 and 13 for n = 20,000. A KD-tree's cost grows about
    geometrically with the dimension and the brute force's quadratically with n, so the crossover grows
    with log n: this line through the measured points."""
    return 5.0 + 1.8 * math.log2(max(n, 2) / 1000.0)


def _check_not_constant(t: torch.Tensor, name: str) -> None:
    const = (t.amax(0) == t.amin(0)).nonzero().flatten()
    if const.numel():
        raise EstimatorInputError(f"{name} column {int(const[0])} is constant; it carries no information "
                                  "and the nearest-neighbour distances are undefined")


def _maxnorm_block(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Max-norm distances (rows of a) x (rows of b), accumulated one column at a time in place: no
    (rows x n x d) intermediate, so the block's memory is rows x n whatever d is."""
    out = (a[:, :1] - b[:, 0]).abs_()
    if a.shape[1] > 1:
        tmp = torch.empty_like(out)
        for c in range(1, a.shape[1]):
            torch.maximum(out, torch.sub(a[:, c:c + 1], b[:, c], out=tmp).abs_(), out=out)
    return out


def _check_eps(eps: torch.Tensor, what: str, k: int) -> None:
    if bool((eps <= 0).any()):
        raise EstimatorInputError(
            f"{what}: some sample has {k} or more exact duplicates, so its k-th neighbour distance is 0 "
            f"(k={k}); remove duplicates or set Params(jitter=...) to break ties explicitly")


def _counts_torch(x: torch.Tensor, y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = x.shape[0]
    nx = torch.empty(n, dtype=torch.int64, device=x.device)
    ny = torch.empty_like(nx)
    step = rows_per_block(n, x.device, _BLOCK_ELEMENTS)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        rows = torch.arange(i1 - i0, device=x.device)
        dx = _maxnorm_block(x[i0:i1], x)
        dy = _maxnorm_block(y[i0:i1], y)
        dz = torch.maximum(dx, dy)
        dz[rows, rows + i0] = float("inf")  # a sample is not its own neighbour
        eps = dz.topk(k, dim=1, largest=False).values[:, -1]
        _check_eps(eps, "x, y", k)
        # the sample itself (distance 0 < eps) is inside the strict ball: remove it
        nx[i0:i1] = (dx < eps.unsqueeze(1)).sum(1) - 1
        ny[i0:i1] = (dy < eps.unsqueeze(1)).sum(1) - 1
    return nx, ny


def _counts_kdtree(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.spatial import cKDTree

    z = np.concatenate([x, y], axis=1)
    dist, _ = cKDTree(z).query(z, k=k + 1, p=np.inf)  # k + 1: the sample itself comes back too
    eps = dist[:, k]
    _check_eps(torch.from_numpy(eps), "x, y", k)
    r = np.nextafter(eps, 0.0)  # ball_point counts d <= r; one ulp below eps makes that d < eps
    nx = cKDTree(x).query_ball_point(x, r, p=np.inf, return_length=True) - 1
    ny = cKDTree(y).query_ball_point(y, r, p=np.inf, return_length=True) - 1
    return nx, ny


def _ross_counts_torch(x: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    n = x.shape[0]
    m = torch.empty(n, dtype=torch.int64, device=x.device)
    step = rows_per_block(n, x.device, _BLOCK_ELEMENTS)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        rows = torch.arange(i1 - i0, device=x.device)
        d = _maxnorm_block(x[i0:i1], x)
        same = labels[i0:i1].unsqueeze(1) == labels.unsqueeze(0)
        d_same = d.masked_fill(~same, float("inf"))
        d_same[rows, rows + i0] = float("inf")
        radius = d_same.topk(k, dim=1, largest=False).values[:, -1]
        _check_eps(radius, "x within a class", k)
        m[i0:i1] = (d < radius.unsqueeze(1)).sum(1)  # includes the sample itself: m_i = 1 + strict count
    return m


def _ross_counts_kdtree(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    from scipy.spatial import cKDTree

    radius = np.empty(x.shape[0])
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        dist, _ = cKDTree(x[idx]).query(x[idx], k=k + 1, p=np.inf)
        radius[idx] = dist[:, k]
    _check_eps(torch.from_numpy(radius), "x within a class", k)
    return cKDTree(x).query_ball_point(x, np.nextafter(radius, 0.0), p=np.inf, return_length=True)


class KSGEstimator(MIEstimator):
    """KSG algorithm 1 (continuous x, y) and Ross 2014 (continuous x, class labels y)."""

    name: ClassVar[str] = "ksg"
    supports_conditional: ClassVar[bool] = False
    min_samples: ClassVar[int] = 4  # k + 1 with the default k = 3; a larger k is checked in _estimate

    @dataclass(frozen=True)
    class Params:
        k: int = 3
        backend: str = "auto"  # "auto", "kdtree" (CPU, scipy) or "torch" (CPU/GPU, O(n^2))
        jitter: float = 0.0  # tie-breaking noise, in units of each column's std; 0 = off
        seed: int = 0  # generator seed for the jitter noise
        device: str = "auto"

        def __post_init__(self) -> None:
            if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 1:
                raise ValueError(f"k: expected a positive int, got {self.k!r}")
            if self.backend not in ("auto", "kdtree", "torch"):
                raise ValueError(f"backend: expected 'auto', 'kdtree' or 'torch', got {self.backend!r}")
            if not self.jitter >= 0:
                raise ValueError(f"jitter: expected a float >= 0, got {self.jitter!r}")

    def uses_kdtree(self, dim: int, n: int) -> bool:
        """Whether counting takes the KD-tree for n samples of joint dimension ``dim`` (``auto``: the
        measured crossover ``kdtree_max_dim`` on CPU, torch on a GPU)."""
        if self.params.backend == "auto":
            return self.device.type == "cpu" and dim <= kdtree_max_dim(n)
        return self.params.backend == "kdtree"

    def _prepare(self, t: torch.Tensor, name: str, gen: Optional[torch.Generator]) -> torch.Tensor:
        """Each column standardised (zero mean, unit standard deviation): the max-norm neighbourhoods
        then do not depend on the columns' units, so the estimate is invariant to rescaling and shifting
        any column, as the MI is (scikit-learn rescales likewise); then the optional jitter."""
        _check_not_constant(t, name)
        t = t.to(torch.float64)
        t = (t - t.mean(0, keepdim=True)) / t.std(0, keepdim=True)
        if gen is None:
            return t
        noise = torch.randn(t.shape, generator=gen, dtype=t.dtype).to(t.device)
        return t + noise * self.params.jitter

    def _estimate(self, x: torch.Tensor, y: torch.Tensor, z: Optional[torch.Tensor]) -> float:
        k = self.params.k
        n = x.shape[0]
        if is_labels(x) and is_labels(y):
            raise EstimatorInputError("x, y: ksg needs at least one continuous variable; both are labels")
        if is_labels(x):  # I(X;Y) is symmetric: keep the labels in y
            x, y = y, x
        if n <= k:
            raise EstimatorInputError(f"ksg with k={k} needs more than k samples, got {n}")
        gen = torch.Generator().manual_seed(self.params.seed) if self.params.jitter > 0 else None
        x = self._prepare(x, "x", gen)
        psi = torch.special.digamma

        if is_labels(y):
            _, inv, class_sizes = torch.unique(y, return_inverse=True, return_counts=True)
            if bool((class_sizes <= k).any()):
                small = int(class_sizes.min())
                raise EstimatorInputError(
                    f"y: the smallest class has {small} samples; the discrete-continuous KSG with k={k} "
                    f"needs more than k samples in every class")
            if self.uses_kdtree(x.shape[1], n):
                m = torch.from_numpy(_ross_counts_kdtree(x.cpu().numpy(), inv.cpu().numpy(), k))
            else:
                m = _ross_counts_torch(x, inv, k)
            n_y = class_sizes[inv].to(torch.float64)
            value = (psi(torch.tensor(float(n), dtype=torch.float64)) + psi(torch.tensor(float(k), dtype=torch.float64))
                     - psi(n_y.cpu()).mean() - psi(m.to(torch.float64).cpu()).mean())
            return float(value)

        y = self._prepare(y, "y", gen)
        if self.uses_kdtree(x.shape[1] + y.shape[1], n):
            nx, ny = _counts_kdtree(x.cpu().numpy(), y.cpu().numpy(), k)
            nx, ny = torch.from_numpy(nx), torch.from_numpy(ny)
        else:
            nx, ny = _counts_torch(x, y, k)
        value = (psi(torch.tensor(float(k), dtype=torch.float64)) + psi(torch.tensor(float(n), dtype=torch.float64))
                 - (psi(nx.to(torch.float64).cpu() + 1) + psi(ny.to(torch.float64).cpu() + 1)).mean())
        return float(value)
