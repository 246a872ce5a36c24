"""Controls for the MI-ranked methods: HRel's rounds (``methods.iterative``) with the filters ranked by the
L1 norm of their weights (``l1_rounds``) or at random (``random_rounds``) instead of a relevance score. Same
per-round counts, limits and fine-tuning as ``hrel`` and ``aura``, so a comparison with them isolates the
score from the schedule (one-shot L1/random pruning gets one fine-tuning, the rounds get one per round)."""
from __future__ import annotations

from typing import ClassVar

import torch

from .iterative import IterativeRelevancePruning
from .pruning import output_l1_norms


class L1Rounds(IterativeRelevancePruning):
    name: ClassVar[str] = "l1_rounds"

    def score(self, model, units, batches, num_classes):
        return {u: output_l1_norms(model.get_submodule(u).weight).to("cpu", torch.float64) for u in units}


class RandomRounds(IterativeRelevancePruning):
    name: ClassVar[str] = "random_rounds"

    def score(self, model, units, batches, num_classes):
        self._round = getattr(self, "_round", 0) + 1  # a fresh draw each round, seeded by (seed, round)
        g = torch.Generator().manual_seed(self.params.seed * 10_007 + self._round)
        return {u: torch.rand(model.get_submodule(u).weight.shape[0], generator=g, dtype=torch.float64) for u in units}
