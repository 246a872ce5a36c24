"""HRel (Sarvani, Ghorai, Dubey, Basha, Neural Networks 2022): filters ranked by the matrix-based Renyi
alpha-entropy mutual information between their activation maps and the class labels
(``estimators.renyi``), pruned in HRel's iterative rounds (``methods.iterative``).

Per batch of training images and per pruned layer: the Gaussian Gram matrix of each filter's flattened
maps, the label Gram matrix (one-hot labels, width ``label_sigma``), and
``I(f; Y) = S(K_f) + S(K_Y) - S(K_f o K_Y)`` on trace-normalised matrices; averaged over batches.
``alpha``: the paper's Renyi order (default 1.01, the estimator's); HRel's code uses the alpha -> 1
(von Neumann) limit: ``alpha=1.0``. Kernel width (``kernel_width``): ``"layer"`` (default) one width per
layer and batch, maximising the kernel alignment of the whole layer's Gram matrix with the label kernel
(HRel: "a filter's kernel reuses its layer's width"), estimated when the filters are scored;
``"filter"``: per filter by the same alignment rule. (HRel's code instead tracks the layer width with an
exponential moving average over the training steps of the baseline and of each fine-tuning round; that
differs from the paper's description only in when the width is measured.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from estimators import renyi

from .iterative import IterativeRelevancePruning

WIDTH_RULES = ("layer", "filter")


class HRel(IterativeRelevancePruning):
    name: ClassVar[str] = "hrel"

    @dataclass(frozen=True)
    class Params(IterativeRelevancePruning.Params):
        alpha: float = 1.01
        kernel_width: str = "layer"
        label_sigma: float = 0.1

        def __post_init__(self):
            super().__post_init__()
            if self.kernel_width not in WIDTH_RULES:
                raise ValueError(f"hrel param kernel_width must be one of {WIDTH_RULES}, got {self.kernel_width!r}")
            if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not self.alpha > 0:
                raise ValueError(f"hrel param alpha must be a positive number (1.0: von Neumann limit), got {self.alpha!r}")

    def relevance(self, maps: torch.Tensor, labels: torch.Tensor, num_classes: int, layer: str) -> torch.Tensor:
        p = self.params
        if p.kernel_width == "layer":
            sigma = renyi.layer_sigma(maps, labels, label_sigma=p.label_sigma)
            return renyi.filter_relevance(maps, labels, alpha=float(p.alpha), sigma=sigma, label_sigma=p.label_sigma)
        return renyi.filter_relevance(maps, labels, alpha=float(p.alpha), sigma_rule="alignment",
                                      label_sigma=p.label_sigma)
