"""aura (Musat & Andonie 2023): HRel's iterative filter pruning (``methods.iterative``) with the filters
ranked by the spatial aura matrix entropy score ``H_AME(X) - H_AME(X, Y)`` between each filter's maps and
the label image (``estimators.aura``, eqs. 2-9: 128 equal-width bins, the four first-order neighbours,
the one-hot label tiled to a c x c grid and nearest-resized to the map; pair counts pooled over the
batch), instead of HRel's kernel-based Renyi MI."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from estimators import aura as aura_score

from .iterative import IterativeRelevancePruning


class Aura(IterativeRelevancePruning):
    name: ClassVar[str] = "aura"

    @dataclass(frozen=True)
    class Params(IterativeRelevancePruning.Params):
        bins: int = 128
        pooling: str = "batch"
        bin_range: str = "filter"

    def relevance(self, maps: torch.Tensor, labels: torch.Tensor, num_classes: int, layer: str) -> torch.Tensor:
        p = self.params
        if maps.ndim != 4:
            raise ValueError(f"aura: layer {layer!r} has no spatial maps (output shape {tuple(maps.shape)}); the aura "
                             "score needs conv maps of at least 2 x 2")
        return aura_score.filter_relevance(maps, labels, num_classes=num_classes, bins=p.bins, pooling=p.pooling,
                                           bin_range=p.bin_range)
