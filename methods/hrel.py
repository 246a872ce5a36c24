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
``"filter"``: per filter by the same alignment rule; ``"tracked"``: HRel's code, which tracks the layer
width with an exponential moving average (0.9 old, 0.1 new) of the alignment width on every training step
of the last ``track_epochs`` epochs of each fine-tuning round, and scores with the tracked value (the first
round, before any fine-tuning, falls back to ``"layer"``; HRel also tracks during the baseline's training,
which runs separately here).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from estimators import renyi

from .iterative import IterativeRelevancePruning

WIDTH_RULES = ("layer", "filter", "tracked")


class KernelWidthTracker:
    """A trainer callback (``benchmarks.training.Callback`` protocol): the EMA of each pruned layer's
    alignment width over the training steps of the last ``track_epochs`` epochs; resumable."""

    def __init__(self, hook_modules: dict, epochs: int, track_epochs: int, label_sigma: float, sigma: dict):
        self.hook_modules, self.epochs, self.track_epochs = hook_modules, epochs, track_epochs
        self.label_sigma, self.sigma = label_sigma, sigma  # shared with the method: it scores with these
        self._seen: dict = {}
        self._handles: list = []

    def on_train_begin(self, model) -> None:
        self.remove()
        self._handles = [model.get_submodule(m).register_forward_hook(
            lambda _m, _i, out, u=u: self._seen.__setitem__(u, out.detach())) for u, m in self.hook_modules.items()]

    def on_step_end(self, ctx) -> None:
        if ctx.epoch <= self.epochs - self.track_epochs:
            return
        for u, acts in self._seen.items():
            new = renyi.layer_sigma(acts, ctx.y, label_sigma=self.label_sigma)
            self.sigma[u] = new if u not in self.sigma else 0.9 * self.sigma[u] + 0.1 * new

    def on_epoch_end(self, ctx) -> None:
        if ctx.epoch == self.epochs:
            self.remove()  # the round's fine-tuning is over: scoring must not run these hooks

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def state_dict(self) -> dict:
        return {"sigma": dict(self.sigma)}

    def load_state_dict(self, state: dict) -> None:
        self.sigma.clear()
        self.sigma.update(state["sigma"])


class HRel(IterativeRelevancePruning):
    name: ClassVar[str] = "hrel"

    @dataclass(frozen=True)
    class Params(IterativeRelevancePruning.Params):
        alpha: float = 1.01
        kernel_width: str = "layer"
        label_sigma: float = 0.1
        track_epochs: int = 10

        def __post_init__(self):
            super().__post_init__()
            if self.kernel_width not in WIDTH_RULES:
                raise ValueError(f"hrel param kernel_width must be one of {WIDTH_RULES}, got {self.kernel_width!r}")
            if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not self.alpha > 0:
                raise ValueError(f"hrel param alpha must be a positive number (1.0: von Neumann limit), got {self.alpha!r}")

    def round_callbacks(self, model, units):
        if self.params.kernel_width != "tracked":
            return []
        self._tracked = getattr(self, "_tracked", {})
        tracker = KernelWidthTracker({u: self._hook_module(model, u) for u in units}, self.params.finetune["epochs"],
                                     self.params.track_epochs, self.params.label_sigma, self._tracked)
        self._trackers = [tracker]
        return [tracker]

    def relevance(self, maps: torch.Tensor, labels: torch.Tensor, num_classes: int, layer: str) -> torch.Tensor:
        p = self.params
        if p.kernel_width == "filter":
            return renyi.filter_relevance(maps, labels, alpha=float(p.alpha), sigma_rule="alignment",
                                          label_sigma=p.label_sigma)
        # one width per layer: the tracked one once a fine-tuning round has tracked it, else measured here
        sigma = getattr(self, "_tracked", {}).get(layer) if p.kernel_width == "tracked" else None
        if sigma is None:
            sigma = renyi.layer_sigma(maps, labels, label_sigma=p.label_sigma)
        return renyi.filter_relevance(maps, labels, alpha=float(p.alpha), sigma=float(sigma), label_sigma=p.label_sigma)
