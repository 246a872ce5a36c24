"""The sparse aura counting equals the former dense one (its speed against HRel's Renyi score is measured
by the DAG, benchmarks/papers/aura/runtime.py, not by a timed test).

``_dense_reference`` is a frozen copy of ``estimators.aura.filter_relevance`` as it was before the
counting was changed to count only the cells that occur (dense ``bincount`` tables of bins, (2 bins)^2
cells per filter, via ``binning.grouped_entropy``; torch.unique above 2^22 cells). The new code must give
the same scores (to 1e-12) for both pooling modes and both bin ranges.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F_nn

from estimators import EstimatorInputError, aura
from estimators.base import as_samples

# ------------------------------------------------------------------------- frozen dense reference
_REF_DENSE_CELL_LIMIT = 1 << 22


def _ref_grouped_entropy(codes: torch.Tensor, num_values: int) -> torch.Tensor:
    g, m = codes.shape
    offset = torch.arange(g, dtype=torch.int64).unsqueeze(1) * num_values
    flat = (codes + offset).reshape(-1)
    if g * num_values <= _REF_DENSE_CELL_LIMIT:
        counts = torch.bincount(flat, minlength=g * num_values).reshape(g, num_values).to(torch.float64)
        clogc = torch.special.xlogy(counts, counts).sum(1)
    else:
        values, counts = torch.unique(flat, sorted=True, return_counts=True)
        counts = counts.to(torch.float64)
        clogc = torch.zeros(g, dtype=torch.float64)
        clogc.scatter_add_(0, values // num_values, torch.special.xlogy(counts, counts))
    return math.log(m) - clogc / m


def _ref_equal_width_codes(v: torch.Tensor, bins: int, dims: tuple[int, ...]) -> torch.Tensor:
    lo = v.amin(dim=dims, keepdim=True)
    span = v.amax(dim=dims, keepdim=True) - lo
    scale = torch.where(span > 0, bins / span, torch.zeros_like(span))
    t = v - lo
    t.mul_(scale).floor_().clamp_(0, bins - 1)
    return t.to(torch.int32)


def _ref_relative_aura_entropy(v: torch.Tensor, k: int) -> torch.Tensor:
    g = v.shape[0]
    h0 = _ref_grouped_entropy(v.reshape(g, -1), k)
    h_pairs = []
    for a, b in ((v[:, :, :-1, :], v[:, :, 1:, :]), (v[:, :, :, :-1], v[:, :, :, 1:])):
        h_pairs.append(_ref_grouped_entropy((a * k + b).reshape(g, -1), k * k))
    h_kl = torch.stack(h_pairs)
    rel = torch.where(h0 > 0, (h_kl - h0) / torch.where(h0 > 0, h0, torch.ones_like(h0)),
                      torch.zeros_like(h_kl))
    return rel.mean(0)


def _ref_label_image(labels: torch.Tensor, num_classes: int, size: tuple[int, int]) -> torch.Tensor:
    onehot = F_nn.one_hot(labels, num_classes).to(torch.float64)
    grid = onehot.unsqueeze(1).expand(-1, num_classes, -1)
    img = F_nn.interpolate(grid.unsqueeze(1), size=size, mode="nearest").squeeze(1)
    return img.round().to(torch.int64)


def _dense_reference(maps: torch.Tensor, labels: torch.Tensor, num_classes: int, bins: int = 128,
                     pooling: str = "batch", bin_range: str = "filter") -> torch.Tensor:
    n, nf, h, w = maps.shape
    x = as_samples(maps.reshape(n, -1), "maps", device=torch.device("cpu")).reshape(n, nf, h, w)
    q = _ref_equal_width_codes(x, bins, dims=(0, 2, 3) if bin_range == "filter" else (2, 3)).to(torch.int64)
    y_img = _ref_label_image(labels, num_classes, (h, w)).unsqueeze(1)
    joint = q * 2 + y_img
    if pooling == "batch":
        q_groups, joint_groups = q.transpose(0, 1), joint.transpose(0, 1)
    else:
        q_groups, joint_groups = q.reshape(n * nf, 1, h, w), joint.reshape(n * nf, 1, h, w)
    score = _ref_relative_aura_entropy(q_groups, bins) - _ref_relative_aura_entropy(joint_groups, 2 * bins)
    return score if pooling == "batch" else score.reshape(n, nf).mean(0)


# ------------------------------------------------------------------------------------- equality
def _maps(n: int, nf: int, h: int, w: int, seed: int, dtype: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    maps = torch.randn(n, nf, h, w, generator=g, dtype=dtype)
    maps[:, 0] = 0.7  # a constant filter (H(0) = 0)
    if nf > 1:
        maps[:, 1] = torch.relu(maps[:, 1])  # half the values in bin 0, as after a ReLU
    if nf > 2:
        maps[:, 2] = (maps[:, 2] > 1.5).to(dtype)  # two values, mostly one (small H(0))
    if nf > 3:
        maps[0, 3] = 0.0  # one constant map (matters for bin_range="map")
    return maps


SHAPES = [(7, 5, 2, 2), (20, 6, 4, 4), (13, 4, 5, 7), (30, 5, 8, 8), (9, 4, 16, 16), (3, 4, 2, 9)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bins", [4, 128])
@pytest.mark.parametrize("num_classes", [3, 10])
def test_equals_dense_reference(shape, bins, num_classes):
    n = shape[0]
    for seed, dtype in ((1, torch.float64), (2, torch.float32)):
        maps = _maps(*shape, seed=seed, dtype=dtype)
        labels = torch.randint(0, num_classes, (n,), generator=torch.Generator().manual_seed(seed))
        for pooling in ("batch", "sample"):
            for bin_range in ("filter", "map"):
                new = aura.filter_relevance(maps, labels, num_classes=num_classes, bins=bins, pooling=pooling,
                                            bin_range=bin_range)
                ref = _dense_reference(maps, labels, num_classes, bins, pooling, bin_range)
                assert new.dtype == torch.float64 and new.shape == (shape[1],)
                torch.testing.assert_close(new, ref, rtol=0, atol=1e-12,
                                           msg=f"{shape} bins={bins} {pooling} {bin_range} {dtype}")


@pytest.mark.parametrize("patch", [
    {"_DENSE_CELLS_PER_KEY": 0},  # every count sort-based
    {"_DENSE_CELLS_PER_KEY": 10 ** 9},  # every count dense
    {"_CHUNK_CELLS": 1},  # one filter per chunk
    {"_INT32_KEYS": 1 << 10},  # int64 keys
    {"_CLOGC_TABLE_LIMIT": 0},  # c log c computed, not looked up
])
def test_counting_paths_agree(monkeypatch, patch):
    for name, value in patch.items():
        monkeypatch.setattr(aura, name, value)
    maps = _maps(12, 5, 6, 5, seed=3, dtype=torch.float64)
    labels = torch.randint(0, 10, (12,), generator=torch.Generator().manual_seed(3))
    for bins in (4, 100):  # 100: cells not a power of two
        for pooling, bin_range in (("batch", "filter"), ("sample", "map")):
            new = aura.filter_relevance(maps, labels, num_classes=10, bins=bins, pooling=pooling,
                                        bin_range=bin_range)
            ref = _dense_reference(maps, labels, 10, bins, pooling, bin_range)
            torch.testing.assert_close(new, ref, rtol=0, atol=1e-12)


def test_relative_aura_entropy_equals_reference():
    v = torch.randint(0, 7, (5, 3, 4, 6), generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(aura._relative_aura_entropy(v, 7), _ref_relative_aura_entropy(v, 7),
                               rtol=0, atol=1e-12)


def test_numpy_and_int_maps_and_nan():
    maps = _maps(10, 3, 4, 4, seed=5, dtype=torch.float64)
    labels = torch.randint(0, 4, (10,), generator=torch.Generator().manual_seed(5))
    ref = _dense_reference(maps, labels, 4)
    torch.testing.assert_close(aura.filter_relevance(maps.numpy(), labels.numpy(), num_classes=4), ref,
                               rtol=0, atol=1e-12)
    ints = (maps * 3).round()
    torch.testing.assert_close(aura.filter_relevance(ints.to(torch.int64), labels, num_classes=4),
                               _dense_reference(ints, labels, 4), rtol=0, atol=1e-12)
    grad = maps.clone().requires_grad_(True)  # activations straight from a forward pass
    torch.testing.assert_close(aura.filter_relevance(grad, labels, num_classes=4), ref, rtol=0, atol=1e-12)
    bad = maps.clone()
    bad[2, 1, 0, 3] = float("nan")
    bad[4, 0, 1, 1] = float("inf")
    with pytest.raises(EstimatorInputError, match="contains 2 NaN/inf"):
        aura.filter_relevance(bad, labels, num_classes=4)
