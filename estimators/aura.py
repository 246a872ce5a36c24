"""Spatial aura-matrix-entropy "mutual information" between activation maps and class labels.

Musat & Andonie, "Accelerating Convolutional Neural Network Pruning via Spatial Aura Entropy" (2023),
Sec. 3, built on the aura matrix entropy of Volden et al. (1995) and the relative bivariate entropy of
Journel & Deutsch (1993). For one filter with (binned) activation map X:

    p_gg'(k, l) = P(X_ij = g, X_{i+k, j+l} = g')                                           (2)
    H(k, l)     = -sum_{g, g'} p_gg'(k, l) log p_gg'(k, l)                                 (3)
    H_R(k, l)   = (H(k, l) - H(0)) / H(0)   in [0, 1],  H(0) = univariate entropy of X_ij  (4)
    H_AME(X)    = 1/4 (H_R(-1, 0) + H_R(0, -1) + H_R(1, 0) + H_R(0, 1))                    (6)

The joint H_AME(X, Y) uses the same formulas on the pair-valued cells (X_ij, Y_ij) (eqs. 8-9), Y being
the label image described below, and the score is eq. (7):

    I(X, Y) = H_AME(X) - H_AME(X, Y)

(the paper drops H(Y), arguing it is 0 for one-hot labels; under batch pooling H_AME(Y) is the same
for every filter, so dropping it shifts all scores equally and leaves the ranking unchanged). The score is
a difference of normalised relative entropies, not a Shannon mutual information: it can be negative and
has no unit (the log base cancels in H_R). Higher means more relevant; filters are ranked by it. The
paper's H_R in [0, 1] holds under its homogeneity assumption; on a finite map the first and second
members of the pairs cover different cells (border rows/columns enter once), so H(k, l) < H(0) and a
negative H_R can occur, most visibly on small maps.

Label image (paper, end of Sec. 3): the one-hot vector of the sample's class (c classes) is repeated c
times as the rows of a c x c grid (so the class is a vertical stripe at column y) and resized to the
map's H x W by nearest-neighbour interpolation ("interpolation with constant values"; torch's
``interpolate(mode="nearest")``: output column j reads grid column floor(j * c / W)). Consequence of the
paper's construction: when W < c, some classes never reach the resized image (for c = 10 and W = 4 only
classes 0, 2, 5, 7 do), so the score cannot see them; this is reproduced as described, not repaired.

Choices where the paper is ambiguous (each documented here and selectable where it matters):

* Binning: 128 equal-width bins between the minimum and maximum of the filter's activations over the
  whole batch (``bin_range="filter"``, so all maps of a filter share one quantiser) or of each single
  map (``bin_range="map"``). The paper only says "binning the values of the activation maps" into 128.
* Pooling: the co-occurrence counts of eqs. (2)/(8) are taken over all positions of all n maps of the
  batch (``pooling="batch"``: the homogeneity assumption extended to samples, which lets the label
  distribution enter the score) or per map, averaging the per-map score over the batch
  (``pooling="sample"``). The paper says "dividing the number of occurrences by the total number of
  possible occurrences" for "each activation map", and estimates from batches of 100 samples.
* Neighbours: offsets (-1, 0), (0, -1), (1, 0), (0, 1) (eq. 6; the text calls them "second order", the
  four first-order neighbours are meant). Pairs are taken only where both cells lie inside the map (no
  padding). H(-k, -l) = H(k, l) exactly, because the pairs at offset (-k, -l) are those at (k, l) with
  the two members swapped; only two offsets are therefore counted.
* The final sentence of Sec. 3 cites eq. (5) (SDE) for the joint entropy; eq. (9), the aura version
  defined just above it, is used, matching the "simplified version" the paper says it uses.
* H(0) = 0 (a constant map) makes H_R = 0/0; it is defined as 0 (no spatial disorder).

Vectorised over filters (and samples), in chunks of filters that bound the memory: every entropy is one
grouped count over the filters of a chunk, dense or over the occurring cells only (see "Counting" below).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import numpy as np
import torch
import torch.nn.functional as F_nn

from .base import EstimatorInputError, MIEstimator, as_samples, is_labels


def label_image(labels: torch.Tensor, num_classes: int, size: tuple[int, int]) -> torch.Tensor:
    """(n,) labels -> (n, H, W) int64 0/1 images: one-hot rows tiled to c x c, nearest-resized to size."""
    onehot = F_nn.one_hot(labels, num_classes).to(torch.float64)
    grid = onehot.unsqueeze(1).expand(-1, num_classes, -1)  # row r of the grid is the one-hot vector
    img = F_nn.interpolate(grid.unsqueeze(1), size=size, mode="nearest").squeeze(1)
    return img.round().to(torch.int64)


# Counting. Every entropy is a plug-in entropy of symbol codes pooled per group (a filter, or one map of
# one filter): log m - sum_cells c log c / m. The pair alphabets are large ((2 bins)^2 = 65,536 cells for
# the joint (X, Y) with 128 bins) while a group of small maps has few pairs (n * 12 for 4 x 4), so a dense
# count table would be mostly zeros. Each key set is therefore counted either densely (bincount, when the
# table has at most _DENSE_CELLS_PER_KEY cells per key) or by sorting the keys and taking run lengths
# (only the cells that occur). The per-cell terms c log c are the same numbers either way; only the
# order of summation differs (differences of order 1e-16). X is a coarsening of (X, Y): the keys put
# the label bits lowest, so one count of the (X, Y) keys gives both entropies (key >> shift = X's key).
_DENSE_CELLS_PER_KEY = 4
_CHUNK_CELLS = 1 << 19  # map cells per chunk of filters: bounds the temporaries (and keeps them in cache)
_TABLE_CELLS = 1 << 18  # cells of a dense pair count table per chunk (counting is fast while it is cached)
_CLOGC_TABLE_LIMIT = 1 << 22  # counts up to this are looked up in a c log c table instead of recomputed
_INT32_KEYS = 1 << 31


def _clogc_fn(max_count: int, device: torch.device):
    """c -> c log c (float64, 0 for c = 0) for int counts <= max_count: a lookup table when small enough."""
    if max_count < _CLOGC_TABLE_LIMIT:
        c = torch.arange(max_count + 1, dtype=torch.float64, device=device)
        table = torch.special.xlogy(c, c)
        return lambda counts: table.index_select(0, counts)

    def direct(counts: torch.Tensor) -> torch.Tensor:
        c = counts.to(torch.float64)
        return torch.special.xlogy(c, c)
    return direct


def _sorted_clogc(srt: torch.Tensor, groups: int, m: int, clogc) -> torch.Tensor:
    """sum of c log c over the cells of each group from its sorted keys (groups * m,), group g in row g.

    Run-length counts without compaction: run ids are the cumulative count of key changes, and the counts
    are a bincount of the (non-decreasing) run ids; runs never cross groups, whose keys differ.
    """
    run = torch.empty_like(srt)  # (an integer, not a bool, output: a bool would be copied by the cumsum)
    run[:1] = 1
    torch.ne(srt[1:], srt[:-1], out=run[1:])
    run.cumsum_(0)  # 1-based run id of every key
    ends = run.view(groups, m)[:, -1]  # last run of each group
    runs_per_group = torch.diff(ends, prepend=ends.new_zeros(1))
    return torch.segment_reduce(clogc(torch.bincount(run)[1:]), "sum", lengths=runs_per_group)


def _dense(groups: int, cells: int, keys: int) -> bool:
    return groups * cells <= _DENSE_CELLS_PER_KEY * keys


def _entropies_from_counts(counts: torch.Tensor, groups: int, cells: int, shift: int, m: int,
                           clogc) -> tuple[torch.Tensor, torch.Tensor]:
    """Entropies of a dense count table (groups * cells,) and of its coarsening code >> shift."""
    fine = clogc(counts).view(groups, cells).sum(1)
    if shift:
        counts = counts.view(-1, 1 << shift).sum(1)
    coarse = clogc(counts).view(groups, cells >> shift).sum(1)
    return math.log(m) - fine / m, math.log(m) - coarse / m


def _grouped_entropies(keys: torch.Tensor, groups: int, cells: int, shift: int, m: int,
                       clogc) -> tuple[torch.Tensor, torch.Tensor]:
    """Entropies (nats, (groups,) float64) of the codes and of the coarse codes ``code >> shift``.

    ``keys`` (any shape, int32/int64) hold group * cells + code with codes in [0, cells); every group has m
    keys; ``cells`` is a multiple of 2^shift, so the coarse key of a group stays inside that group.
    """
    keys = keys.reshape(-1)
    if _dense(groups, cells, keys.numel()):
        return _entropies_from_counts(torch.bincount(keys, minlength=groups * cells), groups, cells, shift, m,
                                      clogc)
    # sorted keys: the run lengths are the counts of the cells that occur; group g fills row g
    srt = torch.sort(keys).values
    fine = _sorted_clogc(srt, groups, m, clogc)
    coarse = _sorted_clogc(srt >> shift, groups, m, clogc) if shift else fine
    return math.log(m) - fine / m, math.log(m) - coarse / m


def _relative(h0: torch.Tensor, h_v: torch.Tensor, h_h: torch.Tensor) -> torch.Tensor:
    """H_AME (eq. 6) from the univariate and the two pair entropies; H_R = 0 where H(0) = 0."""
    h_kl = torch.stack([h_v, h_h])  # offsets (1, 0) and (0, 1); (-1, 0), (0, -1) are identical
    rel = torch.where(h0 > 0, (h_kl - h0) / torch.where(h0 > 0, h0, torch.ones_like(h0)),
                      torch.zeros_like(h_kl))
    return rel.mean(0)


def _relative_aura_entropy(v: torch.Tensor, k: int) -> torch.Tensor:
    """H_AME of each group of images v (G, m, H, W) with int values in [0, k) -> (G,)."""
    g, m, h, w = v.shape
    v = v.to(torch.int64)
    off = torch.arange(g, device=v.device, dtype=torch.int64).reshape(g, 1, 1, 1)
    clogc = _clogc_fn(m * h * w, v.device)
    h0 = _grouped_entropies(v + off * k, g, k, 0, m * h * w, clogc)[0]
    vk = v * k + off * (k * k)
    h_v = _grouped_entropies(vk[:, :, :-1, :] + v[:, :, 1:, :], g, k * k, 0, m * (h - 1) * w, clogc)[0]
    h_h = _grouped_entropies(vk[:, :, :, :-1] + v[:, :, :, 1:], g, k * k, 0, m * h * (w - 1), clogc)[0]
    return _relative(h0, h_v, h_h)


def _check_options(bins: int, pooling: str, bin_range: str) -> None:
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 2:
        raise ValueError(f"bins: expected an int >= 2, got {bins!r}")
    if pooling not in ("batch", "sample"):
        raise ValueError(f"pooling: expected 'batch' or 'sample', got {pooling!r}")
    if bin_range not in ("filter", "map"):
        raise ValueError(f"bin_range: expected 'filter' or 'map', got {bin_range!r}")


def _as_maps(maps: Any, device: torch.device) -> torch.Tensor:
    """(n, F, H, W) float32/float64 tensor on device (other dtypes become float64); no copy if it is one."""
    t = maps if isinstance(maps, torch.Tensor) else torch.as_tensor(np.asarray(maps))
    if t.ndim != 4:
        raise EstimatorInputError(f"maps: expected shape (n, F, H, W), got {tuple(t.shape)}")
    t = t.detach()  # the score is not differentiable; the binning below writes into buffers
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float64)
    return t.to(device)


def filter_relevance(maps: Any, labels: Any, *, num_classes: Optional[int] = None, bins: int = 128,
                     pooling: str = "batch", bin_range: str = "filter",
                     device: Optional[str] = None) -> torch.Tensor:
    """Aura score I(X_f, Y) = H_AME(X_f) - H_AME(X_f, Y) of every filter f of ``maps`` (n, F, H, W) -> (F,).

    ``num_classes`` (c) sets the label grid; default: max(labels) + 1. Pass it explicitly when a batch may
    miss the highest classes, since c changes the label image.
    """
    _check_options(bins, pooling, bin_range)
    if device is None:
        device = maps.device if isinstance(maps, torch.Tensor) else torch.device("cpu")
    device = torch.device(device)
    x = _as_maps(maps, device)
    n, nf, h, w = x.shape
    if h < 2 or w < 2:
        raise EstimatorInputError(f"maps: the aura entropy needs maps of at least 2 x 2, got {h} x {w}")
    # equal-width bins between the min and max of each filter (or of each map), in float64 as
    # binning.equal_width_codes; a NaN/inf value shows in these extremes (min/max propagate NaN)
    flat = x.reshape(n, nf, h * w)
    if bin_range == "filter":  # reduce over the samples first: that reduction runs along whole rows
        lo = flat.amin(0).amin(-1).reshape(1, nf, 1, 1)
        hi = flat.amax(0).amax(-1).reshape(1, nf, 1, 1)
    else:
        lo, hi = flat.amin(-1).reshape(n, nf, 1, 1), flat.amax(-1).reshape(n, nf, 1, 1)
    if not bool(torch.isfinite(lo).all() & torch.isfinite(hi).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise EstimatorInputError(f"maps: contains {bad} NaN/inf values; remove or impute them first")
    lo = lo.to(torch.float64)
    span = hi.to(torch.float64) - lo
    scale = torch.where(span > 0, bins / span, torch.zeros_like(span))
    lab = as_samples(labels, "labels", allow_labels=True, device=device)
    if not is_labels(lab):
        raise EstimatorInputError(
            f"labels: expected integer class labels of shape (n,), got {lab.dtype} {tuple(lab.shape)}")
    if lab.shape[0] != n:
        raise EstimatorInputError(f"labels: has {lab.shape[0]} samples but maps has {n}")
    c = int(lab.max()) + 1 if num_classes is None else int(num_classes)
    if int(lab.min()) < 0 or int(lab.max()) >= c:
        raise EstimatorInputError(f"labels: expected values in [0, {c}) (num_classes={c}), "
                                  f"got [{int(lab.min())}, {int(lab.max())}]")

    # Symbols: q in [0, bins) the bin of X, y in {0, 1} the label image (constant down each column, so
    # the two cells of a vertical pair share y), the joint symbol 2 q + y. Keys, with the group g first:
    #   univariate  g * 2 bins   + 2 q + y                                  (X: key >> 1)
    #   vertical    g * 2 bins^2 + (q_a * bins + q_b) * 2 + y               (X: key >> 1)
    #   horizontal  g * 4 bins^2 + (q_a * bins + q_b) * 4 + 2 y_b + y_a     (X: key >> 2)
    # These are one-to-one with the pair symbols (2 q_a + y_a, 2 q_b + y_b) on the cells that occur, so
    # the counts, and the entropies, are those of eqs. (2)-(3) and (8)-(9).
    per_filter = 1 if pooling == "batch" else n  # groups of one filter
    maps_per_group = n if pooling == "batch" else 1
    cells_v, cells_h = 2 * bins * bins, 4 * bins * bins
    chunk = _CHUNK_CELLS // (n * h * w)
    if cells_h <= _DENSE_CELLS_PER_KEY * maps_per_group * h * (w - 1):  # horizontal pairs counted densely
        chunk = min(chunk, _TABLE_CELLS // (per_filter * cells_h))
    chunk = max(1, min(nf, chunk))
    int32_chunk = (_INT32_KEYS - 1) // (per_filter * cells_h)
    if int32_chunk >= 1:
        chunk, kdt = min(chunk, int32_chunk), torch.int32
    else:
        kdt = torch.int64
    y = label_image(lab, c, (h, w)).to(kdt).unsqueeze(1)  # (n, 1, H, W)
    y_h = y[..., :-1]
    m_u, m_v, m_h = (maps_per_group * h * w, maps_per_group * (h - 1) * w, maps_per_group * h * (w - 1))
    clogc = _clogc_fn(m_u, device)
    buf = torch.empty(n * chunk * h * w, dtype=torch.float64, device=device)
    scores = []
    for f0 in range(0, nf, chunk):
        fc = min(chunk, nf - f0)
        groups = fc * per_filter
        sl = slice(f0, f0 + fc)
        d = torch.sub(x[:, sl], lo[:, sl], out=buf[:n * fc * h * w].view(n, fc, h, w))  # float64
        d.mul_(scale[:, sl]).clamp_(0, bins - 1)  # >= 0, so the int conversion is the floor
        q = d.to(kdt)  # (n, fc, H, W)
        # offset of every map's group: the filter (batch pooling) or (filter, sample), times bins
        gidx = torch.arange(fc, device=device, dtype=kdt).reshape(1, fc, 1, 1)
        if pooling == "sample":
            gidx = gidx * n + torch.arange(n, device=device, dtype=kdt).reshape(n, 1, 1, 1)
        qg = q + gidx.mul_(bins)  # q with its group's offset
        ub = torch.add(y, q, alpha=2)  # joint symbol 2 q + y
        key_v = torch.add(ub[:, :, 1:, :], qg[:, :, :-1, :], alpha=2 * bins)
        if _dense(groups, cells_v, key_v.numel()):
            counts_v = torch.bincount(key_v.reshape(-1), minlength=groups * cells_v)
            hv = _entropies_from_counts(counts_v, groups, cells_v, 1, m_v, clogc)
            # univariate counts = first members of the vertical pairs (all rows but the last) + last row
            key_u = torch.add(y[:, :, -1:, :], qg[:, :, -1:, :], alpha=2).reshape(-1)
            counts_u = torch.bincount(key_u, minlength=groups * 2 * bins)
            counts_u += counts_v.view(groups, bins, bins, 2).sum(2).view(-1)
            hu = _entropies_from_counts(counts_u, groups, 2 * bins, 1, m_u, clogc)
            del counts_v
        else:
            hv = _grouped_entropies(key_v, groups, cells_v, 1, m_v, clogc)
            hu = _grouped_entropies(torch.add(y, qg, alpha=2), groups, 2 * bins, 1, m_u, clogc)
        del key_v
        key_h = torch.add(ub[..., 1:], qg[..., :-1], alpha=2 * bins).mul_(2).add_(y_h)
        hh = _grouped_entropies(key_h, groups, cells_h, 2, m_h, clogc)
        del key_h, ub, qg, q
        score = _relative(hu[1], hv[1], hh[1]) - _relative(hu[0], hv[0], hh[0])
        scores.append(score if pooling == "batch" else score.reshape(fc, n).t())
    score = torch.cat(scores, dim=0 if pooling == "batch" else 1)
    return score if pooling == "batch" else score.mean(0)


class AuraEstimator(MIEstimator):
    """Spatial aura-matrix-entropy relevance of one filter's maps to class labels (Musat & Andonie)."""

    name: ClassVar[str] = "aura"
    supports_conditional: ClassVar[bool] = False
    min_samples: ClassVar[int] = 1

    @dataclass(frozen=True)
    class Params:
        map_shape: Optional[tuple[int, int]] = None  # (H, W) of the maps flattened into x's rows
        num_classes: Optional[int] = None  # c of the label grid; None: max(label) + 1
        bins: int = 128
        pooling: str = "batch"  # "batch" or "sample" (see module docstring)
        bin_range: str = "filter"  # "filter" or "map"
        device: str = "auto"

        def __post_init__(self) -> None:
            _check_options(self.bins, self.pooling, self.bin_range)
            if self.map_shape is not None and (len(self.map_shape) != 2 or min(self.map_shape) < 1):
                raise ValueError(f"map_shape: expected (H, W) with H, W >= 1, got {self.map_shape!r}")

    def _estimate(self, x: torch.Tensor, y: torch.Tensor, z: Optional[torch.Tensor]) -> float:
        p = self.params
        if is_labels(x) or not is_labels(y):
            raise EstimatorInputError("aura: expects x = flattened activation maps (n, H*W) and y = integer "
                                      "class labels (n,)")
        if p.map_shape is None:
            raise EstimatorInputError("aura: x holds flattened maps; set Params(map_shape=(H, W))")
        h, w = p.map_shape
        if x.shape[1] != h * w:
            raise EstimatorInputError(f"x: has {x.shape[1]} columns but map_shape {p.map_shape} needs {h * w}")
        maps = x.reshape(x.shape[0], 1, h, w)
        return float(filter_relevance(maps, y, num_classes=p.num_classes, bins=p.bins, pooling=p.pooling,
                                      bin_range=p.bin_range, device=str(self.device))[0])
