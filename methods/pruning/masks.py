"""The shared step from importance scores to keep-masks (higher score = more important).

``masks_from_scores(scores, ratio=r, scope=...)`` removes the lowest-scored units' channels:

- ``scope="per_layer"``: each unit of size n loses ``round(r * n)`` channels (rounding half up).
- ``scope="global"``: the ``round(r * N)`` lowest of all N channels pooled over units are removed. Scores
  of different layers live on different scales, so by default each unit's score vector is L2-normalised
  first, ``s_hat = s / ||s||_2`` (a vector of zeros stays zero), as in the global ranking of Molchanov
  et al. ("Pruning Convolutional Neural Networks for Resource Efficient Inference", ICLR 2017);
  ``normalize="none"`` ranks the raw scores.
- Floor: every unit keeps at least ``max(min_keep, ceil(min_keep_fraction * n))`` channels (at most n).
  Globally, a channel whose removal would break its unit's floor is skipped and the next-lowest one is
  taken, so fewer than ``round(r * N)`` are removed only when the floors leave no more to remove.
- Ties are broken by index, deterministically: among equal scores the channel with the higher index
  (and, globally, the later unit in ``scores``' order) is removed first, so all-equal scores keep the
  first channels, as ``build_pruned``'s keep-first-k rebuild does.
"""
from __future__ import annotations

import fnmatch
import math
from typing import Mapping

import torch

SCOPES = ("per_layer", "global")
NORMALIZATIONS = ("l2", "none")


def _check(scores: Mapping[str, torch.Tensor], ratio, scope, min_keep, min_keep_fraction, normalize):
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= ratio < 1.0:
        raise ValueError(f"masks_from_scores: ratio must be a number in [0, 1), got {ratio!r}")
    if scope not in SCOPES:
        raise ValueError(f"masks_from_scores: scope must be one of {SCOPES}, got {scope!r}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"masks_from_scores: normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    if isinstance(min_keep, bool) or not isinstance(min_keep, int) or min_keep < 1:
        raise ValueError(f"masks_from_scores: min_keep must be an int >= 1, got {min_keep!r}")
    if isinstance(min_keep_fraction, bool) or not isinstance(min_keep_fraction, (int, float)) \
            or not 0.0 <= min_keep_fraction <= 1.0:
        raise ValueError(f"masks_from_scores: min_keep_fraction must be in [0, 1], got {min_keep_fraction!r}")
    if not isinstance(scores, Mapping):
        raise TypeError(f"masks_from_scores: scores must be a dict of unit name -> 1-D tensor, "
                        f"got {type(scores).__name__}")
    out = {}
    for name, s in scores.items():
        s = torch.as_tensor(s).detach().to("cpu", torch.float64)
        if s.ndim != 1 or s.numel() == 0:
            raise ValueError(f"masks_from_scores: scores for unit {name!r} must be a non-empty 1-D tensor, "
                             f"got shape {tuple(s.shape)}")
        if not bool(torch.isfinite(s).all()):
            raise ValueError(f"masks_from_scores: scores for unit {name!r} contain NaN or inf")
        out[name] = s
    return out


def _ascending_ties_high_first(s: torch.Tensor) -> torch.Tensor:
    """Indices by ascending score; equal scores in descending index order."""
    n = s.numel()
    return n - 1 - torch.argsort(s.flip(0), stable=True)


def output_l1_norms(weight: torch.Tensor) -> torch.Tensor:
    """The L1 norm of each output channel's incoming weights (a conv filter's kernel, a neuron's row):
    ``sum_{i,k,l} |W[j, i, k, l]|`` for every j (Li et al.'s filter score; HRel's L1 control ranks by it)."""
    w = weight.detach()
    return w.abs().reshape(w.shape[0], -1).sum(1)


def masks_from_scores(scores: Mapping[str, torch.Tensor], *, ratio: float, scope: str = "per_layer",
                      min_keep: int = 1, min_keep_fraction: float = 0.0,
                      normalize: str = "l2") -> dict[str, torch.Tensor]:
    """Keep-masks (CPU bool tensors, True = keep) for every unit in ``scores``."""
    s = _check(scores, ratio, scope, min_keep, min_keep_fraction, normalize)
    names = list(s)
    sizes = torch.tensor([s[n].numel() for n in names], dtype=torch.long)
    # The small tolerance keeps e.g. 0.3 * 10 = 3.0000000000000004 from rounding up to a floor of 4.
    floors = torch.tensor([min(n, max(min_keep, math.ceil(min_keep_fraction * n - 1e-9))) for n in sizes.tolist()])
    removable = sizes - floors
    keep = {n: torch.ones(s[n].numel(), dtype=torch.bool) for n in names}
    if not names:
        return keep
    if scope == "per_layer":
        for i, n in enumerate(names):
            k = min(int(math.floor(ratio * sizes[i].item() + 0.5)), int(removable[i]))
            keep[n][_ascending_ties_high_first(s[n])[:k]] = False
        return keep

    vals = torch.cat([s[n] / s[n].norm() if normalize == "l2" and s[n].norm() > 0 else s[n] for n in names])
    unit = torch.repeat_interleave(torch.arange(len(names)), sizes)
    pos = torch.cat([torch.arange(int(k)) for k in sizes])
    order = _ascending_ties_high_first(vals)
    # Rank of each channel among its own unit's channels in the global order: a unit can give up only its
    # first `removable` channels in that order.
    u_sorted = unit[order]
    by_unit = torch.argsort(u_sorted, stable=True)
    starts = torch.cumsum(sizes, 0) - sizes
    rank = torch.empty_like(order)
    rank[by_unit] = torch.arange(order.numel()) - starts[u_sorted[by_unit]]
    allowed = order[rank < removable[u_sorted]]
    chosen = allowed[:int(math.floor(ratio * vals.numel() + 0.5))]
    for i, n in enumerate(names):
        keep[n][pos[chosen[unit[chosen] == i]]] = False
    return keep


def resolve_widths(widths: Mapping[str, int], units: list[str]) -> dict[str, int]:
    """``widths`` keyed by unit names or shell patterns (``layer1.*.conv1``) -> one width per matching unit
    of ``units`` (an exact name wins over a pattern; among patterns the first listed). A key that matches
    no unit is an error."""
    out: dict[str, int] = {}
    for key, w in widths.items():
        hits = [u for u in units if u == key or (any(ch in key for ch in "*?[") and fnmatch.fnmatchcase(u, key))]
        if not hits:
            raise ValueError(f"widths: {key!r} matches no prunable unit (units: {units[:10]}"
                             f"{' ...' if len(units) > 10 else ''})")
        for u in hits:
            if u == key or u not in out:
                out[u] = w
    return {u: out[u] for u in units if u in out}  # in the units' order


def masks_to_widths(scores: Mapping[str, torch.Tensor], widths: Mapping[str, int]) -> dict[str, torch.Tensor]:
    """Keep-masks keeping the ``widths[name]`` highest-scored channels of each named unit (names or
    patterns, ``resolve_widths``; ties as in ``masks_from_scores``); units not named keep every channel."""
    s = _check(scores, 0.0, "per_layer", 1, 0.0, "none")
    widths = resolve_widths(widths, list(s))
    keep = {n: torch.ones(v.numel(), dtype=torch.bool) for n, v in s.items()}
    for n, w in widths.items():
        size = s[n].numel()
        if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= size:
            raise ValueError(f"masks_to_widths: width of unit {n!r} must be an int in [1, {size}], got {w!r}")
        keep[n][_ascending_ties_high_first(s[n])[:size - w]] = False
    return keep
