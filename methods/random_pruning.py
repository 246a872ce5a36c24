"""Random pruning: every unit gets an independent uniform score (seeded), so the shared step removes a
random subset of the target size. The floor every informed method must beat."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import PruningMethod


class RandomPruning(PruningMethod):
    name: ClassVar[str] = "random"

    @dataclass(frozen=True)
    class Params:
        seed: int = 0

    def scores(self, model, units, data, device):
        g = torch.Generator().manual_seed(self.params.seed)
        return {u.name: torch.rand(u.size, generator=g) for u in units}
