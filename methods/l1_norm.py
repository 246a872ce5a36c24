"""L1-norm filter pruning (Li, Kadav, Durdanovic, Samet, Graf, "Pruning Filters for Efficient ConvNets",
ICLR 2017): a filter's importance is the sum of absolute values of its kernel weights,
s_j = sum_{i,k,l} |W[j, i, k, l]|; a neuron's is the L1 norm of its incoming weights. The smallest are
removed in each layer (the paper prunes layer by layer with per-layer ratios; scope "global" ranks the
per-layer L2-normalised scores instead). Channels tied by residual additions are scored by the sum over
the tied layers, as the paper does for the projection-shortcut case it discusses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import PruningMethod
from .pruning import output_l1_norms


class L1Norm(PruningMethod):
    name: ClassVar[str] = "l1"

    @dataclass(frozen=True)
    class Params:
        pass

    def scores(self, model, units, data, device):
        out = {}
        for u in units:
            total = torch.zeros(u.size)
            for member in u.members:
                total += output_l1_norms(model.get_submodule(member).weight).cpu()
            out[u.name] = total
        return out
