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

Vectorised over filters (and samples): every entropy is one grouped count over all filters at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import torch
import torch.nn.functional as F_nn

from .base import EstimatorInputError, MIEstimator, as_samples, is_labels
from .binning import equal_width_codes, grouped_entropy


def label_image(labels: torch.Tensor, num_classes: int, size: tuple[int, int]) -> torch.Tensor:
    """(n,) labels -> (n, H, W) int64 0/1 images: one-hot rows tiled to c x c, nearest-resized to size."""
    onehot = F_nn.one_hot(labels, num_classes).to(torch.float64)
    grid = onehot.unsqueeze(1).expand(-1, num_classes, -1)  # row r of the grid is the one-hot vector
    img = F_nn.interpolate(grid.unsqueeze(1), size=size, mode="nearest").squeeze(1)
    return img.round().to(torch.int64)


def _relative_aura_entropy(v: torch.Tensor, k: int) -> torch.Tensor:
    """H_AME of each group of images v (G, m, H, W) with int values in [0, k) -> (G,)."""
    g = v.shape[0]
    h0 = grouped_entropy(v.reshape(g, -1), k)
    h_pairs = []
    for a, b in ((v[:, :, :-1, :], v[:, :, 1:, :]), (v[:, :, :, :-1], v[:, :, :, 1:])):
        h_pairs.append(grouped_entropy((a * k + b).reshape(g, -1), k * k))
    h_kl = torch.stack(h_pairs)  # (2, G): offsets (1, 0) and (0, 1); (-1, 0), (0, -1) are identical
    rel = torch.where(h0 > 0, (h_kl - h0) / torch.where(h0 > 0, h0, torch.ones_like(h0)),
                      torch.zeros_like(h_kl))
    return rel.mean(0)


def _check_options(bins: int, pooling: str, bin_range: str) -> None:
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 2:
        raise ValueError(f"bins: expected an int >= 2, got {bins!r}")
    if pooling not in ("batch", "sample"):
        raise ValueError(f"pooling: expected 'batch' or 'sample', got {pooling!r}")
    if bin_range not in ("filter", "map"):
        raise ValueError(f"bin_range: expected 'filter' or 'map', got {bin_range!r}")


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
    t = maps if isinstance(maps, torch.Tensor) else torch.as_tensor(maps)
    if t.ndim != 4:
        raise EstimatorInputError(f"maps: expected shape (n, F, H, W), got {tuple(t.shape)}")
    n, nf, h, w = t.shape
    if h < 2 or w < 2:
        raise EstimatorInputError(f"maps: the aura entropy needs maps of at least 2 x 2, got {h} x {w}")
    x = as_samples(t.reshape(n, -1), "maps", device=device).reshape(n, nf, h, w)
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

    # quantise: equal-width bins between the min and max of each filter (or of each map)
    q = equal_width_codes(x, bins, dims=(0, 2, 3) if bin_range == "filter" else (2, 3)).to(torch.int64)

    y_img = label_image(lab, c, (h, w)).unsqueeze(1)  # (n, 1, H, W)
    joint = q * 2 + y_img  # the pair (X_ij, Y_ij) as one symbol

    if pooling == "batch":  # one group per filter, pooling its n maps: (F, n, H, W)
        q_groups, joint_groups = q.transpose(0, 1), joint.transpose(0, 1)
    else:  # one group per (sample, filter) map: (n * F, 1, H, W)
        q_groups, joint_groups = q.reshape(n * nf, 1, h, w), joint.reshape(n * nf, 1, h, w)
    score = _relative_aura_entropy(q_groups, bins) - _relative_aura_entropy(joint_groups, 2 * bins)
    return score if pooling == "batch" else score.reshape(n, nf).mean(0)


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
